"""Fan-out of the platform database's change notifications to ``WatchInvalidations`` streams.

One dedicated connection LISTENs on ``udb_invalidation`` (fed by triggers, so every registry
replica hears every change). Each stream gets a bounded queue. A stream that falls behind, or
every stream when the LISTEN connection is lost, is ended: its client then drops its caches and
asks the registry directly until it has reconnected, so no change is ever missed silently.

A write RPC does not answer before its change has been handed to every stream: it ends its
transaction with a *barrier* notification of its own (see :meth:`InvalidationHub.barrier`) and
waits until this hub has heard it. Postgres delivers a transaction's notifications in order,
so by then the trigger notifications of the change have been queued for every watcher, and a
caller that acts on the reply (delete a connection, then use it) finds every cache already told.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import uuid
from collections.abc import AsyncIterator

import asyncpg

from udb.config import Secret
from udb.registry.v1 import registry_pb2

log = logging.getLogger("registry.invalidations")

CHANNEL = "udb_invalidation"
_KINDS = {
    "connection": registry_pb2.Invalidation.KIND_CONNECTION,
    "membership": registry_pb2.Invalidation.KIND_MEMBERSHIP,
    "project": registry_pb2.Invalidation.KIND_PROJECT,
}
_END = None  # queue sentinel: the stream must end
#: The payload kind of a barrier: never forwarded to the streams.
_BARRIER = "barrier"


class InvalidationHub:
    """Listens to the platform database and feeds every open stream."""

    def __init__(self, database_url: Secret, *, queue_size: int = 10_000, barrier_timeout_s: float = 2.0) -> None:
        self._dsn = database_url
        self._queue_size = queue_size
        self._barrier_timeout = barrier_timeout_s
        self._subscribers: set[asyncio.Queue[registry_pb2.Invalidation | None]] = set()
        self._barriers: dict[str, asyncio.Event] = {}
        self._listening = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        self._task = asyncio.create_task(self._listen(), name="invalidation-listen")
        # Serve streams only once LISTEN holds; give up waiting after a while (streams then wait).
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._listening.wait(), 10)

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        self._end_all()

    async def stream(self) -> AsyncIterator[registry_pb2.Invalidation]:
        """READY once listening, then every invalidation, until the hub ends the stream."""
        await self._listening.wait()
        queue: asyncio.Queue[registry_pb2.Invalidation | None] = asyncio.Queue(self._queue_size)
        self._subscribers.add(queue)
        try:
            yield registry_pb2.Invalidation(kind=registry_pb2.Invalidation.KIND_READY)
            while True:
                event = await queue.get()
                if event is _END:
                    return
                yield event
        finally:
            self._subscribers.discard(queue)

    @property
    def subscribers(self) -> int:
        return len(self._subscribers)

    def expect(self) -> str | None:
        """A token for a barrier, or None when nothing listens (every stream is ended then, so
        no cache serves and there is nothing to wait for)."""
        if not self._listening.is_set() or not self._subscribers:
            return None
        token = uuid.uuid4().hex
        self._barriers[token] = asyncio.Event()
        return token

    @staticmethod
    def barrier_payload(token: str) -> str:
        """The notification that marks the end of a transaction's changes."""
        return json.dumps({"kind": _BARRIER, "token": token})

    async def reached(self, token: str | None) -> None:
        """Waits until the barrier's notification has come back (every change of its transaction
        has then been queued for every stream). Bounded: a lost LISTEN connection ends every
        stream instead, which also tells every client to stop trusting its cache."""
        if token is None:
            return
        event = self._barriers.get(token)
        if event is None:
            return
        try:
            await asyncio.wait_for(event.wait(), self._barrier_timeout)
        except TimeoutError:
            log.warning("an invalidation barrier did not come back in time; ending every stream")
            self._end_all()
        finally:
            self._barriers.pop(token, None)

    def forget(self, token: str | None) -> None:
        """Drops the barrier of a transaction that did not commit."""
        if token is not None:
            self._barriers.pop(token, None)

    def publish(self, event: registry_pb2.Invalidation) -> None:
        for queue in list(self._subscribers):
            try:
                queue.put_nowait(event)
            except asyncio.QueueFull:
                log.warning("an invalidation stream fell behind; ending it")
                self._subscribers.discard(queue)
                self._end(queue)

    def _on_notify(self, _conn: object, _pid: int, _channel: str, payload: object) -> None:
        try:
            data = json.loads(str(payload))
            if data.get("kind") == _BARRIER:
                barrier = self._barriers.get(str(data.get("token")))
                if barrier is not None:
                    barrier.set()
                return
            event = registry_pb2.Invalidation(
                kind=_KINDS[data["kind"]],
                project_id=str(data.get("project_id") or ""),
                project_ref=str(data.get("project_ref") or ""),
                connection_id=str(data.get("connection_id") or ""),
                user_id=str(data.get("user_id") or ""),
            )
        except (ValueError, KeyError):
            log.exception("bad invalidation payload")
            return
        self.publish(event)

    async def _listen(self) -> None:
        backoff = 0.1
        while True:
            connection: asyncpg.Connection | None = None
            try:
                connection = await asyncpg.connect(self._dsn.reveal(), timeout=10)
                lost = asyncio.Event()
                connection.add_termination_listener(lambda _c, lost=lost: lost.set())
                await connection.add_listener(CHANNEL, self._on_notify)
                self._listening.set()
                backoff = 0.1
                while not lost.is_set():
                    # LISTEN connections see no traffic when idle: probe it now and then.
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(lost.wait(), 15)
                    if not lost.is_set():
                        await asyncio.wait_for(connection.execute("SELECT 1"), 10)
            except asyncio.CancelledError:
                if connection is not None:
                    connection.terminate()
                raise
            except Exception as exc:  # noqa: BLE001 (any loss: end the streams and reconnect)
                log.warning("invalidation listener lost: %s", type(exc).__name__)
            self._listening.clear()
            self._end_all()
            if connection is not None:
                connection.terminate()
            await asyncio.sleep(backoff)
            backoff = min(backoff * 2, 5.0)

    def _end_all(self) -> None:
        for queue in list(self._subscribers):
            self._end(queue)
        self._subscribers.clear()
        # Nobody can hold a stale cache now: the writers waiting on barriers may answer.
        for barrier in self._barriers.values():
            barrier.set()

    @staticmethod
    def _end(queue: asyncio.Queue[registry_pb2.Invalidation | None]) -> None:
        # Make room for the sentinel: the stream is ending anyway.
        while queue.full():
            queue.get_nowait()
        queue.put_nowait(_END)
