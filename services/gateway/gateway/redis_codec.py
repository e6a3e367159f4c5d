"""Redis's bytes as the API shows them, and request bodies as protos (the routes are
:mod:`gateway.routes.redis`).

Keys and values are bytes end to end. A reply whose key or value is not UTF-8 carries
``"encoding": "base64"`` and every binary part in base64; a body with ``"encoding": "base64"``
sends them the same way. A path's ``[key]`` is percent-encoded (read from the raw path, so
``%2F`` stays inside the key), or base64url with ``?encoding=base64``.
"""

from __future__ import annotations

import base64
import binascii
import math
from typing import Any
from urllib.parse import unquote_to_bytes

import orjson
from starlette.requests import HTTPConnection, Request

from gateway.http import field, read_object
from udb.errors import DatabaseError, InvalidArgument, NotFound
from udb.redis.v1 import redis_pb2

_KEY_BODY = frozenset({"type", "value", "ttl", "encoding"})
_TYPE_ALIASES = {
    "string": "string",
    "hash": "hash",
    "list": "list",
    "set": "set",
    "zset": "zset",
    "stream": "stream",
    "json": "json",
    "ReJSON-RL": "json",
    "rejson": "json",
}


# ---- bytes <-> JSON -------------------------------------------------------------------------


def _decode_parts(parts: list[bytes]) -> list[str] | None:
    """Every part as text, or None when one of them is not UTF-8."""
    try:
        return [part.decode() for part in parts]
    except UnicodeDecodeError:
        return None


def _b64(parts: list[bytes]) -> list[str]:
    return [base64.b64encode(part).decode() for part in parts]


def _score_json(score: float) -> float | str:
    if math.isinf(score):
        return "inf" if score > 0 else "-inf"
    return score


def _flat_parts(key: redis_pb2.Key) -> list[bytes]:
    """Every binary part of a key's reply, key first, in a fixed order."""
    value = key.value
    kind = value.WhichOneof("kind")
    parts = [key.key]
    if kind == "string_value":
        parts.append(value.string_value)
    elif kind == "hash_value":
        for item in value.hash_value.fields:
            parts += (item.field, item.value)
    elif kind == "list_value":
        parts.extend(value.list_value.elements)
    elif kind == "set_value":
        parts.extend(value.set_value.members)
    elif kind == "zset_value":
        parts.extend(item.member for item in value.zset_value.members)
    elif kind == "stream_value":
        for entry in value.stream_value.entries:
            for item in entry.fields:
                parts += (item.field, item.value)
    return parts


def key_json(key: redis_pb2.Key) -> dict[str, Any]:
    """A Key reply as the API shows it."""
    value = key.value
    kind = value.WhichOneof("kind")
    if kind == "string_value":
        # The hot path: one string, no list building.
        try:
            texts = [key.key.decode(), value.string_value.decode()]
            encoding = "utf-8"
        except UnicodeDecodeError:
            texts = _b64([key.key, value.string_value])
            encoding = "base64"
    else:
        parts = _flat_parts(key)
        decoded = _decode_parts(parts)
        encoding = "utf-8" if decoded is not None else "base64"
        texts = decoded if decoded is not None else _b64(parts)
    reply: dict[str, Any] = {
        "key": texts[0],
        "type": key.type,
        "ttl": key.ttl,
        "size": key.size,
        "encoding": encoding,
        "object_encoding": key.encoding,
        "value": _value_json(key, texts),
        "truncated": key.truncated,
    }
    if key.type in ("hash", "set", "zset", "stream"):
        reply["cursor"] = key.cursor or "0"
    return reply


def _value_json(key: redis_pb2.Key, texts: list[str]) -> Any:
    value = key.value
    kind = value.WhichOneof("kind")
    if kind == "string_value":
        return texts[1]
    if kind == "hash_value":
        return {texts[i]: texts[i + 1] for i in range(1, len(texts), 2)}
    if kind in ("list_value", "set_value"):
        return texts[1:]
    if kind == "zset_value":
        return [
            {"member": texts[i + 1], "score": _score_json(item.score)}
            for i, item in enumerate(value.zset_value.members)
        ]
    if kind == "stream_value":
        entries = []
        position = 1
        for entry in value.stream_value.entries:
            fields = {}
            for _ in entry.fields:
                fields[texts[position]] = texts[position + 1]
                position += 2
            entries.append({"id": entry.id, "fields": fields})
        return entries
    if kind == "json_value":
        return orjson.Fragment(value.json_value)
    return None


def text_or_b64(data: bytes) -> tuple[str, bool]:
    try:
        return data.decode(), False
    except UnicodeDecodeError:
        return base64.b64encode(data).decode(), True


def path_key(connection: HTTPConnection) -> tuple[bytes, str]:
    """The key of ``/keys/[key]`` (binary-safe, from the raw path) and what follows it."""
    raw_path: bytes = connection.scope.get("raw_path") or connection.scope["path"].encode()
    raw_path = raw_path.split(b"?", 1)[0]
    _, sep, tail = raw_path.partition(b"/keys/")
    if not sep or not tail:
        raise NotFound("no such route")
    segment, _, rest = tail.partition(b"/")
    data = unquote_to_bytes(segment)
    if connection.query_params.get("encoding") == "base64":
        data = b64decode(data, "key", urlsafe=True)
    if not data:
        raise InvalidArgument("key must not be empty", details={"parameter": "key"})
    return data, rest.decode("latin-1")


def b64decode(data: bytes | str, what: str, *, urlsafe: bool = False) -> bytes:
    text = data.encode() if isinstance(data, str) else data
    text = text.strip()
    text += b"=" * (-len(text) % 4)
    try:
        if urlsafe:
            return base64.b64decode(text, altchars=b"-_", validate=True)
        return base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        raise InvalidArgument(f"{what} is not valid base64", details={"field": what}) from None


# ---- bodies -> protos -------------------------------------------------------------------------


class Reader:
    """Turns a body's text parts into bytes: UTF-8, or base64 when the body says so."""

    def __init__(self, base64_parts: bool) -> None:
        self.base64 = base64_parts

    def __call__(self, value: Any, what: str) -> bytes:
        if not isinstance(value, str):
            raise InvalidArgument(f"{what} must be a string", details={"field": what})
        return b64decode(value, what) if self.base64 else value.encode()


def _score(value: Any) -> float:
    if isinstance(value, bool):
        raise InvalidArgument("score must be a number", details={"field": "score"})
    if isinstance(value, int | float):
        return float(value)
    if isinstance(value, str) and value.lower() in ("inf", "+inf", "-inf"):
        return -math.inf if value.startswith("-") else math.inf
    raise InvalidArgument("score must be a number, 'inf' or '-inf'", details={"field": "score"})


def value_proto(key_type: str, value: Any, read: Reader) -> redis_pb2.Value:
    """The body's ``value`` for a key of ``key_type``; 400 naming what is wrong with its shape."""
    shapes = {
        "string": "a string",
        "hash": 'an object of strings: {"field": "value"}',
        "list": "an array of strings",
        "set": "an array of strings",
        "zset": 'an array of {"member", "score"}',
        "stream": 'an array of {"id"?, "fields": {..}}',
    }
    wrong = InvalidArgument(f"a {key_type} value must be {shapes.get(key_type, 'JSON')}", details={"field": "value"})
    message = redis_pb2.Value()
    if key_type == "string":
        message.string_value = read(value, "value") if isinstance(value, str) else _raise(wrong)
    elif key_type == "hash":
        if not isinstance(value, dict):
            raise wrong
        fields = message.hash_value.fields
        for name, item in value.items():
            fields.add(field=read(name, "field"), value=read(item, "value"))
    elif key_type in ("list", "set"):
        if not isinstance(value, list):
            raise wrong
        target = message.list_value.elements if key_type == "list" else message.set_value.members
        target.extend(read(item, "value") for item in value)
    elif key_type == "zset":
        if not isinstance(value, list):
            raise wrong
        members = message.zset_value.members
        for item in value:
            if not isinstance(item, dict) or "member" not in item or "score" not in item:
                raise wrong
            members.add(member=read(item["member"], "member"), score=_score(item["score"]))
    elif key_type == "stream":
        if not isinstance(value, list):
            raise wrong
        entries = message.stream_value.entries
        for item in value:
            if not isinstance(item, dict) or not isinstance(item.get("fields"), dict):
                raise wrong
            entry_id = item.get("id") or "*"
            if not isinstance(entry_id, str):
                raise InvalidArgument("a stream id must be a string such as '1-0' or '*'", details={"field": "id"})
            entry = entries.add(id=entry_id)
            for name, field_value in item["fields"].items():
                entry.fields.add(field=read(name, "field"), value=read(field_value, "value"))
    else:  # json
        message.json_value = orjson.dumps(value).decode()
    return message


def _raise(error: DatabaseError) -> Any:
    raise error


async def key_body(request: Request, max_body_bytes: int) -> tuple[redis_pb2.Value, int | None]:
    """The value and TTL of a key's create or replace body."""
    body = await read_object(request, max_body_bytes, allowed=_KEY_BODY)
    type_name = field(body, "type", str, required=True)
    key_type = _TYPE_ALIASES.get(type_name)
    if key_type is None:
        raise InvalidArgument("type must be string, hash, list, set, zset, stream or json", details={"field": "type"})
    if "value" not in body or (body["value"] is None and key_type != "json"):
        raise InvalidArgument("value is required", details={"field": "value"})
    ttl = field(body, "ttl", int)
    if ttl is not None and ttl < 1:
        raise InvalidArgument("ttl must be at least 1 second", details={"field": "ttl"})
    return value_proto(key_type, body["value"], body_reader(body)), ttl


def body_reader(body: dict[str, Any]) -> Reader:
    """The reader of a body's text parts, by its ``encoding`` (utf-8 when absent)."""
    encoding = field(body, "encoding", str)
    if encoding not in (None, "utf-8", "utf8", "base64"):
        raise InvalidArgument("encoding must be utf-8 or base64", details={"field": "encoding"})
    return Reader(encoding == "base64")
