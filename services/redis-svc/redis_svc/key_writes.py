"""CreateKey and UpdateKey: a key created (ALREADY_EXISTS when present) or replaced (NOT_FOUND
when missing) whole, in one step, so that no reader sees half a value: SET NX/XX for a string,
WATCH + MULTI/EXEC for the other types, and a script on Redis Cluster (whose redis-py client
has no usable WATCH)."""

from __future__ import annotations

import math
from typing import Any

import redis.exceptions as rex

from redis_svc.clients import RedisHandle
from redis_svc.inputs import MAX_REDIS_BYTES, check_score, check_stream_ids
from udb.errors import Aborted, AlreadyExists, DatabaseError, InvalidArgument, NotFound
from udb.redis.v1 import redis_pb2

#: Create or replace a key whole, for Redis Cluster: a script runs atomically on the key's node.
#: ARGV: mode, kind, ttl (0: none), then the value.
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
#: How many times a write retries when the key changes between WATCH and EXEC.
_WRITE_ATTEMPTS = 3


async def write_key(handle: RedisHandle, key: bytes, value: redis_pb2.Value, ttl: int | None, *, create: bool) -> None:
    """Writes ``value`` (checked by :func:`check_value`) at ``key`` whole."""
    client = handle.ops
    if value.WhichOneof("kind") == "string_value":
        written = await client.set(key, value.string_value, ex=ttl, nx=create, xx=not create)
        if not written:
            raise _exists_error(create=create)
    elif handle.cluster:
        await _scripted_write(client, key, value, ttl, create=create)
    else:
        await _transaction(client, key, value, ttl, create=create)


async def _transaction(client: Any, key: bytes, value: redis_pb2.Value, ttl: int | None, *, create: bool) -> None:
    for _ in range(_WRITE_ATTEMPTS):
        async with client.pipeline(transaction=True) as pipe:
            try:
                await pipe.watch(key)
                exists = await pipe.exists(key)
                if bool(exists) == create:
                    raise _exists_error(create=create)
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
    raise Aborted("the key kept changing while it was being written; try again")


async def _scripted_write(client: Any, key: bytes, value: redis_pb2.Value, ttl: int | None, *, create: bool) -> None:
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
    written = await client.eval(_WRITE_SCRIPT, 1, key, *args)
    if int(written) != 1:
        raise _exists_error(create=create)


def _exists_error(*, create: bool) -> DatabaseError:
    if create:
        return AlreadyExists("the key exists")
    return NotFound("no such key")


def check_value(value: redis_pb2.Value) -> None:
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
