"""Building asyncpg pools from connection records, and translating asyncpg's errors."""

from __future__ import annotations

import ssl
from typing import Any

import asyncpg

from pg_svc import codecs
from pg_svc.settings import Settings
from udb.errors import (
    AlreadyExists,
    DatabaseError,
    DeadlineExceeded,
    Internal,
    InvalidArgument,
    NotFound,
    PermissionDenied,
    RateLimited,
    Unavailable,
)
from udb.pool import ClientFactory
from udb.registry.v1 import registry_pb2


def _ssl_for(sslmode: str | None, tls: bool) -> Any:
    """asyncpg's ``ssl`` argument for a libpq sslmode."""
    if sslmode in (None, ""):
        return "require" if tls else "prefer"
    if sslmode in ("verify-ca", "verify-full"):
        context = ssl.create_default_context()
        context.check_hostname = sslmode == "verify-full"
        return context
    return sslmode


async def _keep_session(connection: asyncpg.Connection) -> None:
    """The pool's reset on release, after its own rollback of an open transaction: nothing.
    Catalogue reads change no session state, and the query path cleans up after a caller's SQL
    itself, in the same round trip as its COMMIT (pg_svc.query)."""


def client_factory(settings: Settings) -> ClientFactory[asyncpg.Pool]:
    """The pool manager's factory: one asyncpg pool (at most ``max_connections``) per record."""

    async def build(resolved: registry_pb2.ResolvedConnection, max_connections: int) -> asyncpg.Pool:
        record = resolved.connection
        sslmode = str(record.options["sslmode"]) if "sslmode" in record.options else None
        try:
            pool: asyncpg.Pool = await asyncpg.create_pool(
                host=record.host,
                port=record.port,
                user=record.username or None,
                password=resolved.password or None,
                database=record.database or None,
                ssl=_ssl_for(sslmode, record.tls),
                min_size=0,
                max_size=max_connections,
                timeout=settings.connect_timeout_s,
                max_inactive_connection_lifetime=settings.pool_idle_timeout_s,
                # Every value as text, typed as postgres-meta types it (pg_svc.codecs).
                connection_class=codecs.TextConnection,
                init=codecs.setup,
                reset=_keep_session,
                server_settings={
                    "application_name": "udb-pg-svc",
                    # Every statement's limit; RESET ALL on release comes back to it.
                    "statement_timeout": str(int(settings.statement_timeout_s * 1000)),
                    # Dates and times reach clients as Postgres's ISO text.
                    "DateStyle": "ISO, MDY",
                    "IntervalStyle": "postgres",
                },
            )
        except Exception as exc:  # noqa: BLE001 (translate maps every driver error)
            raise translate(exc) from None
        return pool

    return build


async def close_client(pool: asyncpg.Pool) -> None:
    await pool.close()


#: asyncpg exception -> API error, looked up along the exception's class hierarchy.
_ERRORS: dict[type[BaseException], type[DatabaseError]] = {
    asyncpg.UniqueViolationError: AlreadyExists,
    asyncpg.DuplicateObjectError: AlreadyExists,
    asyncpg.DuplicateTableError: AlreadyExists,
    asyncpg.UndefinedTableError: NotFound,
    asyncpg.InvalidSchemaNameError: NotFound,
    asyncpg.InvalidCatalogNameError: NotFound,
    asyncpg.InsufficientPrivilegeError: PermissionDenied,
    asyncpg.QueryCanceledError: DeadlineExceeded,
    asyncpg.TooManyConnectionsError: RateLimited,
    asyncpg.InvalidPasswordError: Unavailable,
    asyncpg.InvalidAuthorizationSpecificationError: Unavailable,
    asyncpg.CannotConnectNowError: Unavailable,
    asyncpg.ConnectionDoesNotExistError: Unavailable,
    asyncpg.InterfaceError: Unavailable,
    asyncpg.PostgresError: InvalidArgument,
    TimeoutError: Unavailable,
    OSError: Unavailable,
}


def _position(exc: asyncpg.PostgresError, offset: int) -> int | None:
    position = getattr(exc, "position", None)
    if position is None or not str(position).isdigit():
        return None
    return int(position) + offset


def translate(exc: Exception, *, position_offset: int = 0) -> DatabaseError:
    """The API error for an asyncpg exception (most specific class wins). A server error keeps
    Postgres's own message, SQLSTATE, position and hint, which never hold the password; the
    position counts from the start of the caller's script (``position_offset`` characters before
    the statement that failed)."""
    for cls in type(exc).__mro__:
        error = _ERRORS.get(cls)
        if error is None:
            continue
        if isinstance(exc, asyncpg.PostgresError) and error not in (Unavailable, RateLimited):
            return error(
                str(exc.args[0]) if exc.args else error.default_message,
                details={
                    "sqlstate": exc.sqlstate,
                    "position": _position(exc, position_offset),
                    "hint": getattr(exc, "hint", None),
                    "detail": getattr(exc, "detail", None),
                },
            )
        return error(f"postgres: {error.default_message}")
    return Internal()
