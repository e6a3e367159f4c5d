"""Coalescing identical reads: many callers asking the same catalogue question share one query.

A caller never gets an answer older than its own request: it joins the next query to start, not
one already running (a caller that created a table and then lists tables sees it). While a
query runs, every caller that arrives for the same key waits for the one that starts when it
ends, and all of them get its result. Under load the database answers once per round instead
of once per caller; alone, a caller waits for nothing.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Hashable
from typing import Generic, TypeVar

T = TypeVar("T")


class _Key(Generic[T]):
    __slots__ = ("next", "next_fetch", "running")

    def __init__(self) -> None:
        self.running: asyncio.Future[T] | None = None
        #: Resolved with the query that will start after ``running``, for callers that came during it.
        self.next: asyncio.Future[asyncio.Future[T]] | None = None
        self.next_fetch: Callable[[], Awaitable[T]] | None = None


class Flights(Generic[T]):
    """Shares each key's query among the callers waiting for it."""

    def __init__(self) -> None:
        self._keys: dict[Hashable, _Key[T]] = {}

    async def run(self, key: Hashable, fetch: Callable[[], Awaitable[T]]) -> T:
        """The result of ``fetch()`` (or of an equal caller's ``fetch``) started after this call."""
        state = self._keys.get(key)
        if state is None:
            state = self._keys[key] = _Key()
        if state.running is None:
            flight = self._start(key, state, fetch)
        else:
            if state.next is None:
                state.next = asyncio.get_running_loop().create_future()
                state.next_fetch = fetch
            flight = await asyncio.shield(state.next)
        # Shielded: a caller that gives up does not cancel the others' query.
        return await asyncio.shield(flight)

    def _start(self, key: Hashable, state: _Key[T], fetch: Callable[[], Awaitable[T]]) -> asyncio.Future[T]:
        flight: asyncio.Future[T] = asyncio.ensure_future(fetch())
        state.running = flight
        flight.add_done_callback(lambda done: self._landed(key, state, done))
        return flight

    def _landed(self, key: Hashable, state: _Key[T], done: asyncio.Future[T]) -> None:
        if not done.cancelled():
            done.exception()  # its callers read it; this keeps asyncio from warning when none is left
        waiting, fetch = state.next, state.next_fetch
        state.running = state.next = state.next_fetch = None
        if waiting is None or fetch is None:
            del self._keys[key]
            return
        waiting.set_result(self._start(key, state, fetch))

    def __len__(self) -> int:
        return len(self._keys)
