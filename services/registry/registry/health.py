"""The registry's readiness: its platform database answers (:mod:`udb.readiness`)."""

from __future__ import annotations

from collections.abc import Callable

import asyncpg

from udb.readiness import Check

#: A pool busy past this long is as good as down for the calls waiting on it.
ACQUIRE_TIMEOUT_S = 1.0


def platform_database(pool: Callable[[], asyncpg.Pool]) -> Check:
    """A check that the platform database answers a query through the registry's own pool."""

    async def check() -> bool:
        async with pool().acquire(timeout=ACQUIRE_TIMEOUT_S) as conn:
            return bool(await conn.fetchval("SELECT 1", timeout=ACQUIRE_TIMEOUT_S) == 1)

    return check
