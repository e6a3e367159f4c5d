"""Per-user rate limits shared by every gateway replica, counted in a platform Redis.

The token buckets of ``gateway.middleware.RateLimiter`` live in one process: with N replicas a
user got N times the rate. With ``RATE_LIMIT_REDIS_URL`` set, each bucket lives in that Redis
instead, as a hash updated by one Lua script (atomic, on Redis's own clock, so the replicas'
clocks do not matter), and expires once it would be full again. Without it, or while that Redis
does not answer, the per-process buckets decide (logged at start, and at most every 30 s while
Redis is failing): an outage of the counter never turns into an outage of the API.

Why Redis rather than Envoy's global rate limit: the limit is per *user*, the JWT's subject,
which the gateway has already verified and Envoy has not; Envoy's global limit needs a rate limit
service of its own (one more process and protocol, in front of a Redis anyway). Envoy keeps its
local, per-connection-pool bucket at the edge as the outer bound.

This Redis belongs to the platform, like its Postgres: configured by the operator, never reached
with tenant input (the key holds the route class and the caller's subject or address, hashed).
"""

from __future__ import annotations

import hashlib
import logging
import time
from collections.abc import Callable, Mapping
from typing import Any, Protocol

from gateway.settings import RateLimit, Settings
from udb.config import Secret

log = logging.getLogger("gateway.ratelimit")

#: A token bucket on Redis's clock: KEYS[1] the bucket; ARGV per second, burst. Returns the seconds
#: to wait (0 when a token was taken), as a string (Lua numbers become integers in replies).
TAKE_SCRIPT = """
local rate = tonumber(ARGV[1])
local burst = tonumber(ARGV[2])
local clock = redis.call('TIME')
local now = tonumber(clock[1]) + tonumber(clock[2]) / 1000000
local state = redis.call('HMGET', KEYS[1], 'tokens', 'at')
local tokens = tonumber(state[1]) or burst
local at = tonumber(state[2]) or now
tokens = math.min(burst, tokens + math.max(0, now - at) * rate)
local wait = 0
if tokens >= 1 then
  tokens = tokens - 1
else
  wait = (1 - tokens) / rate
end
redis.call('HSET', KEYS[1], 'tokens', tostring(tokens), 'at', tostring(now))
redis.call('PEXPIRE', KEYS[1], math.ceil((burst - tokens) / rate * 1000) + 1000)
return tostring(wait)
"""

#: Past this, a call to the counter is given up and the process's own bucket decides.
REDIS_TIMEOUT_S = 0.25
#: At most one warning this often while the counter fails.
WARN_EVERY_S = 30.0


class RouteClassLike(Protocol):
    @property
    def value(self) -> str: ...


class SharedRateLimiter:
    """``await take(route_class, caller)``: seconds to wait, 0 when allowed (see the module).

    ``limits`` are keyed by the route class's value (``read``, ``write``, ``admin``); ``local``
    is the per-process limiter that decides without (or without an answering) Redis, given by
    the middleware that owns it (:meth:`fall_back_to`)."""

    def __init__(
        self,
        limits: Mapping[str, RateLimit],
        *,
        redis_url: Secret | None = None,
        prefix: str = "udb:ratelimit:",
    ) -> None:
        self._limits = dict(limits)
        self._local: Callable[[Any, str], float] = lambda _route_class, _caller: 0.0
        self._prefix = prefix
        self._client: Any = None
        self._script: Any = None
        self._warned_at = float("-inf")
        if redis_url is not None:
            import redis.asyncio as redis_asyncio  # the platform's counter only (see the module)

            self._client = redis_asyncio.from_url(
                redis_url.reveal(),
                socket_timeout=REDIS_TIMEOUT_S,
                socket_connect_timeout=REDIS_TIMEOUT_S,
                max_connections=64,
            )
            self._script = self._client.register_script(TAKE_SCRIPT)
            log.info("rate limits are shared by every gateway replica (RATE_LIMIT_REDIS_URL)")
        elif self._limits:
            log.info("rate limits are per gateway process: set RATE_LIMIT_REDIS_URL to share them between replicas")

    def fall_back_to(self, local: Callable[[Any, str], float]) -> None:
        """The per-process limiter used without an answering Redis."""
        self._local = local

    @property
    def shared(self) -> bool:
        return self._client is not None

    async def take(self, route_class: RouteClassLike, caller: str) -> float:
        limit = self._limits.get(route_class.value)
        if limit is None or limit.per_s <= 0:
            return 0.0
        if self._script is None:
            return self._local(route_class, caller)
        digest = hashlib.sha256(caller.encode()).hexdigest()[:32]
        try:
            key = f"{self._prefix}{route_class.value}:{digest}"
            reply = await self._script(keys=[key], args=[limit.per_s, limit.burst])
        except Exception as exc:  # noqa: BLE001 (any failure of the counter: the local bucket decides)
            now = time.monotonic()
            if now - self._warned_at >= WARN_EVERY_S:
                self._warned_at = now
                log.warning("the shared rate limit counter fails; per-process limits apply: %s", type(exc).__name__)
            return self._local(route_class, caller)
        return float(reply)

    async def close(self) -> None:
        if self._client is not None:
            await self._client.aclose()


def rate_limiter(settings: Settings) -> SharedRateLimiter:
    """The gateway's limiter for ``settings`` (no limits when they are off)."""
    limits = {"read": settings.read_rate_limit, "write": settings.write_rate_limit, "admin": settings.admin_rate_limit}
    return SharedRateLimiter(limits if settings.rate_limits_enabled else {}, redis_url=settings.rate_limit_redis_url)
