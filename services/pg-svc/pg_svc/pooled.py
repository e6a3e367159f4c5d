"""Borrowing one connection of a target's pool."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator

import asyncpg

from pg_svc.clients import NoConnection


@contextlib.asynccontextmanager
async def pooled_connection(pool: asyncpg.Pool, timeout_s: float) -> AsyncIterator[asyncpg.pool.PoolConnectionProxy]:
    """A connection of ``pool``, released after use. Waiting past ``timeout_s`` for it is
    :class:`NoConnection` (503), not a statement's time limit."""
    try:
        # An idle connection comes at once: no timer then (asyncpg runs a timed acquire as a task).
        connection = await pool.acquire(timeout=None if pool.get_idle_size() else timeout_s)
    except TimeoutError:
        raise NoConnection() from None
    try:
        yield connection
    finally:
        await pool.release(connection)


def lost(connection: asyncpg.pool.PoolConnectionProxy | asyncpg.Connection) -> bool:
    """Whether ``connection`` is closed; a pooled one that was lost mid-call is already taken back
    by its pool, and its proxy refuses every method."""
    try:
        return connection.is_closed()
    except asyncpg.InterfaceError:
        return True
