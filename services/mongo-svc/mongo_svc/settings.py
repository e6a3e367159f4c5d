"""mongo-svc's configuration."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Self

from udb.config import Env, Secret, ServiceSettings


@dataclass(frozen=True, kw_only=True)
class Settings(ServiceSettings):
    """Timeouts toward users' MongoDB deployments, and query limits."""

    #: A deployment with no selectable server after this long is reported unavailable.
    server_selection_timeout_s: float = 2.0
    connect_timeout_s: float = 2.0
    #: maxTimeMS on every operation, so that the server stops a runaway query.
    max_time_ms: int = 30_000
    #: Server-side JavaScript ($where, $function, $accumulator) is refused unless this is set.
    allow_javascript: bool = False
    #: A page of a find or aggregate stops before this many bytes of Extended JSON (it always
    #: holds at least one document).
    max_page_bytes: int = 8 * 1024 * 1024
    #: Server cursors an aggregate's next_cursor continues (a find's needs none): at most this
    #: many per connection record and in this process (the least recently used is closed past
    #: either), each closed after this long without a page.
    max_cursors_per_connection: int = 16
    max_open_cursors: int = 256
    cursor_idle_timeout_s: float = 60.0
    #: Signs a find's next_cursor; derived from JWT_SECRET (or SERVICE_TOKEN) when unset, so
    #: that every replica shares it (mongo_svc/find_cursor.py).
    cursor_key: Secret | None = None
    #: CA bundle (PEM) that TLS connections verify servers against instead of the system's roots
    #: (include public roots too when some deployments use them); set by the operator for
    #: deployments behind a private CA, as records cannot name files on this host.
    tls_ca_file: str | None = None

    @classmethod
    def from_env(cls, env: Env | None = None) -> Self:
        env = env or Env()
        return cls(
            **cls.common_from_env(env, "mongo-svc"),
            server_selection_timeout_s=env.float("MONGO_SERVER_SELECTION_TIMEOUT_S", 2.0),
            connect_timeout_s=env.float("MONGO_CONNECT_TIMEOUT_S", 2.0),
            max_time_ms=env.int("MONGO_MAX_TIME_MS", 30_000),
            allow_javascript=env.bool("MONGO_ALLOW_JAVASCRIPT", False),
            max_page_bytes=env.int("MONGO_MAX_PAGE_BYTES", 8 * 1024 * 1024),
            max_cursors_per_connection=env.int("MONGO_MAX_CURSORS_PER_CONNECTION", 16),
            max_open_cursors=env.int("MONGO_MAX_OPEN_CURSORS", 256),
            cursor_idle_timeout_s=env.float("MONGO_CURSOR_IDLE_TIMEOUT_S", 60.0),
            cursor_key=env.secret("MONGO_CURSOR_KEY"),
            tls_ca_file=env.optional("MONGO_TLS_CA_FILE"),
        )
