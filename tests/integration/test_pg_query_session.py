"""A caller's SQL leaves nothing in the pooled session for the next caller: a pg-svc whose pools hold
one connection each runs every call on the same backend, so whatever one call leaves behind the
next one sees (settings, LISTEN, advisory locks, cursors, prepared statements, temporary tables)."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import grpc
import orjson
import pytest
import pytest_asyncio
from harness import System, fetchval, own_service
from pg_svc.server import create_server as create_pg
from pg_svc.settings import Settings as PgSettings

from udb.common.v1 import common_pb2
from udb.errors import from_rpc_error
from udb.pg.v1 import explain_pb2, explain_pb2_grpc, pg_pb2, pg_pb2_grpc

pytestmark = pytest.mark.integration


@dataclass
class Single:
    stub: pg_pb2_grpc.PgServiceAsyncStub
    explain: explain_pb2_grpc.PgExplainServiceAsyncStub
    system: System
    ref: str
    owner: str
    viewer: str
    db_url: str
    #: The login viewers' SQL runs as.
    reader: str

    async def query(self, sql: str, *, user: str | None = None, **fields: Any) -> list[dict[str, Any]]:
        reply = await self.stub.Query(
            pg_pb2.QueryRequest(target=common_pb2.ConnectionTarget(project_ref=self.ref), query=sql, **fields),
            metadata=self.system.metadata(user or self.owner),
        )
        rows: list[dict[str, Any]] = orjson.loads(reply.rows)
        return rows

    async def value(self, sql: str, *, user: str | None = None) -> Any:
        (row,) = await self.query(sql, user=user)
        (value,) = row.values()
        return value


@pytest_asyncio.fixture(scope="module")
async def single(system: System) -> AsyncIterator[Single]:
    """A pg-svc with one pooled connection per pool, and a project on a fresh database whose viewers'
    SQL runs as a read-only login."""
    db_url = await system.servers.create_database(f"udb_session_{uuid.uuid4().hex[:8]}")
    ref, owner = await system.new_project()
    options = await system.servers.create_reader()
    await system.add_connection(ref, owner, "pg-meta", {"identifier": "main", "uri": db_url, "options": options})
    viewer = f"viewer-{uuid.uuid4().hex[:8]}"
    await system.add_member(ref, owner, viewer, "viewer")
    async with own_service(system, create_pg, PgSettings, {"POOL_MAX_CONNECTIONS": "1"}) as channel:
        yield Single(
            pg_pb2_grpc.PgServiceStub(channel),
            explain_pb2_grpc.PgExplainServiceStub(channel),
            system,
            ref,
            owner,
            viewer,
            db_url,
            options["read_only_role"],
        )


#: (a statement that changes the session, a query of that state, its value on a fresh session).
#: Each statement runs alone: the single-statement path is the one with the fewest round trips.
CHANGES = (
    ("SET search_path = nowhere", "SHOW search_path", '"$user", public'),
    ("SELECT set_config('search_path', 'elsewhere', false)", "SHOW search_path", '"$user", public'),
    ("SELECT set_config('application_name', 'mine', false)", "SHOW application_name", "udb-pg-svc"),
    ("SET statement_timeout = 0", "SHOW statement_timeout", "30s"),
    ("LISTEN udb_test_channel", "SELECT count(*) AS n FROM pg_listening_channels()", 0),
    ("SELECT pg_advisory_lock(4242)", "SELECT count(*) AS n FROM pg_locks WHERE locktype = 'advisory'", 0),
    ("PREPARE left_behind AS SELECT 1", "SELECT count(*) AS n FROM pg_prepared_statements WHERE from_sql", 0),
    ("DECLARE held CURSOR WITH HOLD FOR SELECT 1", "SELECT count(*) AS n FROM pg_cursors WHERE name = 'held'", 0),
)


@pytest.mark.parametrize("user", ["owner", "viewer"])
async def test_a_single_statement_leaves_no_session_state(single: Single, user: str) -> None:
    """Settings (SET, set_config), LISTEN, advisory locks, PREPARE and WITH HOLD cursors of one call,
    owner's or viewer's, are gone in the next call on the same pooled backend."""
    caller = single.owner if user == "owner" else single.viewer
    backend = await single.value("SELECT pg_backend_pid()", user=caller)
    for change, probe, fresh in CHANGES:
        await single.query(change, user=caller)
        assert await single.value(probe, user=caller) == fresh, change
    # The same PREPARE again: the first one is gone, not merely hidden.
    await single.query("PREPARE left_behind AS SELECT 2", user=caller)
    assert await single.value("SELECT pg_backend_pid()", user=caller) == backend


async def test_temporary_tables_and_statements_prepared_by_a_function_do_not_outlive_a_call(single: Single) -> None:
    """A temporary table, and a statement prepared through dynamic SQL, are dropped after the call."""
    await single.query("CREATE TEMP TABLE scratch (a int)")
    assert await single.value("SELECT to_regclass('pg_temp.scratch')::text AS t") is None
    await single.query('DO $$BEGIN EXECUTE \'PREPARE "odd ""name" AS SELECT 1\'; END$$')
    assert await single.value("SELECT count(*) AS n FROM pg_prepared_statements WHERE from_sql") == 0
    # The pool's own cached statements survive the reset: a repeated statement still runs.
    for _ in range(3):
        assert await single.value("SELECT 41 + 1 AS n") == 42


async def test_a_lock_taken_in_one_call_is_free_for_another_session_after_it(single: Single) -> None:
    """An advisory lock a call takes is released when the call ends: another session can take it."""
    await single.query("SELECT pg_advisory_lock(777)")
    assert await fetchval(single.db_url, "SELECT pg_try_advisory_lock(777)") is True


async def test_application_name_and_time_limit_hold_for_the_call_only(single: Single) -> None:
    """A call's application_name and lowered statement timeout apply to its statement, and the next
    call is back on the service's own."""
    row = await single.query(
        "SELECT current_setting('application_name') AS app, current_setting('statement_timeout') AS limit",
        application_name="studio-tab",
        statement_timeout_ms=1500,
    )
    assert row == [{"app": "studio-tab", "limit": "1500ms"}]
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await single.query("SELECT pg_sleep(5)", statement_timeout_ms=200)
    assert from_rpc_error(caught.value).code == "deadline_exceeded"
    assert await single.value("SHOW application_name") == "udb-pg-svc"
    assert await single.value("SHOW statement_timeout") == "30s"


async def test_a_viewer_still_cannot_write_alone_or_after_an_owner(single: Single) -> None:
    """A viewer's single statement is refused a write by the read-only login, also on the backend an
    owner's write just used; the owner's write stays."""
    await single.query("CREATE TABLE IF NOT EXISTS notes (body text)")
    await single.query("INSERT INTO notes VALUES ('owner')")
    for sql in (
        "INSERT INTO notes VALUES ('viewer')",
        "SELECT set_config('default_transaction_read_only', 'off', false); INSERT INTO notes VALUES ('viewer')",
    ):
        with pytest.raises(grpc.aio.AioRpcError) as caught:
            await single.query(sql, user=single.viewer)
        assert from_rpc_error(caught.value).code == "permission_denied", sql
    assert await single.value("SELECT string_agg(body, ',') AS b FROM notes") == "owner"
    assert await single.value("SELECT current_user = session_user AS same", user=single.viewer) is True


async def test_an_analyzed_statement_leaves_no_session_state(single: Single) -> None:
    """EXPLAIN ANALYZE runs the statement: a session-level advisory lock it takes (which a
    rollback keeps) is released before the next call."""
    target = common_pb2.ConnectionTarget(project_ref=single.ref)
    request = explain_pb2.ExplainRequest(target=target, query="SELECT pg_advisory_lock(99)", analyze=True)
    assert (await single.explain.Explain(request, metadata=single.system.metadata(single.owner))).plan
    assert await single.value("SELECT count(*) AS n FROM pg_locks WHERE locktype = 'advisory'") == 0


async def test_a_viewer_call_refused_before_its_sql_leaves_no_transaction_open(single: Single) -> None:
    """A viewer's connection comes in a read-only transaction: a call refused before its SQL runs
    (parameters for a script) rolls it back, and the next call runs."""
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await single.query("SELECT 1; SELECT 2", user=single.viewer, parameters=b"[1]")
    assert from_rpc_error(caught.value).code == "invalid_argument"
    states = f"SELECT string_agg(state, ',') FROM pg_stat_activity WHERE usename = '{single.reader}'"
    assert await fetchval(single.db_url, states) == "idle"
    assert await single.value("SELECT 7 AS n", user=single.viewer) == 7


async def test_the_viewers_login_is_checked_on_every_call(single: Single) -> None:
    """A power granted to the viewers' login while its pooled connection lives refuses the next
    viewer's call (403); revoked, the viewer reads again."""
    assert await single.value("SELECT 1 AS one", user=single.viewer) == 1
    await fetchval(single.db_url, f"GRANT pg_signal_backend TO {single.reader}")
    try:
        with pytest.raises(grpc.aio.AioRpcError) as caught:
            await single.query("SELECT 1 AS one", user=single.viewer)
        error = from_rpc_error(caught.value)
        assert error.code == "permission_denied" and "pg_signal_backend" in error.message
    finally:
        await fetchval(single.db_url, f"REVOKE pg_signal_backend FROM {single.reader}")
    assert await single.value("SELECT 1 AS one", user=single.viewer) == 1
