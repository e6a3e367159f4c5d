"""Server diagnostics: the slow log, the client list and the live command monitor.

Secrets never leave: the arguments of AUTH and HELLO, of ACL and CONFIG subcommands and of
MIGRATE (which may carry AUTH) are replaced by "(redacted)" in the slow log and the monitor,
whatever Redis itself redacts.

The monitor runs MONITOR on connections of its own (one per primary of a cluster), outside the
operation pool, and ends after ``max_events`` commands or ``max_seconds``, whichever comes first.
Commands wait for the caller in a bounded queue; when the caller reads more slowly than Redis
runs them, the surplus is dropped and counted, rather than left to grow in Redis's output
buffer or here.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import re
import time
from collections.abc import AsyncIterator
from typing import Any

import redis.asyncio as redis
from redis.asyncio.cluster import RedisCluster

from redis_svc.clients import RedisHandle
from redis_svc.explorer.nodes import Nodes, text
from redis_svc.explorer.tree import check_limit
from udb.errors import InvalidArgument
from udb.redis.v1 import explorer_pb2

REDACTED = b"(redacted)"
#: Commands whose arguments may carry a secret, and how many leading words stay visible.
_SECRET_ARGS = {b"AUTH": 1, b"HELLO": 1, b"MIGRATE": 1, b"ACL": 2, b"CONFIG": 2}
DEFAULT_SLOWLOG = 128
MAX_SLOWLOG = 1000
DEFAULT_EVENTS = 1000
MAX_EVENTS = 10_000
DEFAULT_SECONDS = 30
MAX_SECONDS = 300
QUEUE_SIZE = 1000

_MONITOR_LINE = re.compile(rb"^(\d+\.\d+) \[(\d+) ([^\]]*)\] (.*)$", re.DOTALL)
_ESCAPES = {ord("n"): b"\n", ord("r"): b"\r", ord("t"): b"\t", ord("a"): b"\a", ord("b"): b"\b"}


def redact(args: list[bytes]) -> list[bytes]:
    """``args`` with the secret-bearing arguments of AUTH, HELLO, ACL, CONFIG and MIGRATE hidden."""
    if not args:
        return args
    visible = _SECRET_ARGS.get(args[0].upper())
    if visible is None or len(args) <= visible:
        return args
    return [*args[:visible], REDACTED]


def parse_quoted(text: bytes) -> list[bytes]:
    """MONITOR's arguments: double-quoted, with C escapes and \\xHH for other bytes."""
    args: list[bytes] = []
    position, end = 0, len(text)
    while position < end:
        if text[position] != ord('"'):
            position += 1
            continue
        position += 1
        current = bytearray()
        while position < end and text[position] != ord('"'):
            byte = text[position]
            if byte == ord("\\") and position + 1 < end:
                following = text[position + 1]
                if following == ord("x") and position + 3 < end:
                    current += bytes([int(text[position + 2 : position + 4], 16)])
                    position += 4
                    continue
                current += _ESCAPES.get(following, bytes([following]))
                position += 2
                continue
            current.append(byte)
            position += 1
        args.append(bytes(current))
        position += 1
    return args


def monitor_event(line: bytes, node: str) -> explorer_pb2.MonitorEvent | None:
    match = _MONITOR_LINE.match(line)
    if match is None:
        return None
    return explorer_pb2.MonitorEvent(
        time=float(match.group(1)),
        db=int(match.group(2)),
        client=text(match.group(3)),
        args=redact(parse_quoted(match.group(4))),
        node=node,
    )


def _slow_entry(item: list[Any], node: str) -> explorer_pb2.SlowLogEntry:
    """A SLOWLOG GET entry: id, time, duration, arguments, then (Redis 4+) client address and name."""
    return explorer_pb2.SlowLogEntry(
        id=int(item[0]),
        time=int(item[1]),
        duration_us=int(item[2]),
        args=redact([part if isinstance(part, bytes) else str(part).encode() for part in item[3]]),
        client_address=text(item[4]) if len(item) > 4 else "",
        client_name=text(item[5]) if len(item) > 5 else "",
        node=node,
    )


async def slow_log(handle: RedisHandle, count: int) -> explorer_pb2.GetSlowLogResponse:
    count = check_limit(count, default=DEFAULT_SLOWLOG, maximum=MAX_SLOWLOG, field="count")
    nodes = await Nodes.of(handle)
    entries: list[explorer_pb2.SlowLogEntry] = []
    for index in range(len(nodes)):
        entries.extend(
            _slow_entry(item, nodes.name(index)) for item in await nodes.run(index, b"SLOWLOG", b"GET", count)
        )
    entries.sort(key=lambda entry: (-entry.time, -entry.id))
    return explorer_pb2.GetSlowLogResponse(entries=entries[:count])


async def reset_slow_log(handle: RedisHandle) -> None:
    await (await Nodes.of(handle)).each(b"SLOWLOG", b"RESET")


async def clients(handle: RedisHandle) -> explorer_pb2.ListClientsResponse:
    nodes = await Nodes.of(handle)
    reply = explorer_pb2.ListClientsResponse()
    for index in range(len(nodes)):
        listing = text(await nodes.run(index, b"CLIENT", b"LIST"))
        for line in listing.splitlines():
            fields = dict(part.partition("=")[::2] for part in line.split(" ") if "=" in part)
            if fields:
                reply.clients.append(explorer_pb2.ClientInfo(fields=fields, node=nodes.name(index)))
    return reply


async def _dedicated(handle: RedisHandle) -> list[tuple[str, Any]]:
    """(node name, client with a connection of its own) for each server the monitor watches."""
    if not isinstance(handle.client, RedisCluster):
        return [("", await handle.subscriber())]
    nodes = await Nodes.of(handle)
    watched = []
    for node in nodes.targets:
        kwargs = {**handle.connection_kwargs, "host": node.host, "port": node.port}
        watched.append((str(node.name), redis.Redis(connection_pool=redis.ConnectionPool(**kwargs, max_connections=1))))
    return watched


async def _watch(client: Any, node: str, queue: asyncio.Queue[explorer_pb2.MonitorEvent], dropped: list[int]) -> None:
    connection = await client.connection_pool.get_connection()
    try:
        await connection.send_command("MONITOR")
        await connection.read_response()
        while True:
            line = await connection.read_response(timeout=math.inf)
            event = monitor_event(line if isinstance(line, bytes) else str(line).encode(), node)
            if event is None:
                continue
            try:
                queue.put_nowait(event)
            except asyncio.QueueFull:
                dropped[0] += 1
    finally:
        await connection.disconnect()


async def monitor(
    handle: RedisHandle, request: explorer_pb2.MonitorRequest
) -> AsyncIterator[explorer_pb2.MonitorEvent]:
    """The commands Redis runs, until the limits; the last message says which limit ended it."""
    max_events = check_limit(request.max_events, default=DEFAULT_EVENTS, maximum=MAX_EVENTS, field="max_events")
    max_seconds = check_limit(request.max_seconds, default=DEFAULT_SECONDS, maximum=MAX_SECONDS, field="max_seconds")
    queue: asyncio.Queue[explorer_pb2.MonitorEvent] = asyncio.Queue(QUEUE_SIZE)
    dropped = [0]
    watched = await _dedicated(handle)
    tasks = [asyncio.create_task(_watch(client, node, queue, dropped)) for node, client in watched]
    deadline = time.monotonic() + max_seconds
    sent = 0
    try:
        while sent < max_events:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                break
            getter = asyncio.ensure_future(queue.get())
            done, _ = await asyncio.wait([getter, *tasks], timeout=remaining, return_when=asyncio.FIRST_COMPLETED)
            if getter not in done:
                getter.cancel()
                failed = next((task for task in tasks if task in done), None)
                if failed is not None:
                    failed.result()  # a watcher that failed ends the stream with its error
                    raise InvalidArgument("the monitor's connection ended")
                continue
            yield getter.result()
            sent += 1
        ended = "max_events" if sent >= max_events else "max_seconds"
        yield explorer_pb2.MonitorEvent(ended=ended, dropped=dropped[0])
    finally:
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(BaseException):
                await task
        for node, client in watched:
            if node:
                await client.aclose(close_connection_pool=True)
            else:
                await handle.close_subscriber(client)
