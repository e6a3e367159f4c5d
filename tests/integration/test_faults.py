"""Network faults between the engines and their databases (Toxiproxy), through the gateway, for
each engine: a target that is down, resets connections, stops answering or cuts a reply answers
every call with 503 and ``Retry-After`` (the circuit breaker opens after a few, then fails calls at
once), never a queue into the 30 s deadline; once the fault is gone calls succeed again within
the breaker's open interval. Latency past the call's deadline answers 504 and opens nothing.

Times are asserted only as a generous bound (< 5 s a call) that proves "not queued into the
deadline"; `make bench` (bench/faults.py) measures them.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
import pytest_asyncio
from harness import Servers, System, own_gateway
from network_faults import Answer, Proxy, Toxiproxy, through, timed, toxiproxy, upstream_of
from prometheus_client import REGISTRY

pytestmark = pytest.mark.integration

ENGINES = ("redis", "mongodb", "postgres")
#: The bound that proves a call was not queued into the gateway's 30 s deadline.
NOT_QUEUED_S = 5.0
#: The breaker's longest open interval in the session's services (BREAKER_OPEN_MAX_S's default),
#: and what a probe itself may take (a MongoDB server selection, 2 s in the tests).
OPEN_MAX_S = 5.0
PROBE_S = 3.0
#: A reply large enough to span many TCP segments (the cut-mid-response fault).
BIG = 256 * 1024


@dataclass
class Target:
    """One engine's connection record, through its Toxiproxy proxy, and a read on it."""

    engine: str
    ref: str
    headers: dict[str, str]
    proxy: Proxy
    path: str
    body: dict[str, Any] | None
    connection_id: str = ""

    def read(self, http: httpx.AsyncClient) -> Callable[[], Awaitable[httpx.Response]]:
        if self.body is None:
            return lambda: http.get(self.path, headers=self.headers)
        return lambda: http.post(self.path, json=self.body, headers=self.headers)


@pytest_asyncio.fixture(scope="module")
async def toxi(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Toxiproxy]:
    async with toxiproxy(tmp_path_factory.mktemp("toxiproxy")) as running:
        yield running


@pytest_asyncio.fixture(scope="module")
async def proxies(toxi: Toxiproxy, servers: Servers) -> dict[str, Proxy]:
    """One proxy in front of each database server of the session."""
    return {
        "redis": await toxi.proxy("redis", upstream_of(servers.redis_url)),
        "mongodb": await toxi.proxy("mongodb", upstream_of(servers.mongo_url)),
        "postgres": await toxi.proxy("postgres", upstream_of(servers.pg_url)),
    }


async def new_target(system: System, servers: Servers, proxies: dict[str, Proxy], engine: str) -> Target:
    """A fresh project (so a fresh breaker) whose connection goes through the engine's proxy, with
    a large value to read."""
    ref, owner = await system.new_project()
    headers = system.headers(owner)
    proxy = proxies[engine]
    if engine == "redis":
        uri = through(servers.redis_url, proxy)
        record = await system.add_connection(ref, owner, "redis", {"identifier": "main", "uri": uri})
        key = f"fault-{uuid.uuid4().hex[:8]}"
        created = await system.http.post(
            f"/redis/{ref}/keys/{key}", json={"type": "string", "value": "x" * BIG}, headers=headers
        )
        assert created.status_code == 201, created.text
        return Target(engine, ref, headers, proxy, f"/redis/{ref}/keys/{key}", None, str(record["id"]))
    if engine == "mongodb":
        uri = through(servers.mongo_url, proxy)
        await system.add_connection(ref, owner, "mongodb", {"identifier": "main", "uri": uri})
        path = f"/mongodb/{ref}/databases/faults_{uuid.uuid4().hex[:8]}/collections/things/documents"
        inserted = await system.http.post(path, json={"blob": "x" * BIG}, headers=headers)
        assert inserted.status_code == 201, inserted.text
        return Target(engine, ref, headers, proxy, path, None)
    uri = through(servers.pg_url, proxy)
    await system.add_connection(ref, owner, "pg-meta", {"identifier": "main", "uri": uri})
    body = {"query": f"select repeat('x', {BIG}) as blob"}
    return Target(engine, ref, headers, proxy, f"/pg-meta/{ref}/query", body)


@pytest_asyncio.fixture(params=ENGINES)
async def target(
    request: pytest.FixtureRequest, system: System, servers: Servers, proxies: dict[str, Proxy], toxi: Toxiproxy
) -> AsyncIterator[Target]:
    made = await new_target(system, servers, proxies, request.param)
    ok = await made.read(system.http)()
    assert ok.status_code == 200, ok.text
    try:
        yield made
    finally:
        await toxi.reset()


SERVICES = {"redis": "redis-svc", "mongodb": "mongo-svc", "postgres": "pg-svc"}


def breaker_openings(engine: str) -> float:
    """How many times the engine's breakers opened in this process (the services run here)."""
    labels = {"service": SERVICES[engine], "engine": engine, "state": "open"}
    return REGISTRY.get_sample_value("udb_breaker_transitions_total", labels) or 0.0


async def answers_during_fault(target: Target, http: httpx.AsyncClient) -> tuple[list[Answer], float]:
    """Calls during a fault: one after another for at least 2 s and 6 calls, then 20 at once;
    and how many times the breaker opened meanwhile."""
    read = target.read(http)
    openings = breaker_openings(target.engine)
    answers: list[Answer] = []
    started = time.monotonic()
    while len(answers) < 6 or time.monotonic() - started < 2:
        answers.append(await timed(read))
    answers += await asyncio.gather(*(timed(read) for _ in range(20)))
    return answers, breaker_openings(target.engine) - openings


async def recovery_s(target: Target, http: httpx.AsyncClient) -> float:
    """Seconds from now until the read succeeds again (fails the test past a generous limit)."""
    started = time.monotonic()
    read = target.read(http)
    while (reply := await read()).status_code != 200:
        assert reply.status_code == 503, reply.text
        assert time.monotonic() - started < 30, "never recovered"
        await asyncio.sleep(0.05)
    return time.monotonic() - started


def assert_failed_fast(answers: list[Answer], openings: float) -> None:
    # Toxiproxy hands a new toxic to open connections asynchronously: a reply already under way
    # may still arrive whole. From the first failure on, every answer is a prompt 503.
    onset = next((i for i, answer in enumerate(answers) if answer.status != 200), len(answers))
    assert onset <= 2, f"the fault did not take: {answers[:5]}"
    answers = answers[onset:]
    statuses = {answer.status for answer in answers}
    assert statuses == {503}, answers
    assert all(answer.retry_after and int(answer.retry_after) >= 1 for answer in answers)
    slowest = max(answer.elapsed_s for answer in answers)
    assert slowest < NOT_QUEUED_S, f"a call took {slowest:.1f} s: queued, not failed fast"
    assert openings >= 1, "the breaker never opened"


FAULTS: dict[str, Callable[[Proxy], Awaitable[object]]] = {
    # The database is gone: its port refuses connections and open ones are closed.
    "down": lambda proxy: proxy.disable(),
    # Every connection is reset by the peer as soon as data flows.
    "reset_peer": lambda proxy: proxy.toxic("reset_peer", timeout=0),
    # Data stops, and the connection is closed 500 ms later.
    "timeout": lambda proxy: proxy.toxic("timeout", timeout=500),
    # Replies are cut after 4 kB: mid-response for every read here.
    "limit_data": lambda proxy: proxy.toxic("limit_data", bytes=4096),
}


@pytest.mark.parametrize("fault", FAULTS)
async def test_a_faulty_target_answers_503_with_retry_after_then_recovers(
    system: System, toxi: Toxiproxy, target: Target, fault: str
) -> None:
    """Down, reset, stalled or cut: each call 503 + Retry-After in < 5 s, the breaker opens; back in its interval."""
    await FAULTS[fault](target.proxy)
    answers, openings = await answers_during_fault(target, system.http)
    assert_failed_fast(answers, openings)
    await toxi.reset()  # the proxy enabled, the toxic gone
    took = await recovery_s(target, system.http)
    assert took < OPEN_MAX_S + PROBE_S, f"recovered after {took:.1f} s"


async def test_latency_beyond_the_deadline_answers_504_and_opens_no_breaker(system: System, target: Target) -> None:
    """A database slower than the call's deadline gives 504 (slow is not down): the next call after it goes through."""
    deadlines = {f"{kind}_DEADLINE_S": "0.5" for kind in ("READ", "WRITE", "ADMIN")}
    async with own_gateway(system, RATE_LIMIT_ENABLED="false", **deadlines) as (http, _):
        openings = breaker_openings(target.engine)
        toxic = await target.proxy.toxic("latency", latency=1200)
        slow = [await timed(target.read(http)) for _ in range(5)]
        assert {answer.status for answer in slow} == {504}, slow
        assert max(answer.elapsed_s for answer in slow) < NOT_QUEUED_S
        await target.proxy.remove(toxic)
        assert breaker_openings(target.engine) == openings
    took = await recovery_s(target, system.http)
    assert took < PROBE_S, f"a slow target was treated as down: {took:.1f} s to succeed again"


async def test_editing_the_record_resets_its_open_breaker(
    system: System, servers: Servers, proxies: dict[str, Proxy], toxi: Toxiproxy
) -> None:
    """An owner who points a failing-fast record at a working server is served at once, not after the open interval."""
    target = await new_target(system, servers, proxies, "redis")
    read = target.read(system.http)
    try:
        await target.proxy.disable()
        # Long enough for failed probes to grow the open interval to 4-5 s.
        started = time.monotonic()
        while time.monotonic() - started < 8:
            assert (await read()).status_code == 503
            await asyncio.sleep(0.05)
        still_open = await read()
        assert still_open.status_code == 503 and int(still_open.headers["retry-after"]) >= 2
        edited = await system.http.put(
            f"/redis/{target.ref}/connections/{target.connection_id}",
            json={"uri": servers.redis_url},
            headers=target.headers,
        )
        assert edited.status_code == 200, edited.text
        took = await recovery_s(target, system.http)
        assert took < 2, f"the edited record still failed fast for {took:.1f} s"
    finally:
        await toxi.reset()
