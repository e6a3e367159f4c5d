"""Where a viewer's SQL runs: in a session with no more than read rights, by the database's own
privileges, not only a read-only transaction.

A viewer may send any SQL. A read-only transaction stops writes, but not a superuser reading
server files (``pg_read_file``, ``lo_import``), running programs, signalling other sessions
(``pg_terminate_backend``), reloading the configuration, or reaching other databases through
``dblink``. So a viewer's SQL runs

1. as the connection's ``read_only_role`` when an admin set one (option ``read_only_role``, with
   its password in the sealed option ``read_only_password``): a login of its own, for instance a
   role granted ``pg_read_all_data``, in a pool of its own (:class:`ViewerPools`); or else
2. as the connection's own user, when that user holds no power beyond its grants.

Either way the session's user is checked before every viewer's statement runs: a superuser, a
replication role, or a member of ``pg_read_server_files``, ``pg_write_server_files``,
``pg_execute_server_program`` or ``pg_signal_backend`` gets 403, saying what to configure. The
check is the first query of the viewer's read-only transaction, in the same round trip as its
``BEGIN`` (the connection comes out of :meth:`ViewerPools.connection` in that transaction).

Why a login and not ``SET LOCAL ROLE``: a session can always go back to its own login user
(``RESET ROLE``, ``SET ROLE``, ``set_config('role', ...)`` from any expression, function or
``DO`` block, and ``SET SESSION AUTHORIZATION`` when that user is a superuser). Postgres forbids
those only inside security-definer functions, which cannot run a caller's script. The one
boundary a script cannot cross is the user the session logged in as.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from typing import Any

import asyncpg
from asyncpg.pool import PoolConnectionProxy

from pg_svc.clients import client_factory, close_client
from pg_svc.pooled import lost, pooled_connection
from pg_svc.settings import Settings
from udb import metrics
from udb.engine import Borrowed
from udb.errors import PermissionDenied
from udb.pool import PoolManager
from udb.registry.v1 import registry_pb2

#: The connection options that name the viewers' login.
ROLE_OPTION = "read_only_role"
PASSWORD_OPTION = "read_only_password"
#: Predefined roles that reach beyond the database's grants.
POWERFUL_ROLES = ("pg_read_server_files", "pg_write_server_files", "pg_execute_server_program", "pg_signal_backend")

#: The powers of the session's login user: itself a superuser or replication role, or any role
#: it may act as (SET ROLE) that is one of those or a powerful predefined role.
_POWERS_SQL = """
SELECT coalesce(bool_or(r.rolsuper), false) AS superuser,
       coalesce(string_agg(r.rolname, ',' ORDER BY r.rolname) FILTER (WHERE NOT r.rolsuper), '') AS powers
FROM pg_catalog.pg_roles r
WHERE pg_catalog.pg_has_role(session_user, r.oid, 'MEMBER')
  AND (r.rolsuper OR r.rolreplication OR r.rolname = ANY($1::text[]))
"""


def read_only_login(resolved: registry_pb2.ResolvedConnection) -> registry_pb2.ResolvedConnection | None:
    """The record as the viewers' login (its read_only_role and read_only_password), or None when
    the record names none."""
    role = dict(resolved.connection.options.items()).get(ROLE_OPTION)
    if not role:
        return None
    login = registry_pb2.ResolvedConnection()
    login.CopyFrom(resolved)
    login.connection.username = str(role)
    login.password = str(dict(resolved.secret_options.items()).get(PASSWORD_OPTION) or "")
    return login


#: One row for each power of the session's login user (none when it may run a viewer's SQL), after
#: BEGIN READ ONLY: the command's status, "SELECT n", counts them without a round trip of its own,
#: and the query takes the transaction's snapshot at once.
_BEGIN_CHECKED = (
    "BEGIN READ ONLY; SELECT FROM pg_catalog.pg_roles r"
    " WHERE pg_catalog.pg_has_role(session_user, r.oid, 'MEMBER')"
    " AND (r.rolsuper OR r.rolreplication OR r.rolname IN (" + ", ".join(f"'{name}'" for name in POWERFUL_ROLES) + "))"
)
_NO_POWERS = "SELECT 0"


async def begin_read_only(connection: Any, *, configured_role: bool) -> None:
    """Opens the viewer's read-only transaction once the session's user is found to hold read
    rights only (else PermissionDenied, saying what to configure), in one round trip."""
    for _ in range(2):
        if await connection.execute(_BEGIN_CHECKED) == _NO_POWERS:
            return
        await connection.execute("ROLLBACK")
        # The powers, named, for the message (this raises unless they went away meanwhile).
        await check_read_rights(connection, configured_role=configured_role)
    raise PermissionDenied("viewers' SQL is refused: the connection's roles changed while they were checked")


async def check_read_rights(connection: Any, *, configured_role: bool) -> None:
    """PermissionDenied, saying what to configure, when the session's user can do more than read."""
    # One text of names, not an array: the pools exchange every value as text (pg_svc.codecs).
    row = await connection.fetchrow(_POWERS_SQL, list(POWERFUL_ROLES))
    powers = [name for name in str(row["powers"]).split(",") if name] if row is not None else []
    if row is None or not (row["superuser"] or powers):
        return
    what = "is a superuser" if row["superuser"] else f"can act as {', '.join(powers)}"
    if configured_role:
        message = (
            f"viewers' SQL is refused: the connection's read_only_role {what}. An admin should give "
            "it no more than read rights (for instance only pg_read_all_data)"
        )
    else:
        message = (
            f"viewers' SQL is refused on this connection: its user {what}, which reaches beyond the "
            "database's grants. An admin can set the connection's options.read_only_role (a login "
            "role granted pg_read_all_data) and options.read_only_password, and viewers' SQL runs as "
            "that role"
        )
    raise PermissionDenied(
        message,
        details={
            "reason": "read_only_role_too_powerful" if configured_role else "needs_read_only_role",
            "superuser": bool(row["superuser"]),
            "roles": powers,
        },
    )


class ViewerPools:
    """The pools of the viewers' logins (one per connection record that names one), beside the
    engine's own pools and invalidated with them."""

    def __init__(self, settings: Settings, *, acquire_timeout_s: float) -> None:
        self._acquire_timeout_s = acquire_timeout_s
        self.pools: PoolManager[asyncpg.Pool] = PoolManager(
            "postgres-viewer",
            client_factory(settings),
            close_client,
            max_connections=settings.pool_max_connections,
            acquire_timeout_s=settings.pool_acquire_timeout_s,
            idle_timeout_s=settings.pool_idle_timeout_s,
            cleanup_interval_s=settings.pool_cleanup_interval_s,
        )
        metrics.track_pools(settings.name, self.pools)

    async def start(self) -> None:
        await self.pools.start()

    async def close(self) -> None:
        await self.pools.close()

    async def invalidate(self, project_id: str, connection_id: str) -> None:
        """The registry's invalidation listener: a changed record's viewer pool goes too."""
        if connection_id:
            await self.pools.invalidate(connection_id=connection_id)
        elif project_id:
            await self.pools.invalidate(project_id=project_id)

    @contextlib.asynccontextmanager
    async def connection(self, borrowed: Borrowed[asyncpg.Pool]) -> AsyncIterator[PoolConnectionProxy]:
        """A connection for a viewer's SQL on the borrowed record, checked to hold read rights only,
        in a read-only transaction (inside the runtime's borrow, which translates the driver's
        errors). The caller ends the transaction and resets the session; a transaction still open
        when the caller gave up (its SQL never ran) is rolled back here."""
        login = read_only_login(borrowed.resolved)
        async with contextlib.AsyncExitStack() as stack:
            pool = borrowed.client if login is None else await stack.enter_async_context(self.pools.acquire(login))
            connection = await stack.enter_async_context(pooled_connection(pool, self._acquire_timeout_s))
            await begin_read_only(connection, configured_role=login is not None)
            try:
                yield connection
            finally:
                if not lost(connection) and connection.is_in_transaction():
                    try:
                        await connection.execute("ROLLBACK")
                    except Exception:  # noqa: BLE001 (whatever went wrong, this connection is not reused)
                        connection.terminate()
