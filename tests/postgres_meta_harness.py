"""Running the real postgres-meta (the npm package) beside the gateway, on databases made for a
test: the comparison tests' side of the harness."""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import Iterator
from pathlib import Path

import asyncpg
import devstack
import pytest
from harness import System

#: postgres-meta's own test database (test/db of its repository; see the folder's README).
POSTGRES_META_TEST_DB = Path(__file__).resolve().parent / "data" / "postgres-meta"


def postgres_meta_test_schema() -> list[str]:
    """The scripts of postgres-meta's test database, in the order its container runs them."""
    return [path.read_text() for path in sorted(POSTGRES_META_TEST_DB.glob("*.sql"))]


async def database_with(system: System, name: str, scripts: list[str]) -> str:
    """A fresh database named after ``name`` with ``scripts`` run in it; returns its URL."""
    url = await system.servers.create_database(f"udb_{name}_{uuid.uuid4().hex[:8]}")
    connection = await asyncpg.connect(url)
    try:
        for script in scripts:
            await connection.execute(script)
    finally:
        await connection.close()
    return url


@contextlib.contextmanager
def postgres_meta(db_url: str, workdir: Path) -> Iterator[str]:
    """Supabase postgres-meta (the npm package, installed on first use) serving ``db_url``;
    yields its base URL. Skips the test, saying why, when it cannot run here."""
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
