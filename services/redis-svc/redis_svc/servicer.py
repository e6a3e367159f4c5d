"""redis-svc's RPCs.

Reads need the viewer role, writes (keys, publish) the developer role; the runtime checks it
before a client is lent. No RPC issues a raw command of the caller's choosing, and none of
FLUSHDB, FLUSHALL, CONFIG, KEYS, DEBUG or SHUTDOWN is ever sent.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import AsyncIterator
from typing import Any, TypeVar

import grpc
import redis.exceptions as rex
from google.protobuf import struct_pb2
from redis.asyncio.cluster import ClusterNode, RedisCluster

from redis_svc.batching import BatchedReads, is_script_refusal
from redis_svc.clients import RedisHandle, redis_call, translate
from redis_svc.inputs import (
    MAX_RANGE,
    MAX_REDIS_BYTES,
    check_count,
    check_key,
    check_pattern,
    check_score,
    check_section,
    check_stream_ids,
    check_ttl,
    check_type,
    cluster_cursor,
    parse_info,
    scan_cursor,
    stream_id,
)
from redis_svc.pubsub import PubSubHub, new_subscriber, subscription_names
from redis_svc.settings import Settings
from udb.common.v1 import common_pb2
from udb.engine import EngineRuntime
from udb.errors import AlreadyExists, DatabaseError, InvalidArgument, NotFound
from udb.redis.v1 import redis_pb2, redis_pb2_grpc

Context = grpc.aio.ServicerContext[Any, Any]
T = TypeVar("T")

VIEWER = common_pb2.ROLE_VIEWER
DEVELOPER = common_pb2.ROLE_DEVELOPER

#: A key's type, TTL, encoding and size, and a string's first ARGV[1] bytes, in one round trip.
_META_SCRIPT = """
local key = KEYS[1]
local t = redis.call('TYPE', key)['ok']
if t == 'none' then return {t} end
local ttl = redis.call('TTL', key)
local enc = redis.call('OBJECT', 'ENCODING', key)
if t == 'string' then
  return {t, ttl, enc, redis.call('STRLEN', key), redis.call('GETRANGE', key, 0, tonumber(ARGV[1]) - 1)}
end
local size = 0
if t == 'hash' then size = redis.call('HLEN', key)
elseif t == 'list' then size = redis.call('LLEN', key)
elseif t == 'set' then size = redis.call('SCARD', key)
elseif t == 'zset' then size = redis.call('ZCARD', key)
elseif t == 'stream' then size = redis.call('XLEN', key)
end
return {t, ttl, enc, size}
"""
_META_SHA = hashlib.sha1(_META_SCRIPT.encode(), usedforsecurity=False).hexdigest()
#: Create or replace a key whole, for Redis Cluster (whose redis-py client has no usable WATCH):
#: a script runs atomically on the key's node. ARGV: mode, kind, ttl (0: none), then the value.
_WRITE_SCRIPT = """
local key = KEYS[1]
local exists = redis.call('EXISTS', key)
if ARGV[1] == 'create' and exists == 1 then return 0 end
if ARGV[1] == 'replace' and exists == 0 then return -1 end
if exists == 1 then redis.call('DEL', key) end
local kind, ttl, n = ARGV[2], tonumber(ARGV[3]), #ARGV
local function chunks(command, width)
  local step = width * 500
  for i = 4, n, step do
    redis.call(command, key, unpack(ARGV, i, math.min(i + step - 1, n)))
  end
end
if kind == 'hash_value' then chunks('HSET', 2)
elseif kind == 'list_value' then chunks('RPUSH', 1)
elseif kind == 'set_value' then chunks('SADD', 1)
elseif kind == 'zset_value' then chunks('ZADD', 2)
elseif kind == 'json_value' then redis.call('JSON.SET', key, '$', ARGV[4])
elseif kind == 'stream_value' then
  local i = 4
  while i <= n do
    local count = tonumber(ARGV[i + 1])
    redis.call('XADD', key, ARGV[i], unpack(ARGV, i + 2, i + 1 + count * 2))
    i = i + 2 + count * 2
  end
end
if ttl > 0 then redis.call('EXPIRE', key, ttl) end
return 1
"""
_SIZE_COMMANDS = {"hash": "HLEN", "list": "LLEN", "set": "SCARD", "zset": "ZCARD", "stream": "XLEN"}
#: How many times a write retries when the key changes between WATCH and EXEC.
_WRITE_ATTEMPTS = 3


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value


def _key_reply(key: bytes, meta: list[Any]) -> redis_pb2.Key:
    """A key's reply from the meta read (the whole reply for a string); NotFound when it is gone."""
    key_type = _text(meta[0])
    if key_type == "none":
        raise NotFound("no such key")
    reply = redis_pb2.Key(key=key, type=key_type, ttl=int(meta[1]), encoding=_text(meta[2]), size=int(meta[3]))
    if key_type == "string":
        reply.value.string_value = meta[4]
        reply.truncated = len(meta[4]) < reply.size
    return reply


class RedisService(redis_pb2_grpc.RedisServiceServicer):
    """Operations on a project's Redis databases."""

    def __init__(self, runtime: EngineRuntime[RedisHandle], settings: Settings) -> None:
        self.runtime = runtime
        self.settings = settings
        self.pubsub = PubSubHub(settings, runtime.pools, runtime.registry)
        #: GetKey's first read, shared by the calls of one loop turn (redis_svc.batching).
        self.batched = BatchedReads(runtime, _META_SCRIPT)

    # ---- keys ------------------------------------------------------------------------------

    async def ScanKeys(self, request: redis_pb2.ScanKeysRequest, context: Context) -> redis_pb2.ScanKeysResponse:
        pattern = check_pattern(request.pattern)
        type_filter = check_type(request.type)
        count = check_count(request.count)
        async with self.runtime.borrow(request.target, VIEWER) as borrowed:
            handle = borrowed.client
            if handle.cluster:
                keys, cursor = await self._scan_cluster(handle, request.cursor, pattern, type_filter, count)
            else:
                position, keys = await redis_call(
                    handle.ops.scan(
                        cursor=scan_cursor(request.cursor), match=pattern, count=count, _type=type_filter or None
                    )
                )
                cursor = str(position)
            summaries = await self._summaries(handle.ops, keys, type_filter)
        return redis_pb2.ScanKeysResponse(keys=summaries, cursor=cursor)

    async def _scan_cluster(
        self, handle: RedisHandle, cursor: str, pattern: bytes, type_filter: str, count: int
    ) -> tuple[list[bytes], str]:
        # One primary at a time: the cursor says which, and where in it.
        assert isinstance(handle.client, RedisCluster)
        primaries: list[ClusterNode] = sorted(handle.client.get_primaries(), key=lambda node: node.name)
        node_index, position = cluster_cursor(cursor, len(primaries))
        args: list[Any] = [position, "MATCH", pattern, "COUNT", count]
        if type_filter:
            args += ["TYPE", type_filter]
        reply = await redis_call(handle.ops.execute_command("SCAN", *args, target_nodes=primaries[node_index]))
        # The cluster client merges SCAN replies as ({node name: cursor}, keys).
        cursors, keys = reply
        next_position = int(next(iter(cursors.values()))) if isinstance(cursors, dict) else int(cursors)
        keys = list(keys)
        if next_position:
            return keys, f"{node_index}:{next_position}"
        if node_index + 1 < len(primaries):
            return keys, f"{node_index + 1}:0"
        return keys, "0"

    async def _summaries(self, client: Any, keys: list[bytes], type_filter: str) -> list[redis_pb2.KeySummary]:
        """Each key's type and TTL, in one pipeline; keys gone since SCAN are left out."""
        if not keys:
            return []
        async with client.pipeline(transaction=False) as pipe:
            for key in keys:
                if not type_filter:
                    pipe.type(key)
                pipe.ttl(key)
            replies = await redis_call(pipe.execute(raise_on_error=False))
        summaries = []
        step = 1 if type_filter else 2
        for index, key in enumerate(keys):
            group = replies[index * step : index * step + step]
            if any(isinstance(reply, Exception) for reply in group):
                continue
            key_type = type_filter or _text(group[0])
            ttl = int(group[-1])
            if key_type == "none" or ttl == -2:
                continue
            summaries.append(redis_pb2.KeySummary(key=key, type=key_type, ttl=ttl))
        return summaries

    async def GetKey(self, request: redis_pb2.GetKeyRequest, context: Context) -> redis_pb2.Key:
        key = check_key(request.key)
        max_bytes = request.max_bytes or self.settings.default_max_bytes
        if not 1 <= max_bytes <= self.settings.max_value_bytes:
            raise InvalidArgument(
                f"max_bytes must be between 1 and {self.settings.max_value_bytes}", details={"field": "max_bytes"}
            )
        meta = await redis_call(self.batched.meta(request.target, key, max_bytes))
        if meta is not None:
            reply = _key_reply(key, meta)
            if reply.type == "string":
                return reply
        async with self.runtime.borrow(request.target, VIEWER) as borrowed:
            handle = borrowed.client
            if meta is None:
                meta = await self._meta(handle, key, max_bytes)
                reply = _key_reply(key, meta)
                if reply.type == "string":
                    return reply
            await self._page(handle.ops, key, request, reply)
        return reply

    async def _meta(self, handle: RedisHandle, key: bytes, max_bytes: int) -> list[Any]:
        """[type, ttl, encoding, size, string value]: by script in one round trip, or pipelined
        when the server refuses scripts."""
        client = handle.ops
        if handle.scripts:
            try:
                try:
                    meta: list[Any] = await client.execute_command("EVALSHA", _META_SHA, 1, key, max_bytes)
                except rex.NoScriptError:
                    await client.script_load(_META_SCRIPT)
                    meta = await client.execute_command("EVALSHA", _META_SHA, 1, key, max_bytes)
                return meta
            except rex.ResponseError as exc:
                if not is_script_refusal(exc):
                    raise translate(exc) from None
                handle.scripts = False
            except (rex.RedisError, OSError) as exc:
                raise translate(exc) from None
        async with client.pipeline(transaction=False) as pipe:
            pipe.type(key).ttl(key).object("encoding", key)
            key_type, ttl, encoding = await redis_call(pipe.execute())
        key_type = _text(key_type)
        if key_type == "none":
            return [key_type]
        encoding = encoding or b""
        if key_type == "string":
            async with client.pipeline(transaction=False) as pipe:
                pipe.strlen(key).getrange(key, 0, max_bytes - 1)
                size, value = await redis_call(pipe.execute())
            return [key_type, ttl, encoding, size, value]
        command = _SIZE_COMMANDS.get(key_type)
        size = await redis_call(client.execute_command(command, key)) if command else 0
        return [key_type, ttl, encoding, size]

    async def _page(self, client: Any, key: bytes, request: redis_pb2.GetKeyRequest, reply: redis_pb2.Key) -> None:
        """One page of a hash, set or zset (SCAN cursor), a list (index range) or a stream."""
        count = check_count(request.count)
        key_type = reply.type
        if key_type in ("hash", "set", "zset"):
            cursor = scan_cursor(request.cursor)
            if key_type == "hash":
                next_cursor, fields = await redis_call(client.hscan(key, cursor=cursor, count=count))
                reply.value.hash_value.fields.extend(
                    redis_pb2.HashField(field=name, value=value) for name, value in fields.items()
                )
            elif key_type == "set":
                next_cursor, members = await redis_call(client.sscan(key, cursor=cursor, count=count))
                reply.value.set_value.members.extend(members)
            else:
                next_cursor, scored = await redis_call(client.zscan(key, cursor=cursor, count=count))
                reply.value.zset_value.members.extend(
                    redis_pb2.ZSetMember(member=member, score=score) for member, score in scored
                )
            reply.cursor = str(next_cursor)
            reply.truncated = cursor != 0 or next_cursor != 0
        elif key_type == "list":
            start, stop = _range(request, count)
            elements = await redis_call(client.lrange(key, start, stop))
            reply.value.list_value.elements.extend(elements)
            reply.truncated = len(elements) < reply.size
        elif key_type == "stream":
            await self._stream_page(client, key, request, count, reply)
        elif key_type == "ReJSON-RL":
            document = await redis_call(client.execute_command("JSON.GET", key))
            reply.value.json_value = _text(document or b"null")
        else:
            reply.value.Clear()

    async def _stream_page(
        self, client: Any, key: bytes, request: redis_pb2.GetKeyRequest, count: int, reply: redis_pb2.Key
    ) -> None:
        # By index (start/stop, like a list) or by cursor: the id after which the page starts.
        if request.HasField("start") or request.HasField("stop"):
            start, stop = _range(request, count)
            if start >= 0 and stop >= 0:
                entries = (await redis_call(client.xrange(key, "-", "+", count=stop + 1)))[start:]
            else:
                if start >= 0 or stop >= 0:
                    raise InvalidArgument(
                        "a stream range takes two indexes of the same sign", details={"field": "start"}
                    )
                newest = await redis_call(client.xrevrange(key, "+", "-", count=-start))
                entries = list(reversed(newest))[: stop - start + 1]
            reply.cursor = "0"
        else:
            after = request.cursor if request.cursor not in ("", "0") else ""
            if after:
                stream_id(after)
            low = f"({after}" if after else "-"
            entries = await redis_call(client.xrange(key, low, "+", count=count))
            reply.cursor = _text(entries[-1][0]) if len(entries) == count else "0"
        for entry_id, fields in entries:
            reply.value.stream_value.entries.append(
                redis_pb2.StreamEntry(
                    id=_text(entry_id),
                    fields=[redis_pb2.HashField(field=name, value=value) for name, value in fields.items()],
                )
            )
        reply.truncated = len(entries) < reply.size

    async def CreateKey(self, request: redis_pb2.CreateKeyRequest, context: Context) -> redis_pb2.Key:
        return await self._write(request, create=True)

    async def UpdateKey(self, request: redis_pb2.UpdateKeyRequest, context: Context) -> redis_pb2.Key:
        return await self._write(request, create=False)

    async def _write(
        self, request: redis_pb2.CreateKeyRequest | redis_pb2.UpdateKeyRequest, *, create: bool
    ) -> redis_pb2.Key:
        """Creates (ALREADY_EXISTS when present) or replaces (NOT_FOUND when missing) a key, in one
        step: SET NX/XX for a string, else WATCH + MULTI/EXEC, so no reader sees half a value."""
        key = check_key(request.key)
        ttl = check_ttl(request.ttl, minimum=1) if request.HasField("ttl") else None
        value = request.value
        kind = value.WhichOneof("kind")
        if kind is None:
            raise InvalidArgument("value is required", details={"field": "value"})
        _check_value(value)
        async with self.runtime.borrow(request.target, DEVELOPER) as borrowed:
            client = borrowed.client.ops
            if kind == "string_value":
                written = await redis_call(client.set(key, value.string_value, ex=ttl, nx=create, xx=not create))
                if not written:
                    raise _exists_error(key, create=create)
            elif borrowed.client.cluster:
                await self._scripted_write(client, key, value, ttl, create=create)
            else:
                await self._transaction(client, key, value, ttl, create=create)
            meta = await self._meta(borrowed.client, key, 1)
        reply = redis_pb2.Key(key=key, type=_text(meta[0]))
        if len(meta) >= 4:
            reply.ttl, reply.encoding, reply.size = int(meta[1]), _text(meta[2]), int(meta[3])
        return reply

    async def _transaction(
        self, client: Any, key: bytes, value: redis_pb2.Value, ttl: int | None, *, create: bool
    ) -> None:
        for _ in range(_WRITE_ATTEMPTS):
            async with client.pipeline(transaction=True) as pipe:
                try:
                    await pipe.watch(key)
                    exists = await pipe.exists(key)
                    if bool(exists) == create:
                        raise _exists_error(key, create=create)
                    pipe.multi()
                    if not create:
                        pipe.unlink(key)
                    _queue_value(pipe, key, value)
                    if ttl is not None:
                        pipe.expire(key, ttl)
                    await pipe.execute()
                    return
                except rex.WatchError:
                    continue
                except DatabaseError:
                    raise
                except (rex.RedisError, OSError) as exc:
                    raise translate(exc) from None
        raise AlreadyExists("the key kept changing while it was being written; try again")

    async def _scripted_write(
        self, client: Any, key: bytes, value: redis_pb2.Value, ttl: int | None, *, create: bool
    ) -> None:
        kind = value.WhichOneof("kind")
        args: list[Any] = ["create" if create else "replace", kind, ttl or 0]
        if kind == "hash_value":
            for item in value.hash_value.fields:
                args += (item.field, item.value)
        elif kind == "list_value":
            args += value.list_value.elements
        elif kind == "set_value":
            args += value.set_value.members
        elif kind == "zset_value":
            for member in value.zset_value.members:
                args += (_score(member.score), member.member)
        elif kind == "stream_value":
            for entry in value.stream_value.entries:
                args += (entry.id or "*", len(entry.fields))
                for item in entry.fields:
                    args += (item.field, item.value)
        elif kind == "json_value":
            args.append(value.json_value)
        written = await redis_call(client.eval(_WRITE_SCRIPT, 1, key, *args))
        if int(written) != 1:
            raise _exists_error(key, create=create)

    async def DeleteKey(self, request: redis_pb2.DeleteKeyRequest, context: Context) -> redis_pb2.DeleteKeyResponse:
        key = check_key(request.key)
        async with self.runtime.borrow(request.target, DEVELOPER) as borrowed:
            deleted = int(await redis_call(borrowed.client.ops.unlink(key)))
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
            exists, _, remaining = await redis_call(pipe.execute())
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
            channels = sorted(set(await redis_call(client.pubsub_channels(pattern))))
            counts: list[tuple[bytes, int]] = []
            for start in range(0, len(channels), 500):
                counts += await redis_call(client.pubsub_numsub(*channels[start : start + 500]))
        return redis_pb2.ListChannelsResponse(
            channels=[redis_pb2.Channel(channel=channel, subscribers=int(n)) for channel, n in counts]
        )

    async def Publish(self, request: redis_pb2.PublishRequest, context: Context) -> redis_pb2.PublishResponse:
        if not request.channel:
            raise InvalidArgument("channel is required", details={"field": "channel"})
        async with self.runtime.borrow(request.target, DEVELOPER) as borrowed:
            receivers = await redis_call(borrowed.client.ops.publish(request.channel, request.message))
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
        raw = await redis_call(handle.ops.execute_command("INFO", *args))
        if isinstance(raw, dict):  # a cluster answers per node: the first primary's
            raw = raw[sorted(raw)[0]]
        return _text(raw)

    async def TestConnection(
        self, request: redis_pb2.TestConnectionRequest, context: Context
    ) -> common_pb2.ConnectionTestResult:
        async def probe(handle: RedisHandle) -> str:
            info = parse_info(await self._info(handle, "server"))
            return str(info.get("server", {}).get("redis_version", ""))

        return await self.runtime.test_connection(request.target, probe, translate)


def _range(request: redis_pb2.GetKeyRequest, count: int) -> tuple[int, int]:
    start = request.start if request.HasField("start") else 0
    stop = request.stop if request.HasField("stop") else (start + count - 1 if start >= 0 else -1)
    if (start >= 0) == (stop >= 0) and stop - start + 1 > MAX_RANGE:
        raise InvalidArgument(f"a range holds at most {MAX_RANGE} elements", details={"field": "stop"})
    return start, stop


def _exists_error(key: bytes, *, create: bool) -> DatabaseError:
    if create:
        return AlreadyExists("the key exists")
    return NotFound("no such key")


def _check_value(value: redis_pb2.Value) -> None:
    """Shapes Redis cannot store, refused before anything is written."""
    kind = value.WhichOneof("kind")
    if kind == "string_value":
        if len(value.string_value) > MAX_REDIS_BYTES:
            raise InvalidArgument("a string is at most 512 MB", details={"field": "value"})
        return
    if kind == "json_value":
        if not value.json_value:
            raise InvalidArgument("a JSON value must not be empty", details={"field": "value"})
        return
    sizes = {
        "hash_value": len(value.hash_value.fields),
        "list_value": len(value.list_value.elements),
        "set_value": len(value.set_value.members),
        "zset_value": len(value.zset_value.members),
        "stream_value": len(value.stream_value.entries),
    }
    if kind is None or not sizes[kind]:
        raise InvalidArgument("Redis holds no empty hash, list, set, zset or stream", details={"field": "value"})
    if kind == "zset_value":
        for member in value.zset_value.members:
            check_score(member.score)
    elif kind == "stream_value":
        check_stream_ids([entry.id for entry in value.stream_value.entries])
        if any(not entry.fields for entry in value.stream_value.entries):
            raise InvalidArgument("a stream entry needs at least one field", details={"field": "fields"})


def _queue_value(pipe: Any, key: bytes, value: redis_pb2.Value) -> None:
    """Queues the commands that write ``value`` (already checked) into a MULTI block."""
    kind = value.WhichOneof("kind")
    if kind == "hash_value":
        pipe.hset(key, mapping={item.field: item.value for item in value.hash_value.fields})
    elif kind == "list_value":
        pipe.rpush(key, *value.list_value.elements)
    elif kind == "set_value":
        pipe.sadd(key, *value.set_value.members)
    elif kind == "zset_value":
        pipe.zadd(key, {item.member: _score(item.score) for item in value.zset_value.members})
    elif kind == "stream_value":
        for entry in value.stream_value.entries:
            pipe.xadd(key, {item.field: item.value for item in entry.fields}, id=entry.id or "*")
    elif kind == "json_value":
        pipe.execute_command("JSON.SET", key, "$", value.json_value)


def _score(score: float) -> float | str:
    if math.isinf(score):
        return "+inf" if score > 0 else "-inf"
    return score
