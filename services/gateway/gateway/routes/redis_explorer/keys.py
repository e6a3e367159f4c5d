"""The key tree and the command workbench: `/redis/[ref]/tree` and `/redis/[ref]/command`."""

from __future__ import annotations

import shlex
from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from gateway.http import JSONResponse, query_bool, query_int
from gateway.redis_codec import Reader
from gateway.routes.redis_explorer.crossing import (
    VIEWER,
    binary_body,
    envelope,
    explorer_call,
    key_row,
    named,
    query_bytes,
)
from udb.errors import InvalidArgument
from udb.redis.v1 import explorer_pb2


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
        - {name: encoding, in: query, schema: {type: string, enum: [base64]}, description: base64url values}
      responses:
        200:
          description: '{"namespaces": [{"prefix", "keys"}], "keys": [{"key", "type", "ttl", "memory"?, "length"?}],
            "cursor", "scanned", "total"}'
        400: {description: 'a bad prefix, delimiter, cursor or scan_limit'}
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


def command_args(value: Any, read: Reader) -> list[bytes]:
    """The body's command: an array of arguments (each base64 with ``"encoding": "base64"``) or
    one line split as redis-cli does (quotes group, backslashes escape)."""
    if isinstance(value, str):
        if read.base64:
            raise InvalidArgument("a base64 command must be an array of arguments", details={"field": "command"})
        try:
            words = shlex.split(value)
        except ValueError as exc:
            raise InvalidArgument(f"command: {exc}", details={"field": "command"}) from None
        return [word.encode() for word in words]
    if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
        raise InvalidArgument("command must be a string or an array of strings", details={"field": "command"})
    return [read(item, "command") for item in value]


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
        400: {description: 'an empty or malformed command, or Redis refused it'}
        403: {description: 'the command is not allowed, or needs a higher role'}
    """
    body, read = await binary_body(request, frozenset({"command"}))
    if "command" not in body:
        raise InvalidArgument("command is required", details={"field": "command"})
    args = command_args(body["command"], read)
    reply = await explorer_call(
        request,
        VIEWER,
        "RunCommand",
        lambda target: explorer_pb2.RunCommandRequest(target=target, args=args),
    )
    value, reply_encoding = envelope(reply.reply)
    return JSONResponse({"command": reply.command, "write": reply.write, "reply": value, "encoding": reply_encoding})


ROUTES = [
    Route("/redis/{ref}/tree", tree, methods=["GET"]),
    Route("/redis/{ref}/command", command, methods=["POST"]),
]
