"""The system under test: every service in this process, on real sockets, against real servers."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import os
import secrets
import signal
import ssl
import subprocess
import sys
import time
import urllib.request
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import asyncpg
import devstack
import grpc
import httpx
import redis.asyncio as redis_client
import uvicorn
from gateway.__main__ import server_config
from gateway.app import create_app
from gateway.settings import Settings as GatewaySettings
from mongo_svc.dial import DialPolicy
from mongo_svc.server import create_server as create_mongo
from mongo_svc.settings import Settings as MongoSettings
from pg_svc.server import create_server as create_pg
from pg_svc.settings import Settings as PgSettings
from pymongo import AsyncMongoClient
from redis_svc.server import create_server as create_redis
from redis_svc.settings import Settings as RedisSettings
from registry.server import create_server as create_registry
from registry.settings import Settings as RegistrySettings
from starlette.applications import Starlette
from websockets.asyncio.client import connect

from udb.auth import mint_token
from udb.config import Env
from udb.dialing import DialGuard
from udb.mongo.v1 import mongo_pb2_grpc
from udb.netpolicy import NetworkPolicy, parse_networks
from udb.pg.v1 import pg_pb2_grpc
from udb.redis.v1 import redis_pb2_grpc
from udb.registry.v1 import registry_pb2_grpc
from udb.server import Server


@dataclass
class Servers:
    """The real database servers of the session: tenants' Postgres (``pg_url``, its superuser)
    and the platform's own (``platform_pg_url``), Redis and the MongoDB wire server."""

    pg_url: str
    platform_pg_url: str
    redis_url: str
    mongo_url: str
    stack: devstack.Stack

    async def create_database(self, name: str) -> str:
        """A database on the tenants' cluster; returns its superuser URL."""
        return await _create_database(self.pg_url, name)

    async def create_platform_database(self, name: str) -> str:
        """A database on the platform's cluster, for a registry of a test's own."""
        return await _create_database(self.platform_pg_url, name)

    async def create_reader(self) -> dict[str, str]:
        """A login role on the tenants' cluster granted pg_read_all_data only; returns the options that
        make it a connection's read_only_role (viewers' SQL runs as it)."""
        role, password = f"reader_{uuid.uuid4().hex[:10]}", secrets.token_urlsafe(16)
        conn = await asyncpg.connect(self.pg_url)
        try:
            await conn.execute(f"CREATE ROLE {role} LOGIN PASSWORD '{password}' IN ROLE pg_read_all_data")
        finally:
            await conn.close()
        return {"read_only_role": role, "read_only_password": password}

    @property
    def pg_tls_cert(self) -> str | None:
        """The certificate (for ``localhost``) the tenants' cluster presents, when started here."""
        path = self.stack.files.get("postgres-tls-cert")
        return str(path) if path else None


async def fetchval(url: str, sql: str) -> Any:
    """The first value of ``sql``, on a connection of its own to ``url`` (closed after)."""
    conn = await asyncpg.connect(url)
    try:
        return await conn.fetchval(sql)
    finally:
        await conn.close()


async def _create_database(server_url: str, name: str) -> str:
    conn = await asyncpg.connect(server_url)
    try:
        await conn.execute(f'CREATE DATABASE "{name}"')
    finally:
        await conn.close()
    return server_url.rsplit("/", 1)[0] + f"/{name}"


@dataclass
class System:
    """The running services, with clients and helpers for tests."""

    servers: Servers
    jwt_secret: str
    encryption_key: str
    platform_url: str
    env: dict[str, str]
    ports: dict[str, int]
    servers_by_name: dict[str, Server]
    app: Starlette
    http: httpx.AsyncClient
    channels: dict[str, grpc.aio.Channel] = field(default_factory=dict)

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.ports['gateway']}/api/platform"

    def channel(self, name: str) -> grpc.aio.Channel:
        if name not in self.channels:
            self.channels[name] = grpc.aio.insecure_channel(f"127.0.0.1:{self.ports[name]}")
        return self.channels[name]

    @property
    def registry(self) -> registry_pb2_grpc.RegistryServiceStub:
        return registry_pb2_grpc.RegistryServiceStub(self.channel("registry"))

    @property
    def redis(self) -> redis_pb2_grpc.RedisServiceStub:
        return redis_pb2_grpc.RedisServiceStub(self.channel("redis-svc"))

    @property
    def mongo(self) -> mongo_pb2_grpc.MongoServiceStub:
        return mongo_pb2_grpc.MongoServiceStub(self.channel("mongo-svc"))

    @property
    def pg(self) -> pg_pb2_grpc.PgServiceStub:
        return pg_pb2_grpc.PgServiceStub(self.channel("pg-svc"))

    def token(self, user: str, **claims: Any) -> str:
        return mint_token(self.jwt_secret, subject=user, **claims)

    @property
    def service_token(self) -> str:
        return mint_token(self.jwt_secret, subject="tests", role="service_role")

    def headers(self, user: str) -> dict[str, str]:
        return {"authorization": f"Bearer {self.token(user)}"}

    def metadata(self, user: str | None = None) -> tuple[tuple[str, str], ...]:
        token = self.service_token if user is None else self.token(user)
        return (("authorization", f"Bearer {token}"),)

    async def new_project(self, owner: str | None = None) -> tuple[str, str]:
        """A fresh organization and project owned by ``owner`` (a new user when None); returns
        (project ref, owner user id)."""
        owner = owner or f"owner-{uuid.uuid4().hex[:8]}"
        slug = f"org-{uuid.uuid4().hex[:10]}"
        headers = self.headers(owner)
        reply = await self.http.post("/organizations", json={"name": slug, "slug": slug}, headers=headers)
        assert reply.status_code == 201, reply.text
        ref = f"p-{uuid.uuid4().hex[:12]}"
        reply = await self.http.post(
            "/projects", json={"organization_slug": slug, "name": "test project", "ref": ref}, headers=headers
        )
        assert reply.status_code == 201, reply.text
        return ref, owner

    async def add_member(self, ref: str, owner: str, user: str, role: str) -> None:
        reply = await self.http.post(
            f"/projects/{ref}/members", json={"user_id": user, "role": role}, headers=self.headers(owner)
        )
        assert reply.status_code == 201, reply.text

    async def add_connection(self, ref: str, owner: str, engine: str, body: Mapping[str, Any]) -> dict[str, Any]:
        """Creates a connection (engine: redis, mongodb or pg-meta); returns the record."""
        reply = await self.http.post(f"/{engine}/{ref}/connections", json=dict(body), headers=self.headers(owner))
        assert reply.status_code == 201, reply.text
        record: dict[str, Any] = reply.json()
        return record


def system_env(
    servers: Servers, *, jwt_secret: str, encryption_key: str, platform_url: str, ports: Mapping[str, int]
) -> dict[str, str]:
    return {
        "JWT_SECRET": jwt_secret,
        "DATABASE_ENCRYPTION_KEY": encryption_key,
        "REGISTRY_DATABASE_URL": platform_url,
        "REGISTRY_ADDR": f"127.0.0.1:{ports['registry']}",
        "REDIS_SVC_ADDR": f"127.0.0.1:{ports['redis-svc']}",
        "MONGO_SVC_ADDR": f"127.0.0.1:{ports['mongo-svc']}",
        "PG_SVC_ADDR": f"127.0.0.1:{ports['pg-svc']}",
        "GATEWAY_ADDR": f"127.0.0.1:{ports['gateway']}",
        "GATEWAY_GRPC_ADDR": "127.0.0.1:0",
        "LOG_JSON": "true",
        # Tests make many requests as one user; the limits have tests of their own (test_edge.py).
        "RATE_LIMIT_ENABLED": "false",
        "REDIS_CONNECT_TIMEOUT_S": "2",
        "MONGO_SERVER_SELECTION_TIMEOUT_S": "2",
        "PG_CONNECT_TIMEOUT_S": "2",
        # The test servers listen on loopback, which production refuses: allowed here explicitly
        # (the platform database and the services' own ports stay refused, as platform endpoints).
        "ALLOWED_NETWORKS": devstack.LOOPBACK_NETWORKS,
    }


@contextlib.asynccontextmanager
async def start_system(
    servers: Servers, *, jwt_secret: str, platform_url: str, extra_env: Mapping[str, str] | None = None
) -> AsyncIterator[System]:
    """Starts the four gRPC services and the gateway (uvicorn on a real socket) in this loop."""
    encryption_key = base64.b64encode(secrets.token_bytes(32)).decode()
    ports = {name: devstack.free_port() for name in ("registry", "redis-svc", "mongo-svc", "pg-svc", "gateway")}
    env = system_env(
        servers, jwt_secret=jwt_secret, encryption_key=encryption_key, platform_url=platform_url, ports=ports
    )
    env.update(extra_env or {})
    started: dict[str, Server] = {}
    factories = {
        "registry": (create_registry, RegistrySettings),
        "redis-svc": (create_redis, RedisSettings),
        "mongo-svc": (create_mongo, MongoSettings),
        "pg-svc": (create_pg, PgSettings),
    }
    uv_server: uvicorn.Server | None = None
    serve_task: asyncio.Task[None] | None = None
    http: httpx.AsyncClient | None = None
    try:
        for name, (create, settings_type) in factories.items():
            settings = settings_type.from_env(Env(environ=env, env_file=None))  # type: ignore[attr-defined]
            server, _ = await create(settings, f"127.0.0.1:{ports[name]}")
            await server.start()
            started[name] = server
        gateway_settings = GatewaySettings.from_env(Env(environ=env, env_file=None))
        app = create_app(gateway_settings)
        uv_server, serve_task = await start_uvicorn(app, ports["gateway"])
        base_url = f"http://127.0.0.1:{ports['gateway']}/api/platform"
        http = httpx.AsyncClient(base_url=base_url, timeout=30)
        system = System(
            servers=servers,
            jwt_secret=jwt_secret,
            encryption_key=encryption_key,
            platform_url=platform_url,
            env=env,
            ports=ports,
            servers_by_name=started,
            app=app,
            http=http,
        )
        # Caches serve only once the invalidation streams are open: wait for them.
        await asyncio.wait_for(app.state.backends.access.ready.wait(), 10)
        yield system
        for channel in system.channels.values():
            await channel.close()
    finally:
        if http is not None:
            await http.aclose()
        if uv_server is not None and serve_task is not None:
            uv_server.should_exit = True
            await serve_task
        for server in reversed(started.values()):
            await server.stop(1)


async def start_uvicorn(app: Starlette, port: int) -> tuple[uvicorn.Server, asyncio.Task[None]]:
    """The gateway app served by uvicorn (as ``python -m gateway`` does) on a real socket, in this
    loop; stop it with ``server.should_exit = True`` and await the task."""
    config = server_config(app, app.state.settings, host="127.0.0.1", port=port, loop="none")
    server = uvicorn.Server(config)
    task = asyncio.create_task(server.serve())
    while not server.started:
        if task.done():
            task.result()
        await asyncio.sleep(0.01)
    return server, task


@contextlib.asynccontextmanager
async def own_service(
    system: System, create: Any, settings_type: Any, env: Mapping[str, str]
) -> AsyncIterator[grpc.aio.Channel]:
    """A second instance of a gRPC service with other settings (``env`` over the session's), on
    the session's registry and servers; yields a channel to it."""
    settings = settings_type.from_env(Env(environ={**system.env, **env}, env_file=None))
    server, port = await create(settings, "127.0.0.1:0")
    await server.start()
    channel = grpc.aio.insecure_channel(f"127.0.0.1:{port}")
    try:
        yield channel
    finally:
        await channel.close()
        await server.stop(1)


@dataclass
class OwnRedis:
    """A Redis of a test's own, to stop and start."""

    port: int
    workdir: Path
    process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        self.process = subprocess.Popen(
            [
                *(devstack.find_binary("redis-server"), "--port", str(self.port), "--bind", "127.0.0.1"),
                *("--save", "", "--appendonly", "no", "--dir", str(self.workdir)),
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        devstack.wait_for_port(self.port, None, "redis", self.workdir / "log")

    def stop(self) -> None:
        if self.process is not None:
            self.process.send_signal(signal.SIGTERM)
            self.process.wait(10)
            self.process = None


async def eventually(predicate: Callable[[], Awaitable[bool]], limit_s: float = 15.0) -> None:
    """Waits until an async predicate holds; fails the test past ``limit_s``."""
    deadline = time.monotonic() + limit_s
    while not await predicate():
        assert time.monotonic() < deadline, "condition not met in time"
        await asyncio.sleep(0.05)


async def redis_numsub(direct: Any, channel: str) -> int:
    """PUBSUB NUMSUB of one channel, by a redis-py client."""
    return int(dict(await direct.pubsub_numsub(channel)).get(channel.encode(), 0))


def direct_mongo(url: str, **options: Any) -> AsyncMongoClient[dict[str, Any]]:
    """A test's own client of its MongoDB server, beside the services. mongo-svc checks every
    PyMongo dial of this process (mongo_svc.dial) and a client without a policy dials nothing:
    this one carries a policy that allows anything."""
    everything = NetworkPolicy(allowed=parse_networks(["0.0.0.0/0", "::/0"]))
    return AsyncMongoClient(url, event_listeners=[DialPolicy(DialGuard(everything))], **options)


async def audit_rows(system: System, ref: str, user: str, *, until: Any, query: str = "") -> list[dict[str, Any]]:
    """The project's audit rows once ``until(rows)`` holds (the writer is asynchronous)."""
    deadline = time.monotonic() + 15
    rows: list[dict[str, Any]] = []
    while time.monotonic() < deadline:
        await system.app.state.audit.flush()
        reply = await system.http.get(f"/projects/{ref}/audit?limit=1000{query}", headers=system.headers(user))
        assert reply.status_code == 200, reply.text
        rows = reply.json()["data"]
        if until(rows):
            return rows
        await asyncio.sleep(0.1)
    raise AssertionError(f"audit rows never matched: {rows}")


def grpcurl() -> str:
    return devstack.find_binary("grpcurl")


@contextlib.asynccontextmanager
async def own_gateway(system: System, **env: str) -> AsyncIterator[tuple[httpx.AsyncClient, Starlette]]:
    """A gateway of its own (on a real socket) in front of the session's services, with ``env``
    over the session's settings and its rate limits on; yields a client and the app."""
    port = devstack.free_port()
    environ = {
        **system.env,
        "GATEWAY_ADDR": f"127.0.0.1:{port}",
        "GATEWAY_GRPC_ADDR": "127.0.0.1:0",
        "RATE_LIMIT_ENABLED": "true",  # the session gateway runs without
        **env,
    }
    app = create_app(GatewaySettings.from_env(Env(environ=environ, env_file=None)))
    server, task = await start_uvicorn(app, port)
    try:
        await asyncio.wait_for(app.state.backends.access.ready.wait(), 10)
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}/api/platform", timeout=30) as http:
            yield http, app
    finally:
        server.should_exit = True
        await task


#: Envoy's upstream clusters of ours (deploy/envoy/envoy.yaml).
UPSTREAMS = ("gateway", "registry", "redis_svc", "mongo_svc", "pg_svc")


@contextlib.asynccontextmanager
async def envoy_for(system: System, workdir: Path, **options: int) -> AsyncIterator[devstack.Stack]:
    """Envoy (a real process) in front of the session's services; started off the event loop so
    that the services answer its first health checks meanwhile."""
    stack = devstack.Stack.create(workdir)
    stack.ports.update(system.ports)
    try:
        await asyncio.to_thread(stack.start_envoy, **options)
        await wait_until_healthy(stack)
        yield stack
    finally:
        await asyncio.to_thread(stack.stop)


def cluster_health(stack: devstack.Stack) -> dict[str, str]:
    """Each upstream cluster's host health flags, from Envoy's admin interface."""
    url = f"http://127.0.0.1:{stack.ports['envoy-admin']}/clusters"
    with urllib.request.urlopen(url, timeout=5) as reply:
        lines = reply.read().decode().splitlines()
    return {line.split("::", 1)[0]: line.rsplit("::", 1)[1] for line in lines if "::health_flags::" in line}


async def wait_until_healthy(stack: devstack.Stack) -> dict[str, str]:
    deadline = time.monotonic() + 20
    health: dict[str, str] = {}
    while time.monotonic() < deadline:
        health = await asyncio.to_thread(cluster_health, stack)
        if all(health.get(name) == "healthy" for name in UPSTREAMS):
            return health
        await asyncio.sleep(0.2)
    raise AssertionError(f"Envoy's upstreams did not become healthy: {health}")


def tls_context(stack: devstack.Stack) -> ssl.SSLContext:
    return ssl.create_default_context(cafile=str(stack.files["tls-cert"]))


class EngineProcess:
    """redis-svc on a fixed port, as its own process, that can be killed and started again."""

    def __init__(self, system: System, log: Path) -> None:
        self.port = devstack.free_port()
        self.log = log
        inherited = {k: v for k, v in os.environ.items() if not k.startswith(("PG_", "REDIS_", "MONGO_"))}
        self.env = {
            **inherited,
            **system.env,
            "REDIS_SVC_ADDR": f"127.0.0.1:{self.port}",
            "REDIS_SVC_METRICS_ADDR": "off",
            "LOG_LEVEL": "WARNING",
        }
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        with self.log.open("ab") as log:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "redis_svc"], env=self.env, stdout=log, stderr=subprocess.STDOUT
            )
        devstack.wait_for_port(self.port, self.process, "redis-svc", self.log)

    def kill(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait(10)

    async def kill_in_flight_and_restart(self, redis_url: str) -> tuple[float, float]:
        """Pauses Redis for a moment (so that calls are surely in flight), SIGKILLs the process and starts it
        again; returns when it was killed and when it was back (``time.monotonic()``)."""
        direct = redis_client.Redis.from_url(redis_url)
        await direct.execute_command("CLIENT", "PAUSE", "1500", "ALL")
        await direct.aclose()
        await asyncio.sleep(0.3)
        killing_at = time.monotonic()
        await asyncio.to_thread(self.kill)
        await asyncio.sleep(0.3)
        await asyncio.to_thread(self.start)
        return killing_at, time.monotonic()


async def monitor_frames(
    url: str, write: Callable[[int], Awaitable[object]], *, interval_s: float
) -> list[dict[str, Any]]:
    """The frames of a Redis monitor WebSocket at ``url``, read to its end while ``write(n)``
    (n counting up from 0) runs every ``interval_s`` for it to watch."""
    async with connect(url, open_timeout=10) as ws:

        async def traffic() -> None:
            n = 0
            while True:
                await write(n)
                n += 1
                await asyncio.sleep(interval_s)

        task = asyncio.create_task(traffic())
        try:
            return [json.loads(message) async for message in ws]
        finally:
            task.cancel()
