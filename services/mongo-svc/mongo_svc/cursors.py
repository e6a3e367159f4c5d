"""Paging an aggregate: one page at a time from its server cursor, and the open cursors that an
aggregate's ``next_cursor`` continues (a find needs none: see :mod:`mongo_svc.finds`).

A page is read from the cursor document by document and stops at the page's document count or
byte limit, so nothing beyond the server's current batch and the page is ever held. A cursor is
closed as soon as a page finds it exhausted; the others are bounded per connection record and in
the process (the least recently used is closed first) and closed when idle.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets
import time
from collections import OrderedDict
from collections.abc import Callable
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass, field
from typing import Any

from bson.json_util import JSONOptions
from pymongo.asynchronous.command_cursor import AsyncCommandCursor
from pymongo.asynchronous.cursor import AsyncCursor

from mongo_svc import ejson
from udb.errors import InvalidArgument, NotFound
from udb.tasks import cancel_and_wait

log = logging.getLogger("mongo_svc.cursors")

ServerCursor = AsyncCursor[dict[str, Any]] | AsyncCommandCursor[dict[str, Any]]

_NOTHING: Any = object()


@dataclass(frozen=True, slots=True)
class Page:
    documents: list[str]
    #: Stopped at the byte limit before the document limit.
    truncated: bool
    #: The cursor holds more documents.
    more: bool


class PagedCursor:
    """A server cursor read a page at a time, with one document read ahead to tell whether more
    follow (so the last page is never an empty one)."""

    __slots__ = ("_ahead", "_cursor")

    def __init__(self, cursor: ServerCursor) -> None:
        self._cursor = cursor
        self._ahead: Any = _NOTHING

    async def page(self, limit: int, max_bytes: int, options: JSONOptions) -> Page:
        """Up to ``limit`` documents as Extended JSON, stopping before ``max_bytes`` of text
        (a page always holds at least one document, however large)."""
        documents: list[str] = []
        size = 0
        truncated = False
        while len(documents) < limit:
            document = await self._next()
            if document is _NOTHING:
                return Page(documents, truncated=False, more=False)
            text = ejson.dumps(document, options)
            length = len(text.encode())
            if documents and size + length > max_bytes:
                self._ahead = document
                truncated = True
                break
            documents.append(text)
            size += length
        if self._ahead is _NOTHING:
            self._ahead = await self._next()
        return Page(documents, truncated=truncated, more=self._ahead is not _NOTHING)

    async def _next(self) -> Any:
        if self._ahead is not _NOTHING:
            document, self._ahead = self._ahead, _NOTHING
            return document
        try:
            return await self._cursor.next()
        except StopAsyncIteration:
            return _NOTHING

    async def close(self) -> None:
        self._ahead = _NOTHING
        await self._cursor.close()


@dataclass(frozen=True, slots=True)
class CursorScope:
    """Who may continue a cursor: the same caller, on the same project and connection."""

    subject: str
    project_ref: str
    connection_id: str


class CursorNotFound(NotFound):
    """No open cursor under that token for this caller."""

    def __init__(self) -> None:
        super().__init__(
            "cursor not found: it was exhausted, idle too long, closed to make room for newer ones on "
            "this connection, kept by another replica, or never given to this caller; run the query again",
            details={"field": "cursor"},
        )


@dataclass(eq=False)
class ParkedCursor:
    """An open cursor between two pages, with what keeps its pooled client open."""

    cursor: PagedCursor
    scope: CursorScope
    #: The pooled client the cursor belongs to; a continuation on another client is refused.
    client: object
    #: The database and collection it reads.
    namespace: tuple[str, str] = ("", "")
    keep_alive: contextlib.AsyncExitStack = field(default_factory=contextlib.AsyncExitStack)
    last_used: float = 0.0

    async def close(self) -> None:
        try:
            await self.cursor.close()
        except Exception:
            log.debug("closing a cursor failed", exc_info=True)
        finally:
            await self.keep_alive.aclose()


class CursorRegistry:
    """The open cursors of this process, by opaque token: at most ``max_per_connection`` of one
    connection record and ``max_open`` in all (past either, the least recently used is closed),
    each closed after ``idle_timeout_s`` without a page."""

    def __init__(
        self,
        *,
        max_open: int = 256,
        max_per_connection: int = 16,
        idle_timeout_s: float = 60.0,
        cleanup_interval_s: float | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.max_open = max_open
        self.max_per_connection = max_per_connection
        self.idle_timeout_s = idle_timeout_s
        # Often enough that an idle cursor lives at most a sixth longer than its timeout.
        self._cleanup_interval = cleanup_interval_s or max(1.0, idle_timeout_s / 6)
        self._clock = clock
        self._parked: OrderedDict[str, ParkedCursor] = OrderedDict()
        self._cleanup_task: asyncio.Task[None] | None = None

    def __len__(self) -> int:
        return len(self._parked)

    def open_on(self, connection_id: str) -> int:
        """How many cursors of a connection record are open."""
        return sum(1 for entry in self._parked.values() if entry.scope.connection_id == connection_id)

    async def start(self) -> None:
        if self._cleanup_task is None:
            self._cleanup_task = asyncio.create_task(self._cleanup_loop(), name="mongo-cursor-cleanup")

    async def close(self) -> None:
        """Closes every open cursor (their server cursors are killed)."""
        await cancel_and_wait(self._cleanup_task)
        self._cleanup_task = None
        parked, self._parked = list(self._parked.values()), OrderedDict()
        for entry in parked:
            await entry.close()

    async def open(
        self,
        cursor: PagedCursor,
        scope: CursorScope,
        client: object,
        keep_alive: AbstractAsyncContextManager[Any],
        namespace: tuple[str, str] = ("", ""),
    ) -> ParkedCursor:
        """A new entry for a cursor that holds more, keeping its client open with ``keep_alive``."""
        entry = ParkedCursor(cursor, scope, client, namespace)
        try:
            await entry.keep_alive.enter_async_context(keep_alive)
        except BaseException:
            await cursor.close()
            raise
        return entry

    async def park(self, entry: ParkedCursor) -> str:
        """Keeps the entry for its next page; returns the token that continues it."""
        connection_id = entry.scope.connection_id
        while self.open_on(connection_id) >= self.max_per_connection:
            oldest = next(t for t, e in self._parked.items() if e.scope.connection_id == connection_id)
            log.info("closing the least recently used cursor: too many open on its connection")
            await self._parked.pop(oldest).close()
        while len(self._parked) >= self.max_open:
            _, lru = self._parked.popitem(last=False)
            log.info("closing the least recently used cursor: too many open")
            await lru.close()
        token = secrets.token_urlsafe(18)
        entry.last_used = self._clock()
        self._parked[token] = entry
        return token

    def take(self, token: str, scope: CursorScope, namespace: tuple[str, str] | None = None) -> ParkedCursor:
        """The entry of a token, removed until parked again (so two pages never race on it);
        InvalidArgument when it reads another database or collection than ``namespace``."""
        entry = self._parked.get(token)
        if entry is None or entry.scope != scope:
            raise CursorNotFound()
        if namespace is not None and entry.namespace != namespace:
            raise InvalidArgument(
                "the cursor continues an aggregate of another collection", details={"field": "cursor"}
            )
        del self._parked[token]
        return entry

    async def close_idle(self) -> int:
        """Closes the cursors idle for ``idle_timeout_s``; returns how many."""
        now = self._clock()
        idle = [token for token, entry in self._parked.items() if now - entry.last_used >= self.idle_timeout_s]
        for token in idle:
            entry = self._parked.pop(token, None)
            if entry is not None:
                await entry.close()
        return len(idle)

    async def _cleanup_loop(self) -> None:
        while True:
            await asyncio.sleep(self._cleanup_interval)
            try:
                await self.close_idle()
            except Exception:
                log.exception("cursor cleanup failed")
