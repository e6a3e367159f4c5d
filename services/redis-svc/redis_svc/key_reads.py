"""GetKey's reads: a key's type, TTL, encoding and size (and a string's first bytes) in one
round trip, then one page of a hash, set, zset, list or stream."""

from __future__ import annotations

import hashlib
from typing import Any

import redis.exceptions as rex

from redis_svc.batching import is_script_refusal
from redis_svc.clients import RedisHandle, as_text
from redis_svc.inputs import MAX_RANGE, check_count, scan_cursor, stream_id
from udb.errors import InvalidArgument, NotFound
from udb.redis.v1 import redis_pb2

#: A key's type, TTL, encoding and size, and a string's first ARGV[1] bytes, in one round trip.
META_SCRIPT = """
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
_META_SHA = hashlib.sha1(META_SCRIPT.encode(), usedforsecurity=False).hexdigest()
_SIZE_COMMANDS = {"hash": "HLEN", "list": "LLEN", "set": "SCARD", "zset": "ZCARD", "stream": "XLEN"}


def key_reply(key: bytes, meta: list[Any]) -> redis_pb2.Key:
    """A key's reply from the meta read (the whole reply for a string); NotFound when it is gone."""
    key_type = as_text(meta[0])
    if key_type == "none":
        raise NotFound("no such key")
    reply = redis_pb2.Key(key=key, type=key_type, ttl=int(meta[1]), encoding=as_text(meta[2]), size=int(meta[3]))
    if key_type == "string":
        reply.value.string_value = meta[4]
        reply.truncated = len(meta[4]) < reply.size
    return reply


async def read_meta(handle: RedisHandle, key: bytes, max_bytes: int) -> list[Any]:
    """[type, ttl, encoding, size, string value]: by script in one round trip, or pipelined
    when the server refuses scripts."""
    client = handle.ops
    if handle.scripts:
        try:
            try:
                meta: list[Any] = await client.execute_command("EVALSHA", _META_SHA, 1, key, max_bytes)
            except rex.NoScriptError:
                await client.script_load(META_SCRIPT)
                meta = await client.execute_command("EVALSHA", _META_SHA, 1, key, max_bytes)
            return meta
        except rex.ResponseError as exc:
            if not is_script_refusal(exc):
                raise
            handle.scripts = False
    async with client.pipeline(transaction=False) as pipe:
        pipe.type(key).ttl(key).object("encoding", key)
        key_type, ttl, encoding = await pipe.execute()
    key_type = as_text(key_type)
    if key_type == "none":
        return [key_type]
    encoding = encoding or b""
    if key_type == "string":
        async with client.pipeline(transaction=False) as pipe:
            pipe.strlen(key).getrange(key, 0, max_bytes - 1)
            size, value = await pipe.execute()
        return [key_type, ttl, encoding, size, value]
    command = _SIZE_COMMANDS.get(key_type)
    size = await client.execute_command(command, key) if command else 0
    return [key_type, ttl, encoding, size]


async def read_page(client: Any, key: bytes, request: redis_pb2.GetKeyRequest, reply: redis_pb2.Key) -> None:
    """One page of a hash, set or zset (SCAN cursor), a list (index range) or a stream."""
    count = check_count(request.count)
    key_type = reply.type
    if key_type in ("hash", "set", "zset"):
        cursor = scan_cursor(request.cursor)
        if key_type == "hash":
            next_cursor, fields = await client.hscan(key, cursor=cursor, count=count)
            reply.value.hash_value.fields.extend(
                redis_pb2.HashField(field=name, value=value) for name, value in fields.items()
            )
        elif key_type == "set":
            next_cursor, members = await client.sscan(key, cursor=cursor, count=count)
            reply.value.set_value.members.extend(members)
        else:
            next_cursor, scored = await client.zscan(key, cursor=cursor, count=count)
            reply.value.zset_value.members.extend(
                redis_pb2.ZSetMember(member=member, score=score) for member, score in scored
            )
        reply.cursor = str(next_cursor)
        reply.truncated = cursor != 0 or next_cursor != 0
    elif key_type == "list":
        start, stop = _range(request, count)
        elements = await client.lrange(key, start, stop)
        reply.value.list_value.elements.extend(elements)
        reply.truncated = len(elements) < reply.size
    elif key_type == "stream":
        await _stream_page(client, key, request, count, reply)
    elif key_type == "ReJSON-RL":
        document = await client.execute_command("JSON.GET", key)
        reply.value.json_value = as_text(document or b"null")
    else:
        reply.value.Clear()


async def _stream_page(
    client: Any, key: bytes, request: redis_pb2.GetKeyRequest, count: int, reply: redis_pb2.Key
) -> None:
    # By index (start/stop, like a list) or by cursor: the id after which the page starts.
    if request.HasField("start") or request.HasField("stop"):
        start, stop = _range(request, count)
        if start >= 0 and stop >= 0:
            entries = (await client.xrange(key, "-", "+", count=stop + 1))[start:]
        else:
            if start >= 0 or stop >= 0:
                raise InvalidArgument("a stream range takes two indexes of the same sign", details={"field": "start"})
            newest = await client.xrevrange(key, "+", "-", count=-start)
            entries = list(reversed(newest))[: stop - start + 1]
        reply.cursor = "0"
    else:
        after = request.cursor if request.cursor not in ("", "0") else ""
        if after:
            stream_id(after)
        low = f"({after}" if after else "-"
        entries = await client.xrange(key, low, "+", count=count)
        reply.cursor = as_text(entries[-1][0]) if len(entries) == count else "0"
    for entry_id, fields in entries:
        reply.value.stream_value.entries.append(
            redis_pb2.StreamEntry(
                id=as_text(entry_id),
                fields=[redis_pb2.HashField(field=name, value=value) for name, value in fields.items()],
            )
        )
    reply.truncated = len(entries) < reply.size


def _range(request: redis_pb2.GetKeyRequest, count: int) -> tuple[int, int]:
    start = request.start if request.HasField("start") else 0
    stop = request.stop if request.HasField("stop") else (start + count - 1 if start >= 0 else -1)
    if (start >= 0) == (stop >= 0) and stop - start + 1 > MAX_RANGE:
        raise InvalidArgument(f"a range holds at most {MAX_RANGE} elements", details={"field": "stop"})
    return start, stop
