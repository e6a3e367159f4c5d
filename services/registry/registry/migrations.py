"""Plain SQL migrations, applied in order, each once, in a transaction, and recorded."""

from __future__ import annotations

import logging
from pathlib import Path

import asyncpg
from asyncpg.pool import PoolConnectionProxy

from registry.settings import MIGRATIONS_DIR

log = logging.getLogger("registry.migrations")

# Any number: it only has to be the same in every registry replica.
_LOCK_ID = 0x75_64_62_6D  # "udbm"


def migration_files(directory: Path = MIGRATIONS_DIR) -> list[Path]:
    """The ``NNN_name.sql`` files, in order."""
    files = sorted(directory.glob("[0-9][0-9][0-9]_*.sql"))
    if not files:
        raise FileNotFoundError(f"no migrations in {directory}")
    return files


async def apply_migrations(
    connection: asyncpg.Connection[asyncpg.Record] | PoolConnectionProxy[asyncpg.Record],
    directory: Path = MIGRATIONS_DIR,
) -> list[str]:
    """Applies the migrations not yet recorded; returns their names. Safe to run twice, and
    safe to run from several replicas at once (they take turns on an advisory lock)."""
    applied: list[str] = []
    await connection.execute("SELECT pg_advisory_lock($1)", _LOCK_ID)
    try:
        await connection.execute(
            """
            CREATE SCHEMA IF NOT EXISTS platform;
            CREATE TABLE IF NOT EXISTS platform.schema_migrations (
              version     text PRIMARY KEY,
              applied_at  timestamptz NOT NULL DEFAULT now()
            )
            """
        )
        done = {row["version"] for row in await connection.fetch("SELECT version FROM platform.schema_migrations")}
        for path in migration_files(directory):
            version = path.stem
            if version in done:
                continue
            async with connection.transaction():
                await connection.execute(path.read_text())
                await connection.execute("INSERT INTO platform.schema_migrations (version) VALUES ($1)", version)
            log.info("applied migration", extra={"version": version})
            applied.append(version)
    finally:
        await connection.execute("SELECT pg_advisory_unlock($1)", _LOCK_ID)
    return applied
