"""Handing a pooled connection back as the next caller should find it, whatever a caller's SQL did
to its session.

asyncpg's reset query (``Connection.get_reset_query``: advisory locks, cursors, LISTEN, settings)
leaves two things behind: temporary tables, and statements prepared with SQL ``PREPARE``.
``DISCARD TEMP`` costs nothing when there is no temporary table, so it always runs. asyncpg's own
statement cache lives in the same namespace as ``PREPARE``, so ``DEALLOCATE ALL`` is not an
option: the statements SQL prepared are counted (the status of the reset's last statement,
``SELECT n``, is that count) and dropped in a second round trip when there are any. Counting
costs the server about as much as a small query, so it runs only after SQL that spells
``prepare`` (a ``PREPARE``, or one built in a ``DO`` block or function in the same text).
"""

from __future__ import annotations

import re
from typing import Any

_RESET_TAIL = "\nDISCARD TEMP;"
#: Last in the reset, when counted: its status is "SELECT n", n the statements SQL prepared.
_COUNT_PREPARED = "\nSELECT FROM pg_catalog.pg_prepared_statement() AS s WHERE s.from_sql;"
_NONE_PREPARED = "SELECT 0"
_PREPARED_BY_SQL = "SELECT name FROM pg_catalog.pg_prepared_statement() WHERE from_sql"
_MAY_PREPARE = re.compile("prepare", re.IGNORECASE)


async def reset(connection: Any, end: str, sql: str) -> None:
    """Runs ``end`` (``COMMIT; ``, ``ROLLBACK; `` or nothing) and resets the session after the
    caller's ``sql``: settings, cursors, LISTEN, advisory locks, temporary tables and statements
    prepared by SQL. One round trip unless ``sql`` left prepared statements behind."""
    reset_query = end + connection.get_reset_query() + _RESET_TAIL
    if _MAY_PREPARE.search(sql) is None:
        await connection.execute(reset_query)
        return
    if await connection.execute(reset_query + _COUNT_PREPARED) != _NONE_PREPARED:
        rows = await connection.fetch(_PREPARED_BY_SQL)
        await connection.execute("".join(f"DEALLOCATE {_identifier(str(row['name']))};" for row in rows))


def _identifier(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'
