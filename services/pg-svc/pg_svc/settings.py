"""pg-svc's configuration."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Self

from udb.config import Env, ServiceSettings

#: The driver's own deadline per round trip comes this long after the statement_timeout: a
#: script that raised its statement_timeout is still cancelled shortly after the limit.
BACKSTOP_S = 2.0


@dataclass(frozen=True, slots=True)
class Limits:
    """How far one call may go."""

    #: statement_timeout of each statement, in milliseconds.
    statement_timeout_ms: int
    #: Whether that is below the configured one (the session is then SET to it).
    lowered: bool
    max_rows: int
    max_bytes: int
    #: Bytes read from the server for one statement (pg_svc.read_limit).
    max_read_bytes: int

    @property
    def backstop_s(self) -> float:
        """The driver's own deadline per round trip."""
        return self.statement_timeout_ms / 1000 + BACKSTOP_S


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
    #: A statement whose rows are over this many bytes on the wire fails (413) instead of being
    #: read: rows come in batches, so the cut above alone would still read a whole batch of huge
    #: rows. Twice the cut by default (the JSON of rows is at least their size on the wire).
    query_max_read_bytes: int = 64 * 1024 * 1024
    #: CA bundle (PEM) that sslmode verify-ca and verify-full check servers against instead of
    #: the system's roots, for deployments behind a private CA (records cannot name files here).
    tls_ca_file: str | None = None

    @property
    def statement_timeout_ms(self) -> int:
        """``statement_timeout_s`` as Postgres's statement_timeout takes it."""
        return int(self.statement_timeout_s * 1000)

    def limits(self, requested_ms: int = 0) -> Limits:
        """A call's limits: the configured statement_timeout, lowered (never raised) to
        ``requested_ms`` when that is positive, and the configured rows and bytes."""
        timeout_ms = min(requested_ms, self.statement_timeout_ms) if requested_ms > 0 else self.statement_timeout_ms
        return Limits(
            statement_timeout_ms=timeout_ms,
            lowered=timeout_ms < self.statement_timeout_ms,
            max_rows=self.query_max_rows,
            max_bytes=self.query_max_bytes,
            max_read_bytes=self.query_max_read_bytes,
        )

    @classmethod
    def from_env(cls, env: Env | None = None) -> Self:
        env = env or Env()
        max_bytes = env.int("PG_QUERY_MAX_BYTES", 32 * 1024 * 1024)
        return cls(
            **cls.common_from_env(env, "pg-svc"),
            connect_timeout_s=env.float("PG_CONNECT_TIMEOUT_S", 2.0),
            statement_timeout_s=env.float("PG_STATEMENT_TIMEOUT_S", 30.0),
            query_max_rows=env.int("PG_QUERY_MAX_ROWS", 100_000),
            query_max_bytes=max_bytes,
            query_max_read_bytes=env.int("PG_QUERY_MAX_READ_BYTES", 2 * max_bytes),
            tls_ca_file=env.optional("PG_TLS_CA_FILE"),
        )
