"""Keys as rows: type and TTL, and on request MEMORY USAGE and the element count."""

from __future__ import annotations

from typing import Any

from redis_svc.explorer.nodes import text
from udb.redis.v1 import explorer_pb2

#: A key type's length command (a string's is its byte length).
LENGTH_COMMANDS = {
    "string": "STRLEN",
    "hash": "HLEN",
    "list": "LLEN",
    "set": "SCARD",
    "zset": "ZCARD",
    "stream": "XLEN",
}
#: Keys per pipeline, so that one round trip stays small.
PIPELINE_KEYS = 500


async def key_rows(client: Any, keys: list[bytes], *, with_size: bool) -> list[explorer_pb2.KeyRow]:
    """Each key's row, pipelined; keys gone since they were listed are left out."""
    rows: list[explorer_pb2.KeyRow] = []
    for start in range(0, len(keys), PIPELINE_KEYS):
        rows += await _rows(client, keys[start : start + PIPELINE_KEYS], with_size)
    return rows


async def _rows(client: Any, keys: list[bytes], with_size: bool) -> list[explorer_pb2.KeyRow]:
    if not keys:
        return []
    width = 3 if with_size else 2
    async with client.pipeline(transaction=False) as pipe:
        for key in keys:
            pipe.type(key)
            pipe.ttl(key)
            if with_size:
                # SAMPLES 0: every element of an aggregate, an exact figure.
                pipe.memory_usage(key, samples=0)
        replies = await pipe.execute(raise_on_error=False)
    rows = []
    for index, key in enumerate(keys):
        group = replies[index * width : index * width + width]
        if any(isinstance(reply, Exception) for reply in group):
            continue
        key_type, ttl = text(group[0]), int(group[1])
        if key_type == "none" or ttl == -2:
            continue
        row = explorer_pb2.KeyRow(key=key, type=key_type, ttl=ttl)
        if with_size and group[2] is not None:
            row.memory = int(group[2])
        rows.append(row)
    if with_size:
        await _lengths(client, rows)
    return rows


async def _lengths(client: Any, rows: list[explorer_pb2.KeyRow]) -> None:
    sized = [row for row in rows if row.type in LENGTH_COMMANDS]
    if not sized:
        return
    async with client.pipeline(transaction=False) as pipe:
        for row in sized:
            pipe.execute_command(LENGTH_COMMANDS[row.type], row.key)
        replies = await pipe.execute(raise_on_error=False)
    for row, reply in zip(sized, replies, strict=True):
        if isinstance(reply, int):
            row.length = reply
