"""The pool manager's limits, idle cleanup, record changes and safety under concurrency.

The client here is a plain object: these tests pin the manager's bookkeeping. The engine
services' integration tests run the same manager with real redis-py, asyncpg and PyMongo clients.
"""

from __future__ import annotations

import asyncio
import itertools
from dataclasses import dataclass, field

import pytest

from udb.pool import PoolManager, pool_key
from udb.registry.v1 import registry_pb2


@dataclass
class FakeClient:
    number: int
    max_connections: int
    closed: bool = False


@dataclass
class Factory:
    delay: float = 0.0
    built: list[FakeClient] = field(default_factory=list)
    counter: itertools.count[int] = field(default_factory=itertools.count)

    async def build(self, resolved: registry_pb2.ResolvedConnection, max_connections: int) -> FakeClient:
        await asyncio.sleep(self.delay)
        client = FakeClient(next(self.counter), max_connections)
        self.built.append(client)
        return client

    async def close(self, client: FakeClient) -> None:
        client.closed = True


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def record(connection_id: str = "c1", project_id: str = "p1", version: int = 1) -> registry_pb2.ResolvedConnection:
    resolved = registry_pb2.ResolvedConnection()
    resolved.connection.id = connection_id
    resolved.connection.project_id = project_id
    resolved.connection.updated_at.seconds = version
    return resolved


def manager(factory: Factory, clock: Clock | None = None, **kwargs: float) -> PoolManager[FakeClient]:
    return PoolManager(
        "redis",
        factory.build,
        factory.close,
        clock=clock or Clock(),
        **kwargs,  # type: ignore[arg-type]
    )


def test_pool_key_follows_the_design() -> None:
    """Pooled clients are keyed {project_id}:{db_type}:{conn_id}."""
    assert pool_key("p1", "redis", "c1") == "p1:redis:c1"


async def test_concurrent_first_calls_share_one_client() -> None:
    """A hundred callers racing for a cold record build exactly one client."""
    factory = Factory(delay=0.01)
    pools = manager(factory)

    async def use() -> int:
        async with pools.acquire(record()) as client:
            return client.number

    numbers = await asyncio.gather(*(use() for _ in range(100)))
    assert set(numbers) == {0}
    assert len(factory.built) == 1
    assert factory.built[0].max_connections == 10
    assert [s.key for s in pools.stats()] == ["p1:redis:c1"]


async def test_at_most_max_connections_borrowers_at_once() -> None:
    """The eleventh concurrent borrower waits until one of ten returns, and the wait is counted."""
    pools = manager(Factory(), max_connections=10)
    inside = 0
    peak = 0
    release = asyncio.Event()

    async def hold() -> None:
        nonlocal inside, peak
        async with pools.acquire(record()):
            inside += 1
            peak = max(peak, inside)
            await release.wait()
            inside -= 1

    tasks = [asyncio.create_task(hold()) for _ in range(15)]
    await asyncio.sleep(0.05)
    assert inside == 10
    assert pools.stats()[0].in_use == 10
    assert pools.stats()[0].waits == 5
    release.set()
    await asyncio.gather(*tasks)
    assert peak == 10
    assert pools.stats()[0].in_use == 0


async def test_idle_clients_are_closed_after_the_timeout_and_busy_ones_kept() -> None:
    """cleanup_idle closes a client unused for idle_timeout_s, never one that is borrowed."""
    clock = Clock()
    factory = Factory()
    pools = manager(factory, clock, idle_timeout_s=300)
    async with pools.acquire(record("idle")):
        pass
    busy_entered = asyncio.Event()
    busy_release = asyncio.Event()

    async def busy() -> None:
        async with pools.acquire(record("busy")):
            busy_entered.set()
            await busy_release.wait()

    task = asyncio.create_task(busy())
    await busy_entered.wait()
    clock.now += 299
    assert await pools.cleanup_idle() == 0
    clock.now += 2
    assert await pools.cleanup_idle() == 1
    idle, held = factory.built
    assert idle.closed and not held.closed
    assert [s.key for s in pools.stats()] == ["p1:redis:busy"]
    busy_release.set()
    await task
    # Used again after cleanup: a fresh client.
    async with pools.acquire(record("idle")) as client:
        assert client is not idle and not client.closed


async def test_cleanup_runs_periodically_once_started() -> None:
    """start() runs cleanup every cleanup_interval_s."""
    factory = Factory()
    pools = PoolManager("redis", factory.build, factory.close, idle_timeout_s=0, cleanup_interval_s=0.02)
    await pools.start()
    async with pools.acquire(record()):
        pass
    await asyncio.sleep(0.1)
    assert factory.built[0].closed
    assert len(pools) == 0
    await pools.close()


async def test_a_changed_record_gets_a_new_client_after_in_flight_calls_finish() -> None:
    """A new version of a record builds a new client; the old one closes when its last borrower returns."""
    factory = Factory()
    pools = manager(factory)
    entered = asyncio.Event()
    release = asyncio.Event()

    async def slow() -> None:
        async with pools.acquire(record(version=1)):
            entered.set()
            await release.wait()

    task = asyncio.create_task(slow())
    await entered.wait()
    async with pools.acquire(record(version=2)) as fresh:
        assert fresh.number == 1
    old = factory.built[0]
    assert not old.closed
    release.set()
    await task
    assert old.closed


async def test_invalidate_retires_a_connections_client() -> None:
    """invalidate(connection_id=...) closes that record's client; other records keep theirs."""
    factory = Factory()
    pools = manager(factory)
    for name in ("a", "b"):
        async with pools.acquire(record(name)):
            pass
    assert await pools.invalidate(connection_id="a") == 1
    assert [c.closed for c in factory.built] == [True, False]
    assert await pools.invalidate(project_id="p1") == 1
    assert all(c.closed for c in factory.built)


async def test_a_failing_factory_is_not_cached() -> None:
    """A client that cannot be built raises to the caller and is tried again next time."""
    attempts = 0

    async def flaky(resolved: registry_pb2.ResolvedConnection, size: int) -> FakeClient:
        nonlocal attempts
        attempts += 1
        if attempts == 1:
            raise ConnectionRefusedError("down")
        return FakeClient(attempts, size)

    async def close(client: FakeClient) -> None:
        client.closed = True

    pools: PoolManager[FakeClient] = PoolManager("redis", flaky, close)
    with pytest.raises(ConnectionRefusedError):
        async with pools.acquire(record()):
            pass
    async with pools.acquire(record()) as client:
        assert client.number == 2


async def test_close_closes_everything_and_refuses_new_clients() -> None:
    """close() closes every client, and the manager builds no more."""
    factory = Factory()
    pools = manager(factory)
    async with pools.acquire(record()):
        pass
    await pools.close()
    assert factory.built[0].closed
    with pytest.raises(RuntimeError):
        async with pools.acquire(record("other")):
            pass
