"""Handing a pooled connection back as the next caller should find it, whatever a caller's SQL did
to its session.

asyncpg's reset query (``Connection.get_reset_query``: advisory locks, cursors, LISTEN, settings)
leaves two things behind: temporary tables, and statements a script prepared with SQL
``PREPARE`` (asyncpg's own statement cache lives in the same namespace, so ``DEALLOCATE ALL`` is
not an option). ``DISCARD TEMP`` costs nothing when there is no temporary table; the prepared
statements are counted in the same round trip (the status of the reset's last statement,
``SELECT n``, is that count), and only a session that holds some pays a second trip to drop them.
"""

from __future__ import annotations

from typing import Any

#: After asyncpg's reset: drop temporary tables; the last statement's status counts the
#: statements prepared by SQL PREPARE (as "SELECT n").
_RESET_TAIL = "\nDISCARD TEMP;\nSELECT FROM pg_catalog.pg_prepared_statement() AS s WHERE s.from_sql;"
_NONE_PREPARED = "SELECT 0"
_PREPARED_BY_SQL = "SELECT name FROM pg_catalog.pg_prepared_statement() WHERE from_sql"


async def reset(connection: Any, end: str = "") -> None:
    """Runs ``end`` (``COMMIT; ``, ``ROLLBACK; `` or nothing) and resets the session: settings,
    cursors, LISTEN, advisory locks, temporary tables and SQL-prepared statements. One round trip
    unless the caller's SQL prepared statements."""
    status = await connection.execute(end + connection.get_reset_query() + _RESET_TAIL)
    if status != _NONE_PREPARED:
        rows = await connection.fetch(_PREPARED_BY_SQL)
        await connection.execute("".join(f"DEALLOCATE {_identifier(str(row['name']))};" for row in rows))


def _identifier(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'
