"""redis-svc's RPCs.

Reads need the viewer role, writes (keys, publish) the developer role; the runtime checks it
before a client is lent, and translates redis-py's errors on the way out. No RPC issues a raw
command of the caller's choosing, and none of FLUSHDB, FLUSHALL, CONFIG, KEYS, DEBUG or SHUTDOWN
is ever sent. The keys' reads, scans and writes live in :mod:`redis_svc.key_reads`,
:mod:`redis_svc.key_scan` and :mod:`redis_svc.key_writes`.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import grpc
from google.protobuf import struct_pb2

from redis_svc.batching import BatchedReads
from redis_svc.clients import RedisHandle, as_text
from redis_svc.inputs import check_count, check_key, check_pattern, check_section, check_ttl, check_type, parse_info
from redis_svc.key_reads import META_SCRIPT, key_reply, read_meta, read_page
from redis_svc.key_scan import scan_keys
from redis_svc.key_writes import check_value, write_key
from redis_svc.pubsub import PubSubHub, new_subscriber, subscription_names
from redis_svc.settings import Settings
from udb.common.v1 import common_pb2
from udb.engine import EngineRuntime
from udb.errors import InvalidArgument, NotFound
from udb.redis.v1 import redis_pb2, redis_pb2_grpc

Context = grpc.aio.ServicerContext[Any, Any]

VIEWER = common_pb2.ROLE_VIEWER
DEVELOPER = common_pb2.ROLE_DEVELOPER


class RedisService(redis_pb2_grpc.RedisServiceServicer):
    """Operations on a project's Redis databases."""

    def __init__(self, runtime: EngineRuntime[RedisHandle], settings: Settings) -> None:
        self.runtime = runtime
        self.settings = settings
        self.pubsub = PubSubHub(settings, runtime)
        #: GetKey's first read, shared by the calls of one loop turn (redis_svc.batching).
        self.batched = BatchedReads(runtime, META_SCRIPT)

    # ---- keys ------------------------------------------------------------------------------

    async def ScanKeys(self, request: redis_pb2.ScanKeysRequest, context: Context) -> redis_pb2.ScanKeysResponse:
        pattern = check_pattern(request.pattern)
        type_filter = check_type(request.type)
        count = check_count(request.count)
        async with self.runtime.borrow(request.target, VIEWER) as borrowed:
            summaries, cursor = await scan_keys(
                borrowed.client, request.cursor, pattern, type_filter, count, with_size=request.with_size
            )
        return redis_pb2.ScanKeysResponse(keys=summaries, cursor=cursor)

    async def GetKey(self, request: redis_pb2.GetKeyRequest, context: Context) -> redis_pb2.Key:
        key = check_key(request.key)
        max_bytes = request.max_bytes or self.settings.default_max_bytes
        if not 1 <= max_bytes <= self.settings.max_value_bytes:
            raise InvalidArgument(
                f"max_bytes must be between 1 and {self.settings.max_value_bytes}", details={"field": "max_bytes"}
            )
        meta = await self.batched.meta(request.target, key, max_bytes)
        if meta is not None:
            reply = key_reply(key, meta)
            if reply.type == "string":
                return reply
        async with self.runtime.borrow(request.target, VIEWER) as borrowed:
            handle = borrowed.client
            if meta is None:
                reply = key_reply(key, await read_meta(handle, key, max_bytes))
                if reply.type == "string":
                    return reply
            await read_page(handle.ops, key, request, reply)
        return reply

    async def CreateKey(self, request: redis_pb2.CreateKeyRequest, context: Context) -> redis_pb2.Key:
        return await self._write(request, create=True)

    async def UpdateKey(self, request: redis_pb2.UpdateKeyRequest, context: Context) -> redis_pb2.Key:
        return await self._write(request, create=False)

    async def _write(
        self, request: redis_pb2.CreateKeyRequest | redis_pb2.UpdateKeyRequest, *, create: bool
    ) -> redis_pb2.Key:
        """Creates (ALREADY_EXISTS when present) or replaces (NOT_FOUND when missing) a key whole
        (:mod:`redis_svc.key_writes`), and answers its type, TTL, encoding and size."""
        key = check_key(request.key)
        ttl = check_ttl(request.ttl, minimum=1) if request.HasField("ttl") else None
        if request.value.WhichOneof("kind") is None:
            raise InvalidArgument("value is required", details={"field": "value"})
        check_value(request.value)
        async with self.runtime.borrow(request.target, DEVELOPER) as borrowed:
            await write_key(borrowed.client, key, request.value, ttl, create=create)
            meta = await read_meta(borrowed.client, key, 1)
        reply = redis_pb2.Key(key=key, type=as_text(meta[0]))
        if len(meta) >= 4:
            reply.ttl, reply.encoding, reply.size = int(meta[1]), as_text(meta[2]), int(meta[3])
        return reply

    async def DeleteKey(self, request: redis_pb2.DeleteKeyRequest, context: Context) -> redis_pb2.DeleteKeyResponse:
        key = check_key(request.key)
        async with self.runtime.borrow(request.target, DEVELOPER) as borrowed:
            deleted = int(await borrowed.client.ops.unlink(key))
        if not deleted:
            raise NotFound("no such key")
        return redis_pb2.DeleteKeyResponse(deleted=deleted)

    async def ExpireKey(self, request: redis_pb2.ExpireKeyRequest, context: Context) -> redis_pb2.ExpireKeyResponse:
        key = check_key(request.key)
        ttl = check_ttl(request.ttl, minimum=0) if request.HasField("ttl") else None
        async with self.runtime.borrow(request.target, DEVELOPER) as borrowed:
            pipe = borrowed.client.ops.pipeline(transaction=True)
            pipe.exists(key)
            if ttl is None:
                pipe.persist(key)
            else:
                pipe.expire(key, ttl)
            pipe.ttl(key)
            exists, _, remaining = await pipe.execute()
        if not exists:
            raise NotFound("no such key")
        # EXPIRE 0 deletes the key at once: its TTL is then 0, not "missing".
        return redis_pb2.ExpireKeyResponse(ttl=0 if ttl == 0 else int(remaining))

    # ---- pub/sub ---------------------------------------------------------------------------

    async def ListChannels(
        self, request: redis_pb2.ListChannelsRequest, context: Context
    ) -> redis_pb2.ListChannelsResponse:
        pattern = check_pattern(request.pattern)
        async with self.runtime.borrow(request.target, VIEWER) as borrowed:
            client = borrowed.client.ops
            channels = sorted(set(await client.pubsub_channels(pattern)))
            counts: list[tuple[bytes, int]] = []
            for start in range(0, len(channels), 500):
                counts += await client.pubsub_numsub(*channels[start : start + 500])
        return redis_pb2.ListChannelsResponse(
            channels=[redis_pb2.Channel(channel=channel, subscribers=int(n)) for channel, n in counts]
        )

    async def Publish(self, request: redis_pb2.PublishRequest, context: Context) -> redis_pb2.PublishResponse:
        if not request.channel:
            raise InvalidArgument("channel is required", details={"field": "channel"})
        async with self.runtime.borrow(request.target, DEVELOPER) as borrowed:
            receivers = await borrowed.client.ops.publish(request.channel, request.message)
        return redis_pb2.PublishResponse(receivers=int(receivers))

    async def Subscribe(
        self, request: redis_pb2.SubscribeRequest, context: Context
    ) -> AsyncIterator[redis_pb2.SubscribeResponse]:
        """Messages until the caller goes away, from the record's shared subscription. The first
        reply (type "subscribe") says every subscription holds. A caller that falls behind is
        ended (RESOURCE_EXHAUSTED) without slowing the others."""
        channels, patterns = subscription_names(request.channels, request.patterns)
        if not channels and not patterns:
            raise InvalidArgument("give at least one channel or pattern", details={"field": "channels"})
        _, resolved = await self.runtime.resolve(request.target, VIEWER)
        async for event in self.pubsub.serve(resolved, new_subscriber(request.target), channels, patterns):
            yield event

    async def SubscribeShared(
        self, request_iterator: AsyncIterator[redis_pb2.SubscriptionChange], context: Context
    ) -> AsyncIterator[redis_pb2.SubscribeResponse]:
        """Subscribe with channels and patterns added and removed as the stream runs."""
        first = await anext(aiter(request_iterator), None)
        if first is None:
            return
        _, resolved = await self.runtime.resolve(first.target, VIEWER)
        subscriber = new_subscriber(first.target, shared=True)
        async for event in self.pubsub.serve_changes(resolved, subscriber, first, request_iterator):
            yield event

    # ---- server ----------------------------------------------------------------------------

    async def GetInfo(self, request: redis_pb2.GetInfoRequest, context: Context) -> redis_pb2.GetInfoResponse:
        section = check_section(request.section)
        async with self.runtime.borrow(request.target, VIEWER) as borrowed:
            sections = parse_info(await self._info(borrowed.client, section))
        reply = redis_pb2.GetInfoResponse()
        for name, fields in sections.items():
            struct = struct_pb2.Struct()
            struct.update(fields)
            reply.sections[name].CopyFrom(struct)
        return reply

    async def GetStats(self, request: redis_pb2.GetStatsRequest, context: Context) -> redis_pb2.GetStatsResponse:
        async with self.runtime.borrow(request.target, VIEWER) as borrowed:
            info = parse_info(await self._info(borrowed.client, ""))
        stats = info.get("stats", {})
        hits, misses = int(stats.get("keyspace_hits", 0)), int(stats.get("keyspace_misses", 0))
        reply = redis_pb2.GetStatsResponse(
            ops_per_sec=float(stats.get("instantaneous_ops_per_sec", 0)),
            connected_clients=int(info.get("clients", {}).get("connected_clients", 0)),
            used_memory=int(info.get("memory", {}).get("used_memory", 0)),
            hit_rate=hits / (hits + misses) if hits + misses else 0.0,
            uptime_s=int(info.get("server", {}).get("uptime_in_seconds", 0)),
        )
        for db, fields in info.get("keyspace", {}).items():
            if isinstance(fields, dict):
                reply.keyspace[db].keys = int(fields.get("keys", 0))
                reply.keyspace[db].expires = int(fields.get("expires", 0))
        return reply

    async def _info(self, handle: RedisHandle, section: str) -> str:
        args = [section] if section else []
        raw = await handle.ops.execute_command("INFO", *args)
        if isinstance(raw, dict):  # a cluster answers per node: the first primary's
            raw = raw[sorted(raw)[0]]
        return as_text(raw)

    async def TestConnection(
        self, request: redis_pb2.TestConnectionRequest, context: Context
    ) -> common_pb2.ConnectionTestResult:
        async def probe(handle: RedisHandle) -> str:
            info = parse_info(await self._info(handle, "server"))
            return str(info.get("server", {}).get("redis_version", ""))

        return await self.runtime.test_connection(request.target, probe)
