"""Fixtures shared by the Postgres catalogue tests (tests/pg_meta.py holds their helpers)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator

import pytest
import pytest_asyncio
from harness import System
from pg_meta import POSTGRES_META_SQL, SHOP_SQL, PgDatabase, PostgresMetaServers, new_database, postgres_meta_servers


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
