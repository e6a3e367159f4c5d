"""The gateway's merge of its own token buckets with the other gateways' consumption."""

from __future__ import annotations

import asyncio
import logging

import grpc
import pytest
from gateway.middleware import RouteClass
from gateway.ratelimit_sync import RateLimitSync, SharedRateLimiter, WindowCounts, others_since_last_sync, shared_key
from gateway.settings import RateLimit
from prometheus_client import REGISTRY


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_the_first_sync_counts_everything_but_our_own_consumption() -> None:
    """A bucket first seen: the others' part of the window's total is theirs since the last sync."""
    others, state = others_since_last_sync(None, 3, window=7, window_total=10, previous_total=50)
    assert others == 7
    assert state == WindowCounts(window=7, sent=3, others_seen=7)


def test_later_syncs_in_a_window_count_only_the_others_increase() -> None:
    """In the same window only what the others added since the last sync is new."""
    state = WindowCounts(window=7, sent=3, others_seen=7)
    others, state = others_since_last_sync(state, 2, window=7, window_total=20, previous_total=0)
    assert others == 8  # 20 - (3 + 2) ours - 7 seen before
    assert state == WindowCounts(window=7, sent=5, others_seen=15)
    others, _ = others_since_last_sync(state, 0, window=7, window_total=20, previous_total=0)
    assert others == 0


def test_a_new_window_counts_the_others_late_additions_to_the_previous_one() -> None:
    """Crossing a window boundary: the previous window's unseen part plus the new window's others."""
    state = WindowCounts(window=7, sent=5, others_seen=15)
    others, state = others_since_last_sync(state, 1, window=8, window_total=4, previous_total=24)
    assert others == (24 - 5 - 15) + (4 - 1)
    assert state == WindowCounts(window=8, sent=1, others_seen=3)


def test_a_stale_state_or_a_clock_going_back_never_drains_twice() -> None:
    """A state two windows old counts the new window only; one from a later window counts nothing."""
    others, _ = others_since_last_sync(WindowCounts(5, 9, 9), 0, window=8, window_total=6, previous_total=99)
    assert others == 6
    others, state = others_since_last_sync(WindowCounts(9, 1, 1), 0, window=8, window_total=6, previous_total=0)
    assert others == 0
    assert state.window == 8


def test_the_limiter_counts_what_it_admits_and_is_drained_by_the_others() -> None:
    """Admitted requests are counted per bucket; a drain empties the bucket (into debt, at most a burst)."""
    clock = Clock()
    limiter = SharedRateLimiter({RouteClass.WRITE: RateLimit(per_s=1.0, burst=4.0)}, clock=clock)
    assert limiter.take(RouteClass.WRITE, "u") == 0.0
    assert limiter.take(RouteClass.READ, "u") == 0.0  # no limit: not counted
    assert limiter.consumed == {(RouteClass.WRITE, "u"): 1}
    limiter.drain((RouteClass.WRITE, "u"), 2)  # 3 left, 2 taken by others
    assert limiter.take(RouteClass.WRITE, "u") == 0.0
    assert limiter.take(RouteClass.WRITE, "u") > 0
    limiter.drain((RouteClass.WRITE, "v"), 100)  # a bucket unused here: at most one burst of debt
    assert limiter.take(RouteClass.WRITE, "v") == 5.0
    clock.now += 5.0
    assert limiter.take(RouteClass.WRITE, "v") == 0.0
    limiter.counting = False
    limiter.take(RouteClass.WRITE, "w")
    assert (RouteClass.WRITE, "w") not in limiter.consumed


def test_shared_keys_are_short_and_distinct_per_class_and_caller() -> None:
    """Any caller id maps to 32 hex characters, different per route class."""
    long_caller = "x" * 5000
    assert len(shared_key((RouteClass.WRITE, long_caller))) == 32
    assert shared_key((RouteClass.WRITE, "u")) != shared_key((RouteClass.READ, "u"))


class FailingStub:
    """A redis-svc that does not answer: every Sync fails as a channel to a dead peer does."""

    def __init__(self) -> None:
        self.calls = 0

    async def Sync(self, request: object, **kwargs: object) -> object:
        self.calls += 1
        raise grpc.aio.AioRpcError(grpc.StatusCode.UNAVAILABLE, grpc.aio.Metadata(), grpc.aio.Metadata(), "down")


async def test_failed_syncs_keep_the_local_limits_count_a_metric_and_log_once(caplog: pytest.LogCaptureFixture) -> None:
    """A redis-svc that fails: each failure is counted, one warning is logged, the buckets stay local."""
    limiter = SharedRateLimiter({RouteClass.WRITE: RateLimit(per_s=0.01, burst=2.0)})
    stub = FailingStub()
    sync = RateLimitSync(limiter, stub, lambda: (), interval_s=0.01)
    before = REGISTRY.get_sample_value("udb_rate_limit_sync_failures_total") or 0.0
    with caplog.at_level(logging.WARNING, logger="gateway.ratelimit_sync"):
        sync.start()
        for caller in range(1000):  # a new caller each time: there is always something to sync
            if stub.calls >= 3:
                break
            limiter.take(RouteClass.WRITE, f"caller-{caller}")
            await asyncio.sleep(0.01)
        await sync.close()
    assert stub.calls >= 3
    assert (REGISTRY.get_sample_value("udb_rate_limit_sync_failures_total") or 0.0) - before >= 3
    assert len([record for record in caplog.records if "sync failed" in record.getMessage()]) == 1
    assert [limiter.take(RouteClass.WRITE, "u") == 0.0 for _ in range(3)] == [True, True, False]
