"""Borrowing one connection of a target's pool."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator

import asyncpg

from pg_svc.clients import translate


@contextlib.asynccontextmanager
async def pooled_connection(pool: asyncpg.Pool, timeout_s: float) -> AsyncIterator[asyncpg.pool.PoolConnectionProxy]:
    """A connection of ``pool`` (its driver's errors translated), released after use."""
    try:
        connection = await pool.acquire(timeout=timeout_s)
    except Exception as exc:  # noqa: BLE001 (translate maps every driver error)
        raise translate(exc) from None
    try:
        yield connection
    finally:
        await pool.release(connection)
