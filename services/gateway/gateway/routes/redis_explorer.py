"""The Redis explorer's routes: `/redis/[ref]/tree`, `command`, `streams/...`, `bulk-delete/...`,
`analysis`, `slowlog`, `clients` (the monitor's WebSocket: :mod:`gateway.routes.redis_monitor`).

Binary-safe like the key routes: a key, prefix or pattern in the query is UTF-8, or base64url
with ``?encoding=base64``; a reply row whose bytes are not UTF-8 carries ``"encoding": "base64"``
and its binary parts in base64. Writes are audited by the gateway's middleware (every POST and
DELETE); the roles are checked here and again by redis-svc.
"""

from __future__ import annotations

import base64
import weakref
from collections.abc import Callable
from typing import Any

from google.protobuf.message import Message
from starlette.requests import HTTPConnection, Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from gateway.backends import Backends
from gateway.http import JSONResponse, query_bool, query_int
from gateway.routes.common import backends
from gateway.routes.redis import _b64decode
from udb.common.v1 import common_pb2
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


routes: list[BaseRoute] = [
    Route("/redis/{ref}/tree", tree, methods=["GET"]),
]
