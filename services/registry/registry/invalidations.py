"""Fan-out of the platform database's change notifications to ``WatchInvalidations`` streams.

One dedicated connection LISTENs on ``udb_invalidation`` (fed by triggers, so every registry
replica hears every change). Each stream gets a bounded queue. A stream that falls behind, or
every stream when the LISTEN connection is lost, is ended: its client then drops its caches and
asks the registry directly until it has reconnected, so no change is ever missed silently.

A write RPC does not answer before its change has been handed to every stream, on every replica:
it ends its transaction with a *barrier* notification of its own (see :meth:`InvalidationHub.expect`)
and waits until this hub has heard it and every other live replica has acknowledged it. Postgres
delivers a transaction's notifications in commit order to every listener, so a replica that has
heard the barrier has queued the change's own notifications for its streams before; it says so
with an *ack* notification. A caller that acts on the reply (delete a connection, then use it
through an engine that watches another replica) finds every cache already told.

Replicas know one another by the *heartbeat* each sends every :data:`HEARTBEAT_S` on the same
channel (it doubles as the probe of the LISTEN connection). A replica serves streams only once
it has heard its own first heartbeat back: any barrier committed after that reaches a writer
after the heartbeat, so the writer waits for the new replica too. A replica that does not ack
within the barrier's timeout is dropped from the writer's view (it is dead, or its LISTEN
connection is, which ends its own streams) until it is heard again.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
import uuid
from collections.abc import AsyncIterator, Coroutine
from typing import Any

import asyncpg

from udb.config import Secret
from udb.registry.v1 import registry_pb2
from udb.tasks import cancel_and_wait

log = logging.getLogger("registry.invalidations")

CHANNEL = "udb_invalidation"
_KINDS = {
    "connection": registry_pb2.Invalidation.KIND_CONNECTION,
    "membership": registry_pb2.Invalidation.KIND_MEMBERSHIP,
    "project": registry_pb2.Invalidation.KIND_PROJECT,
}
_END = None  # queue sentinel: the stream must end
#: Payload kinds between replicas (never forwarded to the streams): the end of a writer's changes,
#: another replica's word that it has queued them, a replica's heartbeat and its goodbye.
_BARRIER = "barrier"
_ACK = "ack"
_HEARTBEAT = "hub"
_BYE = "bye"
REPLICA_KINDS = frozenset({_BARRIER, _ACK, _HEARTBEAT, _BYE})
#: Seconds between heartbeats; a replica not heard for PEER_TTL_S is gone.
HEARTBEAT_S = 2.0
PEER_TTL_S = 3 * HEARTBEAT_S


class InvalidationHub:
    """Listens to the platform database and feeds every open stream."""

    def __init__(self, database_url: Secret, *, queue_size: int = 10_000, barrier_timeout_s: float = 2.0) -> None:
        self._dsn = database_url
        self._queue_size = queue_size
        self._barrier_timeout = barrier_timeout_s
        self._subscribers: set[asyncio.Queue[registry_pb2.Invalidation | None]] = set()
        self._barriers: dict[str, asyncio.Event] = {}
        #: This replica's name among its peers.
        self.hub_id = uuid.uuid4().hex
        #: Other replicas by name, with when each was last heard (monotonic).
        self._peers: dict[str, float] = {}
        #: A barrier's token -> the replicas whose ack it waits for, and the acks come so far.
        self._awaited: dict[str, set[str]] = {}
        self._acks: dict[str, set[str]] = {}
        self._ack_events: dict[str, asyncio.Event] = {}
        self._connection: asyncpg.Connection | None = None
        self._send_lock = asyncio.Lock()
        self._background: set[asyncio.Task[None]] = set()
        self._hello: asyncio.Event | None = None
        self._listening = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        self._task = asyncio.create_task(self._listen(), name="invalidation-listen")
        # Serve streams only once LISTEN holds; give up waiting after a while (streams then wait).
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._listening.wait(), 10)

    async def close(self) -> None:
        if self._connection is not None and self._listening.is_set():
            with contextlib.suppress(Exception):  # best effort: the peers forget it after PEER_TTL_S anyway
                await asyncio.wait_for(self._send({"kind": _BYE, "hub": self.hub_id}), 1)
        await cancel_and_wait(self._task)
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

    @property
    def listening(self) -> bool:
        return self._listening.is_set()

    def peers(self) -> set[str]:
        """The other replicas heard within :data:`PEER_TTL_S`."""
        horizon = time.monotonic() - PEER_TTL_S
        return {hub for hub, heard in self._peers.items() if heard >= horizon}

    def expect(self) -> str | None:
        """A token for a barrier, or None when there is nothing to wait for: nothing listens here
        (every stream of this replica is ended then), and no stream is open here or elsewhere."""
        if not self._listening.is_set() or not (self._subscribers or self.peers()):
            return None
        token = uuid.uuid4().hex
        self._barriers[token] = asyncio.Event()
        return token

    def barrier_payload(self, token: str) -> str:
        """The notification that marks the end of a transaction's changes."""
        return json.dumps({"kind": _BARRIER, "token": token, "hub": self.hub_id})

    async def reached(self, token: str | None) -> None:
        """Waits until the barrier's notification has come back and every other live replica has
        acknowledged it (every change of its transaction has then been queued for every stream,
        on every replica). Bounded: past the timeout a barrier that did not come back ends this
        replica's streams (its LISTEN connection is in doubt), and the replicas that did not ack
        are dropped from the view until they are heard again."""
        if token is None:
            return
        event = self._barriers.get(token)
        if event is None:
            return
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self._barrier_timeout
        acked = self._ack_events.setdefault(token, asyncio.Event())
        try:
            try:
                await asyncio.wait_for(event.wait(), self._barrier_timeout)
            except TimeoutError:
                log.warning("an invalidation barrier did not come back in time; ending every stream")
                self._end_all()
                return
            if not self._awaited.get(token):
                return
            try:
                await asyncio.wait_for(acked.wait(), max(0.0, deadline - loop.time()))
            except TimeoutError:
                silent = self._awaited.get(token, set()) - self._acks.get(token, set())
                log.warning("registry replicas did not acknowledge a barrier in time", extra={"replicas": len(silent)})
                for hub in silent:
                    self._peers.pop(hub, None)
        finally:
            self.forget(token)

    def forget(self, token: str | None) -> None:
        """Drops the barrier of a transaction that did not commit (or that has been reached)."""
        if token is not None:
            self._barriers.pop(token, None)
            self._awaited.pop(token, None)
            self._acks.pop(token, None)
            self._ack_events.pop(token, None)

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
            kind = data.get("kind")
            if kind in REPLICA_KINDS:
                self._on_replica_message(kind, str(data.get("hub") or ""), str(data.get("token") or ""))
                return
            event = registry_pb2.Invalidation(
                kind=_KINDS[data["kind"]],
                project_id=str(data.get("project_id") or ""),
                project_ref=str(data.get("project_ref") or ""),
                connection_id=str(data.get("connection_id") or ""),
                user_id=str(data.get("user_id") or ""),
            )
        except (ValueError, KeyError, AttributeError):
            log.exception("bad invalidation payload")
            return
        self.publish(event)

    def _on_replica_message(self, kind: str, hub: str, token: str) -> None:
        if hub == self.hub_id:
            if kind == _HEARTBEAT and self._hello is not None:
                self._hello.set()
            elif kind == _BARRIER and token in self._barriers:
                # Every replica heard before this barrier must ack it (delivery is in commit order).
                self._awaited[token] = self.peers()
                self._check_acks(token)
                self._barriers[token].set()
            return
        if kind == _BYE:
            self._peers.pop(hub, None)
            return
        if hub:
            self._peers[hub] = time.monotonic()
        if kind == _BARRIER:
            # Everything committed before it has been published to this replica's streams.
            self._in_background(self._send({"kind": _ACK, "hub": self.hub_id, "token": token}))
        elif kind == _ACK and token in self._barriers:
            self._acks.setdefault(token, set()).add(hub)
            self._check_acks(token)

    def _check_acks(self, token: str) -> None:
        awaited = self._awaited.get(token)
        if awaited is not None and awaited <= self._acks.get(token, set()):
            self._ack_events.setdefault(token, asyncio.Event()).set()

    async def _send(self, message: dict[str, str]) -> None:
        """A notification to every replica, on the LISTEN connection (one statement at a time)."""
        connection = self._connection
        if connection is None:
            return
        async with self._send_lock:
            await connection.execute("SELECT pg_notify($1, $2)", CHANNEL, json.dumps(message))

    def _in_background(self, coroutine: Coroutine[Any, Any, None]) -> None:
        task = asyncio.create_task(coroutine)
        self._background.add(task)
        task.add_done_callback(self._background.discard)
        task.add_done_callback(_log_failure)

    async def _listen(self) -> None:
        backoff = 0.1
        while True:
            connection: asyncpg.Connection | None = None
            try:
                connection = await asyncpg.connect(self._dsn.reveal(), timeout=10)
                lost = asyncio.Event()
                connection.add_termination_listener(lambda _c, lost=lost: lost.set())
                await connection.add_listener(CHANNEL, self._on_notify)
                self._connection = connection
                # Serve only once the first heartbeat has come back (see the module's docstring).
                self._hello = asyncio.Event()
                await asyncio.wait_for(self._send({"kind": _HEARTBEAT, "hub": self.hub_id}), 10)
                await asyncio.wait_for(self._hello.wait(), 10)
                self._listening.set()
                backoff = 0.1
                while not lost.is_set():
                    # The heartbeat tells the other replicas this one acks barriers, and probes
                    # the LISTEN connection, which sees no traffic when idle.
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(lost.wait(), HEARTBEAT_S)
                    if not lost.is_set():
                        await asyncio.wait_for(self._send({"kind": _HEARTBEAT, "hub": self.hub_id}), 10)
            except asyncio.CancelledError:
                if connection is not None:
                    connection.terminate()
                raise
            except Exception as exc:  # noqa: BLE001 (any loss: end the streams and reconnect)
                log.warning("invalidation listener lost: %s", type(exc).__name__)
            self._listening.clear()
            self._connection = None
            self._end_all()
            if connection is not None:
                connection.terminate()
            await asyncio.sleep(backoff)
            backoff = min(backoff * 2, 1.0)

    def _end_all(self) -> None:
        for queue in list(self._subscribers):
            self._end(queue)
        self._subscribers.clear()
        # Nobody here can hold a stale cache now: the writers waiting on barriers may answer
        # (the other replicas' acks cannot be heard any more).
        for token, barrier in self._barriers.items():
            self._awaited[token] = set()
            barrier.set()

    @staticmethod
    def _end(queue: asyncio.Queue[registry_pb2.Invalidation | None]) -> None:
        # Make room for the sentinel: the stream is ending anyway.
        while queue.full():
            queue.get_nowait()
        queue.put_nowait(_END)


def _log_failure(task: asyncio.Task[None]) -> None:
    if not task.cancelled() and task.exception() is not None:
        log.warning("a notification to the other registry replicas failed: %s", type(task.exception()).__name__)
