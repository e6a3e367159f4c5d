"""The gateway's pub/sub hub: one redis-svc SubscribeShared stream per target (project and
``?connection=``) and gateway process, shared by every WebSocket subscribed on it.

The books (reference-counted channels and patterns, bounded per-subscriber queues) are
:mod:`udb.fanout`'s. Each message is encoded once into its JSON text frame, and that one string
is queued for every WebSocket of its channel or pattern. The stream runs as the gateway's own
service identity: each subscriber's role was checked when it joined, and a member whose access
changes is checked again (:func:`udb.fanout.recheck_access`).
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import logging
from collections.abc import AsyncIterator
from typing import Any, cast

import grpc
import orjson

from udb.auth import ServiceCredentials
from udb.errors import DatabaseError, Unavailable, from_rpc_error
from udb.fanout import Kind, Name, Subscriber, Topics, recheck_access
from udb.redis.v1 import redis_pb2, redis_pb2_grpc
from udb.registry_client import RegistryClient

log = logging.getLogger("gateway.pubsub")

Frame = str
#: A target as the routes name it: (project ref, ?connection= or "" for the primary).
TargetKey = tuple[str, str]


def _text_or_b64(value: bytes) -> tuple[str, bool]:
    try:
        return value.decode(), False
    except UnicodeDecodeError:
        return base64.b64encode(value).decode(), True


def message_frame(message: redis_pb2.SubscribeResponse) -> Frame:
    """The WebSocket frame of a message: text, or every part base64 when one is not UTF-8."""
    channel, channel_b64 = _text_or_b64(message.channel)
    data, data_b64 = _text_or_b64(message.data)
    frame: dict[str, Any] = {"type": "message", "channel": channel, "pattern": None, "data": data}
    binary = channel_b64 or data_b64
    if message.pattern:
        pattern, pattern_b64 = _text_or_b64(message.pattern)
        frame["pattern"] = pattern
        binary = binary or pattern_b64
    if binary:
        frame["encoding"] = "base64"
        frame["channel"], frame["data"] = (
            base64.b64encode(message.channel).decode(),
            base64.b64encode(message.data).decode(),
        )
        if message.pattern:
            frame["pattern"] = base64.b64encode(message.pattern).decode()
    return orjson.dumps(frame).decode()


def names_frame(kind: str, subscriber: Subscriber[Frame]) -> Frame:
    """``{"type": kind, "channels", "patterns"}`` with the subscriber's own names."""
    return orjson.dumps(
        {
            "type": kind,
            "channels": sorted(name.decode(errors="replace") for name in subscriber.channels),
            "patterns": sorted(name.decode(errors="replace") for name in subscriber.patterns),
        }
    ).decode()


class SharedStream:
    """One SubscribeShared stream to redis-svc and the WebSockets it serves."""

    def __init__(self, hub: PubSubHub, key: TargetKey, stream_key: object) -> None:
        self.hub = hub
        self.key = key
        self.stream_key = stream_key
        self.topics: Topics[Frame] = Topics(self, confirm_timeout_s=hub.confirm_timeout_s)
        self._call: Any = None
        self._outgoing: asyncio.Queue[redis_pb2.SubscriptionChange | None] = asyncio.Queue()
        self._reader: asyncio.Task[None] | None = None
        self.closed = False

    # ---- upstream (udb.fanout.Upstream) --------------------------------------------------------

    async def subscribe(self, channels: list[bytes], patterns: list[bytes]) -> None:
        change = redis_pb2.SubscriptionChange(subscribe_channels=channels, subscribe_patterns=patterns)
        if self._call is None:
            project_ref, connection_id = self.key
            change.target.project_ref, change.target.connection_id = project_ref, connection_id
            stub = cast("redis_pb2_grpc.RedisServiceAsyncStub", self.hub.stub)  # typed only in the .pyi
            self._call = stub.SubscribeShared(self._changes(), metadata=self.hub.credentials.metadata())
            self._reader = asyncio.create_task(self._read(self._call), name=f"pubsub-{project_ref}")
        self._outgoing.put_nowait(change)

    async def unsubscribe(self, channels: list[bytes], patterns: list[bytes]) -> None:
        if self._call is not None and not self.closed:
            change = redis_pb2.SubscriptionChange(unsubscribe_channels=channels, unsubscribe_patterns=patterns)
            self._outgoing.put_nowait(change)

    async def _changes(self) -> AsyncIterator[redis_pb2.SubscriptionChange]:
        """The stream's requests, in the order the books changed (a lost stream's reader ends
        every subscriber with the reason)."""
        while (change := await self._outgoing.get()) is not None:
            yield change

    # ---- subscribers --------------------------------------------------------------------------

    async def remove(self, subscriber: Subscriber[Frame], names: list[Name] | None = None) -> None:
        """Takes names from a subscriber, or the subscriber itself (None); the last one to leave
        ends the stream."""
        await self.topics.remove(subscriber, names)
        if not self.topics.subscribers:
            await self.close(None)

    async def close(self, error: DatabaseError | None) -> None:
        if self.closed:
            return
        self.closed = True
        self.hub.forget(self)
        self.topics.fail(error)
        self._outgoing.put_nowait(None)
        if self._call is not None:
            self._call.cancel()
        reader, self._reader = self._reader, None
        if reader is not None and reader is not asyncio.current_task():
            reader.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await reader

    async def _read(self, call: Any) -> None:
        error: DatabaseError | None = Unavailable("the subscription's stream to redis-svc ended")
        try:
            async for response in call:
                kind = response.type
                if kind == "message":
                    self.topics.dispatch("channel", response.channel, message_frame(response))
                elif kind == "pmessage":
                    self.topics.dispatch("pattern", response.pattern, message_frame(response))
                elif kind == "subscribe":
                    name: tuple[Kind, bytes] = (
                        ("pattern", response.pattern) if response.pattern else ("channel", response.channel)
                    )
                    self.topics.confirmed(*name)
                elif kind == "resubscribe":
                    self.topics.broadcast(lambda subscriber: names_frame("resubscribe", subscriber))
        except grpc.RpcError as exc:
            error = from_rpc_error(exc) if exc.code() is not grpc.StatusCode.CANCELLED else None
        await self.close(error)


class PubSubHub:
    """The shared streams of this gateway process, by target."""

    def __init__(
        self,
        stub: redis_pb2_grpc.RedisServiceStub,
        credentials: ServiceCredentials,
        access: RegistryClient,
        *,
        share: bool = True,
        confirm_timeout_s: float = 10.0,
    ) -> None:
        self.stub = stub
        self.credentials = credentials
        self.access = access
        self.confirm_timeout_s = confirm_timeout_s
        #: False gives every WebSocket a stream of its own (to measure what sharing saves).
        self.share = share
        self._streams: dict[object, SharedStream] = {}
        self._lock = asyncio.Lock()
        access.add_access_listener(self.on_access_change)

    def __len__(self) -> int:
        return len(self._streams)

    async def join(
        self, key: TargetKey, subscriber: Subscriber[Frame], channels: list[bytes], patterns: list[bytes]
    ) -> SharedStream:
        """Adds a subscriber (already authorized) to its target's stream; returns once redis-svc
        holds every name."""
        async with self._lock:
            stream_key: object = key if self.share else (key, id(subscriber))
            stream = self._streams.get(stream_key)
            if stream is None or stream.closed:
                stream = self._streams[stream_key] = SharedStream(self, key, stream_key)
            stream.topics.subscribers.add(subscriber)
        try:
            await stream.topics.add(subscriber, channels, patterns)
        except BaseException:
            await stream.remove(subscriber)
            raise
        return stream

    def forget(self, stream: SharedStream) -> None:
        if self._streams.get(stream.stream_key) is stream:
            del self._streams[stream.stream_key]

    async def on_access_change(self, user_id: str, project_ref: str) -> None:
        subscribers = [s for stream in list(self._streams.values()) for s in stream.topics.subscribers]
        await recheck_access(subscribers, self.access, user_id, project_ref)

    async def close(self) -> None:
        for stream in list(self._streams.values()):
            await stream.close(None)
