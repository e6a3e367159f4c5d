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
import logging
from collections.abc import AsyncIterator
from typing import Any, cast

import grpc
import orjson

from gateway.redis_codec import text_or_b64
from udb.auth import ServiceCredentials
from udb.errors import DatabaseError, Unavailable, from_rpc_error
from udb.fanout import Kind, SharedHub, SharedUpstream, Subscriber
from udb.redis.v1 import redis_pb2, redis_pb2_grpc
from udb.registry_client import RegistryClient

log = logging.getLogger("gateway.pubsub")

Frame = str
#: A target as the routes name it: (project ref, ?connection= or "" for the primary).
TargetKey = tuple[str, str]


def message_frame(message: redis_pb2.SubscribeResponse) -> Frame:
    """The WebSocket frame of a message: text, or every part base64 when one is not UTF-8."""
    channel, channel_b64 = text_or_b64(message.channel)
    data, data_b64 = text_or_b64(message.data)
    frame: dict[str, Any] = {"type": "message", "channel": channel, "pattern": None, "data": data}
    binary = channel_b64 or data_b64
    if message.pattern:
        pattern, pattern_b64 = text_or_b64(message.pattern)
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


class SharedStream(SharedUpstream[Frame]):
    """One SubscribeShared stream to redis-svc and the WebSockets it serves."""

    def __init__(self, hub: PubSubHub, target: TargetKey, key: object) -> None:
        super().__init__(hub, key, confirm_timeout_s=hub.confirm_timeout_s)
        self.target = target
        self._stub = hub.stub
        self._credentials = hub.credentials
        self._call: Any = None
        self._outgoing: asyncio.Queue[redis_pb2.SubscriptionChange | None] = asyncio.Queue()

    async def subscribe(self, channels: list[bytes], patterns: list[bytes]) -> None:
        change = redis_pb2.SubscriptionChange(subscribe_channels=channels, subscribe_patterns=patterns)
        if self._call is None:
            project_ref, connection_id = self.target
            change.target.project_ref, change.target.connection_id = project_ref, connection_id
            stub = cast("redis_pb2_grpc.RedisServiceAsyncStub", self._stub)  # typed only in the .pyi
            self._call = stub.SubscribeShared(self._changes(), metadata=self._credentials.metadata())
            self.start_reader(self._read(self._call), f"pubsub-{project_ref}")
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

    async def disconnect(self) -> None:
        self._outgoing.put_nowait(None)
        if self._call is not None:
            self._call.cancel()

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


class PubSubHub(SharedHub[SharedStream]):
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
        super().__init__(access)
        self.stub = stub
        self.credentials = credentials
        self.confirm_timeout_s = confirm_timeout_s
        #: False gives every WebSocket a stream of its own (to measure what sharing saves).
        self.share = share

    async def join(
        self, target: TargetKey, subscriber: Subscriber[Frame], channels: list[bytes], patterns: list[bytes]
    ) -> SharedStream:
        """Adds a subscriber (already authorized) to its target's stream; returns once redis-svc
        holds every name."""
        key: object = target if self.share else (target, id(subscriber))
        return await self.add(key, lambda: SharedStream(self, target, key), subscriber, channels, patterns)
