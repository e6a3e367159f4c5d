"""Reading the catalogue: one query's JSON text, shared by equal questions asked at once."""

from __future__ import annotations

from typing import Any

import asyncpg

from pg_svc.clients import translate
from pg_svc.flights import Flights
from pg_svc.pooled import pooled_connection
from pg_svc.settings import Settings
from udb.common.v1 import common_pb2
from udb.engine import EngineRuntime
from udb.errors import DatabaseError, DeadlineExceeded
from udb.pool import record_version
from udb.registry.v1 import registry_pb2

#: Errors of a pooled connection that died while idle (a restarted server): a catalogue read
#: is tried once more on a fresh connection.
_CONNECTION_LOST = (asyncpg.ConnectionDoesNotExistError, asyncpg.InterfaceError, ConnectionError)


class CatalogReader:
    """Catalogue reads of one engine runtime (any member may read the catalogue)."""

    def __init__(self, runtime: EngineRuntime[asyncpg.Pool], settings: Settings) -> None:
        self.runtime = runtime
        self.settings = settings
        self._flights: Flights[str | None] = Flights()

    async def read(self, target: common_pb2.ConnectionTarget, sql: str, args: tuple[Any, ...]) -> str | None:
        """The query's one text value (None when it has none). Equal questions about one database,
        asked at the same time, share one query (see :mod:`pg_svc.flights`)."""
        _, resolved = await self.runtime.resolve(target, common_pb2.ROLE_VIEWER)
        key = (
            resolved.connection.id,
            record_version(resolved.connection),
            sql,
            tuple(tuple(arg) if isinstance(arg, list) else arg for arg in args),
        )
        return await self._flights.run(key, lambda: self._guarded_fetch(resolved, sql, args))

    async def _guarded_fetch(
        self, resolved: registry_pb2.ResolvedConnection, sql: str, args: tuple[Any, ...]
    ) -> str | None:
        async with self.runtime.guard(resolved):
            return await self._fetch(resolved, sql, args)

    async def _fetch(self, resolved: registry_pb2.ResolvedConnection, sql: str, args: tuple[Any, ...]) -> str | None:
        for attempt in (1, 2):
            try:
                async with (
                    self.runtime.pools.acquire(resolved) as pool,
                    pooled_connection(pool, self.settings.connect_timeout_s) as connection,
                ):
                    # The driver's own deadline, shortly after the statement's.
                    text: str | None = await connection.fetchval(
                        sql, *args, timeout=self.settings.statement_timeout_s + 2
                    )
                    return text
            except DatabaseError:
                raise
            except _CONNECTION_LOST as exc:
                if attempt == 2:
                    raise translate(exc) from None
            except TimeoutError:
                raise DeadlineExceeded("the catalogue query ran past its time limit") from None
            except Exception as exc:  # noqa: BLE001 (translate maps every driver error)
                raise translate(exc) from None
        raise AssertionError("unreachable")
