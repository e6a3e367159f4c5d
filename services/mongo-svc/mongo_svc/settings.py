"""mongo-svc's configuration."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Self

from udb.config import Env, ServiceSettings


@dataclass(frozen=True, kw_only=True)
class Settings(ServiceSettings):
    """Timeouts toward users' MongoDB deployments, and query limits."""

    #: A deployment with no selectable server after this long is reported unavailable.
    server_selection_timeout_s: float = 3.0
    connect_timeout_s: float = 3.0
    #: maxTimeMS on every operation, so that the server stops a runaway query.
    max_time_ms: int = 30_000
    #: Server-side JavaScript ($where, $function, $accumulator) is refused unless this is set.
    allow_javascript: bool = False
    #: A page of a find or aggregate stops before this many bytes of Extended JSON (it always
    #: holds at least one document).
    max_page_bytes: int = 8 * 1024 * 1024
    #: Open cursors (continued by a page's next_cursor) in this process, and how long one lives
    #: without a page. MongoDB itself closes an idle cursor after 10 minutes.
    max_open_cursors: int = 1000
    cursor_idle_timeout_s: float = 300.0
    #: CA bundle (PEM) that TLS connections verify servers against instead of the system's roots
    #: (include public roots too when some deployments use them); set by the operator for
    #: deployments behind a private CA, as records cannot name files on this host.
    tls_ca_file: str | None = None

    @classmethod
    def from_env(cls, env: Env | None = None) -> Self:
        env = env or Env()
        return cls(
            **cls.common_from_env(env, "mongo-svc"),
            server_selection_timeout_s=env.float("MONGO_SERVER_SELECTION_TIMEOUT_S", 3.0),
            connect_timeout_s=env.float("MONGO_CONNECT_TIMEOUT_S", 3.0),
            max_time_ms=env.int("MONGO_MAX_TIME_MS", 30_000),
            allow_javascript=env.bool("MONGO_ALLOW_JAVASCRIPT", False),
            max_page_bytes=env.int("MONGO_MAX_PAGE_BYTES", 8 * 1024 * 1024),
            max_open_cursors=env.int("MONGO_MAX_OPEN_CURSORS", 1000),
            cursor_idle_timeout_s=env.float("MONGO_CURSOR_IDLE_TIMEOUT_S", 300.0),
            tls_ca_file=env.optional("MONGO_TLS_CA_FILE"),
        )
