"""`POST /pg-meta/[ref]/query` beside the real postgres-meta 0.99 (the npm package) on the same
database: for a corpus of SQL covering every common type, scripts and errors, the same status
and the same JSON. Also postgres-meta's own server tests of its query route (its repository's
test/server/query.ts), replayed against the gateway on its test schema."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest
import pytest_asyncio
from harness import System
from pg_meta import database_with, postgres_meta, postgres_meta_test_schema

pytestmark = [pytest.mark.integration, pytest.mark.postgres_meta]

#: Objects the corpus reads: every common type in a table, a domain, an enum, a composite, an
#: extension type, keys and checks to violate, functions that raise, a table nobody may read.
SCHEMA = """
CREATE EXTENSION citext;
CREATE TYPE mood AS ENUM ('sad', 'ok', 'happy');
CREATE TYPE pair AS (left_side int, right_side text);
CREATE DOMAIN positive_int AS int CHECK (VALUE > 0);
CREATE TABLE kinds (
    id int PRIMARY KEY,
    small int2, big int8, real_number float4, exact numeric(12, 3), cash money,
    label varchar(20), padded char(5), flag bool, uid uuid, doc jsonb, raw bytea,
    day date, at timestamptz, span interval, address inet,
    feeling mood, feelings mood[], pair pair, pairs pair[], score positive_int,
    tags text[], matrix int[], ci citext, range int4range, words tsvector
);
INSERT INTO kinds VALUES
    (1, -32768, 9223372036854775807, 3.14, 12345.678, 9.99, 'label', 'ab', true,
     'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11', '{"a": [1, {"b": null}], "c": "d"}', '\\x00ff10',
     '2024-02-29', '2024-05-01 10:00:00.123456+00', '1 year 2 mons 3 days 04:05:06.7', '10.1.2.3/8',
     'ok', '{sad,happy}', '(1,"a, b")', ARRAY['(2,x)'::pair, NULL, '(,"")'::pair], 7,
     '{a,"b c",NULL,"",NULL}', '{{1,2},{3,NULL}}', 'MiXeD', '[1,10)', 'a fat cat sat'),
    (2, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL,
     NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL);
CREATE TABLE parent (id int PRIMARY KEY);
CREATE TABLE child (
    id int PRIMARY KEY, parent_id int REFERENCES parent, n int NOT NULL CHECK (n > 0), code text UNIQUE
);
INSERT INTO parent VALUES (1);
INSERT INTO child VALUES (1, 1, 1, 'one');
CREATE TABLE secret (a int);
DO $$ BEGIN
    CREATE ROLE udb_parity_nobody NOLOGIN;
EXCEPTION WHEN duplicate_object THEN NULL; END $$;
REVOKE ALL ON secret FROM PUBLIC;
CREATE FUNCTION boom() RETURNS int LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'boom %', 42 USING DETAIL = 'it blew up', HINT = 'do not call boom';
END $$;
CREATE FUNCTION run_missing() RETURNS void LANGUAGE plpgsql AS $$
BEGIN
    EXECUTE 'SELECT * FROM nonexistent_table WHERE id = 1';
END $$;
"""


@dataclass(frozen=True)
class Case:
    """One request to both services."""

    name: str
    sql: str
    parameters: list[Any] | None = None
    headers: dict[str, str] = field(default_factory=dict)
    #: Compare as JavaScript's JSON.parse reads numbers (json values past 2**53: postgres-meta
    #: re-serializes them rounded, we embed them as Postgres wrote them).
    js_numbers: bool = False


CORPUS: list[Case] = [
    # ---- types ---------------------------------------------------------------------------
    Case("integers", "SELECT 1::int2 AS a, -2::int4 AS b, 42::int8 AS c, 9007199254740991::int8 AS d"),
    Case("int8 past 2^53", "SELECT 9007199254740993::int8 AS big, -9223372036854775808::int8 AS least"),
    Case(
        "floats",
        "SELECT 1.5::float4 AS a, 1.1::float4 AS b, 0.1::float8 AS c, 'Infinity'::float8 AS d,"
        " '-Infinity'::float4 AS e, 'NaN'::float8 AS f, 1e20::float8 AS g, 1e-7::float8 AS h, -0::float8 AS i",
    ),
    Case(
        "numeric and money",
        "SELECT 12345678901234567890.123456789::numeric AS a, 'NaN'::numeric AS b, 1.10::numeric(10, 2) AS c,"
        " 12.5::money AS d, -0.000001::numeric AS e",
    ),
    Case(
        "text types",
        "SELECT 'x'::text AS a, 'y'::varchar(3) AS b, 'z'::char(3) AS c, 'n'::name AS d, 'q'::\"char\" AS e,"
        " ''::text AS f, NULL::text AS g, 'caf\u00e9 \U0001f600 \"quoted\" \\ back' AS h",
    ),
    Case("booleans", "SELECT true AS a, false AS b, NULL::bool AS c, 'yes'::bool AS d"),
    Case("uuid", "SELECT 'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11'::uuid AS a, ARRAY[gen_random_uuid() IS NOT NULL] AS b"),
    Case(
        "json and jsonb",
        """SELECT '{"a": [1, 2.5, null], "b": {"c": "d"}}'::jsonb AS a, '[1, "two", 1.50, true]'::json AS b,"""
        """ 'null'::jsonb AS c, '"s"'::json AS d, '{}'::jsonb AS e, '{"k": "\\u00e9"}'::json AS f""",
    ),
    Case(
        "json numbers past 2^53",
        """SELECT '{"a": 12345678901234567890, "b": 1e3}'::json AS a, '[9007199254740993]'::jsonb AS b""",
        js_numbers=True,
    ),
    Case(
        "arrays",
        "SELECT ARRAY[1, 2, 3] AS a, ARRAY['a', NULL, 'b c', '', 'NULL', 'x\"y\\z'] AS b, '{}'::int[] AS c,"
        " ARRAY[NULL]::int[] AS d, ARRAY[true, false, NULL] AS e, ARRAY[1.5, 2]::float8[] AS f",
    ),
    Case(
        "nested arrays",
        "SELECT ARRAY[[1, 2], [3, 4]] AS a, ARRAY[['a', NULL], ['b', 'c']] AS b, '[0:1]={5,6}'::int[] AS c",
    ),
    Case("int8 and numeric arrays", "SELECT ARRAY[1, -2]::int8[] AS a, ARRAY[1.10, 2, NULL]::numeric[] AS b"),
    Case(
        "bytea",
        "SELECT '\\x0102ff'::bytea AS a, ''::bytea AS b, ARRAY['\\x01'::bytea, NULL] AS c, 'a\\\\b'::bytea AS d",
    ),
    Case(
        "dates and times",
        "SELECT '2024-05-01'::date AS a, '10:00:00.5'::time AS b, '10:00:00+02'::timetz AS c,"
        " '2024-05-01 10:00:00'::timestamp AS d, '2024-05-01 10:00:00+00'::timestamptz AS e,"
        " 'infinity'::timestamp AS f, '-infinity'::date AS g, '0044-03-15 BC'::date AS h",
    ),
    Case(
        "intervals",
        "SELECT '1 day 02:00:00'::interval AS a, '-1 year 2 mons -03:00:00.000001'::interval AS b,"
        " '00:00:00'::interval AS c, '1 day 1 hour 45 minutes'::interval AS d",
    ),
    Case(
        "arrays of dates, times and intervals",
        "SELECT ARRAY['2024-01-01'::date, NULL] AS a, ARRAY['2024-01-01 00:00'::timestamptz] AS b,"
        " ARRAY['2024-01-01 00:00'::timestamp] AS c, ARRAY['1 day'::interval, '-1 year 2 mons -03:00:00.5', '0'] AS d,"
        " ARRAY['10:00'::time] AS e, ARRAY['10:00+01'::timetz] AS f",
    ),
    Case(
        "network types",
        "SELECT '192.168.0.1/24'::inet AS a, '10.0.0.0/8'::cidr AS b, '08:00:2b:01:02:03'::macaddr AS c,"
        " '08:00:2b:01:02:03:04:05'::macaddr8 AS d, ARRAY['1.2.3.4'::inet] AS e, ARRAY['10.0.0.0/8'::cidr] AS f,"
        " ARRAY['08:00:2b:01:02:03'::macaddr] AS g",
    ),
    Case("enums", "SELECT feeling, feelings, 'happy'::mood AS literal FROM kinds ORDER BY id"),
    Case("composites", "SELECT pair, pairs FROM kinds ORDER BY id"),
    Case(
        "records",
        "SELECT ROW(1, 'a b', NULL, 1.5::float8, true, '\\x01'::bytea, '{\"a\":1}'::json, ARRAY[1, 2]) AS a,"
        " ROW(1.5::numeric, '2024-01-01'::date, ROW('x', NULL)) AS b, ROW() AS c",
    ),
    Case(
        "ranges",
        "SELECT int4range(1, 5) AS a, '[1.5,2)'::numrange AS b, '[2024-01-01,2024-02-01)'::daterange AS c,"
        " tstzrange('2024-01-01', '2024-02-01') AS d, 'empty'::int4range AS e, ARRAY[int4range(1, 2)] AS f,"
        " ARRAY['[1,2)'::numrange] AS g, '{[1,2),[5,6)}'::int4multirange AS h, '(,)'::int8range AS i",
    ),
    Case(
        "text search",
        "SELECT 'a fat cat'::tsvector AS a, 'fat & cat'::tsquery AS b, to_tsvector('simple', 'Hi there') AS c",
    ),
    Case("xml", "SELECT '<a>x &amp; y</a>'::xml AS a, xmlelement(name b, 'z') AS b"),
    Case(
        "geometric types",
        "SELECT point(1, 2) AS a, '((0,0),(1,1))'::box AS b, '<(1,2),3>'::circle AS c, '[(0,0),(1,1)]'::lseg AS d,"
        " '((0,0),(1,1),(1,0))'::polygon AS e, '{1,2,3}'::line AS f, '[(0,0),(1,1)]'::path AS g,"
        " ARRAY[point(1, 2)] AS h, '<(1.5,2.5),0.5>'::circle AS i",
    ),
    Case("bit strings", "SELECT B'101'::bit(3) AS a, B'1011'::varbit AS b, ARRAY[B'1'::bit] AS c"),
    Case(
        "catalogue types",
        "SELECT 'pg_class'::regclass AS a, 'int4'::regtype AS b, 26::oid AS c, ARRAY[1, 2]::oid[] AS d,"
        " 'now'::regproc AS e, '1 2'::int2vector AS f, '(0,1)'::tid AS g, '0/16B3748'::pg_lsn AS h",
    ),
    Case("void", "SELECT pg_sleep(0) AS nothing"),
    Case("extension type", "SELECT ci, ARRAY[ci] AS cis FROM kinds WHERE id = 1"),
    Case("domain", "SELECT score, 5::positive_int AS literal FROM kinds ORDER BY id"),
    Case("every column of a table", "SELECT * FROM kinds ORDER BY id"),
    Case("duplicate column names", "SELECT 1 AS a, 2 AS a, 3 AS b"),
    Case("no columns", "SELECT"),
    Case("no rows", "SELECT 1 AS a WHERE false"),
    Case("many rows", "SELECT g, g * 1.5 AS f, md5(g::text) AS h FROM generate_series(1, 2000) AS g"),
    Case("returning", "UPDATE parent SET id = id WHERE id = 1 RETURNING id, 'kept' AS state"),
    Case(
        "application name",
        "SHOW application_name",
        headers={"x-pg-application-name": "supabase/dashboard-query-editor"},
    ),
    # ---- parameters ----------------------------------------------------------------------
    Case(
        "parameters of several types",
        "SELECT $1::int AS a, $2::text AS b, $3::jsonb AS c, $4::int[] AS d, $5::text AS e, $6::bool AS f,"
        " $7::float8 AS g, $8::numeric AS h",
        parameters=["1", "two", {"k": [1.0, "v"]}, [1, "2"], None, True, 1.5, 0.1],
    ),
    Case("parameters in a filter", "SELECT id, label FROM kinds WHERE id = $1 AND flag = $2", parameters=[1, True]),
    Case("empty parameters", "SELECT count(*) AS n FROM kinds", parameters=[]),
    # ---- scripts -------------------------------------------------------------------------
    Case(
        "a script's last rows",
        "DROP TABLE IF EXISTS parity_t; CREATE TABLE parity_t (a int); INSERT INTO parity_t VALUES (1), (2);"
        " SELECT sum(a) AS total FROM parity_t; DROP TABLE parity_t;",
    ),
    Case("a script ending without rows", "SELECT 1 AS first; SELECT 2 AS second WHERE false"),
    Case("a script of DDL only", "CREATE TEMP TABLE parity_tmp (a int); DROP TABLE parity_tmp"),
    Case(
        "transaction control",
        "DROP TABLE IF EXISTS parity_tx; CREATE TABLE parity_tx (a int); BEGIN; INSERT INTO parity_tx VALUES (1);"
        " COMMIT; SELECT count(*) AS n FROM parity_tx; DROP TABLE parity_tx",
    ),
    Case("comments only", "-- nothing here\n/* nor here */"),
    Case("settings within a script", "SET LOCAL statement_timeout = '5s'; SHOW statement_timeout"),
    Case("blank", "   \n  "),
    # ---- errors --------------------------------------------------------------------------
    Case("syntax error", "SELEC 1"),
    Case("syntax error on the second line", "SELECT 1;\nSELEC 2"),
    Case("undefined table", "SELECT 1;\n  SELECT * FROM nope"),
    Case("drop of a missing table", "DROP TABLE missing_table"),
    Case("undefined column with a hint", "SELECT *\nFROM pg_class\nWHERE relname = missing_quotes;"),
    Case("unique violation", "INSERT INTO child VALUES (2, 1, 1, 'one')"),
    Case("not-null violation", "INSERT INTO child (id, parent_id) VALUES (3, 1)"),
    Case("foreign key violation", "INSERT INTO child VALUES (4, 99, 1, 'four')"),
    Case("check violation", "INSERT INTO child VALUES (5, 1, -1, 'five')"),
    Case("division by zero", "SELECT 1 / 0"),
    Case("permission denied", "SET ROLE udb_parity_nobody;\nSELECT * FROM secret"),
    Case("invalid input", "SELECT 'abc'::int"),
    Case("invalid parameter input", "SELECT $1::int", parameters=["x"]),
    Case("a placeholder without parameters", "SELECT $1::int"),
    Case("raised with detail and hint", "SELECT boom()"),
    Case(
        "raised in a DO block",
        "DO $$\nDECLARE v int;\nBEGIN\n  SELECT * INTO STRICT v FROM (VALUES (1), (2)) AS t(x);\nEND $$;",
    ),
    Case("an internal query", "SELECT run_missing()"),
    Case("after earlier statements", "SELECT 1;\nSELECT 2;\nSELECT * FROM kinds WHERE nope = 1"),
    Case("wide characters before the error", "SELECT '\U0001f600\u00e9' AS a,\n\t nope FROM kinds"),
    Case("carriage returns", "SELECT 1\r\nFROM kinds\r\nWHERE missing_column = 1"),
    Case("a rolled back script", "INSERT INTO parent VALUES (2); SELECT 1 / 0"),
    Case("rows after the rollback", "SELECT count(*) AS parents FROM parent"),
]


@dataclass
class Target:
    ref: str
    owner: str
    db_url: str


async def _target(system: System, db_url: str) -> Target:
    ref, owner = await system.new_project()
    await system.add_connection(ref, owner, "pg-meta", {"identifier": "parity", "uri": db_url})
    return Target(ref, owner, db_url)


@pytest_asyncio.fixture(scope="module")
async def parity(system: System) -> AsyncIterator[Target]:
    """A project on a fresh database holding SCHEMA."""
    yield await _target(system, await database_with(system, "parity", [SCHEMA]))


@pytest.fixture(scope="module")
def parity_meta(parity: Target, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    with postgres_meta(parity.db_url, tmp_path_factory.mktemp("postgres-meta-parity")) as url:
        yield url


async def _both(
    system: System, target: Target, meta_url: str, body: dict[str, Any], headers: dict[str, str]
) -> tuple[httpx.Response, httpx.Response]:
    ours = await system.http.post(
        f"/pg-meta/{target.ref}/query", json=body, headers={**system.headers(target.owner), **headers}
    )
    async with httpx.AsyncClient(timeout=30) as client:
        theirs = await client.post(f"{meta_url}/query", json=body, headers=headers)
    return ours, theirs


def _js(text: str) -> Any:
    """JSON as JavaScript's JSON.parse reads it: every number a double."""
    return json.loads(text, parse_int=float, parse_float=float)


def test_the_corpus_covers_enough() -> None:
    """At least 40 statements, with types, scripts and errors all present."""
    assert len(CORPUS) >= 40
    assert len({case.name for case in CORPUS}) == len(CORPUS)


@pytest.mark.parametrize("case", CORPUS, ids=[case.name for case in CORPUS])
async def test_same_reply_as_postgres_meta(system: System, parity: Target, parity_meta: str, case: Case) -> None:
    """The gateway answers a query with postgres-meta's status and JSON (body equal once parsed)."""
    body: dict[str, Any] = {"query": case.sql}
    if case.parameters is not None:
        body["parameters"] = case.parameters
    ours, theirs = await _both(system, parity, parity_meta, body, case.headers)
    assert ours.status_code == theirs.status_code, (ours.text, theirs.text)
    if case.js_numbers:
        assert _js(ours.text) == _js(theirs.text)
    else:
        assert ours.json() == theirs.json()


# ---- postgres-meta's own tests of its query route, replayed -------------------------------


@pytest_asyncio.fixture(scope="module")
async def meta_db(system: System) -> AsyncIterator[Target]:
    """A project on postgres-meta's own test database (tests/data/postgres-meta)."""
    yield await _target(system, await database_with(system, "pgmeta_test", postgres_meta_test_schema()))


async def _replay(system: System, target: Target, body: dict[str, Any], **headers: str) -> httpx.Response:
    return await system.http.post(
        f"/pg-meta/{target.ref}/query", json=body, headers={**system.headers(target.owner), **headers}
    )


def _uuids_zeroed(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [{k: "00000000-0000-0000-0000-000000000000" if k == "user_uuid" else v for k, v in r.items()} for r in rows]


JOE = {
    "decimal": None,
    "id": 1,
    "name": "Joe Bloggs",
    "status": "ACTIVE",
    "user_uuid": "0" * 8 + "-0000" * 3 + "-" + "0" * 12,
}


async def test_postgres_metas_query_tests_pass(system: System, meta_db: Target) -> None:
    """test/server/query.ts of postgres-meta: rows, errors with their every field, big numbers,
    intervals, line positions, details, internal queries, application_name and parameters."""
    rows = (await _replay(system, meta_db, {"query": "SELECT * FROM users"})).json()
    assert _uuids_zeroed(rows) == [JOE, {**JOE, "id": 2, "name": "Jane Doe"}]

    error = (await _replay(system, meta_db, {"query": "DROP TABLE missing_table"})).json()
    assert {k: error[k] for k in ("code", "error", "formattedError", "message", "name", "severity")} == {
        "code": "42P01",
        "error": 'ERROR:  42P01: table "missing_table" does not exist\n',
        "formattedError": 'ERROR:  42P01: table "missing_table" does not exist\n',
        "message": 'table "missing_table" does not exist',
        "name": "error",
        "severity": "ERROR",
    }
    assert (error["file"], error["routine"], error["length"]) == ("tablecmds.c", "DropErrorMsgNonExistent", 108)

    big = await _replay(system, meta_db, {"query": "SELECT 9007199254740992::int8, ARRAY[-9007199254740992::int8]"})
    assert big.json() == [{"array": ["-9007199254740992"], "int8": "9007199254740992"}]
    interval = await _replay(system, meta_db, {"query": "SELECT '1 day 1 hour 45 minutes'::interval"})
    assert interval.json() == [{"interval": "1 day 01:45:00"}]

    line = (
        await _replay(system, meta_db, {"query": "SELECT *\nFROM pg_class\nWHERE relname = missing_quotes;"})
    ).json()
    assert line["formattedError"] == (
        'ERROR:  42703: column "missing_quotes" does not exist\n'
        "LINE 3: WHERE relname = missing_quotes;\n"
        "                        ^\n"
    )
    assert (line["position"], line["length"], line["routine"]) == ("40", 114, "errorMissingColumn")

    strict = (
        "DO $$ \nDECLARE my_var int;\nBEGIN\n  SELECT * INTO STRICT my_var FROM (VALUES (1), (2)) AS t(v);\nEND $$;"
    )
    details = (await _replay(system, meta_db, {"query": strict})).json()
    assert (details["code"], details["hint"]) == ("P0003", "Make sure the query returns a single row, or use LIMIT 1.")
    assert details["where"].startswith("PL/pgSQL function inline_code_block line 4 at SQL statement")

    rethrow = (
        "DO $$\nBEGIN\n  EXECUTE 'SELECT * FROM nonexistent_table WHERE id = 1';\nEXCEPTION WHEN OTHERS THEN\n"
        "  RAISE EXCEPTION USING ERRCODE = SQLSTATE, MESSAGE = SQLERRM,\n"
        "    DETAIL = 'This is additional detail information', HINT = 'This is a hint for fixing the issue',\n"
        "    SCHEMA = 'public';\nEND $$;"
    )
    every = (await _replay(system, meta_db, {"query": rethrow})).json()
    assert (every["code"], every["schema"], every["detail"]) == (
        "42P01",
        "public",
        "This is additional detail information",
    )
    assert every["formattedError"].splitlines()[1:3] == [
        "DETAIL:  This is additional detail information",
        "HINT:  This is a hint for fixing the issue",
    ]

    function = (
        "CREATE OR REPLACE FUNCTION test_internal_query() RETURNS void AS $$\nBEGIN\n"
        "  EXECUTE 'SELECT * FROM nonexistent_table';\n  RETURN;\nEND;\n$$ LANGUAGE plpgsql;"
    )
    assert (await _replay(system, meta_db, {"query": function})).json() == []
    internal = (await _replay(system, meta_db, {"query": "SELECT test_internal_query();"})).json()
    assert (internal["internalQuery"], internal["internalPosition"]) == ("SELECT * FROM nonexistent_table", "15")
    assert "QUERY:  SELECT * FROM nonexistent_table\nCONTEXT:  " in internal["formattedError"]

    named = await _replay(system, meta_db, {"query": "SHOW application_name;"}, **{"x-pg-application-name": "test"})
    assert named.json() == [{"application_name": "test"}]

    positional = {"query": "SELECT * FROM users WHERE id = $1 AND status = $2", "parameters": [1, "ACTIVE"]}
    assert _uuids_zeroed((await _replay(system, meta_db, positional)).json()) == [JOE]
    single = {"query": "SELECT name FROM users WHERE id = $1", "parameters": [2]}
    assert (await _replay(system, meta_db, single)).json() == [{"name": "Jane Doe"}]
    none = {"query": "SELECT * FROM users WHERE id = $1", "parameters": [999]}
    assert (await _replay(system, meta_db, none)).json() == []
    for body in (
        {"query": "SELECT COUNT(*) as count FROM users"},
        {"query": "SELECT COUNT(*) as count FROM users", "parameters": []},
    ):
        assert (await _replay(system, meta_db, body)).json() == [{"count": 2}]
    wrong = await _replay(system, meta_db, {**positional, "parameters": [1]})
    assert (wrong.status_code, wrong.json()["code"]) == (400, "08P01")
    assert 'bind message supplies 1 parameters, but prepared statement "" requires 2' in wrong.json()["message"]
