"""The per-target circuit breaker's states, its outage classification, its metrics and the pool
manager's bounded wait for a slot. The integration fault tests (test_faults.py) run the same
breaker against real databases behind Toxiproxy."""

from __future__ import annotations

import asyncio
import random

import pytest
from prometheus_client import REGISTRY

from udb import metrics
from udb.breaker import BreakerPolicy, Breakers, State, is_outage
from udb.errors import DeadlineExceeded, InvalidArgument, NotFound, Unavailable
from udb.pool import PoolExhausted, PoolManager
from udb.registry.v1 import registry_pb2


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def breakers(clock: Clock, **policy: float) -> Breakers:
    """Breakers whose open intervals end at their full length (no spread), for exact figures."""
    return Breakers("redis", BreakerPolicy(**policy), clock=clock, spread=lambda: 0.0)  # type: ignore[arg-type]


async def fail(b: Breakers, exc: BaseException, key: tuple[str, str] = ("p1", "c1")) -> BaseException:
    """Runs one call that raises ``exc`` under the breaker; returns what came out."""
    with pytest.raises(BaseException) as raised:
        async with b.guard(*key):
            raise exc
    return raised.value


async def succeed(b: Breakers, key: tuple[str, str] = ("p1", "c1")) -> None:
    async with b.guard(*key):
        pass


async def test_consecutive_outages_open_the_breaker_and_calls_then_fail_at_once() -> None:
    """After `failure_threshold` outages in a row, a call fails without running, 503 with retry_after."""
    clock = Clock()
    b = breakers(clock, failure_threshold=3, open_s=2.0)
    for _ in range(2):
        await fail(b, Unavailable("redis: service unavailable"))
        assert b.state("p1", "c1") is State.CLOSED
    third = await fail(b, Unavailable("redis: service unavailable"))
    assert isinstance(third, Unavailable) and third.details["retry_after"] == "2"
    assert b.state("p1", "c1") is State.OPEN and b.open_count() == 1

    ran = False
    with pytest.raises(Unavailable) as fast:
        async with b.guard("p1", "c1"):
            ran = True
    assert not ran
    assert fast.value.details["retry_after"] == "2" and fast.value.details["breaker"] == "open"
    assert "redis: service unavailable" in fast.value.message
    assert b.state("p2", "c2") is State.CLOSED  # other targets are untouched


async def test_an_answer_between_outages_resets_the_count() -> None:
    """Outages must be consecutive: a success or a database's own error in between starts over."""
    b = breakers(Clock(), failure_threshold=2)
    await fail(b, Unavailable())
    await succeed(b)
    await fail(b, Unavailable())
    await fail(b, NotFound("no such key"))  # the database answered
    await fail(b, Unavailable())
    assert b.state("p1", "c1") is State.CLOSED


async def test_half_open_lets_one_probe_through_and_success_closes() -> None:
    """Once the interval ends one call probes while the others still fail at once; its success closes."""
    clock = Clock()
    b = breakers(clock, failure_threshold=1, open_s=1.0)
    await fail(b, Unavailable())
    clock.now += 1.0
    probe_entered, release = asyncio.Event(), asyncio.Event()

    async def probe() -> None:
        async with b.guard("p1", "c1"):
            probe_entered.set()
            await release.wait()

    task = asyncio.create_task(probe())
    await probe_entered.wait()
    assert b.state("p1", "c1") is State.HALF_OPEN
    with pytest.raises(Unavailable) as second:
        async with b.guard("p1", "c1"):
            pass
    assert second.value.details["breaker"] == "half_open"
    release.set()
    await task
    assert b.state("p1", "c1") is State.CLOSED and b.open_count() == 0
    assert b.transitions[State.OPEN] == 1 and b.transitions[State.HALF_OPEN] == 1
    assert b.transitions[State.CLOSED] == 1


async def test_a_failed_probe_reopens_with_a_doubled_interval_up_to_the_cap() -> None:
    """Each failed probe doubles the open interval, never past open_max_s."""
    clock = Clock()
    b = breakers(clock, failure_threshold=1, open_s=1.0, open_max_s=3.0)
    await fail(b, Unavailable())
    intervals = []
    for _ in range(3):
        clock.now += 10
        exc = await fail(b, Unavailable())
        assert isinstance(exc, Unavailable)
        intervals.append(exc.details["retry_after"])
    assert intervals == ["2", "3", "3"]


async def test_each_open_interval_ends_at_a_random_point_of_its_second_half() -> None:
    """Probes do not keep in step with a driver's periodic checks (or with other replicas' probes):
    each interval, as Retry-After tells it, lies between half and the whole of its length."""
    clock = Clock()
    b = Breakers(
        "mongodb",
        BreakerPolicy(failure_threshold=1, open_s=100, open_max_s=100),
        clock=clock,
        spread=random.Random(7).random,
    )  # type: ignore[arg-type]
    intervals = []
    for _ in range(200):
        exc = await fail(b, Unavailable())
        intervals.append(int(exc.details["retry_after"]))
        b.reset(connection_id="c1")
    assert 50 <= min(intervals) < 60 and 90 < max(intervals) <= 100


async def test_timeouts_and_cancellations_leave_the_state_as_it_was() -> None:
    """A call that ran out of time or met a busy pool says nothing about the target: no count, a probe slot freed."""
    clock = Clock()
    b = breakers(clock, failure_threshold=1)
    await fail(b, DeadlineExceeded())
    await fail(b, asyncio.CancelledError())
    assert b.state("p1", "c1") is State.CLOSED
    two = breakers(clock, failure_threshold=2)
    await fail(two, Unavailable())
    await fail(two, PoolExhausted("redis", 10, 2.0))  # busy, not an answer: the count stands
    await fail(two, Unavailable())
    assert two.state("p1", "c1") is State.OPEN
    await fail(b, Unavailable())
    clock.now += 5
    await fail(b, DeadlineExceeded())  # the probe timed out
    assert b.state("p1", "c1") is State.HALF_OPEN
    await succeed(b)  # the next call probes
    assert b.state("p1", "c1") is State.CLOSED


def test_outages_are_unavailable_and_socket_errors_not_bad_queries_or_busy_pools() -> None:
    """Only connection-class failures count; a user's bad query or a full pool does not."""
    assert is_outage(Unavailable())
    assert is_outage(ConnectionRefusedError())
    assert is_outage(ConnectionResetError())
    assert not is_outage(InvalidArgument("syntax error"))
    assert not is_outage(DeadlineExceeded())
    assert not is_outage(TimeoutError())
    assert not is_outage(PoolExhausted("redis", 10, 2.0))


async def test_resetting_a_record_forgets_its_breaker() -> None:
    """An edited or deleted record starts closed; a project's reset covers its every record."""
    b = breakers(Clock(), failure_threshold=1)
    await fail(b, Unavailable(), ("p1", "c1"))
    await fail(b, Unavailable(), ("p1", "c2"))
    await fail(b, Unavailable(), ("p2", "c3"))
    assert b.reset(connection_id="c1") == 1
    assert b.state("p1", "c1") is State.CLOSED and b.state("p1", "c2") is State.OPEN
    assert b.reset(project_id="p1") == 1
    assert b.open_count() == 1


async def test_breaker_metrics_report_open_targets_and_transitions() -> None:
    """udb_breaker_open counts failing-fast targets; udb_breaker_transitions_total counts each state entered."""
    b = Breakers("mongodb", BreakerPolicy(failure_threshold=1))
    metrics.track_breakers("unit-breaker-svc", b)
    labels = {"service": "unit-breaker-svc", "engine": "mongodb"}
    assert REGISTRY.get_sample_value("udb_breaker_open", labels) == 0
    assert REGISTRY.get_sample_value("udb_breaker_transitions_total", {**labels, "state": "open"}) == 0
    await fail(b, Unavailable())
    assert REGISTRY.get_sample_value("udb_breaker_open", labels) == 1
    assert REGISTRY.get_sample_value("udb_breaker_transitions_total", {**labels, "state": "open"}) == 1


def test_policy_refuses_nonsense() -> None:
    """A zero threshold or a cap below the first interval is a configuration error."""
    with pytest.raises(ValueError):
        BreakerPolicy(failure_threshold=0)
    with pytest.raises(ValueError):
        BreakerPolicy(open_s=5, open_max_s=1)


async def test_waiting_for_a_pool_slot_is_bounded_then_503() -> None:
    """A borrower that finds every slot busy past acquire_timeout_s gets PoolExhausted (503) promptly."""

    async def build(resolved: registry_pb2.ResolvedConnection, size: int) -> object:
        return object()

    async def close(client: object) -> None:
        return None

    pools: PoolManager[object] = PoolManager("redis", build, close, max_connections=1, acquire_timeout_s=0.05)
    resolved = registry_pb2.ResolvedConnection()
    resolved.connection.id, resolved.connection.project_id = "c1", "p1"
    async with pools.acquire(resolved):
        with pytest.raises(PoolExhausted) as busy:
            async with pools.acquire(resolved):
                pass
    assert busy.value.http_status == 503 and busy.value.details["retry_after"] == "1"
    assert pools.total_timeouts == 1
    async with pools.acquire(resolved):  # the slot came back
        assert pools.stats()[0].in_use == 1
    await pools.close()


def test_the_gateway_sends_retry_after_on_a_503_that_carries_one() -> None:
    """A 503 with a retry_after detail becomes an HTTP Retry-After header; one without has none."""
    from gateway.errors import error_response

    failing_fast = error_response(Unavailable("redis: down", details={"retry_after": 3}), "/api/platform/redis/a/keys")
    assert (failing_fast.status_code, failing_fast.headers["retry-after"]) == (503, "3")
    plain = error_response(Unavailable("down"), "/api/platform/redis/a/keys")
    assert "retry-after" not in plain.headers


def test_breaker_settings_come_from_the_environment_and_nonsense_fails_at_start() -> None:
    """BREAKER_* and POOL_ACQUIRE_TIMEOUT_S are read with defaults; bad values name the variable."""
    from redis_svc.settings import Settings

    from udb.config import ConfigError, Env

    base = {"JWT_SECRET": "x" * 32}
    settings = Settings.from_env(Env(environ=base, env_file=None))
    assert (settings.breaker_failure_threshold, settings.breaker_open_s, settings.breaker_open_max_s) == (3, 1.0, 5.0)
    assert settings.pool_acquire_timeout_s == 5.0 and settings.connect_timeout_s == 2.0
    tuned = Settings.from_env(Env(environ={**base, "BREAKER_OPEN_S": "2", "BREAKER_OPEN_MAX_S": "30"}, env_file=None))
    assert (tuned.breaker_open_s, tuned.breaker_open_max_s) == (2.0, 30.0)
    for variable, value in (
        ("BREAKER_FAILURE_THRESHOLD", "0"),
        ("BREAKER_OPEN_S", "10"),
        ("POOL_ACQUIRE_TIMEOUT_S", "0"),
    ):
        with pytest.raises(ConfigError, match=variable):
            Settings.from_env(Env(environ={**base, variable: value}, env_file=None))


async def test_mongo_selection_inside_a_time_limit_is_bounded_by_the_selection_timeout() -> None:
    """Under pymongo.timeout(30) selection waits serverSelectionTimeoutMS (2 s); RECHECK_S once every
    server failed."""
    import pymongo
    from mongo_svc import failfast
    from pymongo import AsyncMongoClient
    from pymongo.errors import AutoReconnect
    from pymongo.server_description import ServerDescription
    from pymongo.topology_description import updated_topology_description

    failfast.install()
    client: AsyncMongoClient[dict[str, object]] = AsyncMongoClient(
        "mongodb://192.0.2.1:27017", serverSelectionTimeoutMS=2000, connect=False
    )
    topology = client._topology
    with pymongo.timeout(30):
        assert topology.get_server_selection_timeout() == 2.0
    with pymongo.timeout(1):
        assert topology.get_server_selection_timeout() <= 1.0
    failed = ServerDescription(("192.0.2.1", 27017), error=AutoReconnect("connection refused"))
    topology._description = updated_topology_description(topology._description, failed)
    with pymongo.timeout(30):
        assert topology.get_server_selection_timeout() == failfast.RECHECK_S
    await client.close()
