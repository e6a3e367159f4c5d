"""RateLimitService: the gateways' shared rate-limit counters, in the platform's own Redis.

Each gateway answers from its own token buckets and, a few times a second, sends what it let
through per bucket; this adds it to a counter per bucket and window (``INCRBY`` and ``EXPIRE``,
pipelined: one round trip per call) and answers every gateway's total in the current and the
previous window, from which each gateway drains what the others consumed (gateway.ratelimit_sync).
The Redis is ``RATE_LIMIT_REDIS_URL``: configuration, never a tenant's connection.
"""

from __future__ import annotations

import logging
import time
from typing import Any

import grpc
import redis.asyncio as redis
import redis.exceptions as rex

from redis_svc.settings import Settings
from udb.auth import current_principal
from udb.errors import InvalidArgument, PermissionDenied, Unavailable
from udb.redis.v1 import ratelimit_pb2, ratelimit_pb2_grpc

Context = grpc.aio.ServicerContext[Any, Any]

log = logging.getLogger(__name__)

#: Counters are per window of this many seconds (what each gateway drains is a difference of
#: totals, so the window's length only bounds how long a counter lives).
WINDOW_S = 10
MAX_BUCKETS = 10_000
MAX_KEY_BYTES = 128


class RateLimitService(ratelimit_pb2_grpc.RateLimitServiceServicer):
    """Shared counters of the gateways' token buckets; without a Redis, ``shared`` is false."""

    def __init__(self, settings: Settings, *, clock: Any = time.time) -> None:
        url = settings.rate_limit_redis_url
        self._client = (
            None if url is None else redis.Redis.from_url(url.reveal(), socket_timeout=2.0, socket_connect_timeout=2.0)
        )
        self._prefix = settings.rate_limit_key_prefix
        self._clock = clock

    async def close(self) -> None:
        if self._client is not None:
            await self._client.aclose()

    async def Sync(
        self, request: ratelimit_pb2.SyncRateLimitsRequest, context: Context
    ) -> ratelimit_pb2.SyncRateLimitsResponse:
        if not current_principal().is_service:
            raise PermissionDenied("only services may sync rate limits")
        if len(request.buckets) > MAX_BUCKETS:
            raise InvalidArgument(f"at most {MAX_BUCKETS} buckets per call")
        for bucket in request.buckets:
            if not bucket.key or len(bucket.key.encode()) > MAX_KEY_BYTES or bucket.consumed < 0:
                raise InvalidArgument(f"a bucket needs a key of 1 to {MAX_KEY_BYTES} bytes and consumed >= 0")
        window = int(self._clock() // WINDOW_S)
        if self._client is None:
            return ratelimit_pb2.SyncRateLimitsResponse(shared=False, window=window)
        pipe = self._client.pipeline(transaction=False)
        for bucket in request.buckets:
            current = f"{self._prefix}{bucket.key}:{window}"
            pipe.incrby(current, bucket.consumed)
            # Two windows: the next window's sync still reads this one as its previous.
            pipe.expire(current, 2 * WINDOW_S + 1)
            pipe.get(f"{self._prefix}{bucket.key}:{window - 1}")
        try:
            replies = await pipe.execute()
        except (rex.RedisError, OSError) as error:
            log.warning("rate-limit redis failed", extra={"error": str(error)})
            raise Unavailable("the rate-limit store is unavailable") from None
        return ratelimit_pb2.SyncRateLimitsResponse(
            shared=True,
            window=window,
            buckets=[
                ratelimit_pb2.BucketTotals(
                    key=bucket.key,
                    window_total=int(replies[3 * i]),
                    previous_total=int(replies[3 * i + 2] or 0),
                )
                for i, bucket in enumerate(request.buckets)
            ],
        )
