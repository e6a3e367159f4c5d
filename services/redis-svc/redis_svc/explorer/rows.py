"""Keys as rows: type and TTL, and on request MEMORY USAGE and the element count."""

from __future__ import annotations

from typing import Any

from redis_svc.explorer.nodes import text
from redis_svc.key_sizes import key_sizes
from udb.redis.v1 import explorer_pb2

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
    width = 2
    async with client.pipeline(transaction=False) as pipe:
        for key in keys:
            pipe.type(key)
            pipe.ttl(key)
        replies = await pipe.execute(raise_on_error=False)
    rows = []
    for index, key in enumerate(keys):
        group = replies[index * width : index * width + width]
        if any(isinstance(reply, Exception) for reply in group):
            continue
        key_type, ttl = text(group[0]), int(group[1])
        if key_type == "none" or ttl == -2:
            continue
        rows.append(explorer_pb2.KeyRow(key=key, type=key_type, ttl=ttl))
    if with_size:
        for row, (memory, length) in zip(
            rows, await key_sizes(client, [(row.key, row.type) for row in rows]), strict=True
        ):
            if memory is not None:
                row.memory = memory
            if length is not None:
                row.length = length
    return rows
