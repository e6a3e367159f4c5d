"""HTTP helpers: JSON in and out, and reading bodies and parameters (error bodies: gateway.errors)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import orjson
from starlette.requests import HTTPConnection, Request
from starlette.responses import Response

from udb.errors import InvalidArgument, PayloadTooLarge

JSON_MEDIA_TYPE = "application/json; charset=utf-8"


class JSONResponse(Response):
    """A JSON reply serialized by orjson."""

    media_type = JSON_MEDIA_TYPE

    def render(self, content: Any) -> bytes:
        return orjson.dumps(content)


def raw_json(body: str | bytes, status_code: int = 200, headers: Mapping[str, str] | None = None) -> Response:
    """A reply whose JSON a service has already written (pass-through, no parse)."""
    return Response(body, status_code=status_code, media_type=JSON_MEDIA_TYPE, headers=headers)


async def read_body(request: Request, max_bytes: int) -> bytes:
    """The request's body, not empty; 413 past ``max_bytes``."""
    length = request.headers.get("content-length")
    if length is not None and length.isdigit() and int(length) > max_bytes:
        raise PayloadTooLarge(f"the body is over {max_bytes} bytes")
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > max_bytes:
            raise PayloadTooLarge(f"the body is over {max_bytes} bytes")
        chunks.append(chunk)
    body = b"".join(chunks)
    if not body:
        raise InvalidArgument("a JSON body is required")
    return body


async def read_json(request: Request, max_bytes: int) -> Any:
    """The request's JSON body; 413 past ``max_bytes``, 400 when it is not JSON."""
    body = await read_body(request, max_bytes)
    try:
        return orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise InvalidArgument(f"the body is not valid JSON: {exc.msg} at position {exc.pos}") from None


async def read_object(request: Request, max_bytes: int, *, allowed: frozenset[str] | None = None) -> dict[str, Any]:
    """The body as a JSON object; with ``allowed``, unknown fields are an error that names them."""
    body = await read_json(request, max_bytes)
    if not isinstance(body, dict):
        raise InvalidArgument("the body must be a JSON object")
    if allowed is not None:
        unknown = sorted(set(body) - allowed)
        if unknown:
            raise InvalidArgument(f"unknown fields: {', '.join(unknown)}", details={"fields": ",".join(unknown)})
    return body


def field(body: Mapping[str, Any], name: str, kind: type | tuple[type, ...], *, required: bool = False) -> Any:
    """A body field of the given JSON type (bool is not an int here); None when absent."""
    value = body.get(name)
    if value is None:
        if required:
            raise InvalidArgument(f"{name} is required", details={"field": name})
        return None
    kinds = kind if isinstance(kind, tuple) else (kind,)
    if isinstance(value, bool) and bool not in kinds:
        raise InvalidArgument(f"{name} has the wrong type", details={"field": name})
    if not isinstance(value, kinds):
        raise InvalidArgument(f"{name} has the wrong type", details={"field": name})
    return value


def query_int(request: Request, name: str, default: int, *, minimum: int = 0, maximum: int = 2**31 - 1) -> int:
    """An integer query parameter within bounds; 400 naming it otherwise."""
    text = request.query_params.get(name)
    if text is None or text == "":
        return default
    try:
        value = int(text)
    except ValueError:
        raise InvalidArgument(f"{name} must be an integer", details={"parameter": name}) from None
    if not minimum <= value <= maximum:
        raise InvalidArgument(f"{name} must be between {minimum} and {maximum}", details={"parameter": name})
    return value


def query_bool(request: Request, name: str, default: bool) -> bool:
    text = request.query_params.get(name)
    if text is None or text == "":
        return default
    lowered = text.lower()
    if lowered in ("true", "1", "yes"):
        return True
    if lowered in ("false", "0", "no"):
        return False
    raise InvalidArgument(f"{name} must be true or false", details={"parameter": name})


def query_list(connection: HTTPConnection, name: str) -> list[str]:
    """A comma-separated query parameter (repeated parameters are joined too), on a request or a
    WebSocket."""
    values: list[str] = []
    for text in connection.query_params.getlist(name):
        values.extend(part.strip() for part in text.split(",") if part.strip())
    return values
