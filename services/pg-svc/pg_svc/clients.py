"""Building asyncpg pools from connection records, and translating asyncpg's errors.

Every connection a pool opens goes through :func:`_connector`: the record's host is resolved
and each address checked by the network policy (:mod:`udb.dialing`), and asyncpg connects to
the checked address itself, while TLS presents and verifies the record's host name.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any

import asyncpg

from pg_svc import codecs
from pg_svc.settings import Settings
from udb.dialing import DialGuard, ServerNameContext, denied_error, server_name_context
from udb.engine import unreadable_reply
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

if TYPE_CHECKING:
    from asyncpg.pool import _Connect


class NoConnection(ConnectionError):
    """No connection of a target's pool came in time: the server is slow to accept one, or every
    connection is busy (unlike a statement's time limit, which is 504)."""

    def __init__(self) -> None:
        super().__init__("postgres: no connection to the server could be had in time")


class NotPostgres(ConnectionError):
    """The server at a record's host answered with something asyncpg cannot read as Postgres."""

    def __init__(self) -> None:
        super().__init__("postgres: the server at the connection's host does not answer in Postgres's protocol")


def tls_for(
    host: str, sslmode: str | None, tls: bool, cafile: str | None = None
) -> tuple[ServerNameContext | None, bool]:
    """The TLS context of a libpq sslmode for ``host`` (None: plaintext), and whether plaintext
    is the fallback when the server refuses TLS. ``allow`` is taken as ``prefer`` (TLS first):
    both accept either, and TLS is the safer first try."""
    mode = sslmode or ("require" if tls else "prefer")
    if mode == "disable":
        return None, False
    if mode in ("allow", "prefer"):
        return server_name_context(host, verify=False), True
    if mode == "require":
        return server_name_context(host, verify=False), False
    return server_name_context(host, verify=True, check_hostname=mode == "verify-full", cafile=cafile), False


def _connector(guard: DialGuard, record: registry_pb2.Connection, cafile: str | None) -> _Connect[asyncpg.Record]:
    """The pool's ``connect``: asyncpg's, to the addresses of the record's host that the
    network policy allows (tried in order), never to the name itself."""
    sslmode = str(record.options["sslmode"]) if "sslmode" in record.options else None
    context, plaintext_fallback = tls_for(record.host, sslmode, record.tls, cafile)

    async def connect(dsn: str | None = None, **kwargs: Any) -> asyncpg.Connection:
        del dsn  # the pool passes none
        return await guard.dial(
            record.host, record.port, lambda address: _connect_one(address, context, plaintext_fallback, kwargs)
        )

    return connect


async def _connect_one(
    address: str, context: ServerNameContext | None, plaintext_fallback: bool, kwargs: dict[str, Any]
) -> asyncpg.Connection:
    try:
        try:
            return await asyncpg.connect(**kwargs, host=address, ssl=context or False)
        except ConnectionError as exc:
            if not (plaintext_fallback and "rejected SSL upgrade" in str(exc)):
                raise
        return await asyncpg.connect(**kwargs, host=address, ssl=False)
    except (asyncpg.PostgresError, asyncpg.InterfaceError, OSError):
        raise
    except Exception as exc:
        raise NotPostgres() from exc


async def _keep_session(connection: asyncpg.Connection) -> None:
    """The pool's reset on release, after its own rollback of an open transaction: nothing.
    Catalogue reads change no session state, and the query path cleans up after a caller's SQL
    itself, in the same round trip as its COMMIT (pg_svc.query)."""


def client_factory(settings: Settings) -> ClientFactory[asyncpg.Pool]:
    """The pool manager's factory: one asyncpg pool (at most ``max_connections``) per record."""

    guard = DialGuard(settings.network_policy, resolve_timeout_s=settings.connect_timeout_s)

    async def build(resolved: registry_pb2.ResolvedConnection, max_connections: int) -> asyncpg.Pool:
        record = resolved.connection
        pool: asyncpg.Pool = await asyncpg.create_pool(
            connect=_connector(guard, record, settings.tls_ca_file),
            port=record.port,
            user=record.username or None,
            # Never a password of this host's own (PGPASSWORD, ~/.pgpass) for a tenant's server.
            password=resolved.password,
            passfile=os.devnull,
            database=record.database or None,
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
                # Every statement's limit: the RESET ALL that ends a caller's SQL (pg_svc.query)
                # comes back to it.
                "statement_timeout": str(settings.statement_timeout_ms),
                # Dates and times reach clients as Postgres's ISO text.
                "DateStyle": "ISO, MDY",
                "IntervalStyle": "postgres",
            },
        )
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
    # A reply asyncpg cannot read: the server is not (or no longer) speaking Postgres.
    asyncpg.InternalClientError: Unavailable,
    asyncpg.PostgresError: InvalidArgument,
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
    denied = denied_error(exc)
    if denied is not None:
        return denied
    if isinstance(exc, NotPostgres | NoConnection):
        return Unavailable(str(exc))
    if type(exc) is TimeoutError:  # the driver's deadline of a round trip (a connection's is NoConnection)
        return DeadlineExceeded("postgres: the statement ran past its time limit")
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
    return unreadable_reply(exc, "postgres", "asyncpg") or Internal()
