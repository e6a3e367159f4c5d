"""Pub/sub fan-out: one upstream subscription shared by many subscribers.

redis-svc shares one Redis connection per connection record among all its Subscribe streams,
and the gateway shares one redis-svc stream per target among all its WebSockets; both keep the
same books, here:

- :class:`Subscriber`: one consumer's channels and patterns, and a bounded queue of events. One
  that falls behind (past ``max_messages`` or ``max_bytes`` waiting) is ended with
  :class:`SlowSubscriber` at once: the others never wait for it.
- :class:`Topics`: reference-counted channels and patterns of one upstream subscription. The
  first interest in a name subscribes it upstream, the last one leaving unsubscribes it; a
  subscriber is told its names hold once upstream confirmed them. Each message is dispatched as
  one event object (built, encoded, once) to every subscriber of its channel or pattern.
- :func:`recheck_access`: members whose role changed are checked again; those who lost the
  project (or the viewer role) are ended.
- :class:`SharedUpstream` and :class:`SharedHub`: the life of one upstream subscription (closed
  with its last subscriber) and the process's upstreams by key.

Nothing here knows Redis or gRPC: a :class:`SharedUpstream` subclass is the transport, and its
reader calls :meth:`Topics.confirmed`, :meth:`Topics.dispatch` and :meth:`SharedUpstream.close`.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable, Coroutine, Iterable
from dataclasses import dataclass
from typing import Any, Generic, Literal, Protocol, TypeVar

from udb.auth import Principal
from udb.common.v1 import common_pb2
from udb.errors import DatabaseError, NotFound, PermissionDenied, RateLimited, Unavailable
from udb.registry_client import RegistryClient

log = logging.getLogger("udb.fanout")

EventT = TypeVar("EventT")
Kind = Literal["channel", "pattern"]
Name = tuple[Kind, bytes]

#: A subscriber is ended once this much waits for it (as many messages, or bytes).
MAX_QUEUED_MESSAGES = 1000
MAX_QUEUED_BYTES = 8 * 1024 * 1024


class SlowSubscriber(RateLimited):
    """A subscriber that did not keep up: its queue passed its bound."""


class SubscriptionClosed(Exception):
    """The subscriber was ended without an error (it left, or the server is stopping)."""


class Upstream(Protocol):
    """Where a :class:`Topics` subscribes and unsubscribes names (a Redis connection, a stream)."""

    async def subscribe(self, channels: list[bytes], patterns: list[bytes]) -> None: ...

    async def unsubscribe(self, channels: list[bytes], patterns: list[bytes]) -> None: ...


_END = object()


class Subscriber(Generic[EventT]):
    """One consumer of a shared subscription."""

    def __init__(
        self,
        size: Callable[[EventT], int],
        *,
        principal: Principal | None = None,
        project_ref: str = "",
        max_messages: int = MAX_QUEUED_MESSAGES,
        max_bytes: int = MAX_QUEUED_BYTES,
    ) -> None:
        self.principal = principal
        self.project_ref = project_ref
        self.channels: set[bytes] = set()
        self.patterns: set[bytes] = set()
        self.error: DatabaseError | None = None
        self.ended = False
        self._size = size
        self._max_messages = max_messages
        self._max_bytes = max_bytes
        self._queue: asyncio.Queue[object] = asyncio.Queue()
        self._queued_bytes = 0
        self._ended = asyncio.Event()

    @property
    def queued(self) -> int:
        return self._queue.qsize()

    def offer(self, event: EventT) -> None:
        """Queues an event; ends the subscriber (SlowSubscriber) instead when it is too far behind."""
        if self.ended:
            return
        size = self._size(event)
        if self._queue.qsize() >= self._max_messages or self._queued_bytes + size > self._max_bytes:
            self.end(
                SlowSubscriber(
                    f"subscriber too slow: over {self._max_messages} messages or {self._max_bytes // 1024} KiB waiting"
                )
            )
            return
        self._queued_bytes += size
        self._queue.put_nowait(event)

    def end(self, error: DatabaseError | None = None) -> None:
        """Ends the subscriber: what waits is dropped, and :meth:`get` raises ``error`` (or
        SubscriptionClosed)."""
        if self.ended:
            return
        self.ended = True
        self.error = error
        self._ended.set()
        while not self._queue.empty():
            self._queue.get_nowait()
        self._queued_bytes = 0
        self._queue.put_nowait(_END)

    async def wait_ended(self) -> DatabaseError | None:
        """Waits until the subscriber is ended; returns why (None: it left or was closed)."""
        await self._ended.wait()
        return self.error

    async def get_batch(self, limit: int = 64) -> list[EventT]:
        """The next event and those queued behind it (up to ``limit``), in order: a subscriber
        that fell behind catches up with one wake-up, not one per event."""
        batch = [await self.get()]
        while len(batch) < limit and not self._queue.empty():
            item = self._queue.get_nowait()
            if item is _END:
                self._queue.put_nowait(_END)  # the next call raises
                break
            event: EventT = item  # type: ignore[assignment]
            self._queued_bytes -= self._size(event)
            batch.append(event)
        return batch

    async def get(self) -> EventT:
        """The next event, in order."""
        item = await self._queue.get()
        if item is _END:
            self._queue.put_nowait(_END)  # every later call ends too
            if self.error is not None:
                raise self.error
            raise SubscriptionClosed
        event: EventT = item  # type: ignore[assignment]
        self._queued_bytes -= self._size(event)
        return event


@dataclass(eq=False)
class _Name:
    """One channel or pattern: who wants it, and whether upstream confirmed it."""

    subscribers: set[Subscriber[Any]]
    confirmed: asyncio.Future[None]


class Topics(Generic[EventT]):
    """The reference-counted names of one upstream subscription and their subscribers."""

    def __init__(self, upstream: Upstream, *, confirm_timeout_s: float = 10.0) -> None:
        self.upstream = upstream
        self.subscribers: set[Subscriber[EventT]] = set()
        self._names: dict[Name, _Name] = {}
        self._confirm_timeout = confirm_timeout_s
        # Upstream commands go out one at a time, in the order the books changed.
        self._lock = asyncio.Lock()

    def __len__(self) -> int:
        return len(self._names)

    @property
    def names(self) -> list[Name]:
        return list(self._names)

    async def add(self, subscriber: Subscriber[EventT], channels: Iterable[bytes], patterns: Iterable[bytes]) -> None:
        """Adds names to a subscriber; returns once upstream holds every one of them. On failure
        the subscriber keeps none of the names it was given here."""
        wanted: list[Name] = [("channel", c) for c in channels if c not in subscriber.channels]
        wanted += [("pattern", p) for p in patterns if p not in subscriber.patterns]
        wanted = list(dict.fromkeys(wanted))
        self.subscribers.add(subscriber)
        fresh: list[Name] = []
        waits: list[asyncio.Future[None]] = []
        async with self._lock:
            for name in wanted:
                entry = self._names.get(name)
                if entry is None:
                    entry = self._names[name] = _Name(set(), asyncio.get_running_loop().create_future())
                    fresh.append(name)
                entry.subscribers.add(subscriber)
                (subscriber.channels if name[0] == "channel" else subscriber.patterns).add(name[1])
                waits.append(entry.confirmed)
            try:
                if fresh:
                    await self.upstream.subscribe(_of(fresh, "channel"), _of(fresh, "pattern"))
            except BaseException:
                await self._drop(subscriber, wanted)
                raise
        try:
            async with asyncio.timeout(self._confirm_timeout):
                for waiting in waits:
                    await asyncio.shield(waiting)
        except TimeoutError:
            await self.remove(subscriber, wanted)
            raise Unavailable("the subscription was not confirmed in time") from None
        except BaseException:
            await self.remove(subscriber, wanted)
            raise

    async def remove(self, subscriber: Subscriber[EventT], names: Iterable[Name] | None = None) -> None:
        """Takes names from a subscriber, or every name and the subscriber itself (None); names
        nobody wants any more are unsubscribed upstream."""
        async with self._lock:
            if names is None:
                self.subscribers.discard(subscriber)
            await self._drop(subscriber, names)

    async def _drop(self, subscriber: Subscriber[EventT], names: Iterable[Name] | None) -> None:
        dropped = (
            list(names)
            if names is not None
            else [("channel", c) for c in sorted(subscriber.channels)]
            + [("pattern", p) for p in sorted(subscriber.patterns)]
        )
        unused: list[Name] = []
        for name in dropped:
            (subscriber.channels if name[0] == "channel" else subscriber.patterns).discard(name[1])
            entry = self._names.get(name)
            if entry is None or subscriber not in entry.subscribers:
                continue
            entry.subscribers.discard(subscriber)
            if not entry.subscribers:
                del self._names[name]
                if not entry.confirmed.done():
                    entry.confirmed.cancel()
                unused.append(name)
        if unused:
            with contextlib.suppress(DatabaseError):  # a lost upstream has dropped them anyway
                await self.upstream.unsubscribe(_of(unused, "channel"), _of(unused, "pattern"))

    def confirmed(self, kind: Kind, name: bytes) -> bool:
        """Upstream confirmed a name; True when it had confirmed it before (a name is subscribed
        once, so a second confirmation means upstream subscribed it again by itself: after a
        reconnect)."""
        entry = self._names.get((kind, name))
        if entry is None:
            return False
        if entry.confirmed.done():
            return True
        entry.confirmed.set_result(None)
        return False

    def dispatch(self, kind: Kind, name: bytes, event: EventT) -> int:
        """Offers one event to every subscriber of a channel or pattern; returns how many."""
        entry = self._names.get((kind, name))
        if entry is None:
            return 0
        for subscriber in entry.subscribers:
            subscriber.offer(event)
        return len(entry.subscribers)

    def broadcast(self, event_for: Callable[[Subscriber[EventT]], EventT]) -> None:
        """Offers each subscriber its own event (a notice that concerns everyone)."""
        for subscriber in list(self.subscribers):
            subscriber.offer(event_for(subscriber))

    def fail(self, error: DatabaseError | None) -> None:
        """Ends every subscriber (the upstream is gone) and forgets every name."""
        for entry in self._names.values():
            if not entry.confirmed.done():
                entry.confirmed.set_exception(error or Unavailable("the subscription ended"))
                entry.confirmed.exception()  # retrieved: nobody else may be waiting
        for subscriber in list(self.subscribers):
            subscriber.end(error)
        self._names.clear()
        self.subscribers.clear()


def _of(names: list[Name], kind: Kind) -> list[bytes]:
    return [name for k, name in names if k == kind]


async def recheck_access(
    subscribers: Iterable[Subscriber[EventT]], registry: RegistryClient, user_id: str, project_ref: str
) -> int:
    """Checks again the members concerned by an access change (``user_id``/``project_ref``
    empty: all of them) and ends the subscribers of those who lost the viewer role on their
    project; returns how many were ended. Service callers are owners everywhere; a registry that
    cannot answer ends nobody (the next change or reconnect checks again)."""
    concerned: dict[tuple[str, str], list[Subscriber[EventT]]] = {}
    for subscriber in subscribers:
        principal = subscriber.principal
        if principal is None or principal.is_service or subscriber.ended:
            continue
        if (user_id and principal.subject != user_id) or (project_ref and subscriber.project_ref != project_ref):
            continue
        concerned.setdefault((principal.subject, subscriber.project_ref), []).append(subscriber)
    ended = 0
    for (_, ref), group in concerned.items():
        principal = group[0].principal
        assert principal is not None
        try:
            await registry.check_access(principal, ref, common_pb2.ROLE_VIEWER)
        except (NotFound, PermissionDenied) as error:
            for subscriber in group:
                subscriber.end(type(error)("your access to the project changed: " + error.message))
                ended += 1
        except DatabaseError:
            log.warning("could not check a subscriber's access again", exc_info=True)
    return ended


class SharedUpstream(Generic[EventT]):
    """One upstream subscription (a Redis connection, a stream to redis-svc) and its subscribers.
    A subclass implements :class:`Upstream`, starts its reader with :meth:`start_reader`, and
    frees its transport in :meth:`disconnect`."""

    def __init__(self, hub: SharedHub[Any], key: object, *, confirm_timeout_s: float) -> None:
        self.hub = hub
        self.key = key
        self.topics: Topics[EventT] = Topics(self, confirm_timeout_s=confirm_timeout_s)  # type: ignore[arg-type]
        self.closed = False
        self._reader: asyncio.Task[None] | None = None

    def start_reader(self, reader: Coroutine[Any, Any, None], name: str) -> None:
        if self._reader is None:
            self._reader = asyncio.create_task(reader, name=name)
        else:
            reader.close()

    async def disconnect(self) -> None:
        """Frees the transport (after every subscriber was ended)."""

    async def remove(self, subscriber: Subscriber[EventT], names: list[Name] | None = None) -> None:
        """Takes names from a subscriber, or the subscriber itself (None); the last subscriber to
        leave closes the upstream."""
        await self.topics.remove(subscriber, names)
        if not self.topics.subscribers:
            await self.close(None)

    async def close(self, error: DatabaseError | None) -> None:
        """Ends every subscriber (with ``error``: None for a plain close) and the upstream."""
        if self.closed:
            return
        self.closed = True
        self.hub.forget(self)
        self.topics.fail(error)
        reader, self._reader = self._reader, None
        if reader is not None and reader is not asyncio.current_task():
            reader.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await reader
        try:
            await self.disconnect()
        except Exception:
            log.debug("closing an upstream subscription failed", exc_info=True)


SharedT = TypeVar("SharedT", bound=SharedUpstream[Any])


class SharedHub(Generic[SharedT]):
    """A process's shared upstream subscriptions, by key; members whose access changes are
    checked again."""

    def __init__(self, registry: RegistryClient) -> None:
        self.registry = registry
        self._shared: dict[object, SharedT] = {}
        self._lock = asyncio.Lock()
        registry.add_access_listener(self.on_access_change)

    def __len__(self) -> int:
        return len(self._shared)

    def shared(self) -> list[SharedT]:
        return list(self._shared.values())

    async def add(
        self,
        key: object,
        create: Callable[[], SharedT],
        subscriber: Subscriber[Any],
        channels: list[bytes],
        patterns: list[bytes],
    ) -> SharedT:
        """Adds a subscriber (and names) to the key's upstream, made by ``create`` when there is
        none; returns once upstream holds every name."""
        async with self._lock:
            shared = self._shared.get(key)
            if shared is None or shared.closed:
                shared = self._shared[key] = create()
            shared.topics.subscribers.add(subscriber)
        try:
            await shared.topics.add(subscriber, channels, patterns)
        except BaseException:
            await shared.remove(subscriber)
            raise
        return shared

    def forget(self, shared: SharedUpstream[Any]) -> None:
        if self._shared.get(shared.key) is shared:
            del self._shared[shared.key]

    async def on_access_change(self, user_id: str, project_ref: str) -> None:
        subscribers = [s for shared in self.shared() for s in shared.topics.subscribers]
        await recheck_access(subscribers, self.registry, user_id, project_ref)

    async def close(self, error: DatabaseError | None = None) -> None:
        for shared in self.shared():
            await shared.close(error)
