"""One client per user database, shared by every call that targets it.

The engine services plug in a factory that builds their driver's client (a redis-py client, an
asyncpg pool, an AsyncMongoClient) with at most ``max_connections`` connections. The manager keys
clients by ``{project_id}:{db_type}:{conn_id}``, caps concurrent borrowers at the same number,
closes a client idle for ``idle_timeout_s``, and replaces one whose connection record changed.
A borrower waits at most ``acquire_timeout_s`` for a free slot, then gets a prompt 503
(:class:`PoolExhausted`): a busy or stuck target never queues calls into their deadline.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from typing import Generic, TypeVar

from udb.breaker import NotAnOutage
from udb.registry.v1 import registry_pb2
from udb.tasks import cancel_and_wait

log = logging.getLogger("udb.pool")

ClientT = TypeVar("ClientT")

#: Builds a client for a resolved record with at most this many connections.
ClientFactory = Callable[[registry_pb2.ResolvedConnection, int], Awaitable[ClientT]]
ClientCloser = Callable[[ClientT], Awaitable[None]]


def pool_key(project_id: str, db_type: str, connection_id: str) -> str:
    """The design's key of a pooled client."""
    return f"{project_id}:{db_type}:{connection_id}"


def record_version(connection: registry_pb2.Connection) -> str:
    """What identifies one state of a record: a change gives a new client."""
    return f"{connection.updated_at.seconds}.{connection.updated_at.nanos}"


class PoolExhausted(NotAnOutage):
    """Every connection of a target's pool stayed busy for the whole wait. A busy target is not
    a down one: the circuit breaker does not count it."""

    def __init__(self, db_type: str, max_connections: int, waited_s: float) -> None:
        super().__init__(
            f"{db_type}: all {max_connections} connections to the database are busy; try again shortly",
            details={"retry_after": 1, "waited_ms": int(waited_s * 1000)},
        )


@dataclass(frozen=True, slots=True)
class PoolStats:
    key: str
    in_use: int
    max_connections: int
    waits: int
    idle_s: float


class _Entry(Generic[ClientT]):
    __slots__ = ("client", "in_use", "key", "last_used", "limit", "retired", "version", "waits")

    def __init__(self, key: str, version: str, client: ClientT, max_connections: int, now: float) -> None:
        self.key = key
        self.version = version
        self.client = client
        self.limit = asyncio.Semaphore(max_connections)
        self.last_used = now
        self.in_use = 0
        self.waits = 0
        self.retired = False


class PoolManager(Generic[ClientT]):
    """Pooled clients of one engine, keyed by connection record."""

    def __init__(
        self,
        db_type: str,
        factory: ClientFactory[ClientT],
        closer: ClientCloser[ClientT],
        *,
        max_connections: int = 10,
        acquire_timeout_s: float = 5.0,
        idle_timeout_s: float = 300.0,
        cleanup_interval_s: float = 60.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if max_connections < 1:
            raise ValueError("max_connections must be at least 1")
        self.db_type = db_type
        self._factory = factory
        self._closer = closer
        self.max_connections = max_connections
        self.acquire_timeout_s = acquire_timeout_s
        self._idle_timeout = idle_timeout_s
        self._cleanup_interval = cleanup_interval_s
        self._clock = clock
        self._entries: dict[str, _Entry[ClientT]] = {}
        self._opening: dict[str, asyncio.Lock] = {}
        self._retired: set[_Entry[ClientT]] = set()
        self._cleanup_task: asyncio.Task[None] | None = None
        self._closed = False
        #: Borrows that waited for a free slot, over the manager's life (a metric's counter).
        self.total_waits = 0
        #: Borrows that waited the whole ``acquire_timeout_s`` in vain (a metric's counter).
        self.total_timeouts = 0

    async def start(self) -> None:
        """Starts the periodic idle cleanup."""
        if self._cleanup_task is None:
            self._cleanup_task = asyncio.create_task(self._cleanup_loop(), name=f"pool-cleanup-{self.db_type}")

    async def close(self) -> None:
        """Stops the cleanup and closes every client."""
        self._closed = True
        await cancel_and_wait(self._cleanup_task)
        self._cleanup_task = None
        entries = [*self._entries.values(), *self._retired]
        self._entries.clear()
        self._retired.clear()
        for entry in entries:
            await self._close_client(entry)

    @contextlib.asynccontextmanager
    async def acquire(self, resolved: registry_pb2.ResolvedConnection) -> AsyncIterator[ClientT]:
        """Borrows the client of a record; at most ``max_connections`` borrowers at once, each
        waiting at most ``acquire_timeout_s`` for a slot (then :class:`PoolExhausted`)."""
        entry = await self._entry(resolved)
        if entry.limit.locked():
            entry.waits += 1
            self.total_waits += 1
            try:
                await asyncio.wait_for(entry.limit.acquire(), self.acquire_timeout_s)
            except TimeoutError:
                self.total_timeouts += 1
                raise PoolExhausted(self.db_type, self.max_connections, self.acquire_timeout_s) from None
        else:
            await entry.limit.acquire()
        try:
            async with self._borrowed(entry):
                yield entry.client
        finally:
            entry.limit.release()

    @contextlib.asynccontextmanager
    async def hold(self, resolved: registry_pb2.ResolvedConnection) -> AsyncIterator[ClientT]:
        """The record's client for a long-lived use (a pub/sub subscription) that opens a
        connection of its own: it keeps the client from idle cleanup but takes no borrower slot."""
        entry = await self._entry(resolved)
        async with self._borrowed(entry):
            yield entry.client

    @contextlib.asynccontextmanager
    async def _borrowed(self, entry: _Entry[ClientT]) -> AsyncIterator[None]:
        entry.in_use += 1
        try:
            yield
        finally:
            entry.in_use -= 1
            entry.last_used = self._clock()
            if entry.retired and entry.in_use == 0 and entry in self._retired:
                self._retired.discard(entry)
                await self._close_client(entry)

    async def invalidate(self, *, connection_id: str | None = None, project_id: str | None = None) -> int:
        """Retires the clients of a changed or deleted record (or of every record of a project).

        In-flight borrowers finish with the old client; it is closed when the last one returns.
        """
        retired = 0
        for key, entry in list(self._entries.items()):
            entry_project, _, entry_connection = key.split(":", 2)
            if (connection_id is not None and entry_connection == connection_id) or (
                project_id is not None and entry_project == project_id
            ):
                del self._entries[key]
                await self._retire(entry)
                retired += 1
        return retired

    async def cleanup_idle(self) -> int:
        """Closes clients nobody borrowed for ``idle_timeout_s``; returns how many."""
        now = self._clock()
        closed = 0
        for key, entry in list(self._entries.items()):
            if entry.in_use == 0 and now - entry.last_used >= self._idle_timeout:
                del self._entries[key]
                await self._close_client(entry)
                closed += 1
        for entry in list(self._retired):
            if entry.in_use == 0:
                self._retired.discard(entry)
                await self._close_client(entry)
        return closed

    def stats(self) -> list[PoolStats]:
        now = self._clock()
        return [
            PoolStats(
                key=entry.key,
                in_use=entry.in_use,
                max_connections=self.max_connections,
                waits=entry.waits,
                idle_s=now - entry.last_used,
            )
            for entry in self._entries.values()
        ]

    def __len__(self) -> int:
        return len(self._entries)

    async def _entry(self, resolved: registry_pb2.ResolvedConnection) -> _Entry[ClientT]:
        connection = resolved.connection
        key = pool_key(connection.project_id, self.db_type, connection.id)
        version = record_version(connection)
        entry = self._entries.get(key)
        if entry is not None and entry.version == version:
            return entry
        # One opener per key: concurrent first calls share one client.
        lock = self._opening.setdefault(key, asyncio.Lock())
        async with lock:
            entry = self._entries.get(key)
            if entry is not None and entry.version == version:
                return entry
            if self._closed:
                raise RuntimeError("pool manager is closed")
            client = await self._factory(resolved, self.max_connections)
            fresh = _Entry(key, version, client, self.max_connections, self._clock())
            if entry is not None:
                await self._retire(entry)
            self._entries[key] = fresh
            return fresh

    async def _retire(self, entry: _Entry[ClientT]) -> None:
        entry.retired = True
        if entry.in_use == 0:
            await self._close_client(entry)
        else:
            self._retired.add(entry)

    async def _close_client(self, entry: _Entry[ClientT]) -> None:
        try:
            await self._closer(entry.client)
        except Exception:
            log.warning("closing pooled client %s failed", entry.key, exc_info=True)

    async def _cleanup_loop(self) -> None:
        while True:
            await asyncio.sleep(self._cleanup_interval)
            try:
                closed = await self.cleanup_idle()
                if closed:
                    log.info("closed idle clients", extra={"db_type": self.db_type, "closed": closed})
            except Exception:
                log.exception("pool cleanup failed")
