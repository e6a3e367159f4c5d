"""`POST /pg-meta/[ref]/query` and pg-svc's Query against a real Postgres 15: type mapping,
parameters, scripts, errors, the read-only rule for viewers, time limits, result limits, and
databases that are down or dropped their connections."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import asyncpg
import devstack
import grpc
import orjson
import pytest
import pytest_asyncio
from harness import System
from pg_svc.server import create_server as create_pg
from pg_svc.settings import Settings as PgSettings

from udb.common.v1 import common_pb2
from udb.config import Env
from udb.errors import from_rpc_error
from udb.pg.v1 import pg_pb2, pg_pb2_grpc

pytestmark = pytest.mark.integration

SCHEMA = """
CREATE TABLE items (id int PRIMARY KEY, name text NOT NULL, price numeric(10, 2));
INSERT INTO items VALUES (1, 'anvil', 10.50), (2, 'rope', 2.25);
CREATE TYPE pair AS (left_side int, right_side text);
CREATE FUNCTION add_item(item_name text) RETURNS int LANGUAGE sql AS $$
    INSERT INTO items VALUES ((SELECT max(id) + 1 FROM items), item_name, 1) RETURNING id $$;
"""


@dataclass
class Project:
    ref: str
    owner: str
    db_url: str
    connection_id: str
    viewer: str
    developer: str


@pytest_asyncio.fixture(scope="module")
async def project(system: System) -> AsyncIterator[Project]:
    """A project on a fresh database (its connection's user a superuser, viewers' SQL running as a
    read-only login), with a viewer and a developer besides its owner."""
    db_url = await system.servers.create_database(f"udb_query_{uuid.uuid4().hex[:8]}")
    connection = await asyncpg.connect(db_url)
    try:
        await connection.execute(SCHEMA)
    finally:
        await connection.close()
    ref, owner = await system.new_project()
    record = await system.add_connection(
        ref, owner, "pg-meta", {"identifier": "main", "uri": db_url, "options": await system.servers.create_reader()}
    )
    viewer, developer = f"viewer-{uuid.uuid4().hex[:8]}", f"dev-{uuid.uuid4().hex[:8]}"
    await system.add_member(ref, owner, viewer, "viewer")
    await system.add_member(ref, owner, developer, "developer")
    yield Project(ref, owner, db_url, record["id"], viewer, developer)


async def _query(
    system: System, project: Project, sql: str, *, user: str | None = None, **extra: Any
) -> tuple[int, Any, dict[str, str]]:
    body: dict[str, Any] = {"query": sql}
    params = {}
    if "parameters" in extra:
        body["parameters"] = extra.pop("parameters")
    if "timeout" in extra:
        params["statementTimeoutSecs"] = extra.pop("timeout")
    reply = await system.http.post(
        f"/pg-meta/{project.ref}/query", json=body, params=params, headers=system.headers(user or project.owner)
    )
    return reply.status_code, reply.json(), dict(reply.headers)


async def test_values_map_to_json_without_loss(system: System, project: Project) -> None:
    """postgres-meta's typing: int8 past 2^53 and numeric are strings, timestamps Postgres's ISO
    text, bytea a node Buffer, json embedded, arrays arrays (numeric elements numbers), composites
    and ranges their text, NULL null."""
    status, rows, _ = await _query(
        system,
        project,
        """SELECT 42::int8 AS small, 9007199254740993::int8 AS big, 12345678901234567890.123456789::numeric AS exact,
                  1.5::float8 AS float, true AS flag, NULL::text AS nothing, 'x'::text AS text,
                  '2024-05-01 10:00:00+00'::timestamptz AS at, '2024-05-01'::date AS day,
                  '1 day 02:00:00'::interval AS span, '\\x0102ff'::bytea AS raw,
                  '{"a": [1, 2.5, null]}'::jsonb AS doc, '[1, "two"]'::json AS list,
                  ARRAY[1, 2, 3] AS ints, ARRAY['a', NULL] AS texts, ARRAY[1.10, 2]::numeric[] AS amounts,
                  'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11'::uuid AS id, ROW(1, 'b')::pair AS pair,
                  int4range(1, 5) AS span_range, '12.5'::money::numeric AS cash, 'Infinity'::float8 AS inf""",
    )
    assert status == 200, rows
    assert rows == [
        {
            "small": 42,
            "big": "9007199254740993",
            "exact": "12345678901234567890.123456789",
            "float": 1.5,
            "flag": True,
            "nothing": None,
            "text": "x",
            "at": "2024-05-01 10:00:00+00",
            "day": "2024-05-01",
            "span": "1 day 02:00:00",
            "raw": {"type": "Buffer", "data": [1, 2, 255]},
            "doc": {"a": [1, 2.5, None]},
            "list": [1, "two"],
            "ints": [1, 2, 3],
            "texts": ["a", None],
            "amounts": [1.1, 2],
            "id": "a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11",
            "pair": "(1,b)",
            "span_range": "[1,5)",
            "cash": "12.50",
            "inf": None,
        }
    ]


async def test_bind_parameters_are_coerced_like_postgres_meta(system: System, project: Project) -> None:
    """Parameters go as node-postgres's text: "1" reads as an integer, objects as JSON, lists as
    array literals; text the type refuses is Postgres's own error."""
    status, rows, _ = await _query(
        system,
        project,
        "SELECT name, $2::jsonb AS doc, $3::int[] AS ids FROM items WHERE id = $1",
        parameters=["1", {"k": [1]}, ["2", 3]],
    )
    assert status == 200, rows
    assert rows == [{"name": "anvil", "doc": {"k": [1]}, "ids": [2, 3]}]
    status, body, _ = await _query(system, project, "SELECT $1::int", parameters=["one"])
    assert (status, body["code"]) == (400, "22P02")
    assert body["message"] == 'invalid input syntax for type integer: "one"'
    status, body, _ = await _query(system, project, "SELECT $1::int, $2::int", parameters=[1])
    assert (status, body["code"]) == (400, "08P01")
    assert body["message"] == 'bind message supplies 1 parameters, but prepared statement "" requires 2'
    status, body, _ = await _query(system, project, "SELECT 1; SELECT $1::int", parameters=[1])
    assert status == 400 and "single statement" in body["message"]
    status, body, _ = await _query(system, project, "SELECT $1::int")
    assert (status, body["code"], body["message"]) == (400, "42P02", "there is no parameter $1")


async def test_a_script_runs_whole_and_returns_its_last_rows(system: System, project: Project) -> None:
    """Several statements run in one transaction (a failure undoes them all) and the reply is the
    rows of the last statement that returns rows; BEGIN/COMMIT scripts run as written."""
    table = f"t_{uuid.uuid4().hex[:8]}"
    status, rows, _ = await _query(
        system,
        project,
        f"CREATE TABLE {table} (a int); INSERT INTO {table} VALUES (1), (2); SELECT sum(a) FROM {table};",
    )
    assert (status, rows) == (200, [{"sum": 2 + 1}])
    status, body, _ = await _query(system, project, f"INSERT INTO {table} VALUES (3); SELECT 1 / 0")
    assert status == 400 and body["code"] == "22012"
    status, rows, _ = await _query(system, project, f"SELECT count(*) FROM {table}")
    assert rows == [{"count": 2}]  # the INSERT was rolled back with the script
    status, rows, _ = await _query(
        system, project, f"BEGIN; INSERT INTO {table} VALUES (4); COMMIT; SELECT max(a) FROM {table}; VACUUM {table}"
    )
    assert (status, rows) == (200, [{"max": 4}])
    status, rows, _ = await _query(system, project, f"DROP TABLE {table}")
    assert (status, rows) == (200, [])
    assert (await _query(system, project, "-- nothing but a comment"))[:2] == (200, [])


async def test_sql_errors_carry_postgres_details_and_no_secret(system: System, project: Project) -> None:
    """A SQL error is 400 in postgres-meta's body: Postgres's message, SQLSTATE, position (from
    the script's start), hint and the formatted text; an unknown table is 400 too; the password
    never appears."""
    status, body, _ = await _query(system, project, "SELECT 1;\nSELEC 2")
    assert status == 400
    assert body["message"] == 'syntax error at or near "SELEC"'
    assert (body["code"], body["severity"], body["position"]) == ("42601", "ERROR", "11")
    assert body["error"] == body["formattedError"]
    assert body["formattedError"] == 'ERROR:  42601: syntax error at or near "SELEC"\nLINE 2: SELEC 2\n        ^\n'
    status, body, _ = await _query(system, project, "SELECT 1;\nSELECT * FROM missing_table")
    assert (status, body["code"], body["position"]) == (400, "42P01", "25")
    status, body, _ = await _query(system, project, "CREATE TABLE no_schema.items ()")
    assert (status, body["code"]) == (400, "3F000")
    status, body, _ = await _query(system, project, "SELECT nme FROM items")
    assert status == 400 and "hint" in body and "HINT:  " in body["formattedError"]
    password = project.db_url.split(":")[2].split("@")[0]
    assert password not in str(body)


async def test_a_viewer_cannot_write_even_through_a_function(system: System, project: Project) -> None:
    """A viewer's SQL runs READ ONLY: INSERT, SELECT of a writing function and transaction
    control are 403 and change nothing; the viewer still reads, a developer writes."""
    viewer = project.viewer
    assert (await _query(system, project, "SELECT count(*) AS n FROM items", user=viewer))[:2] == (200, [{"n": 2}])
    for sql in (
        "INSERT INTO items VALUES (99, 'x', 1)",
        "SELECT add_item('sneaky')",
        "SELECT 1; SELECT add_item('sneaky')",
        "COMMIT; SELECT add_item('sneaky')",
        "SET TRANSACTION READ WRITE; SELECT add_item('sneaky')",
        "COPY (SELECT 1) TO '/tmp/udb-viewer-copy'",
    ):
        status, body, _ = await _query(system, project, sql, user=viewer)
        assert status == 403, (sql, body)
        assert body["message"] and body["error"]
    assert (await _query(system, project, "SELECT count(*) AS n FROM items"))[1] == [{"n": 2}]
    status, rows, _ = await _query(system, project, "SELECT add_item('rope2') AS id", user=project.developer)
    assert (status, rows) == (200, [{"id": 3}])
    assert (await _query(system, project, "DELETE FROM items WHERE id = 3", user=project.developer))[0] == 200


async def test_statement_timeout_stops_pg_sleep(system: System, project: Project) -> None:
    """statementTimeoutSecs lowers the limit: pg_sleep is cancelled with 504 and Postgres's message."""
    started = time.monotonic()
    status, body, _ = await _query(system, project, "SELECT pg_sleep(10)", timeout="0.5", user=project.viewer)
    assert (status, body["code"]) == (504, "57014")
    assert body["message"] == "canceling statement due to statement timeout"
    assert time.monotonic() - started < 5
    # The lowered limit does not stay on the pooled connection.
    assert (await _query(system, project, "SHOW statement_timeout"))[1] == [{"statement_timeout": "30s"}]
    status, body, _ = await _query(system, project, "SELECT 1", timeout="soon")
    assert status == 400 and "statementTimeoutSecs" in body["message"]


async def test_a_result_past_the_row_limit_is_flagged(system: System, project: Project) -> None:
    """A result over the configured row limit comes back cut with x-result-truncated: true."""
    status, rows, headers = await _query(system, project, "SELECT g FROM generate_series(1, 100001) AS g")
    assert status == 200
    assert len(rows) == 100_000 and rows[-1] == {"g": 100_000}
    assert headers["x-result-truncated"] == "true"
    assert "x-result-truncated" not in (await _query(system, project, "SELECT 1"))[2]


async def test_bad_request_bodies_are_400(system: System, project: Project) -> None:
    """A missing query, one that is not a string and non-array parameters are 400 with
    postgres-meta's words; unknown fields are ignored and a blank query has no rows."""
    url = f"/pg-meta/{project.ref}/query"
    headers = system.headers(project.owner)
    for body in ({}, {"query": ""}, {"query": 1}, {"query": "SELECT 1", "parameters": {}}):
        reply = await system.http.post(url, json=body, headers=headers)
        assert reply.status_code == 400, (body, reply.text)
        assert reply.json()["message"] == reply.json()["error"]
    assert (await system.http.post(url, json={}, headers=headers)).json()["message"] == "query not found"
    studio_extras = {"params": [], "disable_statement_timeout": 1}
    for body in ({"query": "  "}, {"query": "SELECT 1 AS one WHERE false", **studio_extras}):
        reply = await system.http.post(url, json=body, headers=headers)
        assert (reply.status_code, reply.json()) == (200, []), reply.text


@pytest_asyncio.fixture(scope="module")
async def limited_pg(system: System) -> AsyncIterator[pg_pb2_grpc.PgServiceStub]:
    """A second pg-svc on the same registry, with a 1 s statement timeout and small result limits."""
    env = {
        **system.env,
        "PG_STATEMENT_TIMEOUT_S": "1",
        "PG_QUERY_MAX_ROWS": "5",
        "PG_QUERY_MAX_BYTES": "200",
        "PG_QUERY_MAX_READ_BYTES": str(64 * 1024),
    }
    settings = PgSettings.from_env(Env(environ=env, env_file=None))
    server, port = await create_pg(settings, "127.0.0.1:0")
    await server.start()
    channel = grpc.aio.insecure_channel(f"127.0.0.1:{port}")
    try:
        yield pg_pb2_grpc.PgServiceStub(channel)
    finally:
        await channel.close()
        await server.stop(1)


async def test_configured_limits_bound_time_rows_and_bytes(
    system: System, project: Project, limited_pg: pg_pb2_grpc.PgServiceStub
) -> None:
    """The configured statement timeout holds even when a request asks for more or the script
    raises its own; rows and bytes past the limits are cut and flagged."""
    target = common_pb2.ConnectionTarget(project_ref=project.ref)
    metadata = system.metadata(project.owner)
    for sql, asked_ms in (("SELECT pg_sleep(10)", 60_000), ("SET statement_timeout = 0; SELECT pg_sleep(10)", 0)):
        started = time.monotonic()
        with pytest.raises(grpc.aio.AioRpcError) as caught:
            await limited_pg.Query(
                pg_pb2.QueryRequest(target=target, query=sql, statement_timeout_ms=asked_ms), metadata=metadata
            )
        assert from_rpc_error(caught.value).code == "deadline_exceeded"
        assert time.monotonic() - started < 6
    rows = await limited_pg.Query(
        pg_pb2.QueryRequest(target=target, query="SELECT g FROM generate_series(1, 50) g"), metadata=metadata
    )
    assert (rows.row_count, rows.truncated) == (5, True)
    assert orjson.loads(rows.rows) == [{"g": n} for n in range(1, 6)]
    wide = await limited_pg.Query(
        pg_pb2.QueryRequest(target=target, query="SELECT repeat('x', 60) AS w FROM generate_series(1, 4)"),
        metadata=metadata,
    )
    assert wide.truncated and wide.row_count == 2 and len(wide.rows) <= 200
    small = await limited_pg.Query(pg_pb2.QueryRequest(target=target, query="SELECT 1 AS one"), metadata=metadata)
    assert (small.rows, small.truncated, small.row_count) == (b'[{"one":1}]', False, 1)


async def test_rows_over_the_read_bound_fail_without_being_read(
    system: System, project: Project, limited_pg: pg_pb2_grpc.PgServiceStub
) -> None:
    """Rows come in batches (here of 6, past the row limit of 5), so the cut at the result's
    bytes alone would still read a whole batch of huge ones: past the bytes read for one statement
    (64 KiB here; 6 rows of 20 kB) the statement fails as payload_too_large, for a viewer as for an
    owner, in a script too (whose own transaction's rollback fails on the cut connection); the
    connection is cut and the next call answers."""
    target = common_pb2.ConnectionTarget(project_ref=project.ref)
    huge = "SELECT repeat('x', 20000) AS w FROM generate_series(1, 500)"
    scripts = (huge, f"SELECT 1; {huge}", f"COMMIT; {huge}")  # the last, each statement on its own
    for caller, sql in [(project.viewer, huge), *((project.owner, script) for script in scripts)]:
        with pytest.raises(grpc.aio.AioRpcError) as caught:
            await limited_pg.Query(pg_pb2.QueryRequest(target=target, query=sql), metadata=system.metadata(caller))
        error = from_rpc_error(caught.value)
        assert error.code == "payload_too_large", (caller, sql, error)
        assert f"over the {64 * 1024} bytes read for one statement" in str(error)
        small = await limited_pg.Query(
            pg_pb2.QueryRequest(target=target, query="SELECT 1 AS one"), metadata=system.metadata(caller)
        )
        assert (small.rows, small.truncated) == (b'[{"one":1}]', False)
    status, body, _ = await _query(system, project, huge)
    assert status == 200 and len(body) == 500  # the service's own bound is 2 x 32 MiB
    status, body, _ = await _query(system, project, "SELECT repeat('x', 1048576) FROM generate_series(1, 100)")
    assert status == 413 and body["message"] == body["error"]
    assert f"over the {64 * 1024 * 1024} bytes read for one statement" in body["message"]


async def test_a_database_that_is_down_gives_503_promptly(system: System) -> None:
    """A connection to a port where nothing listens: 503 within the connect timeout, no secret."""
    ref, owner = await system.new_project()
    port = devstack.free_port()
    uri = f"postgresql://someone:s3cret-pw@127.0.0.1:{port}/nothing"
    await system.add_connection(ref, owner, "pg-meta", {"identifier": "down", "uri": uri})
    for method, route, body in (("GET", "tables", None), ("POST", "query", {"query": "SELECT 1"})):
        started = time.monotonic()
        reply = await system.http.request(method, f"/pg-meta/{ref}/{route}", json=body, headers=system.headers(owner))
        assert reply.status_code == 503, reply.text
        assert reply.json()["message"] == reply.json()["error"]
        assert "s3cret-pw" not in reply.text
        assert time.monotonic() - started < 3


async def test_dropped_connections_are_replaced_on_the_next_call(system: System, project: Project) -> None:
    """When Postgres drops the pool's connections (as a restart does), the next calls reconnect."""
    assert (await _query(system, project, "SELECT 1 AS one"))[:2] == (200, [{"one": 1}])
    connection = await asyncpg.connect(project.db_url)
    try:
        killed = await connection.fetchval(
            "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
            "WHERE datname = current_database() AND application_name = 'udb-pg-svc'"
        )
    finally:
        await connection.close()
    assert killed >= 1
    await asyncio.sleep(0.2)
    reply = await system.http.get(f"/pg-meta/{project.ref}/schemas", headers=system.headers(project.owner))
    assert reply.status_code == 200, reply.text
    assert (await _query(system, project, "SELECT 2 AS two"))[:2] == (200, [{"two": 2}])


async def test_roles_and_membership_on_query(system: System, project: Project, user_token: str) -> None:
    """A stranger gets 404, a caller without token 401; the project's members all may query."""
    url = f"/pg-meta/{project.ref}/query"
    stranger = await system.http.post(
        url, json={"query": "SELECT 1"}, headers={"authorization": f"Bearer {user_token}"}
    )
    assert stranger.status_code == 404
    assert (await system.http.post(url, json={"query": "SELECT 1"})).status_code == 401
    for user in (project.viewer, project.developer, project.owner):
        assert (await _query(system, project, "SELECT 1 AS one", user=user))[:2] == (200, [{"one": 1}])


async def test_connection_test_reports_the_server_version(system: System, project: Project) -> None:
    """POST connections/[id]/test answers ok with Postgres's version."""
    reply = await system.http.post(
        f"/pg-meta/{project.ref}/connections/{project.connection_id}/test", headers=system.headers(project.owner)
    )
    assert reply.status_code == 200, reply.text
    assert reply.json()["ok"] is True
    assert reply.json()["server_version"].startswith("15")


async def test_statements_survive_a_table_change_and_leave_no_session_state(system: System, project: Project) -> None:
    """A cached statement whose table changed is prepared again; a transaction a script leaves
    open is rolled back; a script's SET does not reach the next caller."""
    table = f"c_{uuid.uuid4().hex[:8]}"
    assert (await _query(system, project, f"CREATE TABLE {table} (a int); INSERT INTO {table} VALUES (1)"))[0] == 200
    for _ in range(12):  # warm the statement caches of every pooled connection
        assert (await _query(system, project, f"SELECT * FROM {table}"))[1] == [{"a": 1}]
    assert (await _query(system, project, f"ALTER TABLE {table} ADD COLUMN b int DEFAULT 2"))[0] == 200
    for _ in range(12):
        status, rows, _ = await _query(system, project, f"SELECT * FROM {table}")
        assert (status, rows) == (200, [{"a": 1, "b": 2}])
    assert (await _query(system, project, f"BEGIN; INSERT INTO {table} VALUES (5)"))[0] == 200
    assert (await _query(system, project, f"SELECT count(*) AS n FROM {table}"))[1] == [{"n": 1}]
    assert (await _query(system, project, "SET application_name = 'mine'; SELECT 1"))[0] == 200
    for _ in range(12):
        assert (await _query(system, project, "SHOW application_name"))[1] == [{"application_name": "udb-pg-svc"}]
    assert (await _query(system, project, f"DROP TABLE {table}"))[0] == 200
