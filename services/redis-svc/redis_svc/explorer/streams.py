"""Streams: pages of entries by id, consumer groups, consumers and pending entries, and the
writes (XADD, XDEL, XTRIM, XACK, XCLAIM). Every command goes to the key's server (its slot's
primary in a cluster) with its raw reply, so duplicate field names in an entry survive."""

from __future__ import annotations

from typing import Any

from redis_svc.clients import RedisHandle
from redis_svc.explorer.nodes import Nodes, text
from redis_svc.inputs import check_count, check_key, stream_id
from udb.errors import InvalidArgument, NotFound
from udb.redis.v1 import explorer_pb2

#: Ids of one XDEL, XACK or XCLAIM.
MAX_IDS = 1000


def check_bound(bound: str, default: str, field: str) -> str:
    """A range bound: "-", "+", an id, or "(" and an id (exclusive)."""
    if not bound:
        return default
    if bound in ("-", "+"):
        return bound
    exact = bound.removeprefix("(")
    if not exact or stream_id(exact) is None:
        raise InvalidArgument(f"{field} must be -, +, an id such as 1-0, or ( and an id", details={"field": field})
    return bound


def check_ids(ids: list[str]) -> list[str]:
    if not ids:
        raise InvalidArgument("give at least one id", details={"field": "ids"})
    if len(ids) > MAX_IDS:
        raise InvalidArgument(f"at most {MAX_IDS} ids at a time", details={"field": "ids"})
    for entry_id in ids:
        if stream_id(entry_id) is None:
            raise InvalidArgument("an id must be <ms>-<seq>, not *", details={"field": "ids"})
    return ids


def check_name(value: bytes, field: str) -> bytes:
    if not value:
        raise InvalidArgument(f"{field} is required", details={"field": field})
    return value


def record(item: Any) -> dict[str, Any]:
    """An XINFO record (a RESP2 flat list of names and values, or a RESP3 map) by field name."""
    if isinstance(item, dict):
        return {text(name): value for name, value in item.items()}
    return {text(item[i]): item[i + 1] for i in range(0, len(item) - 1, 2)}


def entries(raw: Any) -> list[explorer_pb2.StreamRecord]:
    """XRANGE-shaped entries; an entry deleted since it was claimed (nil) is left out."""
    found = []
    for item in raw or []:
        if not item or item[1] is None:
            continue
        fields = item[1]
        if isinstance(fields, dict):
            fields = [part for pair in fields.items() for part in pair]
        found.append(
            explorer_pb2.StreamRecord(
                id=text(item[0]),
                fields=[
                    explorer_pb2.StreamField(field=fields[i], value=fields[i + 1]) for i in range(0, len(fields), 2)
                ],
            )
        )
    return found


async def _on_key(handle: RedisHandle, key: bytes, command: bytes, *args: Any) -> Any:
    """``command`` with ``args`` on the server of ``key``."""
    nodes = await Nodes.of(handle)
    _, reply = await nodes.run_for_keys([key], command, *args)
    return reply


async def _exists_as_stream(handle: RedisHandle, key: bytes) -> None:
    key_type = text(await _on_key(handle, key, b"TYPE", key))
    if key_type == "none":
        raise NotFound("no such key")
    if key_type != "stream":
        raise InvalidArgument(f"the key holds a {key_type}, not a stream", details={"field": "key"})


async def read(handle: RedisHandle, request: explorer_pb2.ReadStreamRequest) -> explorer_pb2.ReadStreamResponse:
    key = check_key(request.key)
    count = check_count(request.count)
    if request.reverse:
        high = check_bound(request.start, "+", "start")
        low = check_bound(request.end, "-", "end")
        raw = await _on_key(handle, key, b"XREVRANGE", key, high, low, b"COUNT", count)
    else:
        low = check_bound(request.start, "-", "start")
        high = check_bound(request.end, "+", "end")
        raw = await _on_key(handle, key, b"XRANGE", key, low, high, b"COUNT", count)
    page = entries(raw)
    if not page:
        await _exists_as_stream(handle, key)
    reply = explorer_pb2.ReadStreamResponse(entries=page, length=int(await _on_key(handle, key, b"XLEN", key)))
    if len(page) == count:
        reply.next = f"({page[-1].id}"
    return reply


async def groups(handle: RedisHandle, key: bytes) -> explorer_pb2.ListStreamGroupsResponse:
    await _exists_as_stream(handle, check_key(key))
    reply = explorer_pb2.ListStreamGroupsResponse()
    for item in await _on_key(handle, key, b"XINFO", b"GROUPS", key):
        fields = record(item)
        lag = fields.get("lag")
        reply.groups.append(
            explorer_pb2.StreamGroup(
                name=fields.get("name") or b"",
                consumers=int(fields.get("consumers") or 0),
                pending=int(fields.get("pending") or 0),
                last_delivered_id=text(fields.get("last-delivered-id") or b""),
                lag=int(lag) if lag is not None else -1,
                entries_read=int(fields.get("entries-read") or 0),
            )
        )
    return reply


async def consumers(handle: RedisHandle, key: bytes, group: bytes) -> explorer_pb2.ListStreamConsumersResponse:
    check_key(key)
    check_name(group, "group")
    raw = await _on_key(handle, key, b"XINFO", b"CONSUMERS", key, group)
    reply = explorer_pb2.ListStreamConsumersResponse()
    for item in raw:
        fields = record(item)
        inactive = fields.get("inactive")
        reply.consumers.append(
            explorer_pb2.StreamConsumer(
                name=fields.get("name") or b"",
                pending=int(fields.get("pending") or 0),
                idle_ms=int(fields.get("idle") or 0),
                inactive_ms=int(inactive) if inactive is not None else -1,
            )
        )
    return reply


async def pending(
    handle: RedisHandle, request: explorer_pb2.ListStreamPendingRequest
) -> explorer_pb2.ListStreamPendingResponse:
    key = check_key(request.key)
    group = check_name(request.group, "group")
    count = check_count(request.count)
    if request.min_idle_ms < 0:
        raise InvalidArgument("min_idle_ms must not be below 0", details={"field": "min_idle_ms"})
    summary = await _on_key(handle, key, b"XPENDING", key, group)
    reply = explorer_pb2.ListStreamPendingResponse(total=int(summary[0] or 0))
    for consumer, n in summary[3] or []:
        reply.by_consumer[text(consumer)] = int(n)
    args: list[Any] = [group]
    if request.min_idle_ms:
        args += [b"IDLE", request.min_idle_ms]
    args += [check_bound(request.start, "-", "start"), check_bound(request.end, "+", "end"), count]
    if request.consumer:
        args.append(request.consumer)
    for entry_id, consumer, idle, deliveries in await _on_key(handle, key, b"XPENDING", key, *args):
        reply.entries.append(
            explorer_pb2.PendingEntry(
                id=text(entry_id), consumer=consumer, idle_ms=int(idle), deliveries=int(deliveries)
            )
        )
    if len(reply.entries) == count:
        reply.next = f"({reply.entries[-1].id}"
    return reply


async def add(handle: RedisHandle, request: explorer_pb2.AddStreamEntryRequest) -> explorer_pb2.AddStreamEntryResponse:
    key = check_key(request.key)
    if not request.fields:
        raise InvalidArgument("an entry needs at least one field", details={"field": "fields"})
    if request.max_length < 0:
        raise InvalidArgument("max_length must not be below 0", details={"field": "max_length"})
    entry_id = request.id or "*"
    stream_id(entry_id)
    args: list[Any] = []
    if request.no_create:
        args.append(b"NOMKSTREAM")
    if request.max_length:
        args += [b"MAXLEN", b"~", request.max_length]
    args.append(entry_id)
    for item in request.fields:
        args += [item.field, item.value]
    added = await _on_key(handle, key, b"XADD", key, *args)
    if added is None:
        raise NotFound("no such stream (no_create was set)")
    return explorer_pb2.AddStreamEntryResponse(id=text(added))


async def delete(handle: RedisHandle, key: bytes, ids: list[str]) -> explorer_pb2.StreamCountResponse:
    check_key(key)
    deleted = await _on_key(handle, key, b"XDEL", key, *check_ids(ids))
    return explorer_pb2.StreamCountResponse(count=int(deleted))


async def trim(handle: RedisHandle, request: explorer_pb2.TrimStreamRequest) -> explorer_pb2.StreamCountResponse:
    key = check_key(request.key)
    by_length = request.HasField("max_length")
    if by_length == bool(request.min_id):
        raise InvalidArgument("give either max_length or min_id", details={"field": "max_length"})
    if by_length and request.max_length < 0:
        raise InvalidArgument("max_length must not be below 0", details={"field": "max_length"})
    if request.min_id and stream_id(request.min_id) is None:
        raise InvalidArgument("min_id must be an id such as 1-0", details={"field": "min_id"})
    strategy = [b"MAXLEN", request.max_length] if by_length else [b"MINID", request.min_id]
    strategy.insert(1, b"=" if request.exact else b"~")
    await _exists_as_stream(handle, key)
    trimmed = await _on_key(handle, key, b"XTRIM", key, *strategy)
    return explorer_pb2.StreamCountResponse(count=int(trimmed))


async def ack(handle: RedisHandle, request: explorer_pb2.AckStreamEntriesRequest) -> explorer_pb2.StreamCountResponse:
    key = check_key(request.key)
    group = check_name(request.group, "group")
    acked = await _on_key(handle, key, b"XACK", key, group, *check_ids(list(request.ids)))
    return explorer_pb2.StreamCountResponse(count=int(acked))


async def claim(
    handle: RedisHandle, request: explorer_pb2.ClaimStreamEntriesRequest
) -> explorer_pb2.ReadStreamResponse:
    key = check_key(request.key)
    group = check_name(request.group, "group")
    consumer = check_name(request.consumer, "consumer")
    if request.min_idle_ms < 0:
        raise InvalidArgument("min_idle_ms must not be below 0", details={"field": "min_idle_ms"})
    ids = check_ids(list(request.ids))
    raw = await _on_key(handle, key, b"XCLAIM", key, group, consumer, request.min_idle_ms, *ids)
    return explorer_pb2.ReadStreamResponse(entries=entries(raw))
