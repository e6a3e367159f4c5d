"""The Redis explorer's routes: `/redis/[ref]/tree`, `command`, `streams/...`, `bulk-delete/...`,
`analysis`, `slowlog`, `clients` (the monitor's WebSocket: :mod:`gateway.routes.redis_monitor`).

Binary-safe like the key routes: a key, prefix or pattern in the query is UTF-8, or base64url
with ``?encoding=base64``; a reply row whose bytes are not UTF-8 carries ``"encoding": "base64"``
and its binary parts in base64. Writes are audited by the gateway's middleware (every POST and
DELETE); the roles are checked here and again by redis-svc.
"""

from __future__ import annotations

import base64
import math
import shlex
import weakref
from collections.abc import Callable, Iterator
from typing import Any

from google.protobuf.message import Message
from starlette.requests import HTTPConnection, Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from gateway.backends import Backends
from gateway.http import JSONResponse, field, query_bool, query_int, read_object
from gateway.routes.common import backends
from gateway.routes.redis import _b64decode
from udb.common.v1 import common_pb2
from udb.errors import InvalidArgument
from udb.redis.v1 import explorer_pb2, explorer_pb2_grpc

VIEWER = common_pb2.ROLE_VIEWER
DEVELOPER = common_pb2.ROLE_DEVELOPER
ADMIN = common_pb2.ROLE_ADMIN

_STUBS: weakref.WeakKeyDictionary[Backends, explorer_pb2_grpc.RedisExplorerServiceStub] = weakref.WeakKeyDictionary()


async def explorer_call(
    connection: HTTPConnection,
    role: int,
    rpc: str,
    build: Callable[[common_pb2.ConnectionTarget], Message],
    *,
    write: bool = False,
    stream: bool = False,
) -> Any:
    """The one crossing to RedisExplorerService: authorize at ``role``, then call ``rpc`` with the
    request ``build`` makes for the caller's target. A server stream is returned uncalled-upon
    (the caller iterates it and cancels it when its client goes); it has no deadline of its own
    (the service bounds every stream)."""
    b = backends(connection)
    caller = await b.authorize(connection, role)
    stub = _STUBS.get(b)
    if stub is None:
        stub = _STUBS[b] = explorer_pb2_grpc.RedisExplorerServiceStub(b.channels["redis-svc"])
    method = getattr(stub, rpc)
    if stream:
        return method(build(caller.target), metadata=caller.metadata)
    timeout = b.settings.write_deadline_s if write else b.settings.read_deadline_s
    return await method(build(caller.target), metadata=caller.metadata, timeout=timeout)


def query_bytes(request: HTTPConnection, name: str) -> bytes:
    """A binary-safe query parameter: UTF-8, or base64url with ``?encoding=base64``."""
    value = request.query_params.get(name, "")
    if request.query_params.get("encoding") == "base64":
        return _b64decode(value, name, urlsafe=True)
    return value.encode()


def named(entry: dict[str, Any], **parts: bytes) -> dict[str, Any]:
    """``entry`` with ``parts`` as text, or all of them base64 with ``"encoding": "base64"``
    when one is not UTF-8."""
    try:
        entry.update({name: value.decode() for name, value in parts.items()})
    except UnicodeDecodeError:
        entry.update({name: base64.b64encode(value).decode() for name, value in parts.items()})
        entry["encoding"] = "base64"
    return entry


def key_row(row: explorer_pb2.KeyRow) -> dict[str, Any]:
    entry = named({}, key=row.key)
    entry.update(type=row.type, ttl=row.ttl)
    if row.HasField("memory"):
        entry["memory"] = row.memory
    if row.HasField("length"):
        entry["length"] = row.length
    return entry


async def tree(request: Request) -> Response:
    """
    get:
      summary: One level of the key tree (viewers). Namespaces under `prefix` with their key counts, and
        the level's own keys, from one bounded stretch of SCAN (each primary of a cluster in turn). Counts
        cover the keys this call examined; follow `cursor` until "0" and add them up.
      parameters:
        - {name: prefix, in: query, schema: {type: string}, description: 'the level, e.g. "user:" (root when absent)'}
        - {name: delimiter, in: query, schema: {type: string, default: ':'}}
        - {name: cursor, in: query, schema: {type: string}}
        - {name: scan_limit, in: query, schema: {type: integer, minimum: 1, maximum: 100000, default: 10000}}
        - {name: with_size, in: query, schema: {type: boolean}, description: MEMORY USAGE and element count per key}
        - {name: encoding, in: query, schema: {type: string, enum: [base64]}, description: base64url prefix, delimiter}
      responses:
        200:
          description: '{"namespaces": [{"prefix", "keys"}], "keys": [{"key", "type", "ttl", "memory"?, "length"?}],
            "cursor", "scanned", "total"}'
        400: {description: a bad prefix, delimiter, cursor or scan_limit}
    """
    reply = await explorer_call(
        request,
        VIEWER,
        "ListKeyTree",
        lambda target: explorer_pb2.ListKeyTreeRequest(
            target=target,
            prefix=query_bytes(request, "prefix"),
            delimiter=query_bytes(request, "delimiter"),
            cursor=request.query_params.get("cursor", ""),
            scan_limit=query_int(request, "scan_limit", 0, minimum=1, maximum=100_000),
            with_size=query_bool(request, "with_size", False),
        ),
    )
    return JSONResponse(
        {
            "namespaces": [named({"keys": item.keys}, prefix=item.prefix) for item in reply.namespaces],
            "keys": [key_row(row) for row in reply.keys],
            "cursor": reply.cursor or "0",
            "scanned": reply.scanned,
            "total": reply.total,
        }
    )


def command_args(value: Any, encoding: str | None) -> list[bytes]:
    """The body's command: an array of arguments (each base64 with ``"encoding": "base64"``) or
    one line split as redis-cli does (quotes group, backslashes escape)."""
    if isinstance(value, str):
        if encoding == "base64":
            raise InvalidArgument("a base64 command must be an array of arguments", details={"field": "command"})
        try:
            words = shlex.split(value)
        except ValueError as exc:
            raise InvalidArgument(f"command: {exc}", details={"field": "command"}) from None
        return [word.encode() for word in words]
    if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
        raise InvalidArgument("command must be a string or an array of strings", details={"field": "command"})
    if encoding == "base64":
        return [_b64decode(item, "command") for item in value]
    return [item.encode() for item in value]


def _bulks(reply: explorer_pb2.RedisReply) -> Iterator[bytes]:
    kind = reply.WhichOneof("kind")
    if kind == "bulk":
        yield reply.bulk
    elif kind == "array":
        for item in reply.array.items:
            yield from _bulks(item)


def reply_json(reply: explorer_pb2.RedisReply, base64_parts: bool) -> Any:
    """A Redis reply as JSON: strings, integers, numbers, null, arrays; an error inside an array
    as ``{"error": message}``."""
    kind = reply.WhichOneof("kind")
    if kind == "bulk":
        return base64.b64encode(reply.bulk).decode() if base64_parts else reply.bulk.decode()
    if kind == "integer":
        return reply.integer
    if kind == "double":
        return reply.double if math.isfinite(reply.double) else str(reply.double)
    if kind == "array":
        return [reply_json(item, base64_parts) for item in reply.array.items]
    if kind == "error":
        return {"error": reply.error}
    return None


def envelope(reply: explorer_pb2.RedisReply) -> tuple[Any, str]:
    """The reply as JSON and its encoding: every string base64 when one is not UTF-8."""
    try:
        for part in _bulks(reply):
            part.decode()
    except UnicodeDecodeError:
        return reply_json(reply, True), "base64"
    return reply_json(reply, False), "utf-8"


async def command(request: Request) -> Response:
    """
    post:
      summary: Runs one command of the workbench's allow list. Viewers run read commands, developers writes
        too; FLUSHALL, FLUSHDB, CONFIG, DEBUG, SHUTDOWN, KEYS, MONITOR, SCRIPT, EVAL, MODULE, ACL, blocking
        commands and transactions are refused (403) for every role. Audited with the command's name.
      requestBody:
        content:
          application/json:
            example: {command: HGET user:1 name}
            schema:
              type: object
              properties:
                command: {description: 'one line ("SET k \"a b\"") or an array of arguments'}
                encoding: {type: string, enum: [utf-8, base64], description: the array's arguments are base64}
      responses:
        200: {description: '{"command": "HGET", "write": false, "reply": ..., "encoding": "utf-8"}'}
        400: {description: an empty or malformed command, or Redis refused it}
        403: {description: the command is not allowed, or needs a higher role}
    """
    body = await read_object(
        request, backends(request).settings.max_body_bytes, allowed=frozenset({"command", "encoding"})
    )
    encoding = field(body, "encoding", str)
    if encoding not in (None, "utf-8", "utf8", "base64"):
        raise InvalidArgument("encoding must be utf-8 or base64", details={"field": "encoding"})
    if "command" not in body:
        raise InvalidArgument("command is required", details={"field": "command"})
    args = command_args(body["command"], encoding)
    reply = await explorer_call(
        request,
        VIEWER,
        "RunCommand",
        lambda target: explorer_pb2.RunCommandRequest(target=target, args=args),
        write=True,
    )
    value, reply_encoding = envelope(reply.reply)
    return JSONResponse({"command": reply.command, "write": reply.write, "reply": value, "encoding": reply_encoding})


routes: list[BaseRoute] = [
    Route("/redis/{ref}/tree", tree, methods=["GET"]),
    Route("/redis/{ref}/command", command, methods=["POST"]),
]
