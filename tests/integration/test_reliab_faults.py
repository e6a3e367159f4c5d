"""kill -9 under steady mixed traffic, against the system as separate processes (deploy/local/devstack.py:
two registry replicas, the engine services, the gateway).

Traffic: registry reads (GET /projects), engine reads and engine writes through the gateway, each a
steady loop. Every write the API acknowledged is read back afterwards. Asserted: the status classes
seen (no 5xx but 503, and none at all while a registry replica dies), recovery within generous bounds,
and no acknowledged write lost. The figures (time to 503, time back) are printed (`-s`)."""

from __future__ import annotations

import asyncio
import collections
import contextlib
import os
import signal
import socket
import time
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

import devstack
import httpx
import pytest
import pytest_asyncio
from harness import Servers
from process_faults import kill, managed, restart

from udb.auth import mint_token

pytestmark = pytest.mark.integration

#: Generous bounds for a loaded CI machine (the figures are printed; the target is 2 s).
RECOVERY_BOUND_S = 8.0
#: The key the engine reads read (written once by the fixture).
FIXED_KEY = "fault:fixed"


@dataclass
class Stack:
    stack: devstack.Stack
    env: dict[str, str]
    http: httpx.AsyncClient
    headers: dict[str, str]
    ref: str
    servers: Servers

    def restart(self, name: str, **env: str) -> None:
        environ = {**self.stack.process_env(name, self.env), **env}
        restart(self.stack, name, self.stack.service_argv(name), environ)

    def restore(self) -> list[str]:
        """Starts again every process of the system that is not running (a test that failed
        between its kill and its restart left it down); returns their names."""
        restarted = []
        for name in (*devstack.REGISTRY_REPLICAS, *devstack.SERVICES[1:], "gateway"):
            with contextlib.suppress(LookupError):
                entry = managed(self.stack, name)
                if entry.process is None or entry.process.poll() is None:
                    continue
                self.stack.processes.remove(entry)
            self.restart(name)
            restarted.append(name)
        return restarted


@dataclass
class Traffic:
    """Steady loops of registry reads, engine reads and engine writes through the gateway."""

    http: httpx.AsyncClient
    headers: dict[str, str]
    ref: str
    prefix: str = field(default_factory=lambda: f"fault:{uuid.uuid4().hex[:8]}:")
    #: (monotonic time, kind, HTTP status or 0 for a transport error)
    outcomes: list[tuple[float, str, int]] = field(default_factory=list)
    acknowledged: dict[str, str] = field(default_factory=dict)
    #: The bodies of the first error replies, for the failure message.
    errors: list[str] = field(default_factory=list)
    _stop: asyncio.Event = field(default_factory=asyncio.Event)
    _tasks: list[asyncio.Task[None]] = field(default_factory=list)

    async def _loop(self, kind: str) -> None:
        count = 0
        while not self._stop.is_set():
            count += 1
            status = 0
            try:
                reply: httpx.Response | None = None
                if kind == "registry-read":
                    reply = await self.http.get("/projects", headers=self.headers)
                elif kind == "engine-read":
                    reply = await self.http.get(f"/redis/{self.ref}/keys/{FIXED_KEY}", headers=self.headers)
                elif kind == "pg-read":
                    reply = await self.http.post(
                        f"/pg-meta/{self.ref}/query", json={"query": "select 1 as one"}, headers=self.headers
                    )
                elif kind == "mongo-read":
                    reply = await self.http.get(f"/mongodb/{self.ref}/databases", headers=self.headers)
                else:
                    key, value = f"{self.prefix}w{count}", uuid.uuid4().hex
                    reply = await self.http.post(
                        f"/redis/{self.ref}/keys/{key}", json={"type": "string", "value": value}, headers=self.headers
                    )
                    if reply.status_code == 201:
                        self.acknowledged[key] = value
                status = reply.status_code
                if status >= 300 and len(self.errors) < 5:
                    self.errors.append(f"{kind}: {status} {reply.text[:300]}")
            except httpx.TransportError as exc:
                status = 0
                if len(self.errors) < 5:
                    self.errors.append(f"{kind}: {type(exc).__name__}")
            self.outcomes.append((time.monotonic(), kind, status))
            await asyncio.sleep(0.02)

    def start(self) -> None:
        self._tasks = [
            asyncio.create_task(self._loop(kind))
            for kind in ("registry-read", "engine-read", "engine-write", "pg-read", "mongo-read")
        ]

    async def stop(self) -> None:
        self._stop.set()
        await asyncio.gather(*self._tasks)

    def statuses(self, since: float = 0.0, kinds: tuple[str, ...] = ()) -> collections.Counter[int]:
        return collections.Counter(
            status for at, kind, status in self.outcomes if at >= since and (not kinds or kind in kinds)
        )

    def first(self, since: float, predicate: str, kinds: tuple[str, ...] = ()) -> float | None:
        """Seconds from ``since`` to the first outcome that is an error ("error") or a success ("ok")."""
        for at, kind, status in self.outcomes:
            if at < since or (kinds and kind not in kinds):
                continue
            if (predicate == "ok") == (200 <= status < 300):
                return at - since
        return None

    async def verify(self, http: httpx.AsyncClient) -> int:
        """Reads back every acknowledged write; returns how many were checked."""
        for key, value in self.acknowledged.items():
            reply = await http.get(f"/redis/{self.ref}/keys/{key}", headers=self.headers)
            assert reply.status_code == 200, (key, reply.text)
            assert reply.json()["value"] == value, key
        return len(self.acknowledged)


@pytest_asyncio.fixture(scope="module")
async def running(servers: Servers, jwt_secret: str, tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Stack]:
    """The system as processes, two registry replicas among them, with a project on the test Redis."""
    stack = devstack.Stack.create(tmp_path_factory.mktemp("faults"))
    platform_url = await servers.create_platform_database(f"udb_faults_{uuid.uuid4().hex[:8]}")
    key = devstack.new_encryption_key()
    env = stack.service_env(jwt_secret=jwt_secret, encryption_key=key, platform_url=platform_url)
    env.update(LOG_JSON="true", ACCESS_LOG="false", RATE_LIMIT_ENABLED="false", REDIS_CONNECT_TIMEOUT_S="2")
    try:
        await asyncio.to_thread(stack.start_services, env)
        await asyncio.to_thread(stack.wait_healthy, stack.urls["gateway"])
        owner = f"owner-{uuid.uuid4().hex[:8]}"
        headers = {"authorization": f"Bearer {mint_token(jwt_secret, subject=owner)}"}
        async with httpx.AsyncClient(base_url=stack.urls["gateway"], timeout=30) as http:
            slug, ref = f"org-{uuid.uuid4().hex[:8]}", f"f-{uuid.uuid4().hex[:10]}"
            assert (await http.post("/organizations", json={"name": slug, "slug": slug}, headers=headers)).is_success
            project = {"organization_slug": slug, "name": "faults", "ref": ref}
            assert (await http.post("/projects", json=project, headers=headers)).is_success
            uris = {"redis": servers.redis_url, "pg-meta": servers.pg_url, "mongodb": servers.mongo_url}
            for engine, uri in uris.items():
                connection = {"identifier": "main", "uri": uri}
                reply = await http.post(f"/{engine}/{ref}/connections", json=connection, headers=headers)
                assert reply.status_code == 201, reply.text
            fixed = {"type": "string", "value": "v"}
            reply = await http.post(f"/redis/{ref}/keys/{FIXED_KEY}", json=fixed, headers=headers)
            assert reply.status_code == 201, reply.text
            yield Stack(stack, env, http, headers, ref, servers)
    finally:
        await asyncio.to_thread(stack.stop)


@pytest_asyncio.fixture(autouse=True)
async def _whole_after_each_test(running: Stack) -> AsyncIterator[None]:
    """Each test finds the whole system running, whatever the test before it left down."""
    yield
    if await asyncio.to_thread(running.restore):
        await _healthy(running)


async def _healthy(running: Stack, limit_s: float = 30) -> None:
    deadline = time.monotonic() + limit_s
    while time.monotonic() < deadline:
        with contextlib.suppress(httpx.TransportError):
            if (await running.http.get("/health")).status_code == 200:
                return
        await asyncio.sleep(0.1)
    raise AssertionError("the system did not become healthy again")


async def test_killing_one_registry_replica_fails_no_request(running: Stack) -> None:
    """kill -9 of one of two registry replicas under steady traffic: every request succeeds (reads
    in flight on it are retried on the other replica), and every acknowledged write is there."""
    await _healthy(running)
    traffic = Traffic(running.http, running.headers, running.ref)
    traffic.start()
    await asyncio.sleep(1.0)
    killed_at = time.monotonic()
    await asyncio.to_thread(kill, running.stack, "registry-2", signal.SIGKILL)
    await asyncio.sleep(3.0)
    await traffic.stop()
    after = traffic.statuses(killed_at)
    print(f"\nregistry replica killed: {sum(after.values())} requests after the kill, statuses {dict(after)}")
    # A registry read in flight on the killed replica is sent again by the channel's retry policy
    # (udb.clients.SERVICE_CONFIG) to the other one: no request fails.
    assert set(traffic.statuses()) <= {200, 201}, (traffic.statuses(), traffic.errors)
    assert sum(after.values()) > 10
    checked = await traffic.verify(running.http)
    assert checked > 0
    await asyncio.to_thread(running.restart, "registry-2")


async def test_a_full_registry_restart_recovers_within_seconds(running: Stack) -> None:
    """kill -9 of both registry replicas: requests get 503 (never another 5xx) until they are back;
    the first success follows within the bound of their listening again (figure printed)."""
    await _healthy(running)
    traffic = Traffic(running.http, running.headers, running.ref)
    traffic.start()
    await asyncio.sleep(1.0)
    killed_at = time.monotonic()
    for name in ("registry", "registry-2"):
        await asyncio.to_thread(kill, running.stack, name, signal.SIGKILL)
    await asyncio.sleep(2.0)
    for name in ("registry", "registry-2"):
        await asyncio.to_thread(running.restart, name)
    back_at = time.monotonic()
    await asyncio.sleep(RECOVERY_BOUND_S)
    await traffic.stop()
    to_error = traffic.first(killed_at, "error", ("registry-read",))
    recovered = {kind: traffic.first(back_at, "ok", (kind,)) for kind in ("registry-read", "engine-read")}
    print(f"\nfull registry restart: first error after {to_error}s; first success after listening again: {recovered}")
    print(f"statuses while down and after: {dict(traffic.statuses(killed_at))}")
    assert to_error is not None and to_error < RECOVERY_BOUND_S
    assert set(traffic.statuses(killed_at)) <= {200, 201, 503}, traffic.statuses(killed_at)
    for kind, seconds in recovered.items():
        assert seconds is not None and seconds < RECOVERY_BOUND_S, (kind, seconds)
    await traffic.verify(running.http)


#: The traffic each killed process serves, whose status and recovery are asserted.
SERVED_BY = {"redis-svc": "engine-write", "mongo-svc": "mongo-read", "pg-svc": "pg-read", "gateway": "engine-write"}


@pytest.mark.parametrize("name", list(SERVED_BY))
async def test_a_killed_process_is_replaced_and_no_acknowledged_write_is_lost(running: Stack, name: str) -> None:
    """kill -9 of an engine service or the gateway under traffic: its requests fail (503 through
    the gateway for an engine; refused connections for the gateway itself), a replacement serves
    within the bound, and every write acknowledged before, during and after is there."""
    await _healthy(running)
    traffic = Traffic(running.http, running.headers, running.ref)
    traffic.start()
    await asyncio.sleep(1.0)
    killed_at = time.monotonic()
    await asyncio.to_thread(kill, running.stack, name, signal.SIGKILL)
    await asyncio.sleep(1.0)
    await asyncio.to_thread(running.restart, name)
    back_at = time.monotonic()
    await asyncio.sleep(RECOVERY_BOUND_S)
    await traffic.stop()
    served = (SERVED_BY[name],)
    to_error = traffic.first(killed_at, "error", served)
    recovered = traffic.first(back_at, "ok", served)
    statuses = traffic.statuses(killed_at)
    print(f"\n{name} killed: first error after {to_error}s; first success {recovered}s after it listens; {statuses}")
    allowed = {200, 201, 503} if name != "gateway" else {200, 201, 0}
    assert set(statuses) <= allowed, (statuses, traffic.errors)
    assert to_error is not None, "the kill went unnoticed: the traffic does not reach the process"
    assert recovered is not None and recovered < RECOVERY_BOUND_S
    assert await traffic.verify(running.http) > 0


def _bindable(port: int) -> bool:
    """Whether a replacement process could listen on ``port`` now (as uvicorn and grpc bind)."""
    with socket.socket() as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind(("127.0.0.1", port))
        except OSError:
            return False
        return True


async def _freed(ports: list[int], limit_s: float = 0.8) -> None:
    """Waits (briefly) until a replacement could bind every port."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + limit_s
    while not all(_bindable(port) for port in ports):
        assert loop.time() < deadline, [port for port in ports if not _bindable(port)]
        await asyncio.sleep(0.02)


async def test_a_stopping_gateway_frees_its_ports_at_once_and_answers_late_requests_503(running: Stack) -> None:
    """SIGTERM to the gateway (grace 1 s): its HTTP, gRPC health and metrics ports can be bound by a
    replacement at once, while a request in flight past the grace gets the API's JSON 503 (with
    Retry-After), not a plain-text 500; a request within the grace is answered normally."""
    await _healthy(running)
    stack = running.stack
    await asyncio.to_thread(kill, stack, "gateway", signal.SIGKILL)
    await asyncio.to_thread(running.restart, "gateway", SHUTDOWN_GRACE_S="1")
    await _healthy(running)
    reply = await running.http.post(
        f"/pg-meta/{running.ref}/connections",
        json={"identifier": "slow", "uri": running.servers.pg_url},
        headers=running.headers,
    )
    assert reply.status_code == 201, reply.text
    connection = reply.json()["id"]

    async def sleep(seconds: float) -> httpx.Response:
        return await running.http.post(
            f"/pg-meta/{running.ref}/query?connection={connection}",
            json={"query": f"select pg_sleep({seconds})"},
            headers=running.headers,
        )

    slow = asyncio.create_task(sleep(6))
    quick = asyncio.create_task(sleep(0.6))
    await asyncio.sleep(0.4)
    gateway = next(entry for entry in reversed(stack.processes) if entry.name == "gateway")
    os.kill(gateway.pid, signal.SIGTERM)
    ports = [stack.ports[name] for name in ("gateway", "gateway-grpc", "gateway-metrics")]
    await _freed(ports)
    assert gateway.process is not None and gateway.process.poll() is None  # still finishing its requests
    quick_reply = await quick
    assert quick_reply.status_code == 200, quick_reply.text
    late = await slow
    assert late.status_code == 503, late.text
    assert late.headers["content-type"].startswith("application/json")
    assert late.headers["retry-after"] == "1"
    assert "shutting down" in late.json()["message"]
    await asyncio.to_thread(gateway.process.wait, 10)
    stack.processes.remove(gateway)
    await asyncio.to_thread(running.restart, "gateway")
    await _healthy(running)


async def test_a_stopping_service_frees_its_ports_at_once_and_late_calls_answer_503(running: Stack) -> None:
    """SIGTERM to pg-svc (grace 1 s): its gRPC and metrics ports can be bound by a replacement at
    once; a query past the grace ends as the API's 503 through the gateway, not a 500."""
    await _healthy(running)
    stack = running.stack
    await asyncio.to_thread(kill, stack, "pg-svc", signal.SIGKILL)
    await asyncio.to_thread(running.restart, "pg-svc", SHUTDOWN_GRACE_S="1")
    await _healthy(running)
    reply = await running.http.post(
        f"/pg-meta/{running.ref}/connections",
        json={"identifier": f"slow-{uuid.uuid4().hex[:6]}", "uri": running.servers.pg_url},
        headers=running.headers,
    )
    assert reply.status_code == 201, reply.text
    connection = reply.json()["id"]
    slow = asyncio.create_task(
        running.http.post(
            f"/pg-meta/{running.ref}/query?connection={connection}",
            json={"query": "select pg_sleep(6)"},
            headers=running.headers,
        )
    )
    await asyncio.sleep(0.5)
    service = next(entry for entry in reversed(stack.processes) if entry.name == "pg-svc")
    os.kill(service.pid, signal.SIGTERM)
    ports = [stack.ports[name] for name in ("pg-svc", "pg-svc-metrics")]
    await _freed(ports)
    assert service.process is not None and service.process.poll() is None  # still finishing its call
    late = await slow
    assert late.status_code == 503, late.text
    assert late.headers["content-type"].startswith("application/json")
    await asyncio.to_thread(service.process.wait, 10)
    stack.processes.remove(service)
    await asyncio.to_thread(running.restart, "pg-svc")
    await _healthy(running)
