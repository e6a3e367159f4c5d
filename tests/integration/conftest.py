"""Fixtures shared by the integration modules: the MongoDB tests' own client and databases, and the
Postgres catalogue tests' databases and postgres-meta (tests/pg_meta.py holds their helpers)."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio
from harness import EngineProcess, Servers, System, direct_mongo
from pg_meta import POSTGRES_META_SQL, SHOP_SQL, PgDatabase, PostgresMetaServers, new_database, postgres_meta_servers
from pymongo import AsyncMongoClient


@pytest_asyncio.fixture(scope="module")
async def raw(servers: Servers) -> AsyncIterator[AsyncMongoClient[dict[str, Any]]]:
    """PyMongo straight to the server, to arrange data and check what the API did."""
    client = direct_mongo(servers.mongo_url, tz_aware=True)
    yield client
    await client.close()


@pytest_asyncio.fixture
async def db(raw: AsyncMongoClient[dict[str, Any]]) -> AsyncIterator[str]:
    """A fresh database name for one test, dropped after it."""
    name = f"t_{uuid.uuid4().hex[:12]}"
    yield name
    await raw.drop_database(name)


@pytest_asyncio.fixture(scope="session")
async def shop(system: System) -> AsyncIterator[PgDatabase]:
    """A project whose primary Postgres connection is a fresh database holding our realistic
    schema (tests/data/shop.sql). Tests only read it."""
    yield await new_database(system, "udb_shop", SHOP_SQL)


@pytest_asyncio.fixture(scope="session")
async def meta_schema(system: System) -> AsyncIterator[PgDatabase]:
    """A project whose primary Postgres connection is a fresh database holding postgres-meta's own
    test schema (tests/data/postgres_meta). Tests only read it."""
    database = await new_database(system, "udb_pgmeta", POSTGRES_META_SQL)
    database.names["schema"] = "postgres-meta"
    yield database


@pytest.fixture(scope="session")
def postgres_meta(tmp_path_factory: pytest.TempPathFactory) -> Iterator[PostgresMetaServers]:
    """postgres-meta (the npm package), started per database on first use; stopped at the end."""
    yield from postgres_meta_servers(tmp_path_factory.mktemp("postgres-meta"))


@pytest.fixture
def engine(system: System, tmp_path: Path) -> Iterator[EngineProcess]:
    """redis-svc as a process of its own on the session's registry and Redis (killed at the end)."""
    process = EngineProcess(system, tmp_path / "redis-svc.log")
    process.start()
    try:
        yield process
    finally:
        process.kill()
