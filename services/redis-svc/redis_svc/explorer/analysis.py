"""Keyspace analysis of a sample: memory and key counts by type, by namespace and by TTL, and the
largest keys by memory and by length.

The sample is the first ``sample_size`` keys SCAN returns (every primary of a cluster in turn):
SCAN walks the hash table in bucket order, so the sample is spread over the keyspace rather
than its newest or oldest part (RedisInsight's analysis samples the same way). The report says
which share of the keyspace the sample covers. Memory stays bounded: the top lists are heaps of
``top`` rows and namespaces past MAX_NAMESPACES fold into one "(other)" row.
"""

from __future__ import annotations

import heapq
import itertools
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

from redis_svc.clients import RedisHandle
from redis_svc.explorer.nodes import Nodes
from redis_svc.explorer.rows import key_rows
from redis_svc.explorer.tree import check_delimiter, check_limit
from redis_svc.inputs import check_pattern
from udb.redis.v1 import explorer_pb2

DEFAULT_SAMPLE = 10_000
MAX_SAMPLE = 100_000
DEFAULT_TOP = 10
MAX_TOP = 100
MAX_NAMESPACES = 1000
OTHER = b"(other)"
NO_NAMESPACE = b"(none)"
#: SCAN's COUNT per step; a progress message follows each step.
STEP = 1000
#: (upper bound in seconds, name) of the TTL buckets, in order.
TTL_BUCKETS = ((3600, "<1h"), (86400, "1h-1d"), (604800, "1d-1w"), (2592000, "1w-30d"))


def ttl_bucket(ttl: int) -> str:
    if ttl < 0:
        return "no expiry"
    for bound, name in TTL_BUCKETS:
        if ttl < bound:
            return name
    return ">30d"


@dataclass
class _Tally:
    keys: int = 0
    memory: int = 0

    def add(self, memory: int) -> None:
        self.keys += 1
        self.memory += memory


@dataclass
class Report:
    """The running figures of one analysis."""

    delimiter: bytes
    top: int
    sampled: int = 0
    memory: int = 0
    by_type: dict[str, _Tally] = field(default_factory=dict)
    by_namespace: dict[bytes, _Tally] = field(default_factory=dict)
    by_ttl: dict[str, _Tally] = field(default_factory=dict)
    #: Min-heaps of (figure, order, row): the smallest of the top leaves first.
    largest: list[tuple[int, int, explorer_pb2.KeyRow]] = field(default_factory=list)
    longest: list[tuple[int, int, explorer_pb2.KeyRow]] = field(default_factory=list)
    order: itertools.count[int] = field(default_factory=itertools.count)

    def add(self, row: explorer_pb2.KeyRow) -> None:
        memory = row.memory
        self.sampled += 1
        self.memory += memory
        self.by_type.setdefault(row.type, _Tally()).add(memory)
        self.by_ttl.setdefault(ttl_bucket(row.ttl), _Tally()).add(memory)
        position = row.key.find(self.delimiter)
        namespace = row.key[: position + len(self.delimiter)] if position >= 0 else NO_NAMESPACE
        if namespace not in self.by_namespace and len(self.by_namespace) >= MAX_NAMESPACES:
            namespace = OTHER
        self.by_namespace.setdefault(namespace, _Tally()).add(memory)
        self._keep(self.largest, memory, row)
        self._keep(self.longest, row.length, row)

    def _keep(self, heap: list[tuple[int, int, explorer_pb2.KeyRow]], figure: int, row: explorer_pb2.KeyRow) -> None:
        item = (figure, next(self.order), row)
        if len(heap) < self.top:
            heapq.heappush(heap, item)
        elif figure > heap[0][0]:
            heapq.heapreplace(heap, item)

    def proto(self, total: int) -> explorer_pb2.KeyspaceReport:
        def ranked(heap: list[tuple[int, int, explorer_pb2.KeyRow]]) -> list[explorer_pb2.KeyRow]:
            return [row for _, _, row in sorted(heap, key=lambda item: (-item[0], item[1]))]

        namespaces = sorted(self.by_namespace.items(), key=lambda item: (-item[1].memory, item[0]))
        return explorer_pb2.KeyspaceReport(
            sampled=self.sampled,
            total=total,
            coverage=min(1.0, self.sampled / total) if total else 1.0,
            memory=self.memory,
            by_type=[
                explorer_pb2.TypeStats(type=name, keys=tally.keys, memory=tally.memory)
                for name, tally in sorted(self.by_type.items(), key=lambda item: -item[1].memory)
            ],
            by_namespace=[
                explorer_pb2.NamespaceStats(prefix=name, keys=tally.keys, memory=tally.memory)
                for name, tally in namespaces[: self.top * 5]
            ],
            top_by_memory=ranked(self.largest),
            top_by_length=ranked(self.longest),
            ttl=[
                explorer_pb2.TtlBucket(bucket=name, keys=self.by_ttl[name].keys, memory=self.by_ttl[name].memory)
                for name in ("no expiry", *(name for _, name in TTL_BUCKETS), ">30d")
                if name in self.by_ttl
            ],
        )


async def analyze(
    handle: RedisHandle, request: explorer_pb2.AnalyzeKeyspaceRequest
) -> AsyncIterator[explorer_pb2.AnalyzeKeyspaceProgress]:
    """Progress after each SCAN step, then the report (the last message)."""
    target = check_limit(request.sample_size, default=DEFAULT_SAMPLE, maximum=MAX_SAMPLE, field="sample_size")
    top = check_limit(request.top, default=DEFAULT_TOP, maximum=MAX_TOP, field="top")
    report = Report(check_delimiter(request.delimiter), top)
    pattern = check_pattern(request.pattern)
    nodes = await Nodes.of(handle)
    total = await nodes.dbsize()
    cursor = ""
    while report.sampled < target:
        keys, cursor = await nodes.scan(cursor, pattern, STEP)
        for row in await key_rows(handle.ops, keys[: target - report.sampled], with_size=True):
            report.add(row)
        if cursor == "0":
            break
        yield explorer_pb2.AnalyzeKeyspaceProgress(sampled=report.sampled, target=target)
    yield explorer_pb2.AnalyzeKeyspaceProgress(sampled=report.sampled, target=target, report=report.proto(total))
