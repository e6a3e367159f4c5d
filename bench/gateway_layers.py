"""The gateway app's own CPU per request on its hot read (GET /redis/[ref]/keys/[key]), layer by layer.

In this process, with no HTTP server and no network: the ASGI app is called directly by 64 concurrent tasks, and
redis-svc is a stub that answers at once. Each row adds one layer to the previous, so the differences are what the
layers cost (CPU time per request of this process, median of several rounds):

    bare route        one Starlette route returning the same reply (the floor of Starlette itself)
    + all routes      the gateway's router (gateway.routing over the API's routes) and its route handler
    + guard           GuardMiddleware (route class, rate limit, body limit, deadline, audit hook)
    + gzip            gateway.compression (Starlette's gzip; the reply is below its minimum size: it passes it on)
    + edge            EdgeMiddleware (request id, trace context, metrics; access log off)
    gateway app       create_app() as shipped (adds Starlette's error and exception middleware)

Not part of `make bench`:  python bench/gateway_layers.py     (LAYER_REQUESTS per round, default 20000)
"""

from __future__ import annotations

import asyncio
import os
import statistics
import sys
import time
from pathlib import Path
from typing import Any

import uvloop

REPO = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(REPO / "services" / "gateway")]

from gateway.app import create_app  # noqa: E402
from gateway.backends import Backends  # noqa: E402
from gateway.compression import Compression  # noqa: E402
from gateway.middleware import BASE_PATH, EdgeMiddleware, GuardMiddleware  # noqa: E402
from gateway.routes import audit, connections, mongodb, pg, platform, redis, system  # noqa: E402
from gateway.routing import PrefixRouter  # noqa: E402
from gateway.settings import Settings  # noqa: E402
from starlette.applications import Starlette  # noqa: E402
from starlette.middleware import Middleware  # noqa: E402
from starlette.requests import Request  # noqa: E402
from starlette.responses import Response  # noqa: E402
from starlette.routing import Mount, Route  # noqa: E402

from udb import heap  # noqa: E402
from udb.auth import Principal, mint_token  # noqa: E402
from udb.common.v1 import common_pb2  # noqa: E402
from udb.config import Env  # noqa: E402
from udb.redis.v1 import redis_pb2  # noqa: E402
from udb.registry_client import Access  # noqa: E402

REQUESTS = int(os.environ.get("LAYER_REQUESTS", "20000"))
ROUNDS = 5
CALLERS = 64
SECRET = "layers-" + "x" * 32
PATH = f"{BASE_PATH}/redis/bench/keys/bench:small"
KEY = redis_pb2.Key(key=b"bench:small", type="string", ttl=-1, size=12, encoding="embstr")
KEY.value.string_value = b"hello, world"
REPLY = b'{"key":"bench:small","type":"string","ttl":-1,"size":12,"encoding":"utf-8","object_encoding":"embstr"}'


class StubRedis:
    """redis-svc's stub, answering at once."""

    async def GetKey(self, request: redis_pb2.GetKeyRequest, **_: Any) -> redis_pb2.Key:
        return KEY


async def allow(principal: Principal, ref: str, role: int) -> Access:
    return Access(project_ref=ref, project_id="bench", role=common_pb2.ROLE_OWNER)


def settings() -> Settings:
    env = {"JWT_SECRET": SECRET, "ACCESS_LOG": "false", "RATE_LIMIT_ENABLED": "false", "AUDIT_ENABLED": "false"}
    return Settings.from_env(Env(environ=env, env_file=None))


def backends(config: Settings) -> Backends:
    made = Backends(config)
    made.redis = StubRedis()  # type: ignore[assignment]
    made.access.check_access = allow  # type: ignore[method-assign]
    return made


def layered(config: Settings, made: Backends, layers: list[str]) -> Starlette:
    routes = [
        *system.routes,
        *platform.routes,
        *audit.routes,
        *connections.routes,
        *redis.routes,
        *mongodb.routes,
        *pg.routes,
    ]
    middleware = []
    if "edge" in layers:
        middleware.append(Middleware(EdgeMiddleware, access_log=False))
    if "gzip" in layers:
        middleware.append(Middleware(Compression, minimum_size=config.gzip_min_bytes))
    if "guard" in layers:
        middleware.append(Middleware(GuardMiddleware, settings=config))
    app = Starlette(routes=[Mount(BASE_PATH, app=PrefixRouter(routes))], middleware=middleware)
    app.state.backends = made
    return app


def bare() -> Starlette:
    async def key(request: Request) -> Response:
        return Response(REPLY, media_type="application/json; charset=utf-8")

    return Starlette(routes=[Route(PATH, key)])


async def cost_per_request(app: Any, token: str) -> float:
    """CPU microseconds per request of this process, median of the rounds."""
    headers = [(b"host", b"bench"), (b"authorization", f"Bearer {token}".encode())]

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: dict[str, Any]) -> None:
        if message["type"] == "http.response.start" and message["status"] != 200:
            raise RuntimeError(f"status {message['status']}")

    async def caller(count: int) -> None:
        for _ in range(count):
            scope = {
                "type": "http",
                "asgi": {"version": "3.0"},
                "http_version": "1.1",
                "method": "GET",
                "scheme": "http",
                "path": PATH,
                "raw_path": PATH.encode(),
                "root_path": "",
                "query_string": b"",
                "headers": headers,
                "client": ("127.0.0.1", 40000),
                "server": ("127.0.0.1", 8080),
                "app": app,
            }
            await app(scope, receive, send)

    await caller(200)  # warm: caches, first-call imports
    rounds = []
    for _ in range(ROUNDS):
        started = time.process_time()
        await asyncio.gather(*(caller(REQUESTS // CALLERS) for _ in range(CALLERS)))
        rounds.append((time.process_time() - started) / (REQUESTS // CALLERS * CALLERS) * 1e6)
    return statistics.median(rounds)


async def run() -> None:
    config = settings()
    made = backends(config)
    token = mint_token(SECRET, subject="bench-user")
    full = create_app(config, backends=made)
    full.state.backends = made
    variants: list[tuple[str, Any]] = [
        ("bare route", bare()),
        ("+ all routes", layered(config, made, [])),
        ("+ guard", layered(config, made, ["guard"])),
        ("+ gzip", layered(config, made, ["guard", "gzip"])),
        ("+ edge", layered(config, made, ["guard", "gzip", "edge"])),
        ("gateway app", full),
    ]
    heap.settle()  # as the gateway process does once started: the rows then differ by their layers, not the heap
    print(f"\n== the gateway app's CPU per request, in process ({CALLERS} callers, median of {ROUNDS} rounds)")
    previous = None
    for name, app in variants:
        cost = await cost_per_request(app, token)
        added = "" if previous is None else f"  (+{cost - previous:.1f})"
        print(f"{name:<14} {cost:8.1f} us{added}")
        previous = cost
    await made.close()


if __name__ == "__main__":
    uvloop.run(run())
