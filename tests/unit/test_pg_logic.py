"""pg-svc's pure logic: statement splitting, filters, error translation, shared flights."""

from __future__ import annotations

import asyncio

import asyncpg
import pytest
from pg_svc.catalog.scope import SYSTEM_SCHEMAS, list_scope
from pg_svc.clients import NoConnection, translate
from pg_svc.flights import Flights
from pg_svc.settings import Settings
from pg_svc.statements import Kind, kind_of, split

from udb.config import AuthSettings
from udb.errors import DeadlineExceeded, InvalidArgument, NotFound, Unavailable
from udb.pg.v1 import pg_pb2


def test_split_keeps_quotes_comments_and_atomic_bodies_whole() -> None:
    """Semicolons inside strings, dollar quotes, comments and BEGIN ATOMIC do not split."""
    script = (
        "SELECT 'a;b', $$c;d$$, E'\\';'; -- x;\n"
        "CREATE FUNCTION f() RETURNS int LANGUAGE sql BEGIN ATOMIC SELECT 1; SELECT 2; END;\n"
        "/* y; /* z; */ */ SELECT 3"
    )
    statements = split(script)
    assert len(statements) == 3
    assert statements[1].text.endswith("END")
    assert all(script[s.offset :].startswith(s.text) for s in statements)


def test_split_of_nothing_and_of_a_bad_script() -> None:
    """An empty or comment-only script has no statement; one the parser rejects is kept whole
    so that Postgres reports the error itself."""
    assert split("  -- only a comment\n") == []
    assert [s.text for s in split("SELEC 1; SELECT 2")] == ["SELEC 1; SELECT 2"]


def test_a_repeated_script_splits_the_same_and_a_large_one_still_splits() -> None:
    """A script split again (from the cache) gives equal statements in a list of its own; a script
    past the cached size splits the same way."""
    script = "SELECT 1; SELECT 2 -- two"
    first = split(script)
    first.append(first[0])
    assert [s.text for s in split(script)] == ["SELECT 1", "SELECT 2 -- two"]
    large = "SELECT 1;" + " " * 5000 + "SELECT 'x;y'"
    assert [(s.text, s.offset) for s in split(large)] == [("SELECT 1", 0), ("SELECT 'x;y'", 5009)]


@pytest.mark.parametrize(
    ("sql", "kind"),
    [
        ("select 1", Kind.PLAIN),
        ("begin", Kind.TRANSACTION_CONTROL),
        ("START TRANSACTION READ ONLY", Kind.TRANSACTION_CONTROL),
        ("commit", Kind.TRANSACTION_CONTROL),
        ("release savepoint a", Kind.TRANSACTION_CONTROL),
        ("vacuum analyze t", Kind.OUTSIDE_TRANSACTION),
        ("create index concurrently i on t (a)", Kind.OUTSIDE_TRANSACTION),
        ("create unique index concurrently i on t (a)", Kind.OUTSIDE_TRANSACTION),
        ("create index i on t (a)", Kind.PLAIN),
        ("create database d", Kind.OUTSIDE_TRANSACTION),
        ("call p()", Kind.OUTSIDE_TRANSACTION),
        ("do $$ begin end $$", Kind.OUTSIDE_TRANSACTION),
        ("create domain d as int", Kind.PLAIN),
        ("endless_table_name", Kind.PLAIN),
    ],
)
def test_statement_kinds(sql: str, kind: Kind) -> None:
    """Transaction control and statements that refuse a transaction block are recognised."""
    assert kind_of(sql) is kind


def test_schema_filter_follows_postgres_meta() -> None:
    """Included schemas win; otherwise excluded ones plus the system schemas; 0 means no page."""
    assert list_scope(pg_pb2.CatalogFilter()).args == (None, list(SYSTEM_SCHEMAS), None, None)
    both = pg_pb2.CatalogFilter(included_schemas=["a"], excluded_schemas=["b"], limit=5, offset=0)
    assert list_scope(both).args == (["a"], [], 5, None)
    system = pg_pb2.CatalogFilter(include_system_schemas=True, excluded_schemas=["b"], offset=3)
    assert list_scope(system).args == (None, ["b"], None, 3)
    assert list_scope(pg_pb2.CatalogFilter(excluded_schemas=["b"]), system_schemas=True).args == (
        None,
        ["b"],
        None,
        None,
    )


def test_driver_errors_translate_with_details() -> None:
    """Postgres errors keep SQLSTATE and position (shifted to the script); connection errors
    are unavailable; a query cancel is deadline exceeded."""
    error = asyncpg.PostgresSyntaxError("syntax error")
    error.position = "3"
    translated = translate(error, position_offset=10)
    assert isinstance(translated, InvalidArgument)
    assert translated.details == {"sqlstate": "42601", "position": "13"}
    assert isinstance(translate(asyncpg.UndefinedTableError("no")), NotFound)
    assert isinstance(translate(asyncpg.QueryCanceledError("late")), DeadlineExceeded)
    assert isinstance(translate(ConnectionRefusedError()), Unavailable)


def test_limits_lower_the_configured_timeout_never_raise_it() -> None:
    """A request lowers the configured statement timeout (flagged), never raises it; none asked is
    the configured one; the driver's own deadline sits a little past the one in force."""
    settings = Settings(
        name="pg-svc",
        address="127.0.0.1:0",
        auth=AuthSettings(),
        statement_timeout_s=30.0,
        query_max_rows=7,
        query_max_bytes=9,
    )
    lowered = settings.limits(1500)
    assert (lowered.statement_timeout_ms, lowered.lowered, lowered.backstop_s) == (1500, True, 3.5)
    assert (lowered.max_rows, lowered.max_bytes) == (7, 9)
    for requested in (0, 30_000, 60_000):
        limits = settings.limits(requested)
        assert (limits.statement_timeout_ms, limits.lowered, limits.backstop_s) == (30_000, False, 32.0)
    assert translate(TimeoutError()).code == "deadline_exceeded"
    assert translate(NoConnection()).code == "unavailable"


async def test_flights_share_the_next_query_among_waiting_callers() -> None:
    """Callers arriving during a query share the one started after it, never the running one;
    a lone caller runs its own; errors reach every sharer; the table empties."""
    flights: Flights[int] = Flights()
    started: list[int] = []
    release = asyncio.Event()

    async def fetch() -> int:
        started.append(len(started))
        await release.wait()
        return len(started)

    first = asyncio.ensure_future(flights.run("k", fetch))
    await asyncio.sleep(0)
    later = [asyncio.ensure_future(flights.run("k", fetch)) for _ in range(5)]
    await asyncio.sleep(0)
    assert started == [0]
    release.set()
    assert await first == 1
    assert await asyncio.gather(*later) == [2] * 5
    assert len(started) == 2 and len(flights) == 0

    async def fail() -> int:
        raise NotFound("gone")

    results = await asyncio.gather(*(flights.run("e", fail) for _ in range(3)), return_exceptions=True)
    assert all(isinstance(r, NotFound) for r in results)
    assert len(flights) == 0
