"""The differential suite: every catalogue GET route answers what postgres-meta 0.99 (the npm
package, run side by side on the same database) answers, on postgres-meta's own test schema and on
our realistic one: lists with their parameters, pages, and every object by its key.

Compared as parsed JSON, arrays as multisets (postgres-meta orders no list but config, whose order
is compared too). Left out of the comparison, because they are counters of the moment rather than
catalogue: ``active_connections`` of roles and of the version (each side counts its own pool's
connections), and the config rows of the settings a client sets on its own session (source
"client" or "session" on either side: application_name, statement_timeout and DateStyle at
connection, jit around asyncpg's type introspection) or that a library loaded into one session
defines (category "Customized Options": postgres_fdw's, loaded when a foreign table's columns are
read). Table sizes and row estimates are compared, read between two agreeing readings of
postgres-meta's."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

import pytest
from harness import System
from pg_meta import PgDatabase, PostgresMetaServers, canonical, error_text, ours, side_by_side, theirs

pytestmark = [pytest.mark.integration, pytest.mark.postgres_meta]

DATABASES = ("shop", "meta_schema")

LISTS = (
    "tables",
    "tables?include_columns=false",
    "tables?included_schemas=audit,shop",
    "tables?excluded_schemas=audit",
    "tables?include_system_schemas=true&include_columns=false",
    "views",
    "views?include_columns=false",
    "views?include_system_schemas=true&include_columns=false",
    "materialized-views",
    "materialized-views?include_columns=true",
    "materialized-views?included_schemas=public",
    "foreign-tables",
    "foreign-tables?include_columns=false",
    "columns",
    "columns?include_system_schemas=true",
    "columns?included_schemas=public",
    "columns?excluded_schemas=public,shop",
    "schemas",
    "schemas?include_system_schemas=true",
    "functions",
    "functions?include_system_schemas=true",
    "functions?included_schemas=public",
    "types",
    "types?include_system_schemas=true",
    "types?include_array_types=true",
    "types?included_schemas=shop&include_array_types=true",
    "policies",
    "policies?included_schemas=shop",
    "triggers",
    "triggers?excluded_schemas=audit",
    "extensions",
    "publications",
    "roles",
    "roles?include_default_roles=true",
    "indexes",
    "indexes?include_system_schemas=true",
    "indexes?excluded_schemas=public",
    "column-privileges",
    "column-privileges?included_schemas=shop",
    "column-privileges?include_system_schemas=true",
    "table-privileges",
    "table-privileges?include_system_schemas=true",
    "table-privileges?excluded_schemas=public",
    "config",
    "config/version",
)

#: Lists paged through with limit and offset on both sides.
PAGED = (
    "tables",
    "views",
    "columns",
    "schemas",
    "functions",
    "types",
    "policies",
    "triggers",
    "extensions",
    "publications",
    "roles",
    "indexes",
    "column-privileges",
    "table-privileges",
    "config",
)


def _without_counters(route: str, value: Any) -> Any:
    """The reply without the counters of the moment (see the module's docstring)."""
    path = route.partition("?")[0]
    if path.startswith("roles") or path == "config/version":
        items = value if isinstance(value, list) else [value]
        for item in items:
            if isinstance(item, dict):
                item.pop("active_connections", None)
    return value


def _session_settings(*lists: list[dict[str, Any]]) -> set[str]:
    """The settings that a session set, or that a library loaded into it defines, on any side."""
    return {
        item["name"]
        for items in lists
        for item in items
        if item["source"] in ("client", "session") or item["category"] == "Customized Options"
    }


def _same(route: str, mine: Any, their: Any) -> None:
    mine, their = _without_counters(route, mine), _without_counters(route, their)
    if route.partition("?")[0] == "config":
        local = _session_settings(mine, their)
        # postgres-meta orders config: so must we.
        assert [i for i in mine if i["name"] not in local] == [i for i in their if i["name"] not in local]
        return
    assert canonical(mine) == canonical(their)


@pytest.fixture
def database(request: pytest.FixtureRequest, postgres_meta: PostgresMetaServers) -> PgDatabase:
    found: PgDatabase = request.getfixturevalue(request.param)
    postgres_meta.serve(found)
    return found


@pytest.mark.parametrize("database", DATABASES, indirect=True)
@pytest.mark.parametrize("route", LISTS)
async def test_list_equals_postgres_meta(system: System, database: PgDatabase, route: str) -> None:
    """A list, with its parameters, has exactly postgres-meta's objects and fields."""
    mine, their = await side_by_side(system, database, route)
    assert (mine.status_code, their.status_code) == (200, 200), mine.text
    _same(route, mine.json(), their.json())


async def _pages(fetch: Callable[[str], Any], route: str, size: int) -> list[Any]:
    items: list[Any] = []
    while True:
        page = await fetch(f"{route}?limit={size}&offset={len(items)}")
        assert len(page) <= size
        items.extend(page)
        if len(page) < size:
            return items


@pytest.mark.parametrize("database", DATABASES, indirect=True)
@pytest.mark.parametrize("route", PAGED)
async def test_pages_equal_postgres_meta(system: System, database: PgDatabase, route: str) -> None:
    """limit and offset page a list as postgres-meta pages it: pages of the asked size that
    together hold the whole list, once each."""

    async def mine(path: str) -> Any:
        reply = await ours(system, database, "GET", path)
        assert reply.status_code == 200, reply.text
        return reply.json()

    async def their(path: str) -> Any:
        reply = await theirs(database, "GET", path)
        assert reply.status_code == 200, reply.text
        return reply.json()

    size = 7 if route in ("columns", "functions", "config", "column-privileges") else 3
    # As side_by_side does for live statistics: ours is read between two agreeing readings of
    # postgres-meta's pages (up to three times), so that a size or row estimate that moved meanwhile
    # is not taken for a difference.
    for _ in range(3):
        before = await _pages(their, route, size)
        whole = await mine(route)
        paged = await _pages(mine, route, size)
        after = await _pages(their, route, size)
        if canonical(_without_counters(route, before)) == canonical(_without_counters(route, after)):
            break
    _same(route, paged, whole)
    _same(route, paged, after)


#: Each family with a form by key: the lists its keys come from (with system objects too, so
#: that keys postgres-meta refuses are asked as well) and the key's field.
KEYED = {
    "tables": (
        ("tables?include_columns=false", "tables?included_schemas=pg_catalog&include_columns=false&limit=3"),
        "id",
    ),
    "views": (
        ("views?include_columns=false", "views?included_schemas=information_schema&include_columns=false&limit=3"),
        "id",
    ),
    "materialized-views": (("materialized-views",), "id"),
    "foreign-tables": (("foreign-tables",), "id"),
    "columns": (("columns",), "id"),
    "schemas": (("schemas?include_system_schemas=true",), "id"),
    "functions": (("functions",), "id"),
    "policies": (("policies",), "id"),
    "triggers": (("triggers",), "id"),
    "extensions": (("extensions",), "name"),
    "publications": (("publications",), "id"),
    "roles": (("roles?include_default_roles=true",), "id"),
    "indexes": (("indexes", "indexes?included_schemas=pg_catalog&limit=5"), "id"),
}

#: Keys that name nothing, per family (postgres-meta's 404 and message).
MISSING = {
    "tables": ("4294967295", "1"),
    "views": ("4294967295",),
    "materialized-views": ("4294967295",),
    "columns": ("4294967295.1", "1.1"),
    "schemas": ("4294967295", "11"),
    "functions": ("4294967295",),
    "policies": ("4294967295",),
    "triggers": ("4294967295",),
    "extensions": ("no_such_extension", "x y"),
    "publications": ("4294967295",),
    "roles": ("4294967295",),
    "indexes": ("4294967295",),
}


#: Families postgres-meta's test schema has no object of.
NONE_IN_POSTGRES_META_SCHEMA = frozenset({"triggers", "publications"})


async def _each(keys: list[str], compare: Callable[[str], Awaitable[None]], concurrency: int = 8) -> None:
    """``compare`` for every key, a few at a time."""
    gate = asyncio.Semaphore(concurrency)

    async def one(key: str) -> None:
        async with gate:
            await compare(key)

    await asyncio.gather(*(one(key) for key in keys))


@pytest.mark.parametrize("database", DATABASES, indirect=True)
@pytest.mark.parametrize("family", list(KEYED))
async def test_objects_by_key_equal_postgres_meta(system: System, database: PgDatabase, family: str) -> None:
    """Every object of the family, asked by its key, is postgres-meta's object (or the same 404
    and message where postgres-meta refuses the key); unknown keys are 404 with its message."""
    sources, field = KEYED[family]
    keys = [str(item[field]) for source in sources for item in (await theirs(database, "GET", source)).json()]
    assert keys or (database.names.get("schema") == "postgres-meta" and family in NONE_IN_POSTGRES_META_SCHEMA)

    async def compare(key: str) -> None:
        route = f"{family}/{key}"
        mine, their = await side_by_side(system, database, route)
        assert mine.status_code == their.status_code, (route, mine.text, their.text)
        if their.status_code == 200:
            _same(route, mine.json(), their.json())
        else:
            assert error_text(mine.json()) == error_text(their.json()), route

    await _each([*keys, *MISSING.get(family, ())], compare)


@pytest.mark.parametrize("database", DATABASES, indirect=True)
async def test_first_column_of_a_table_equals_postgres_meta(system: System, database: PgDatabase) -> None:
    """/columns/[tableId] answers the first column of the table's page, as postgres-meta does."""
    tables = (await theirs(database, "GET", "tables?include_columns=false")).json()

    async def compare(route: str) -> None:
        mine, their = await side_by_side(system, database, route)
        if their.status_code == 200 and their.content:
            assert mine.status_code == 200, (route, mine.text)
            _same(route, mine.json(), their.json())
        else:  # postgres-meta answers an empty 200 for a table without columns: we say 404
            assert mine.status_code == 404, (route, mine.text)

    await _each([f"columns/{table['id']}{query}" for table in tables for query in ("", "?offset=1")], compare)
