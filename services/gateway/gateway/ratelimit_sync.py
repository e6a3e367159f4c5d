"""Rate limits shared by the gateway's replicas, through redis-svc's ``RateLimitService``.

Every request is still answered from this process's token buckets (no remote call on the request's
path). Every ``RATE_LIMIT_SYNC_INTERVAL_S`` (200 ms) a background task sends what each bucket let
through since the last sync and gets every gateway's total for it in the current and the previous
window; what the other gateways consumed since the last sync is drained from the local bucket. Each
bucket thus refills at the configured rate and empties at everyone's, so N gateways together
admit about the configured rate; between two syncs each gateway may still spend what its bucket
holds, so the total can exceed it by up to one interval's worth per gateway.

When redis-svc has no ``RATE_LIMIT_REDIS_URL`` it says so (``shared`` false): the limits stay per
process (logged once). A failed sync keeps the local limits, counts
``udb_rate_limit_sync_failures_total`` and is logged at most once a minute.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
import time
from collections.abc import AsyncIterator, Callable, Mapping
from dataclasses import dataclass
from typing import Any

import grpc

from gateway.middleware import RateLimiter, RouteClass, rate_limits
from gateway.settings import RateLimit, Settings
from udb import metrics
from udb.redis.v1 import ratelimit_pb2, ratelimit_pb2_grpc
from udb.tasks import cancel_and_wait

log = logging.getLogger(__name__)

BucketKey = tuple[RouteClass, str]

#: Batches of at most this many buckets per call (redis-svc takes up to 10 000).
BATCH = 5_000
#: After redis-svc answered that limits are not shared, ask again this rarely.
UNSHARED_RETRY_S = 30.0
FAILURE_LOG_EVERY_S = 60.0


def shared_key(key: BucketKey) -> str:
    """The bucket's key in the shared store: a hash, so that any caller id fits in 32 characters."""
    route_class, caller = key
    return hashlib.blake2b(f"{route_class.value}\0{caller}".encode(), digest_size=16).hexdigest()


@dataclass(slots=True)
class WindowCounts:
    """What this gateway sent for a bucket in a window, and the others' total seen so far."""

    window: int
    sent: int
    others_seen: int


def others_since_last_sync(
    state: WindowCounts | None, sent_now: int, window: int, window_total: int, previous_total: int
) -> tuple[int, WindowCounts]:
    """How many tokens the other gateways consumed since the last sync, and the state to keep.

    The totals are every gateway's, ours included (``sent_now`` has just been added to this
    window); crossing into a new window, the others' late additions to the previous one count too.
    """
    if state is not None and state.window == window:
        sent = state.sent + sent_now
        others = window_total - sent
        return max(0, others - state.others_seen), WindowCounts(window, sent, max(others, state.others_seen))
    others = window_total - sent_now
    fresh = WindowCounts(window, sent_now, others)
    if state is None or state.window < window - 1:
        return max(0, others), fresh
    if state.window == window - 1:
        late = (previous_total - state.sent) - state.others_seen
        return max(0, others) + max(0, late), fresh
    return 0, fresh  # the store's clock went back (another redis-svc replica): start again


class SharedRateLimiter(RateLimiter):
    """The local token buckets, counting what they admit and drained by the other gateways."""

    def __init__(self, limits: Mapping[RouteClass, RateLimit], *, clock: Callable[[], float] = time.monotonic) -> None:
        super().__init__(limits, clock=clock)
        self.consumed: dict[BucketKey, int] = {}
        #: Off while the limits are not shared: nothing would read the counts.
        self.counting = True

    def take(self, route_class: RouteClass, caller: str) -> float:
        wait_s = super().take(route_class, caller)
        if wait_s == 0 and self.counting and route_class in self._limits and self._limits[route_class].per_s > 0:
            key = (route_class, caller)
            self.consumed[key] = self.consumed.get(key, 0) + 1
        return wait_s

    def drain(self, key: BucketKey, tokens: int) -> None:
        """Takes ``tokens`` that other gateways consumed (down to at most one burst in debt)."""
        limit = self._limits[key[0]]
        now = self._clock()
        held, counted = self._buckets.pop(key, (limit.burst, now))
        held = min(limit.burst, held + (now - counted) * limit.per_s)
        self._buckets[key] = (max(-limit.burst, held - tokens), now)


class RateLimitSync:
    """The background task that syncs a :class:`SharedRateLimiter` with redis-svc."""

    def __init__(
        self,
        limiter: SharedRateLimiter,
        stub: Any,
        metadata: Callable[[], tuple[tuple[str, str], ...]],
        *,
        interval_s: float = 0.2,
    ) -> None:
        self.limiter = limiter
        self._stub = stub
        self._metadata = metadata
        self._interval_s = interval_s
        self._states: dict[BucketKey, WindowCounts] = {}
        self._task: asyncio.Task[None] | None = None
        self._told_unshared = False
        self._failure_logged_at = -FAILURE_LOG_EVERY_S
        #: Whether the last sync reached a shared store.
        self.shared = False

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="rate-limit-sync")

    async def close(self) -> None:
        await cancel_and_wait(self._task)
        self._task = None

    async def _run(self) -> None:
        while True:
            await asyncio.sleep(self._interval_s if self.shared or not self._told_unshared else UNSHARED_RETRY_S)
            try:
                await self.sync()
            except (grpc.RpcError, OSError) as error:
                metrics.RATE_LIMIT_SYNC_FAILURES.inc()
                if time.monotonic() - self._failure_logged_at >= FAILURE_LOG_EVERY_S:
                    self._failure_logged_at = time.monotonic()
                    log.warning("rate-limit sync failed: limits are per process meanwhile", extra={"error": str(error)})

    async def sync(self) -> None:
        """One round: the deltas out, the others' consumption drained from the local buckets."""
        consumed, self.limiter.consumed = self.limiter.consumed, {}
        # Buckets active lately are synced even when idle here: the others' use drains them too.
        keys = list(dict.fromkeys([*consumed, *self._states]))
        for start in range(0, len(keys), BATCH):
            batch = keys[start : start + BATCH]
            request = ratelimit_pb2.SyncRateLimitsRequest(
                buckets=[ratelimit_pb2.BucketUsage(key=shared_key(key), consumed=consumed.get(key, 0)) for key in batch]
            )
            reply = await self._stub.Sync(request, metadata=self._metadata(), timeout=max(1.0, 5 * self._interval_s))
            if not reply.shared:
                self.shared = self.limiter.counting = False
                self._states.clear()
                if not self._told_unshared:
                    self._told_unshared = True
                    log.info("rate limits are per gateway process: redis-svc has no RATE_LIMIT_REDIS_URL")
                return
            self.shared = self.limiter.counting = True
            self._told_unshared = False
            for key, totals in zip(batch, reply.buckets, strict=True):
                sent = consumed.get(key, 0)
                others, self._states[key] = others_since_last_sync(
                    self._states.get(key), sent, reply.window, totals.window_total, totals.previous_total
                )
                if others:
                    self.limiter.drain(key, others)
                if totals.window_total == 0 and totals.previous_total == 0:
                    del self._states[key]  # nobody used it in this window or the last: forgotten


@contextlib.asynccontextmanager
async def syncing(
    limiter: RateLimiter,
    channel: grpc.aio.Channel,
    metadata: Callable[[], tuple[tuple[str, str], ...]],
    interval_s: float,
) -> AsyncIterator[None]:
    """Syncs ``limiter`` through redis-svc's ``channel`` while the app serves (when it is shared)."""
    if not isinstance(limiter, SharedRateLimiter):
        yield
        return
    sync = RateLimitSync(limiter, ratelimit_pb2_grpc.RateLimitServiceStub(channel), metadata, interval_s=interval_s)
    sync.start()
    try:
        yield
    finally:
        await sync.close()


def limiter_for(settings: Settings) -> RateLimiter:
    """The app's limiter: shared with the other gateways unless limits are off or never synced."""
    limits = rate_limits(settings)
    if limits and settings.rate_limit_sync_interval_s > 0:
        return SharedRateLimiter(limits)
    return RateLimiter(limits)
