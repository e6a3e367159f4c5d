"""The gateway's configuration."""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass
from typing import Self

from udb.config import DEFAULT_ADDRESSES, GATEWAY_ADDRESSES, AuthSettings, ConfigError, Env, metrics_address


@dataclass(frozen=True)
class RateLimit:
    """A token bucket: ``per_s`` tokens a second, at most ``burst`` saved up; ``per_s`` 0 is no limit."""

    per_s: float
    burst: float


#: Per-user defaults. A console's page loads fire dozens of reads at once and a table edit or a
#: paste may send hundreds of writes in a second or two: each bucket's burst lets that through
#: (200 writes within two seconds are all served), and only a sustained rate past ``per_s`` is 429.
DEFAULT_READ_LIMIT = RateLimit(100.0, 500.0)
DEFAULT_WRITE_LIMIT = RateLimit(50.0, 250.0)
DEFAULT_ADMIN_LIMIT = RateLimit(10.0, 50.0)


@dataclass(frozen=True, kw_only=True)
class Settings:
    """Where the gateway listens, where the services are, and the limits of a request."""

    name: str = "gateway"
    host: str = "127.0.0.1"
    port: int = 8080
    #: gRPC health and reflection of the gateway itself (for probes and grpcurl, like every service).
    grpc_address: str = GATEWAY_ADDRESSES["gateway-grpc"][1]
    auth: AuthSettings
    registry_address: str = DEFAULT_ADDRESSES["registry"][1]
    redis_address: str = DEFAULT_ADDRESSES["redis-svc"][1]
    mongo_address: str = DEFAULT_ADDRESSES["mongo-svc"][1]
    pg_address: str = DEFAULT_ADDRESSES["pg-svc"][1]
    log_level: str = "INFO"
    log_json: bool = True
    access_log: bool = True
    #: Peers whose X-Forwarded-For is believed (Envoy): addresses, networks, or * (gateway.clientaddr).
    forwarded_allow_ips: tuple[str, ...] = ("127.0.0.1", "::1")
    #: Bodies over this many bytes get 413 (a MongoDB document may be 16 MiB, plus JSON overhead).
    max_body_bytes: int = 24 * 1024 * 1024
    membership_cache_ttl_s: float = 30.0
    #: Deadline of each gRPC call, by route class.
    read_deadline_s: float = 30.0
    write_deadline_s: float = 30.0
    admin_deadline_s: float = 30.0
    health_timeout_s: float = 2.0
    #: On SIGTERM requests in flight get this long; then those without a reply get 503 (gateway.shutdown).
    shutdown_grace_s: float = 10.0
    #: How long an idle HTTP connection is kept open. Longer than any client's or proxy's idle
    #: timeout (Envoy's upstream idle_timeout is 60 s), so that the client closes first: a server
    #: closing a kept-alive connection races the client's next request on it, which then fails.
    keep_alive_s: float = 75.0
    #: Origins allowed by CORS (the console's), exact or with * for a host label or the port
    #: (gateway.cors); empty allows none.
    cors_origins: tuple[str, ...] = ()
    max_message_bytes: int = 64 * 1024 * 1024
    #: Per-user request rates by route class (reads, writes, admin actions).
    rate_limits_enabled: bool = True
    read_rate_limit: RateLimit = DEFAULT_READ_LIMIT
    write_rate_limit: RateLimit = DEFAULT_WRITE_LIMIT
    admin_rate_limit: RateLimit = DEFAULT_ADMIN_LIMIT
    #: How often the buckets are synced with the other gateways through redis-svc (which shares
    #: them when it has RATE_LIMIT_REDIS_URL: gateway.ratelimit_sync); 0: never, limits per process.
    rate_limit_sync_interval_s: float = 0.2
    #: Replies of at least this many bytes are gzipped for clients that accept it (0: never).
    gzip_min_bytes: int = 1024
    gzip_level: int = 6
    #: Writes and admin actions go to the registry's audit log in batches, in the background.
    audit_enabled: bool = True
    audit_batch_size: int = 200
    audit_flush_interval_s: float = 1.0
    #: Events held while the registry cannot take them; past this the oldest are logged and dropped.
    audit_queue_max: int = 50_000
    #: Where ``python -m gateway`` serves Prometheus metrics ("" for nowhere).
    metrics_address: str = ""
    #: Pub/sub WebSockets of one target share one redis-svc stream; false gives each its own
    #: (to measure what sharing saves: bench/bench_pubsub.py).
    pubsub_share_streams: bool = True

    @classmethod
    def from_env(cls, env: Env | None = None) -> Self:
        env = env or Env()
        host, _, port = env.str(*GATEWAY_ADDRESSES["gateway"]).rpartition(":")
        return cls(
            host=host or "127.0.0.1",
            port=int(port),
            grpc_address=env.str(*GATEWAY_ADDRESSES["gateway-grpc"]),
            auth=AuthSettings.from_env(env),
            registry_address=env.str(*DEFAULT_ADDRESSES["registry"]),
            redis_address=env.str(*DEFAULT_ADDRESSES["redis-svc"]),
            mongo_address=env.str(*DEFAULT_ADDRESSES["mongo-svc"]),
            pg_address=env.str(*DEFAULT_ADDRESSES["pg-svc"]),
            log_level=env.str("LOG_LEVEL", "INFO").upper(),
            log_json=env.bool("LOG_JSON", True),
            access_log=env.bool("ACCESS_LOG", True),
            forwarded_allow_ips=_forwarded_allow_ips(env),
            max_body_bytes=env.int("MAX_BODY_BYTES", 24 * 1024 * 1024),
            membership_cache_ttl_s=env.float("MEMBERSHIP_CACHE_TTL_S", 30.0),
            read_deadline_s=env.float("READ_DEADLINE_S", 30.0),
            write_deadline_s=env.float("WRITE_DEADLINE_S", 30.0),
            admin_deadline_s=env.float("ADMIN_DEADLINE_S", 30.0),
            health_timeout_s=env.float("HEALTH_TIMEOUT_S", 2.0),
            shutdown_grace_s=env.float("SHUTDOWN_GRACE_S", 10.0),
            keep_alive_s=env.float("HTTP_KEEP_ALIVE_S", 75.0),
            cors_origins=env.list("CORS_ORIGINS"),
            max_message_bytes=env.int("GRPC_MAX_MESSAGE_BYTES", 64 * 1024 * 1024),
            rate_limits_enabled=env.bool("RATE_LIMIT_ENABLED", True),
            read_rate_limit=_rate_limit(env, "READ", DEFAULT_READ_LIMIT),
            write_rate_limit=_rate_limit(env, "WRITE", DEFAULT_WRITE_LIMIT),
            admin_rate_limit=_rate_limit(env, "ADMIN", DEFAULT_ADMIN_LIMIT),
            rate_limit_sync_interval_s=env.float("RATE_LIMIT_SYNC_INTERVAL_S", 0.2),
            gzip_min_bytes=env.int("GZIP_MIN_BYTES", 1024),
            gzip_level=env.int("GZIP_LEVEL", 6),
            audit_enabled=env.bool("AUDIT_ENABLED", True),
            pubsub_share_streams=env.bool("PUBSUB_SHARE_STREAMS", True),
            audit_batch_size=env.int("AUDIT_BATCH_SIZE", 200),
            audit_flush_interval_s=env.float("AUDIT_FLUSH_INTERVAL_S", 1.0),
            audit_queue_max=env.int("AUDIT_QUEUE_MAX", 50_000),
            metrics_address=metrics_address(env, "gateway"),
        )


def _rate_limit(env: Env, route_class: str, default: RateLimit) -> RateLimit:
    """``RATE_LIMIT_<CLASS>_PER_S`` and ``RATE_LIMIT_<CLASS>_BURST``."""
    per_s = env.float(f"RATE_LIMIT_{route_class}_PER_S", default.per_s)
    burst = env.float(f"RATE_LIMIT_{route_class}_BURST", max(default.burst, per_s))
    if per_s < 0 or burst < 1:
        raise ConfigError(f"RATE_LIMIT_{route_class}_PER_S must be >= 0 and RATE_LIMIT_{route_class}_BURST >= 1")
    return RateLimit(per_s, burst)


def _forwarded_allow_ips(env: Env) -> tuple[str, ...]:
    """``FORWARDED_ALLOW_IPS``: addresses or networks, comma-separated, or ``*``."""
    entries = env.list("FORWARDED_ALLOW_IPS") or ["127.0.0.1", "::1"]
    for entry in entries:
        if entry != "*":
            try:
                ipaddress.ip_network(entry, strict=False)
            except ValueError:
                raise ConfigError(f"FORWARDED_ALLOW_IPS holds {entry!r}, not an address or network") from None
    return tuple(entries)
