"""`POST /pg-meta/[ref]/explain` against a real Postgres 15: the plan as JSON, plain EXPLAIN for
viewers through the read-only viewer login, EXPLAIN ANALYZE for developers, and every statement
rolled back."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import asyncpg
import httpx
import pytest
import pytest_asyncio
from harness import System
from pg_meta import database_with

pytestmark = pytest.mark.integration

SCHEMA = """
CREATE TABLE items (id int PRIMARY KEY, name text NOT NULL);
INSERT INTO items SELECT i, 'item ' || i FROM generate_series(1, 100) AS i;
"""


@dataclass
class Project:
    ref: str
    owner: str
    db_url: str
    viewer: str
    developer: str


@pytest_asyncio.fixture(scope="module")
async def project(system: System) -> AsyncIterator[Project]:
    """A project on a fresh database, viewers' SQL running as the read-only login."""
    db_url = await database_with(system, "udb_explain", [SCHEMA])
    ref, owner = await system.new_project()
    await system.add_connection(
        ref, owner, "pg-meta", {"identifier": "main", "uri": db_url, "options": await system.servers.create_reader()}
    )
    viewer, developer = f"viewer-{uuid.uuid4().hex[:8]}", f"dev-{uuid.uuid4().hex[:8]}"
    await system.add_member(ref, owner, viewer, "viewer")
    await system.add_member(ref, owner, developer, "developer")
    yield Project(ref, owner, db_url, viewer, developer)


async def explain(system: System, project: Project, user: str, **body: Any) -> httpx.Response:
    return await system.http.post(f"/pg-meta/{project.ref}/explain", json=body, headers=system.headers(user))


async def count(project: Project, sql: str) -> Any:
    connection = await asyncpg.connect(project.db_url)
    try:
        return await connection.fetchval(sql)
    finally:
        await connection.close()


async def test_a_viewers_explain_is_the_plan_as_json_without_running(system: System, project: Project) -> None:
    """A viewer's EXPLAIN answers Postgres's JSON plan, with no execution figures."""
    reply = await explain(system, project, project.viewer, query="select * from items where id = 5")
    assert reply.status_code == 200, reply.text
    plan = reply.json()["plan"]
    assert isinstance(plan, list)
    assert plan[0]["Plan"]["Node Type"] in ("Index Scan", "Bitmap Heap Scan", "Seq Scan")
    assert "Actual Rows" not in plan[0]["Plan"]
    assert "Execution Time" not in plan[0]


async def test_analyze_is_for_developers_and_its_writes_are_rolled_back(system: System, project: Project) -> None:
    """EXPLAIN ANALYZE is 403 for a viewer; a developer's gets actual figures, and the statement's
    writes are rolled back."""
    refused = await explain(system, project, project.viewer, query="select 1", analyze=True)
    assert refused.status_code == 403, refused.text
    reply = await explain(
        system, project, project.developer, query="delete from items where id <= 10", analyze=True, buffers=True
    )
    assert reply.status_code == 200, reply.text
    plan = reply.json()["plan"][0]
    assert "Execution Time" in plan
    assert plan["Plan"]["Plans"][0]["Actual Rows"] == 10
    assert await count(project, "select count(*) from items") == 100


async def test_a_viewers_explain_of_a_write_runs_read_only(system: System, project: Project) -> None:
    """A viewer's EXPLAIN runs as the read-only login: planning a write is refused by Postgres's own
    privileges (42501, in postgres-meta's body) and nothing changes."""
    reply = await explain(system, project, project.viewer, query="update items set name = 'x' where id = 1")
    assert reply.status_code == 400, reply.text
    assert reply.json()["code"] == "42501"
    assert await count(project, "select name from items where id = 1") == "item 1"


async def test_bad_statements_are_400_in_postgres_metas_shape(system: System, project: Project) -> None:
    """Two statements, transaction control, an empty query and a syntax error are 400; Postgres's
    error position counts from the caller's text, not from the EXPLAIN before it."""
    for query in ("select 1; select 2", "commit", "   "):
        reply = await explain(system, project, project.developer, query=query)
        assert reply.status_code == 400, (query, reply.text)
    reply = await explain(system, project, project.developer, query="select * fro items")
    assert reply.status_code == 400, reply.text
    body = reply.json()
    assert body["message"].startswith("syntax error")
    assert body["position"] == "10"
    unknown = await explain(system, project, project.developer, query="select 1", costs=True)
    assert unknown.status_code == 400
