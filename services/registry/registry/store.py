"""The platform database as the registry's RPCs use it: the pool, write transactions that answer
only once every watcher has heard of them, and the driver's errors as API errors."""

from __future__ import annotations

import contextlib
import datetime as dt
from collections.abc import AsyncIterator, Iterator
from typing import TypeAlias

import asyncpg
from asyncpg.pool import PoolConnectionProxy
from google.protobuf import timestamp_pb2

from registry.invalidations import CHANNEL, InvalidationHub
from registry.migrations import apply_migrations
from registry.settings import Settings
from udb.errors import AlreadyExists, InvalidArgument, NotFound, Unavailable

#: Anything that runs a query: a pool, a connection, or one borrowed from a pool.
Executor: TypeAlias = (
    "asyncpg.Pool[asyncpg.Record] | asyncpg.Connection[asyncpg.Record] | PoolConnectionProxy[asyncpg.Record]"
)
Connection: TypeAlias = "asyncpg.Connection[asyncpg.Record] | PoolConnectionProxy[asyncpg.Record]"


async def open_pool(settings: Settings) -> asyncpg.Pool:
    """A pool on the platform database, with the schema migrated."""
    try:
        pool = await asyncpg.create_pool(
            settings.database_url.reveal(),
            min_size=settings.db_pool_min,
            max_size=settings.db_pool_max,
            timeout=10,
            command_timeout=30,
        )
    except (OSError, asyncpg.PostgresError) as exc:
        raise Unavailable(f"the platform database cannot be reached ({type(exc).__name__})") from None
    async with pool.acquire() as conn:
        await apply_migrations(conn)
    return pool


@contextlib.contextmanager
def database_errors() -> Iterator[None]:
    """The platform database's errors as API errors; the texts are ours, never the driver's."""
    try:
        yield
    except asyncpg.UniqueViolationError as exc:
        constraint = exc.constraint_name or ""
        if "one_primary" in constraint:
            raise AlreadyExists("the project already has a primary connection of this engine") from None
        raise AlreadyExists("a record with that name already exists", details={"constraint": constraint}) from None
    except (asyncpg.CheckViolationError, asyncpg.DataError) as exc:
        raise InvalidArgument(
            "a value is not valid", details={"constraint": getattr(exc, "constraint_name", "")}
        ) from None
    except asyncpg.ForeignKeyViolationError:
        raise NotFound("a referenced record does not exist") from None
    except (OSError, asyncpg.InterfaceError, asyncpg.CannotConnectNowError, asyncpg.TooManyConnectionsError):
        raise Unavailable("the platform database cannot be reached") from None


def timestamp(value: dt.datetime) -> timestamp_pb2.Timestamp:
    stamp = timestamp_pb2.Timestamp()
    stamp.FromDatetime(value)
    return stamp


class Store:
    """The registry's pool on the platform database, opened by :meth:`open`."""

    def __init__(self, settings: Settings, hub: InvalidationHub) -> None:
        self._settings = settings
        self._hub = hub
        self._pool_or_none: asyncpg.Pool | None = None

    @property
    def pool(self) -> asyncpg.Pool:
        assert self._pool_or_none is not None, "RegistryService.start() was not awaited"
        return self._pool_or_none

    async def open(self) -> None:
        """Opens the pool and applies the migrations."""
        self._pool_or_none = await open_pool(self._settings)

    async def close(self) -> None:
        if self._pool_or_none is not None:
            await self._pool_or_none.close()
            self._pool_or_none = None

    @contextlib.asynccontextmanager
    async def change(self) -> AsyncIterator[Connection]:
        """A write transaction whose RPC answers only once every watcher has been told.

        The transaction ends with a barrier notification; after the commit this waits until the
        registry has heard it back, by which time the change's own notifications (sent by the
        triggers, delivered in order) are queued for every ``WatchInvalidations`` stream. So a
        caller that deletes a connection or removes a member, and then acts on the reply, never
        meets a cache that still holds the old state.
        """
        token = self._hub.expect()
        try:
            async with self.pool.acquire() as conn, conn.transaction():
                yield conn
                if token is not None:
                    await conn.execute("SELECT pg_notify($1, $2)", CHANNEL, self._hub.barrier_payload(token))
        except BaseException:
            self._hub.forget(token)
            raise
        await self._hub.reached(token)
