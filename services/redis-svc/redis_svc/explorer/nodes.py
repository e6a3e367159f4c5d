"""The servers behind one connection record, and raw commands to them.

A standalone or Sentinel record is one server; a Cluster record is its primaries, each scanned
or asked in turn (sorted by name, so that a cursor naming a node index stays valid while the
cluster's shape does). Commands go out with their name as bytes: redis-py then applies none of
its reply callbacks, and the reply is Redis's own (RESP3 maps stay maps), which is what the
explorer shows and parses.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from redis.asyncio.cluster import RedisCluster

from redis_svc.clients import RedisHandle
from redis_svc.inputs import cluster_cursor, scan_cursor
from udb.errors import InvalidArgument


def text(value: Any) -> str:
    """A reply's bytes as text (invalid UTF-8 replaced: for names and ids, never for data)."""
    if isinstance(value, bytes):
        return value.decode(errors="replace")
    return str(value)


@dataclass(frozen=True, slots=True)
class Nodes:
    """The servers of a record: one for a single server, the primaries of a cluster."""

    handle: RedisHandle
    targets: tuple[Any, ...]

    @classmethod
    async def of(cls, handle: RedisHandle) -> Nodes:
        if isinstance(handle.client, RedisCluster):
            await handle.client.initialize()
            primaries = sorted(handle.client.get_primaries(), key=lambda node: node.name)
            return cls(handle, tuple(primaries))
        return cls(handle, (handle.client,))

    def __len__(self) -> int:
        return len(self.targets)

    def name(self, index: int) -> str:
        """A cluster node's name (host:port); "" for a single server."""
        return str(getattr(self.targets[index], "name", "")) if self.handle.cluster else ""

    async def run(self, index: int, command: bytes, *args: Any) -> Any:
        """``command`` on server ``index``, its raw reply; errors translated."""
        return await self.targets[index].execute_command(command, *args)

    async def each(self, command: bytes, *args: Any) -> list[Any]:
        """``command`` on every server in turn, their raw replies."""
        return [await self.run(index, command, *args) for index in range(len(self))]

    async def dbsize(self) -> int:
        return sum(int(size) for size in await self.each(b"DBSIZE"))

    async def scan(self, cursor: str, pattern: bytes, count: int) -> tuple[list[bytes], str]:
        """One SCAN step across the servers: keys and the next cursor ("0" when done). A cluster
        cursor is ``<node index>:<node cursor>``, moving to the next primary as one finishes."""
        if self.handle.cluster:
            index, position = cluster_cursor(cursor, len(self))
        else:
            index, position = 0, scan_cursor(cursor)
        reply = await self.run(index, b"SCAN", position, b"MATCH", pattern, b"COUNT", count)
        next_position, keys = int(reply[0]), list(reply[1])
        if not self.handle.cluster:
            return keys, str(next_position)
        if next_position:
            return keys, f"{index}:{next_position}"
        return keys, f"{index + 1}:0" if index + 1 < len(self) else "0"

    async def run_for_keys(self, keys: list[bytes], command: bytes, *args: Any) -> tuple[str, Any]:
        """``command`` on the server that holds ``keys`` (their slot's primary in a cluster, where
        they must share a slot; the first primary for a command without keys): that server's
        name and the raw reply."""
        client = self.handle.client
        if not isinstance(client, RedisCluster):
            return "", await self.run(0, command, *args)
        slots = {client.keyslot(key) for key in keys}
        if len(slots) > 1:
            raise InvalidArgument("in a cluster, the keys of one command must share a hash slot")
        node: Any = client.nodes_manager.get_node_from_slot(slots.pop()) if slots else self.targets[0]
        return str(node.name), await node.execute_command(command, *args)
