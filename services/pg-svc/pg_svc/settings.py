"""pg-svc's configuration."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Self

from udb.config import Env, ServiceSettings


@dataclass(frozen=True, kw_only=True)
class Settings(ServiceSettings):
    """Timeouts toward users' Postgres servers, and result limits."""

    #: A Postgres that does not accept a connection in this time is reported unavailable.
    connect_timeout_s: float = 2.0
    #: statement_timeout of every statement; a request may lower it, never raise it.
    statement_timeout_s: float = 30.0
    #: A query's reply is cut (and flagged) past this many rows...
    query_max_rows: int = 100_000
    #: ...or this many bytes of JSON.
    query_max_bytes: int = 32 * 1024 * 1024
    #: CA bundle (PEM) that sslmode verify-ca and verify-full check servers against instead of
    #: the system's roots, for deployments behind a private CA (records cannot name files here).
    tls_ca_file: str | None = None

    @classmethod
    def from_env(cls, env: Env | None = None) -> Self:
        env = env or Env()
        return cls(
            **cls.common_from_env(env, "pg-svc"),
            connect_timeout_s=env.float("PG_CONNECT_TIMEOUT_S", 2.0),
            statement_timeout_s=env.float("PG_STATEMENT_TIMEOUT_S", 30.0),
            query_max_rows=env.int("PG_QUERY_MAX_ROWS", 100_000),
            query_max_bytes=env.int("PG_QUERY_MAX_BYTES", 32 * 1024 * 1024),
            tls_ca_file=env.optional("PG_TLS_CA_FILE"),
        )
