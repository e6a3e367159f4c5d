"""Running together what concurrent calls ask of a driver: the engines' batching hook.

A frame of the multiplexed stream (:mod:`udb.mux.server`) starts its calls as tasks in one event
loop turn, and each goes through the guard and its servicer alone: authenticated, authorized,
logged and counted as a unary call. Where a driver can answer several requests in one round trip
(a Redis pipeline), the servicer hands its request to a :class:`Coalescer` instead of the driver:
the requests that reach it in one loop turn (the calls of one frame, or concurrent unary calls)
go out as one batch, and each call gets its own answer or error back. No timer: a batch is
whatever was asked before the loop came round to it.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Sequence
from typing import Generic, TypeVar

log = logging.getLogger("udb.batching")

ItemT = TypeVar("ItemT")
ResultT = TypeVar("ResultT")

#: Runs one batch: one outcome per item, in order (a value, or the exception for that item).
BatchRunner = Callable[[list[ItemT]], Awaitable[Sequence[ResultT | BaseException]]]


class Coalescer(Generic[ItemT, ResultT]):
    """Gathers the items submitted in one loop turn and runs them as one batch (see the module)."""

    def __init__(self, run: BatchRunner[ItemT, ResultT], *, max_batch: int = 1024) -> None:
        self._run = run
        self._max_batch = max_batch
        self._items: list[ItemT] = []
        self._futures: list[asyncio.Future[ResultT]] = []
        self._scheduled = False
        self._tasks: set[asyncio.Task[None]] = set()

    async def submit(self, item: ItemT) -> ResultT:
        """The item's outcome, from the batch it joins; raises the item's own error."""
        loop = asyncio.get_running_loop()
        future: asyncio.Future[ResultT] = loop.create_future()
        self._items.append(item)
        self._futures.append(future)
        if not self._scheduled:
            self._scheduled = True
            loop.call_soon(self._flush)
        return await future

    def _flush(self) -> None:
        self._scheduled = False
        items, futures = self._items, self._futures
        self._items, self._futures = [], []
        for start in range(0, len(items), self._max_batch):
            end = start + self._max_batch
            task = asyncio.get_running_loop().create_task(self._answer(items[start:end], futures[start:end]))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    async def _answer(self, items: list[ItemT], futures: list[asyncio.Future[ResultT]]) -> None:
        try:
            outcomes = await self._run(items)
            if len(outcomes) != len(items):
                raise RuntimeError(f"a batch of {len(items)} answered {len(outcomes)} outcomes")
        except BaseException as exc:  # the batch's failure is every item's
            for future in futures:
                if not future.done():
                    future.set_exception(exc if isinstance(exc, Exception) else asyncio.CancelledError())
            if not isinstance(exc, Exception):
                raise
            return
        for future, outcome in zip(futures, outcomes, strict=True):
            if future.done():
                continue  # its caller gave up
            if isinstance(outcome, BaseException):
                future.set_exception(outcome)
            else:
                future.set_result(outcome)
