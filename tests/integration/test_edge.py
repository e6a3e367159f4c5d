"""The gateway's edge on real sockets against the real services: rate limits, body limit,
deadlines against a deliberately slow backend, request ids and trace context in every service's
log, gzip, CORS and metrics."""

from __future__ import annotations

import asyncio
import gzip
import logging
import time
import uuid
from collections.abc import AsyncIterator, Mapping
from typing import Any

import grpc
import httpx
import pytest
from harness import Servers, System, own_gateway
from registry.server import SERVICE_NAME as REGISTRY_SERVICE_NAME
from registry.servicer import RegistryService
from registry.settings import Settings as RegistrySettings

from udb import metrics
from udb.common.v1 import common_pb2
from udb.config import Env
from udb.crypto import SecretBox
from udb.redis.v1 import redis_pb2
from udb.registry.v1 import registry_pb2, registry_pb2_grpc
from udb.server import Registration, build_server

pytestmark = pytest.mark.integration


# ---- rate limits ---------------------------------------------------------------------------


async def test_rate_limit_answers_429_with_retry_after_then_recovers(system: System) -> None:
    """Past its burst a user's reads get 429 rate_limited with Retry-After; after that wait they pass again."""
    async with own_gateway(system, RATE_LIMIT_READ_PER_S="1", RATE_LIMIT_READ_BURST="2") as (http, _):
        headers = system.headers(f"reader-{uuid.uuid4().hex[:6]}")
        assert (await http.get("/projects", headers=headers)).status_code == 200
        assert (await http.get("/projects", headers=headers)).status_code == 200
        limited = await http.get("/projects", headers=headers)
        assert limited.status_code == 429
        assert limited.json()["error"]["code"] == "rate_limited"
        assert limited.json()["error"]["details"]["route_class"] == "read"
        retry_after = int(limited.headers["retry-after"])
        assert 1 <= retry_after <= 2
        await asyncio.sleep(retry_after)
        assert (await http.get("/projects", headers=headers)).status_code == 200


async def test_rate_limits_are_per_user_and_per_route_class(system: System) -> None:
    """One user's spent reads limit neither another user nor the same user's admin actions."""
    async with own_gateway(system, RATE_LIMIT_READ_PER_S="0.01", RATE_LIMIT_READ_BURST="1") as (http, _):
        spent = system.headers(f"spent-{uuid.uuid4().hex[:6]}")
        assert (await http.get("/projects", headers=spent)).status_code == 200
        assert (await http.get("/projects", headers=spent)).status_code == 429
        assert (await http.get("/projects", headers=system.headers("someone-else"))).status_code == 200
        slug = f"org-{uuid.uuid4().hex[:10]}"
        created = await http.post("/organizations", json={"name": slug, "slug": slug}, headers=spent)
        assert created.status_code == 201, created.text


async def test_callers_without_a_token_are_limited_by_address(system: System) -> None:
    """Requests without a good token share their client address's bucket (and still get 401 inside it)."""
    async with own_gateway(system, RATE_LIMIT_READ_PER_S="0.01", RATE_LIMIT_READ_BURST="1") as (http, _):
        assert (await http.get("/projects")).status_code == 401
        assert (await http.get("/projects", headers={"authorization": "Bearer forged"})).status_code == 429


# ---- body limit ----------------------------------------------------------------------------


async def test_body_over_the_limit_is_413_by_length_and_by_stream(system: System) -> None:
    """A body past MAX_BODY_BYTES is refused with 413 payload_too_large, declared or streamed in chunks."""
    async with own_gateway(system, MAX_BODY_BYTES="1000") as (http, _):
        headers = system.headers("big-sender")
        declared = await http.post("/organizations", content=b"{" + b" " * 5000 + b"}", headers=headers)
        assert declared.status_code == 413
        assert declared.json()["error"]["code"] == "payload_too_large"

        async def chunks() -> AsyncIterator[bytes]:
            for _ in range(10):
                yield b" " * 500

        streamed = await http.post("/organizations", content=chunks(), headers=headers)
        assert streamed.status_code == 413
        assert streamed.json()["error"]["code"] == "payload_too_large"
        slug = f"org-{uuid.uuid4().hex[:10]}"
        small = await http.post("/organizations", json={"name": slug, "slug": slug}, headers=headers)
        assert small.status_code == 201


# ---- deadlines -----------------------------------------------------------------------------


class SlowRegistry(RegistryService):
    """The real registry, but ListProjects takes far longer than any deadline."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.cancelled = asyncio.Event()

    async def ListProjects(
        self, request: registry_pb2.ListProjectsRequest, context: grpc.aio.ServicerContext[Any, Any]
    ) -> registry_pb2.ListProjectsResponse:
        try:
            await asyncio.sleep(60)
        except asyncio.CancelledError:
            self.cancelled.set()
            raise
        return registry_pb2.ListProjectsResponse()


async def test_a_slow_backend_gets_504_at_the_route_class_deadline(system: System) -> None:
    """A read whose gRPC backend hangs is answered 504 deadline_exceeded at READ_DEADLINE_S, and the
    backend's call is cancelled (the deadline went with the call)."""
    settings = RegistrySettings.from_env(Env(environ=system.env, env_file=None))
    servicer = SlowRegistry(settings, SecretBox.from_settings(settings.encryption_key, None))
    server, port = build_server(
        settings,
        [Registration(registry_pb2_grpc.add_RegistryServiceServicer_to_server, servicer, REGISTRY_SERVICE_NAME)],
        address="127.0.0.1:0",
        on_start=[servicer.start],
        on_stop=[servicer.close],
    )
    await server.start()
    try:
        async with own_gateway(system, REGISTRY_ADDR=f"127.0.0.1:{port}", READ_DEADLINE_S="0.5") as (http, _):
            started = time.monotonic()
            reply = await http.get("/projects", headers=system.headers("patient"))
            elapsed = time.monotonic() - started
            assert reply.status_code == 504
            assert reply.json()["error"]["code"] == "deadline_exceeded"
            assert elapsed < 5
            await asyncio.wait_for(servicer.cancelled.wait(), 5)
    finally:
        await server.stop(1)


# ---- request ids and trace context ----------------------------------------------------------


async def test_request_id_is_echoed_or_made(system: System) -> None:
    """A sane x-request-id comes back as sent; none (or a bad one) is replaced by a fresh id."""
    given = await system.http.get("/health", headers={"x-request-id": "abc-123"})
    assert given.headers["x-request-id"] == "abc-123"
    made = await system.http.get("/health")
    assert len(made.headers["x-request-id"]) == 32
    bad = await system.http.get("/health", headers={"x-request-id": "x" * 500})
    assert bad.headers["x-request-id"] != "x" * 500
    assert len(bad.headers["x-request-id"]) == 32


def _records(caplog: pytest.LogCaptureFixture, **fields: str) -> list[logging.LogRecord]:
    return [r for r in caplog.records if all(getattr(r, k, None) == v for k, v in fields.items())]


@pytest.mark.parametrize(
    ("engine", "url_of", "service"),
    [
        ("redis", "redis_url", "/udb.redis.v1.RedisService/"),
        ("mongodb", "mongo_url", "/udb.mongo.v1.MongoService/"),
        ("pg-meta", "pg_url", "/udb.pg.v1.PgService/"),
    ],
)
async def test_request_id_and_trace_reach_every_service_log(
    system: System, servers: Servers, caplog: pytest.LogCaptureFixture, engine: str, url_of: str, service: str
) -> None:
    """One HTTP request's x-request-id and trace id appear in the access log of the gateway, the
    registry and the engine service it reaches (gateway -> registry -> engine -> registry)."""
    ref, owner = await system.new_project()
    record = await system.add_connection(ref, owner, engine, {"identifier": "main", "uri": getattr(servers, url_of)})
    caplog.set_level(logging.INFO, logger="udb.access")
    caplog.set_level(logging.INFO, logger="gateway.access")
    request_id = f"req-{uuid.uuid4().hex}"
    trace_id = uuid.uuid4().hex
    headers = {
        **system.headers(owner),
        "x-request-id": request_id,
        "traceparent": f"00-{trace_id}-{uuid.uuid4().hex[:16]}-01",
    }
    reply = await system.http.post(f"/{engine}/{ref}/connections/{record['id']}/test", headers=headers)
    assert reply.status_code == 200, reply.text
    assert reply.json()["ok"] is True
    gateway_lines = _records(caplog, request_id=request_id, route="/api/platform/{engine}/{ref}/connections/{id}/test")
    assert gateway_lines and gateway_lines[0].status == 200  # type: ignore[attr-defined]
    assert gateway_lines[0].trace_id == trace_id  # type: ignore[attr-defined]
    rpc_lines = _records(caplog, request_id=request_id, trace_id=trace_id)
    methods = {r.method for r in rpc_lines}  # type: ignore[attr-defined]
    assert "/udb.registry.v1.RegistryService/TestConnection" in methods
    assert f"{service}TestConnection" in methods
    # The engine service asked the registry for the record on the same request's behalf.
    assert methods & {
        "/udb.registry.v1.RegistryService/ResolveConnection",
        "/udb.registry.v1.RegistryService/CheckAccess",
    }


# ---- gzip and CORS ----------------------------------------------------------------------


async def test_large_json_replies_are_gzipped_and_small_ones_not(system: System) -> None:
    """A client that accepts gzip gets a large reply compressed and a small one as is."""
    large = await system.http.get("/openapi.json", headers={"accept-encoding": "gzip"})
    assert large.headers["content-encoding"] == "gzip"
    assert large.json()["openapi"].startswith("3.")
    raw = await system.http.get("/openapi.json", headers={"accept-encoding": "identity"})
    assert "content-encoding" not in raw.headers
    assert int(large.headers["content-length"]) < len(raw.content) / 3
    assert gzip.compress(raw.content)  # the identity reply is the full document
    small = await system.http.get("/health", headers={"accept-encoding": "gzip"})
    assert "content-encoding" not in small.headers


async def test_cors_allows_the_console_origin_only(system: System) -> None:
    """A preflight from the configured console origin is allowed with the API's headers; another origin is not."""
    async with own_gateway(system, CORS_ORIGINS="https://console.example") as (http, _):
        preflight = {
            "access-control-request-method": "POST",
            "access-control-request-headers": "authorization,content-type,x-request-id",
        }
        allowed = await http.options("/projects", headers={"origin": "https://console.example", **preflight})
        assert allowed.status_code == 200
        assert allowed.headers["access-control-allow-origin"] == "https://console.example"
        assert "authorization" in allowed.headers["access-control-allow-headers"].lower()
        refused = await http.options("/projects", headers={"origin": "https://evil.example", **preflight})
        assert refused.status_code == 400
        assert "access-control-allow-origin" not in refused.headers
        simple = await http.get("/health", headers={"origin": "https://console.example"})
        assert simple.headers["access-control-allow-origin"] == "https://console.example"
        assert "x-request-id" in simple.headers["access-control-expose-headers"]


# ---- metrics -------------------------------------------------------------------------------


def _sample(text: str, name: str, labels: Mapping[str, str]) -> float:
    """The value of one sample of a scrape (0 when absent)."""
    for line in text.splitlines():
        if not line.startswith(name + "{"):
            continue
        label_text = line[len(name) + 1 : line.rindex("}")]
        found = dict(part.split("=", 1) for part in label_text.split('",') if "=" in part)
        found = {key: value.strip('"') for key, value in found.items()}
        if all(found.get(key) == value for key, value in labels.items()):
            return float(line.rsplit(" ", 1)[1])
    return 0.0


async def test_metrics_are_served_and_move(system: System, servers: Servers) -> None:
    """The metrics port serves Prometheus text; request counts, latencies and pool gauges move with traffic."""
    server = await metrics.serve_metrics("127.0.0.1:0")
    try:
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{server.port}") as scraper:
            ref, owner = await system.new_project()
            record = await system.add_connection(ref, owner, "redis", {"identifier": "m", "uri": servers.redis_url})
            before = (await scraper.get("/metrics")).text
            route = {"route": "/api/platform/{engine}/{ref}/connections/{id}/test", "method": "POST", "status": "200"}
            rpc = {"service": "registry", "method": "/udb.registry.v1.RegistryService/TestConnection", "code": "OK"}
            for _ in range(3):
                reply = await system.http.post(
                    f"/redis/{ref}/connections/{record['id']}/test", headers=system.headers(owner)
                )
                assert reply.json()["ok"] is True
            denied = await system.http.post(
                f"/redis/{ref}/connections/{record['id']}/test", headers=system.headers("stranger")
            )
            assert denied.status_code == 404
            after_reply = await scraper.get("/metrics")
            assert after_reply.headers["content-type"].startswith("text/plain")
            after = after_reply.text
            assert (
                _sample(after, "udb_http_requests_total", route) - _sample(before, "udb_http_requests_total", route)
                == 3
            )
            assert (
                _sample(after, "udb_grpc_server_requests_total", rpc)
                - _sample(before, "udb_grpc_server_requests_total", rpc)
                >= 3
            )
            not_found = {**rpc, "code": "NOT_FOUND"}
            assert _sample(after, "udb_grpc_server_requests_total", not_found) > _sample(
                before, "udb_grpc_server_requests_total", not_found
            )
            histogram = {"service": "redis-svc", "method": "/udb.redis.v1.RedisService/TestConnection", "le": "+Inf"}
            assert _sample(after, "udb_grpc_server_request_duration_seconds_bucket", histogram) >= 3
            # A test through the registry updates the record's status, which retires its pooled
            # client; asked directly, the engine service keeps the client, and the pool shows it.
            target = common_pb2.ConnectionTarget(project_ref=ref, connection_id=record["id"])
            result = await system.redis.TestConnection(
                redis_pb2.TestConnectionRequest(target=target), metadata=system.metadata(owner)
            )
            assert result.ok
            pools = (await scraper.get("/metrics")).text
            assert _sample(pools, "udb_pool_clients", {"service": "redis-svc", "engine": "redis"}) >= 1
            assert _sample(pools, "udb_pool_size", {"service": "redis-svc", "engine": "redis"}) >= 10
            assert "udb_pool_waits_total" in pools
            assert (await scraper.get("/nope")).status_code == 404
    finally:
        await server.close()
