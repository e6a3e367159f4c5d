"""Caches across processes: the registry, the engine services and the gateway each run as their own process
(deploy/local/devstack.py), with cache TTLs of ten minutes. Once warm, an engine call makes no registry call
(counted in the registry's own access log); a removed member, a deleted or changed connection take effect
in the other processes at once, not after the TTL. And no reply or log file holds a password."""

from __future__ import annotations

import asyncio
import json
import urllib.parse
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import devstack
import grpc
import httpx
import pytest
import pytest_asyncio
from gateway.backends import Backends
from gateway.settings import Settings as GatewaySettings
from harness import Servers
from starlette.requests import Request

from udb.auth import mint_token
from udb.common.v1 import common_pb2
from udb.config import Env
from udb.errors import NotFound, PermissionDenied
from udb.mongo.v1 import mongo_pb2, mongo_pb2_grpc
from udb.pg.v1 import pg_pb2, pg_pb2_grpc
from udb.redis.v1 import redis_pb2, redis_pb2_grpc

pytestmark = pytest.mark.integration

ENGINES = ("redis", "mongodb", "pg-meta")
SERVICE_OF = {"redis": "redis-svc", "mongodb": "mongo-svc", "pg-meta": "pg-svc"}
#: Far longer than any test: a change seen at once cannot have come from expiry.
CACHE_TTL_S = "600"


@dataclass
class Processes:
    """The five services as separate processes, with clients from this (sixth) process."""

    stack: devstack.Stack
    servers: Servers
    jwt_secret: str
    env: dict[str, str]
    http: httpx.AsyncClient
    channels: dict[str, grpc.aio.Channel] = field(default_factory=dict)
    #: Every HTTP and gRPC reply of the module, for the password check.
    replies: list[str] = field(default_factory=list)

    def headers(self, user: str) -> dict[str, str]:
        return {"authorization": f"Bearer {mint_token(self.jwt_secret, subject=user)}"}

    def metadata(self, user: str) -> tuple[tuple[str, str], ...]:
        return (("authorization", f"Bearer {mint_token(self.jwt_secret, subject=user)}"),)

    def channel(self, service: str) -> grpc.aio.Channel:
        if service not in self.channels:
            self.channels[service] = grpc.aio.insecure_channel(f"127.0.0.1:{self.stack.ports[service]}")
        return self.channels[service]

    async def call(self, method: str, path: str, user: str, body: dict[str, Any] | None = None) -> httpx.Response:
        reply = await self.http.request(method, path, json=body, headers=self.headers(user))
        self.replies.append(reply.text)
        return reply

    async def test_connection(
        self, engine: str, user: str, ref: str, connection_id: str = ""
    ) -> common_pb2.ConnectionTestResult:
        """The engine service's own TestConnection RPC (admin role), called directly as ``user``."""
        target = common_pb2.ConnectionTarget(project_ref=ref, connection_id=connection_id)
        channel = self.channel(SERVICE_OF[engine])
        result: common_pb2.ConnectionTestResult
        if engine == "redis":
            result = await redis_pb2_grpc.RedisServiceStub(channel).TestConnection(
                redis_pb2.TestConnectionRequest(target=target), metadata=self.metadata(user)
            )
        elif engine == "mongodb":
            result = await mongo_pb2_grpc.MongoServiceStub(channel).TestConnection(
                mongo_pb2.TestConnectionRequest(target=target), metadata=self.metadata(user)
            )
        else:
            result = await pg_pb2_grpc.PgServiceStub(channel).TestConnection(
                pg_pb2.TestConnectionRequest(target=target), metadata=self.metadata(user)
            )
        self.replies.append(str(result))
        return result

    def registry_calls(self, caller: str) -> int:
        """CheckAccess and ResolveConnection calls the registry replicas have served to ``caller``, read from
        their access logs."""
        count = 0
        lines = [line for name in devstack.REGISTRY_REPLICAS for line in self.stack.log(name).read_text().splitlines()]
        for line in lines:
            if not line.startswith("{"):
                continue
            entry = json.loads(line)
            if entry.get("user") == caller and str(entry.get("method", "")).endswith(
                ("/CheckAccess", "/ResolveConnection")
            ):
                count += 1
        return count

    async def new_project(self, owner: str) -> str:
        slug = f"org-{uuid.uuid4().hex[:10]}"
        ref = f"x-{uuid.uuid4().hex[:12]}"
        assert (await self.call("POST", "/organizations", owner, {"name": slug, "slug": slug})).status_code == 201
        reply = await self.call("POST", "/projects", owner, {"organization_slug": slug, "name": "x", "ref": ref})
        assert reply.status_code == 201, reply.text
        return ref

    async def add_connection(self, ref: str, owner: str, engine: str, body: dict[str, Any]) -> dict[str, Any]:
        reply = await self.call("POST", f"/{engine}/{ref}/connections", owner, body)
        assert reply.status_code == 201, reply.text
        record: dict[str, Any] = reply.json()
        return record

    def real_uri(self, engine: str) -> str:
        return {"redis": self.servers.redis_url, "mongodb": self.servers.mongo_url, "pg-meta": self.servers.pg_url}[
            engine
        ]


@pytest_asyncio.fixture(scope="module")
async def processes(
    servers: Servers, jwt_secret: str, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[Processes]:
    stack = devstack.Stack.create(tmp_path_factory.mktemp("processes"))
    platform_url = await servers.create_platform_database(f"udb_processes_{uuid.uuid4().hex[:8]}")
    env = stack.service_env(
        jwt_secret=jwt_secret, encryption_key=devstack.new_encryption_key(), platform_url=platform_url
    )
    env.update(
        CONNECTION_CACHE_TTL_S=CACHE_TTL_S,
        MEMBERSHIP_CACHE_TTL_S=CACHE_TTL_S,
        LOG_LEVEL="DEBUG",
        LOG_JSON="true",
        REDIS_CONNECT_TIMEOUT_S="2",
        MONGO_SERVER_SELECTION_TIMEOUT_S="2",
        PG_CONNECT_TIMEOUT_S="2",
    )
    try:
        await asyncio.to_thread(stack.start_services, env)
        await asyncio.to_thread(stack.wait_healthy, stack.urls["gateway"])
        async with httpx.AsyncClient(base_url=stack.urls["gateway"], timeout=30) as http:
            running = Processes(stack, servers, jwt_secret, env, http)
            yield running
            for channel in running.channels.values():
                await channel.close()
    finally:
        await asyncio.to_thread(stack.stop)


async def _warm(calls: Callable[[], Awaitable[Any]], count: Callable[[], int], timeout_s: float = 15.0) -> None:
    """Calls until one call makes no registry call: the caches are live (their invalidation stream is open)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout_s
    while True:
        before = count()
        await calls()
        if count() == before:
            return
        assert loop.time() < deadline, "the caches never warmed"
        await asyncio.sleep(0.05)


async def _settled(count: Callable[[], int], expected: int, wait_s: float = 2.0) -> None:
    """Asserts that ``count()`` reaches ``expected`` within ``wait_s`` and then stays there a moment."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + wait_s
    while count() < expected and loop.time() < deadline:  # noqa: ASYNC110 (polls another process's log file)
        await asyncio.sleep(0.02)
    await asyncio.sleep(0.1)
    assert count() == expected


@pytest.mark.parametrize("engine", ENGINES)
async def test_a_removed_member_is_refused_at_once_by_the_engine_service(processes: Processes, engine: str) -> None:
    """Warm, an engine call makes no registry call; removing the member (through the gateway process) makes the
    very next call NOT_FOUND; adding them back as viewer makes it PERMISSION_DENIED at once."""
    owner, admin = f"owner-{uuid.uuid4().hex[:8]}", f"admin-{uuid.uuid4().hex[:8]}"
    ref = await processes.new_project(owner)
    await processes.add_connection(ref, owner, engine, {"identifier": "main", "uri": processes.real_uri(engine)})
    assert (
        await processes.call("POST", f"/projects/{ref}/members", owner, {"user_id": admin, "role": "admin"})
    ).status_code == 201
    caller = f"service:{SERVICE_OF[engine]}"

    async def probe() -> None:
        assert (await processes.test_connection(engine, admin, ref)).ok is True

    await _warm(probe, lambda: processes.registry_calls(caller))
    warm = processes.registry_calls(caller)
    assert warm >= 2  # the cold call asked the registry (CheckAccess, ResolveConnection): the log counts them
    for _ in range(3):
        await probe()
    assert processes.registry_calls(caller) == warm  # no registry round trip once warm

    removed = await processes.call("DELETE", f"/projects/{ref}/members/{admin}", owner)
    assert removed.status_code == 200
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await processes.test_connection(engine, admin, ref)
    assert caught.value.code() == grpc.StatusCode.NOT_FOUND
    # One CheckAccess: only the membership was dropped. (On a refused call the registry writes its access-log
    # line just after sending the status: give the line a moment.)
    await _settled(lambda: processes.registry_calls(caller), warm + 1)

    assert (
        await processes.call("POST", f"/projects/{ref}/members", owner, {"user_id": admin, "role": "viewer"})
    ).status_code == 201
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await processes.test_connection(engine, admin, ref)
    assert caught.value.code() == grpc.StatusCode.PERMISSION_DENIED
    assert (
        await processes.call("PUT", f"/projects/{ref}/members/{admin}", owner, {"role": "admin"})
    ).status_code == 200
    await probe()


@pytest.mark.parametrize("engine", ENGINES)
async def test_a_deleted_or_changed_connection_takes_effect_at_once_in_the_engine_service(
    processes: Processes, engine: str
) -> None:
    """With the record and its client cached in the engine process, a PUT to a dead port fails the next call, the
    PUT back (with the password again: a move drops it) succeeds, and a DELETE makes the next call NOT_FOUND, by
    id and as the project's primary."""
    owner = f"owner-{uuid.uuid4().hex[:8]}"
    ref = await processes.new_project(owner)
    record = await processes.add_connection(
        ref, owner, engine, {"identifier": "main", "uri": processes.real_uri(engine)}
    )
    caller = f"service:{SERVICE_OF[engine]}"

    async def probe() -> None:
        assert (await processes.test_connection(engine, owner, ref, record["id"])).ok is True
        assert (await processes.test_connection(engine, owner, ref)).ok is True

    await _warm(probe, lambda: processes.registry_calls(caller))
    url = f"/{engine}/{ref}/connections/{record['id']}"
    assert (await processes.call("PUT", url, owner, {"port": devstack.free_port()})).status_code == 200
    moved = await processes.test_connection(engine, owner, ref, record["id"])
    assert moved.ok is False
    assert moved.error.code == "unavailable"
    back = {"port": record["port"], "password": urllib.parse.urlsplit(processes.real_uri(engine)).password}
    assert (await processes.call("PUT", url, owner, back)).status_code == 200
    await probe()

    assert (await processes.call("DELETE", url, owner)).status_code == 200
    for connection_id in (record["id"], ""):
        with pytest.raises(grpc.aio.AioRpcError) as caught:
            await processes.test_connection(engine, owner, ref, connection_id)
        assert caught.value.code() == grpc.StatusCode.NOT_FOUND


def _request(ref: str, token: str) -> Request:
    """An HTTP request to a project route, as the gateway's route functions receive it."""
    return Request(
        {
            "type": "http",
            "method": "GET",
            "path": f"/api/platform/redis/{ref}/info",
            "path_params": {"ref": ref},
            "query_string": b"",
            "headers": [(b"authorization", f"Bearer {token}".encode())],
        }
    )


async def test_the_gateways_access_cache_is_told_at_once(processes: Processes) -> None:
    """The gateway's own access check (gateway.backends.Backends, here in this process, apart from the registry):
    warm, a request makes no registry call; a role change and a member's removal are seen by the next request."""
    settings = GatewaySettings.from_env(Env(environ=processes.env, env_file=None))
    backends = Backends(settings)
    await backends.start()
    try:
        await asyncio.wait_for(backends.access.ready.wait(), 10)
        owner, user = f"owner-{uuid.uuid4().hex[:8]}", f"dev-{uuid.uuid4().hex[:8]}"
        ref = await processes.new_project(owner)
        assert (
            await processes.call("POST", f"/projects/{ref}/members", owner, {"user_id": user, "role": "developer"})
        ).status_code == 201
        request = _request(ref, mint_token(processes.jwt_secret, subject=user))
        caller = await backends.authorize(request, common_pb2.ROLE_DEVELOPER)
        assert caller.access.role == common_pb2.ROLE_DEVELOPER
        calls = backends.access.calls.total()
        for _ in range(5):
            await backends.authorize(request, common_pb2.ROLE_VIEWER)
        assert backends.access.calls.total() == calls  # served from the cache

        assert (
            await processes.call("PUT", f"/projects/{ref}/members/{user}", owner, {"role": "viewer"})
        ).status_code == 200
        with pytest.raises(PermissionDenied):
            await backends.authorize(request, common_pb2.ROLE_DEVELOPER)
        assert (await processes.call("DELETE", f"/projects/{ref}/members/{user}", owner)).status_code == 200
        with pytest.raises(NotFound):
            await backends.authorize(request, common_pb2.ROLE_VIEWER)
        assert backends.access.calls.total() == calls + 2  # exactly one registry call per change
    finally:
        await backends.close()


async def test_no_reply_or_log_file_holds_a_password(processes: Processes) -> None:
    """Connections made from fields and uris (a real password among them), used, failed, changed and refused:
    the passwords are in no reply and in no line of any process's log file (services at DEBUG, databases)."""
    owner = f"owner-{uuid.uuid4().hex[:8]}"
    ref = await processes.new_project(owner)
    password = f"Pw{uuid.uuid4().hex}"
    pg_password = processes.servers.pg_url.split("://", 1)[1].split("@", 1)[0].split(":", 1)[1]
    redis_uri = processes.servers.redis_url
    records = [
        (
            "redis",
            await processes.add_connection(
                ref, owner, "redis", {"identifier": "f", "uri": redis_uri, "password": password}
            ),
        ),
        (
            "redis",
            await processes.add_connection(
                ref, owner, "redis", {"identifier": "u", "uri": redis_uri.replace("://", f"://app:{password}@")}
            ),
        ),
        (
            "mongodb",
            await processes.add_connection(
                ref,
                owner,
                "mongodb",
                {"identifier": "u", "uri": processes.servers.mongo_url.replace("://", f"://app:{password}@")},
            ),
        ),
        (
            "pg-meta",
            await processes.add_connection(
                ref, owner, "pg-meta", {"identifier": "real", "uri": processes.servers.pg_url}
            ),
        ),
        (
            "pg-meta",
            await processes.add_connection(
                ref,
                owner,
                "pg-meta",
                {"identifier": "wrong", "uri": processes.servers.pg_url.replace(pg_password, password)},
            ),
        ),
    ]
    for engine, record in records:
        assert record["has_password"] is True
        url = f"/{engine}/{ref}/connections/{record['id']}"
        await processes.call("POST", f"{url}/test", owner)
        await processes.test_connection(engine, owner, ref, record["id"])
        await processes.call("GET", url, owner)
        await processes.call("PUT", url, owner, {"password": password + "-2"})
        await processes.test_connection(engine, owner, ref, record["id"])
        await processes.call("GET", f"/{engine}/{ref}/connections", owner)
    await processes.call(
        "POST", f"/redis/{ref}/connections", owner, {"identifier": "bad", "uri": f"redis://u:{password}/x@h:1"}
    )
    await processes.call(
        "POST", f"/redis/{ref}/connections", owner, {"identifier": "u", "uri": f"redis://u:{password}@h.internal"}
    )
    await processes.call(
        "POST", f"/redis/{ref}/connections", owner, {"identifier": "m", "uri": f"redis://u:{password}@169.254.169.254"}
    )
    real = records[3][1]
    assert (await processes.call("POST", f"/pg-meta/{ref}/connections/{real['id']}/test", owner)).json()["ok"] is False

    logs: list[Path] = sorted((processes.stack.workdir / "logs").glob("*.log"))
    logs += sorted((processes.servers.stack.workdir / "logs").glob("*.log"))
    names = {path.stem for path in logs}
    assert {"registry", "redis-svc", "mongo-svc", "pg-svc", "gateway"} <= names
    registry_log = processes.stack.log("registry").read_text()
    assert '"connection created"' in registry_log  # the services did log, at DEBUG
    for secret in (password, pg_password):
        for text in processes.replies:
            assert secret not in text
        for path in logs:
            assert secret not in path.read_text(errors="replace"), path.name
