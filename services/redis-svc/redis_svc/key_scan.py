"""ScanKeys: one SCAN page of a database's keys, with each key's type and TTL.

A Redis Cluster is scanned one primary at a time: the cursor says which primary, and where in it.
"""

from __future__ import annotations

from typing import Any

from redis.asyncio.cluster import ClusterNode, RedisCluster

from redis_svc.clients import RedisHandle, as_text
from redis_svc.inputs import cluster_cursor, scan_cursor
from redis_svc.key_sizes import key_sizes
from udb.redis.v1 import redis_pb2


async def scan_keys(
    handle: RedisHandle, cursor: str, pattern: bytes, type_filter: str, count: int, *, with_size: bool = False
) -> tuple[list[redis_pb2.KeySummary], str]:
    """One page of keys (those gone since SCAN left out) and the cursor of the next ("0": none);
    ``with_size``: each key's memory usage and element count too."""
    if handle.cluster:
        keys, next_cursor = await _scan_cluster(handle, cursor, pattern, type_filter, count)
    else:
        position, keys = await handle.ops.scan(
            cursor=scan_cursor(cursor), match=pattern, count=count, _type=type_filter or None
        )
        next_cursor = str(position)
    summaries = await _summaries(handle.ops, keys, type_filter)
    if with_size:
        sizes = await key_sizes(handle.ops, [(summary.key, summary.type) for summary in summaries])
        for summary, (memory, length) in zip(summaries, sizes, strict=True):
            if memory is not None:
                summary.memory = memory
            if length is not None:
                summary.length = length
    return summaries, next_cursor


async def _scan_cluster(
    handle: RedisHandle, cursor: str, pattern: bytes, type_filter: str, count: int
) -> tuple[list[bytes], str]:
    assert isinstance(handle.client, RedisCluster)
    primaries: list[ClusterNode] = sorted(handle.client.get_primaries(), key=lambda node: node.name)
    node_index, position = cluster_cursor(cursor, len(primaries))
    args: list[Any] = [position, "MATCH", pattern, "COUNT", count]
    if type_filter:
        args += ["TYPE", type_filter]
    reply = await handle.ops.execute_command("SCAN", *args, target_nodes=primaries[node_index])
    # The cluster client merges SCAN replies as ({node name: cursor}, keys).
    cursors, keys = reply
    next_position = int(next(iter(cursors.values()))) if isinstance(cursors, dict) else int(cursors)
    keys = list(keys)
    if next_position:
        return keys, f"{node_index}:{next_position}"
    if node_index + 1 < len(primaries):
        return keys, f"{node_index + 1}:0"
    return keys, "0"


async def _summaries(client: Any, keys: list[bytes], type_filter: str) -> list[redis_pb2.KeySummary]:
    """Each key's type and TTL, in one pipeline; keys gone since SCAN are left out."""
    if not keys:
        return []
    async with client.pipeline(transaction=False) as pipe:
        for key in keys:
            if not type_filter:
                pipe.type(key)
            pipe.ttl(key)
        replies = await pipe.execute(raise_on_error=False)
    summaries = []
    step = 1 if type_filter else 2
    for index, key in enumerate(keys):
        group = replies[index * step : index * step + step]
        if any(isinstance(reply, Exception) for reply in group):
            continue
        key_type = type_filter or as_text(group[0])
        ttl = int(group[-1])
        if key_type == "none" or ttl == -2:
            continue
        summaries.append(redis_pb2.KeySummary(key=key, type=key_type, ttl=ttl))
    return summaries
