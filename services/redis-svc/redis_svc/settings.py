"""redis-svc's configuration."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Self

from udb.config import Env, Secret, ServiceSettings


@dataclass(frozen=True, kw_only=True)
class Settings(ServiceSettings):
    """Timeouts toward users' Redis servers, and value limits."""

    #: A Redis that does not accept a connection in this time is reported unavailable.
    connect_timeout_s: float = 2.0
    #: A command that gets no reply in this time fails (DEADLINE_EXCEEDED).
    command_timeout_s: float = 10.0
    #: A subscription whose Redis went away keeps trying to reconnect this long, then ends.
    subscribe_reconnect_s: float = 30.0
    #: Strings longer than this are cut in a GetKey reply unless the caller asks for more.
    default_max_bytes: int = 1024 * 1024
    #: The most a caller may ask for (a gRPC message must hold the value).
    max_value_bytes: int = 32 * 1024 * 1024
    #: CA bundle (PEM) that TLS connections verify servers against instead of the system's roots,
    #: for deployments behind a private CA (records cannot name files on this host).
    tls_ca_file: str | None = None
    #: The platform's Redis holding the gateways' shared rate-limit counters (never a tenant's);
    #: None: each gateway limits on its own (redis_svc.ratelimit).
    rate_limit_redis_url: Secret | None = None
    #: Prefix of those counters' keys (a Redis shared with other uses keeps them apart).
    rate_limit_key_prefix: str = "udb:rl:"

    @classmethod
    def from_env(cls, env: Env | None = None) -> Self:
        env = env or Env()
        return cls(
            **cls.common_from_env(env, "redis-svc"),
            connect_timeout_s=env.float("REDIS_CONNECT_TIMEOUT_S", 2.0),
            command_timeout_s=env.float("REDIS_COMMAND_TIMEOUT_S", 10.0),
            subscribe_reconnect_s=env.float("REDIS_SUBSCRIBE_RECONNECT_S", 30.0),
            default_max_bytes=env.int("REDIS_DEFAULT_MAX_BYTES", 1024 * 1024),
            max_value_bytes=env.int("REDIS_MAX_VALUE_BYTES", 32 * 1024 * 1024),
            tls_ca_file=env.optional("REDIS_TLS_CA_FILE"),
            rate_limit_redis_url=env.secret("RATE_LIMIT_REDIS_URL"),
            rate_limit_key_prefix=env.str("RATE_LIMIT_KEY_PREFIX", "udb:rl:"),
        )
