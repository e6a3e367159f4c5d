"""Shared by the Postgres catalogue tests: databases loaded with a schema, projects whose primary
connection is one of them, postgres-meta (the npm package) served on the same database, and the
comparison of our replies with postgres-meta's."""

from __future__ import annotations

import contextlib
import json
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import asyncpg
import devstack
import httpx
import pytest
from harness import System

DATA = Path(__file__).parent / "data"
#: Our realistic schema (tests/data/shop.sql).
SHOP_SQL = (DATA / "shop.sql",)
#: postgres-meta's own test schema, vendored under tests/data/postgres_meta (Apache-2.0).
POSTGRES_META_SQL = (DATA / "postgres_meta" / "00-init.sql", DATA / "postgres_meta" / "01-memes.sql")


@dataclass
class PgDatabase:
    """A database of the tests' Postgres, and a project whose primary connection it is."""

    ref: str
    owner: str
    db_url: str
    #: postgres-meta serving the same database, when it runs here.
    postgres_meta: str = ""
    names: dict[str, Any] = field(default_factory=dict)

    def headers(self, system: System) -> dict[str, str]:
        return system.headers(self.owner)

    def path(self, route: str) -> str:
        return f"/pg-meta/{self.ref}/{route}"

    async def fetchval(self, sql: str, *args: Any) -> Any:
        connection = await asyncpg.connect(self.db_url)
        try:
            return await connection.fetchval(sql, *args)
        finally:
            await connection.close()


def postgres_meta_test_schema() -> list[str]:
    """The scripts of postgres-meta's test database, in the order its container runs them."""
    return [path.read_text() for path in POSTGRES_META_SQL]


async def database_with(system: System, prefix: str, scripts: list[str]) -> str:
    """A fresh database with ``scripts`` run in it, VACUUMed and ANALYZEd; returns its URL.

    VACUUM too, not only ANALYZE: a table loaded with more than a thousand rows is otherwise
    vacuumed by autovacuum some time later (its insert threshold), which changes the table's size
    and row estimates between two readings of the same list."""
    db_url = await system.servers.create_database(f"{prefix}_{uuid.uuid4().hex[:8]}")
    connection = await asyncpg.connect(db_url)
    try:
        for script in scripts:
            await connection.execute(script)
        await connection.execute("VACUUM ANALYZE")
    finally:
        await connection.close()
    return db_url


async def new_database(system: System, prefix: str, sql_files: tuple[Path, ...] = ()) -> PgDatabase:
    """A fresh database holding the SQL files, VACUUMed and ANALYZEd, as the primary Postgres
    connection of a new project."""
    db_url = await database_with(system, prefix, [sql_file.read_text() for sql_file in sql_files])
    ref, owner = await system.new_project()
    await system.add_connection(ref, owner, "pg-meta", {"identifier": prefix, "uri": db_url})
    return PgDatabase(ref, owner, db_url)


@dataclass
class PostgresMetaServers:
    """postgres-meta processes of a test session, one per database."""

    stack: devstack.Stack
    started: dict[str, str] = field(default_factory=dict)

    def serve(self, database: PgDatabase) -> str:
        """postgres-meta's URL for the database (started on first use); skips the test when it
        cannot run here."""
        if database.db_url not in self.started:
            try:
                self.started[database.db_url] = self.stack.start_postgres_meta(database.db_url)
            except devstack.StackError as exc:
                pytest.skip(f"postgres-meta cannot run here: {exc}")
        database.postgres_meta = self.started[database.db_url]
        return database.postgres_meta


@contextlib.contextmanager
def postgres_meta(db_url: str, workdir: Path) -> Iterator[str]:
    """Supabase postgres-meta (the npm package, installed on first use) serving ``db_url``, for one
    test; yields its base URL. Skips the test, saying why, when it cannot run here."""
    stack = devstack.Stack.create(workdir)
    try:
        url = stack.start_postgres_meta(db_url)
    except devstack.StackError as exc:
        stack.stop()
        pytest.skip(f"postgres-meta cannot run here: {exc}")
    try:
        yield url
    finally:
        stack.stop()


def postgres_meta_servers(workdir: Path) -> Iterator[PostgresMetaServers]:
    stack = devstack.Stack.create(workdir)
    try:
        yield PostgresMetaServers(stack)
    finally:
        stack.stop()


def canonical(value: Any) -> Any:
    """JSON with every array sorted (postgres-meta orders no list but config)."""
    if isinstance(value, list):
        return sorted((canonical(item) for item in value), key=lambda item: json.dumps(item, sort_keys=True))
    if isinstance(value, dict):
        return {key: canonical(item) for key, item in value.items()}
    return value


def error_text(body: Any) -> str:
    """The message of an error reply, in postgres-meta's shape ({"error": "..."}) or ours (a
    top-level "message", or {"error": {"message"}})."""
    if isinstance(body, dict):
        error = body.get("error")
        if isinstance(error, str):
            return error
        if isinstance(body.get("message"), str):
            return str(body["message"])
        if isinstance(error, dict):
            return str(error.get("message", ""))
    return ""


async def ours(system: System, database: PgDatabase, method: str, route: str, **kwargs: Any) -> httpx.Response:
    """Our reply to a request as the project's owner."""
    return await system.http.request(method, database.path(route), headers=database.headers(system), **kwargs)


async def theirs(database: PgDatabase, method: str, route: str, **kwargs: Any) -> httpx.Response:
    """postgres-meta's reply to the same request."""
    async with httpx.AsyncClient(base_url=database.postgres_meta, timeout=60) as client:
        return await client.request(method, f"/{route}", **kwargs)


#: Routes whose replies hold live statistics (table sizes and row estimates).
_LIVE_STATISTICS = ("tables",)


async def side_by_side(system: System, database: PgDatabase, route: str) -> tuple[httpx.Response, httpx.Response]:
    """(ours, postgres-meta's) replies to GET ``route``. Where a reply holds live statistics
    (table sizes and row estimates, which may move meanwhile), postgres-meta is read before and
    after ours, up to three times, until its two readings agree; every field is then compared
    exactly."""
    if not route.startswith(_LIVE_STATISTICS):
        return await ours(system, database, "GET", route), await theirs(database, "GET", route)
    for _ in range(3):
        before = await theirs(database, "GET", route)
        mine = await ours(system, database, "GET", route)
        after = await theirs(database, "GET", route)
        if before.status_code == after.status_code and before.content == after.content:
            break
        if before.status_code == after.status_code == 200 and canonical(before.json()) == canonical(after.json()):
            break
    return mine, after
