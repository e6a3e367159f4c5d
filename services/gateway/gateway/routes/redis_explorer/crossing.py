"""What the explorer's route modules share: the one crossing to RedisExplorerService, and the
binary-safe codec of its replies (UTF-8, or base64 with ``"encoding": "base64"``)."""

from __future__ import annotations

import base64
import math
from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any

import grpc
import orjson
from google.protobuf.message import Message
from starlette.requests import HTTPConnection, Request
from starlette.responses import Response, StreamingResponse

from gateway.calls import authorize, backends, call, rpc_errors
from gateway.errors import api_body
from gateway.http import field, read_object
from gateway.redis_codec import Reader, b64decode
from udb.common.v1 import common_pb2
from udb.errors import InvalidArgument, from_rpc_error
from udb.interceptors import deadline_var
from udb.redis.v1 import explorer_pb2

VIEWER = common_pb2.ROLE_VIEWER
DEVELOPER = common_pb2.ROLE_DEVELOPER
ADMIN = common_pb2.ROLE_ADMIN

#: Progress replies: one JSON object a line, each sent as soon as it is known.
PROGRESS_MEDIA_TYPE = "application/x-ndjson"


async def explorer_call(
    connection: HTTPConnection,
    role: int,
    rpc: str,
    build: Callable[[common_pb2.ConnectionTarget], Message],
    *,
    stream: bool = False,
) -> Any:
    """A call of RedisExplorerService's ``rpc`` at ``role``: unary ones through
    :func:`gateway.calls.call`; a server stream is returned as its call (the caller iterates it
    and cancels it when its client goes), with no deadline (the service bounds every stream,
    and the route's deadline covers the authorization)."""
    method = getattr(backends(connection).redis_explorer, rpc)
    if not stream:
        return await call(connection, method, build, role=role)
    caller = await authorize(connection, role)
    # Outside the request's deadline (which every other call is capped by): a progress stream
    # outlives it, bounded by the service. The interceptors run in a task that copies this
    # context when the call is made.
    token = deadline_var.set(None)
    try:
        return method(build(caller.target), metadata=caller.metadata)
    finally:
        deadline_var.reset(token)


def query_bytes(request: HTTPConnection, name: str) -> bytes:
    """A binary-safe query parameter: UTF-8, or base64url with ``?encoding=base64``."""
    value = request.query_params.get(name, "")
    if request.query_params.get("encoding") == "base64":
        return b64decode(value, name, urlsafe=True)
    return value.encode()


async def binary_body(request: Request, allowed: frozenset[str]) -> tuple[dict[str, Any], Reader]:
    """The JSON body (fields ``allowed`` and ``encoding``) and the reader of its binary parts:
    UTF-8 text, or base64 with ``"encoding": "base64"``."""
    body = await read_object(request, backends(request).settings.max_body_bytes, allowed=allowed | {"encoding"})
    encoding = field(body, "encoding", str)
    if encoding not in (None, "utf-8", "utf8", "base64"):
        raise InvalidArgument("encoding must be utf-8 or base64", details={"field": "encoding"})
    return body, Reader(encoding == "base64")


def texts(parts: list[bytes]) -> tuple[list[str], bool]:
    """``parts`` as text, or all of them base64 (then True) when one is not UTF-8."""
    try:
        return [part.decode() for part in parts], False
    except UnicodeDecodeError:
        return [base64.b64encode(part).decode() for part in parts], True


def named(entry: dict[str, Any], **parts: bytes) -> dict[str, Any]:
    """``entry`` with ``parts`` as text, or all of them base64 with ``"encoding": "base64"``."""
    shown, binary = texts(list(parts.values()))
    entry.update(zip(parts, shown, strict=True))
    if binary:
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


async def progress_reply(call: Any, render: Callable[[Any], dict[str, Any]]) -> Response:
    """A server stream's messages as NDJSON, one line each as it comes. The first message is
    awaited before the reply starts, so that a refusal (a bad token, a missing role) keeps its
    own status; a failure later is the last line, ``{"error": {"code", "message", "details"}}``.
    The stream is cancelled when the client goes away (that is how a caller stops it)."""
    try:
        with rpc_errors():
            first = await anext(aiter(call))
    except StopAsyncIteration:
        first = None
    except BaseException:
        call.cancel()
        raise

    async def lines() -> AsyncIterator[bytes]:
        try:
            if first is not None:
                yield orjson.dumps(render(first)) + b"\n"
            async for message in call:
                yield orjson.dumps(render(message)) + b"\n"
        except grpc.RpcError as exc:
            yield orjson.dumps({"error": api_body(from_rpc_error(exc))["error"]}) + b"\n"
        finally:
            call.cancel()

    return StreamingResponse(lines(), media_type=PROGRESS_MEDIA_TYPE)
