"""redis-svc's subscriptions: one Redis pub/sub connection per connection record and process,
shared by every Subscribe and SubscribeShared stream of it (the books are kept by
:mod:`udb.fanout`).

- The connection is opened by the first subscriber of a record and closed with the last one;
  a channel or pattern is subscribed on first interest and unsubscribed on the last.
- Each message becomes one ``SubscribeResponse`` handed to every subscriber of its channel or
  pattern (gRPC writes it once per stream).
- When the connection drops, redis-py reconnects on the next read and subscribes every channel
  and pattern again; once Redis confirmed them all, every subscriber gets a ``resubscribe``
  event (messages published in between are lost: Redis pub/sub keeps none). Past
  ``subscribe_reconnect_s`` without Redis, every stream ends UNAVAILABLE.
- A change of the connection record (or its deletion) ends the streams on it (UNAVAILABLE: the
  caller subscribes again, on the new record); a member who lost the project has their streams
  ended (NOT_FOUND, or PERMISSION_DENIED for a role below viewer).
- Redis Cluster: classic SUBSCRIBE/PSUBSCRIBE on one node (a cluster forwards every PUBLISH to
  every node); sharded pub/sub (SSUBSCRIBE) is not offered. Sentinel: the master's connection,
  found again through the sentinels after a failover.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncIterator, Iterable
from typing import Any

import redis.exceptions as rex

from redis_svc.clients import RedisHandle
from redis_svc.inputs import check_pattern
from redis_svc.settings import Settings
from udb.auth import current_principal
from udb.common.v1 import common_pb2
from udb.engine import EngineRuntime
from udb.errors import DatabaseError, InvalidArgument, Unavailable
from udb.fanout import (
    MAX_QUEUED_BYTES,
    MAX_QUEUED_MESSAGES,
    Name,
    SharedHub,
    SharedUpstream,
    Subscriber,
    SubscriptionClosed,
)
from udb.redis.v1 import redis_pb2
from udb.registry.v1 import registry_pb2

log = logging.getLogger("redis_svc.pubsub")

Event = redis_pb2.SubscribeResponse
#: A quiet connection is read this often (and redis-py health-checks it).
_POLL_S = 5.0
SUBSCRIBED = Event(type="subscribe")
RESUBSCRIBED = Event(type="resubscribe")
#: Channels and patterns of one Subscribe stream; a SubscribeShared stream serves many subscribers.
MAX_SUBSCRIPTIONS = 100
MAX_SHARED_SUBSCRIPTIONS = 100_000


def event_size(event: Event) -> int:
    """What an event weighs in a subscriber's queue."""
    return len(event.data) + len(event.channel) + len(event.pattern) + 32


class SharedSubscription(SharedUpstream[Event]):
    """One Redis connection's channels and patterns, for every subscriber of one record."""

    def __init__(
        self, hub: PubSubHub, handle: RedisHandle, record: registry_pb2.Connection, hold: contextlib.AsyncExitStack
    ) -> None:
        super().__init__(hub, handle, confirm_timeout_s=hub.settings.command_timeout_s)
        self.handle = handle
        self.reconnect_s = hub.settings.subscribe_reconnect_s
        self.project_id = record.project_id
        self.connection_id = record.id
        self._hold = hold
        self._runtime = hub.runtime
        self._client: Any = None
        self._pubsub: Any = None

    async def subscribe(self, channels: list[bytes], patterns: list[bytes]) -> None:
        with self._runtime.translating():
            if self._pubsub is None:
                self._client = await self.handle.subscriber()
                self._pubsub = self._client.pubsub()
            if channels:
                await self._pubsub.subscribe(*channels)
            if patterns:
                await self._pubsub.psubscribe(*patterns)
        self.start_reader(self._read(), f"redis-pubsub-{self.connection_id}")

    async def unsubscribe(self, channels: list[bytes], patterns: list[bytes]) -> None:
        if self._pubsub is None or self.closed:
            return
        with self._runtime.translating():
            if channels:
                await self._pubsub.unsubscribe(*channels)
            if patterns:
                await self._pubsub.punsubscribe(*patterns)

    async def disconnect(self) -> None:
        try:
            if self._pubsub is not None:
                await self._pubsub.aclose()
            if self._client is not None:
                await self.handle.close_subscriber(self._client)
        finally:
            await self._hold.aclose()

    async def _read(self) -> None:
        """Reads the connection and hands each message to its subscribers."""
        down_since: float | None = None
        resubscribing: set[Name] | None = None
        pubsub = self._pubsub
        while True:
            try:
                message = await pubsub.get_message(timeout=_POLL_S)
            except (rex.ConnectionError, rex.TimeoutError, OSError) as exc:
                # redis-py connects again on the next read and subscribes every name again.
                now = time.monotonic()
                down_since = down_since or now
                resubscribing = set(self.topics.names)
                if now - down_since > self.reconnect_s:
                    log.warning("subscription lost: Redis did not come back", extra={"connection": self.connection_id})
                    await self.close(self._runtime.translate(exc))
                    return
                await asyncio.sleep(0.2)
                continue
            except rex.RedisError as exc:
                await self.close(self._runtime.translate(exc))
                return
            down_since = None
            if message is None:
                continue
            kind = message["type"]
            if kind == "message":
                channel = message["channel"]
                self.topics.dispatch("channel", channel, Event(type="message", channel=channel, data=message["data"]))
            elif kind == "pmessage":
                pattern, channel = message["pattern"], message["channel"]
                event = Event(type="pmessage", channel=channel, pattern=pattern, data=message["data"])
                self.topics.dispatch("pattern", pattern, event)
            elif kind in ("subscribe", "psubscribe"):
                name: Name = ("channel" if kind == "subscribe" else "pattern", message["channel"])
                if self.topics.confirmed(*name) and resubscribing is None:
                    # redis-py reconnected within one read (its own retry) and subscribed again.
                    resubscribing = set(self.topics.names)
                if resubscribing is not None:
                    resubscribing.discard(name)
                    if not resubscribing.intersection(self.topics.names):
                        resubscribing = None
                        self.topics.broadcast(lambda _: RESUBSCRIBED)


class PubSubHub(SharedHub[SharedSubscription]):
    """The shared subscriptions of this process, by pooled client (one per connection record)."""

    def __init__(self, settings: Settings, runtime: EngineRuntime[RedisHandle]) -> None:
        super().__init__(runtime.registry)
        self.settings = settings
        self.runtime = runtime
        runtime.registry.add_listener(self.on_record_change)

    async def join(
        self,
        resolved: registry_pb2.ResolvedConnection,
        subscriber: Subscriber[Event],
        channels: list[bytes],
        patterns: list[bytes],
    ) -> SharedSubscription:
        """Adds a subscriber (and names) to its record's shared subscription; returns once Redis
        holds every name."""
        hold = contextlib.AsyncExitStack()
        handle = await hold.enter_async_context(self.runtime.hold(resolved))
        made: list[SharedSubscription] = []

        def create() -> SharedSubscription:
            made.append(SharedSubscription(self, handle, resolved.connection, hold))
            return made[0]

        try:
            return await self.add(handle, create, subscriber, channels, patterns)
        finally:
            if not made:
                await hold.aclose()  # the shared subscription holds the client already

    async def serve(
        self,
        resolved: registry_pb2.ResolvedConnection,
        subscriber: Subscriber[Event],
        channels: list[bytes],
        patterns: list[bytes],
    ) -> AsyncIterator[Event]:
        """A Subscribe stream: "subscribe" once every name holds, then the subscriber's events
        until it ends (raising its error) or the caller goes."""
        shared = await self.join(resolved, subscriber, channels, patterns)
        try:
            yield SUBSCRIBED
            while True:
                yield await subscriber.get()
        except SubscriptionClosed:
            return
        finally:
            await shared.remove(subscriber)

    async def serve_changes(
        self,
        resolved: registry_pb2.ResolvedConnection,
        subscriber: Subscriber[Event],
        first: redis_pb2.SubscriptionChange,
        changes: AsyncIterator[redis_pb2.SubscriptionChange],
    ) -> AsyncIterator[Event]:
        """A SubscribeShared stream: names come and go with the caller's changes; each added one
        is confirmed by a "subscribe" event carrying it. The stream ends when the caller closes
        its side, or with the first change that fails."""
        shared = await self.join(resolved, subscriber, [], [])

        async def apply(change: redis_pb2.SubscriptionChange) -> None:
            added = subscription_names(change.subscribe_channels, change.subscribe_patterns, shared=True)
            removed = subscription_names(change.unsubscribe_channels, change.unsubscribe_patterns, shared=True)
            gone: list[Name] = [("channel", c) for c in removed[0]] + [("pattern", p) for p in removed[1]]
            if gone:
                await shared.remove(subscriber, gone)
            if added[0] or added[1]:
                await shared.topics.add(subscriber, *added)
                for channel in added[0]:
                    subscriber.offer(Event(type="subscribe", channel=channel))
                for pattern in added[1]:
                    subscriber.offer(Event(type="subscribe", pattern=pattern))

        async def follow() -> None:
            try:
                await apply(first)
                async for change in changes:
                    await apply(change)
                subscriber.end(None)  # the caller closed its side
            except DatabaseError as error:
                subscriber.end(error)

        following = asyncio.create_task(follow(), name="subscribe-shared-changes")
        try:
            while True:
                yield await subscriber.get()
        except SubscriptionClosed:
            return
        finally:
            following.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await following
            await shared.remove(subscriber)

    async def on_record_change(self, project_id: str, connection_id: str) -> None:
        """A connection record changed or went: its streams end, to be opened on the new one."""
        for shared in self.shared():
            if shared.connection_id == connection_id or (not connection_id and shared.project_id == project_id):
                await shared.close(Unavailable("the connection changed: subscribe again"))


def subscription_names(
    channels: Iterable[bytes], patterns: Iterable[bytes], *, shared: bool = False
) -> tuple[list[bytes], list[bytes]]:
    """Channels and patterns of a request, without repeats, checked."""
    unique_channels = list(dict.fromkeys(channels))
    unique_patterns = list(dict.fromkeys(check_pattern(pattern) for pattern in patterns))
    limit = MAX_SHARED_SUBSCRIPTIONS if shared else MAX_SUBSCRIPTIONS
    if len(unique_channels) + len(unique_patterns) > limit:
        raise InvalidArgument(f"at most {limit} channels and patterns", details={"field": "channels"})
    if any(not channel for channel in unique_channels):
        raise InvalidArgument("a channel name must not be empty", details={"field": "channels"})
    return unique_channels, unique_patterns


def new_subscriber(target: common_pb2.ConnectionTarget, *, shared: bool = False) -> Subscriber[Event]:
    """A subscriber for the current caller. A shared stream's caller serves many subscribers of
    its own: it may fall further behind before it is ended."""
    return Subscriber(
        event_size,
        principal=current_principal(),
        project_ref=target.project_ref,
        max_messages=MAX_QUEUED_MESSAGES * (100 if shared else 1),
        max_bytes=MAX_QUEUED_BYTES * (8 if shared else 1),
    )
