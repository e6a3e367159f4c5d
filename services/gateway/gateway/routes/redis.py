"""Redis routes: `/redis/[ref]/...` (keys, pub/sub, info, stats).

Keys and values are bytes end to end. A path's ``[key]`` is percent-encoded (read from the raw
path, so ``%2F`` stays inside the key), or base64url with ``?encoding=base64``. A reply whose key
or value is not UTF-8 carries ``"encoding": "base64"`` and every binary part in base64; a body
with ``"encoding": "base64"`` sends them the same way.
"""

from __future__ import annotations

import base64
import binascii
import logging
import math
from typing import Any
from urllib.parse import unquote_to_bytes

import orjson
from google.protobuf import json_format
from starlette.exceptions import HTTPException
from starlette.requests import HTTPConnection, Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route, WebSocketRoute

from gateway.backends import Caller
from gateway.http import JSONResponse, field, query_int, read_object
from gateway.routes import redis_pubsub
from gateway.routes.common import backends
from udb.common.v1 import common_pb2
from udb.errors import DatabaseError, InvalidArgument, NotFound
from udb.redis.v1 import redis_pb2

log = logging.getLogger("gateway.redis")

VIEWER = common_pb2.ROLE_VIEWER
DEVELOPER = common_pb2.ROLE_DEVELOPER

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


def _text_or_b64(data: bytes) -> tuple[str, bool]:
    try:
        return data.decode(), False
    except UnicodeDecodeError:
        return base64.b64encode(data).decode(), True


def _path_key(connection: HTTPConnection) -> tuple[bytes, str]:
    """The key of ``/keys/[key]`` (binary-safe, from the raw path) and what follows it."""
    raw_path: bytes = connection.scope.get("raw_path") or connection.scope["path"].encode()
    raw_path = raw_path.split(b"?", 1)[0]
    _, sep, tail = raw_path.partition(b"/keys/")
    if not sep or not tail:
        raise NotFound("no such route")
    segment, _, rest = tail.partition(b"/")
    data = unquote_to_bytes(segment)
    if connection.query_params.get("encoding") == "base64":
        data = _b64decode(data, "key", urlsafe=True)
    if not data:
        raise InvalidArgument("key must not be empty", details={"parameter": "key"})
    return data, rest.decode("latin-1")


def _b64decode(data: bytes | str, what: str, *, urlsafe: bool = False) -> bytes:
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


class _Reader:
    """Turns a body's text parts into bytes: UTF-8, or base64 when the body says so."""

    def __init__(self, base64_parts: bool) -> None:
        self.base64 = base64_parts

    def __call__(self, value: Any, what: str) -> bytes:
        if not isinstance(value, str):
            raise InvalidArgument(f"{what} must be a string", details={"field": what})
        return _b64decode(value, what) if self.base64 else value.encode()


def _score(value: Any) -> float:
    if isinstance(value, bool):
        raise InvalidArgument("score must be a number", details={"field": "score"})
    if isinstance(value, int | float):
        return float(value)
    if isinstance(value, str) and value.lower() in ("inf", "+inf", "-inf"):
        return -math.inf if value.startswith("-") else math.inf
    raise InvalidArgument("score must be a number, 'inf' or '-inf'", details={"field": "score"})


def value_proto(key_type: str, value: Any, read: _Reader) -> redis_pb2.Value:
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


async def _key_body(request: Request) -> tuple[redis_pb2.Value, int | None]:
    body = await read_object(request, backends(request).settings.max_body_bytes, allowed=_KEY_BODY)
    type_name = field(body, "type", str, required=True)
    key_type = _TYPE_ALIASES.get(type_name)
    if key_type is None:
        raise InvalidArgument("type must be string, hash, list, set, zset, stream or json", details={"field": "type"})
    if "value" not in body or (body["value"] is None and key_type != "json"):
        raise InvalidArgument("value is required", details={"field": "value"})
    encoding = field(body, "encoding", str)
    if encoding not in (None, "utf-8", "utf8", "base64"):
        raise InvalidArgument("encoding must be utf-8 or base64", details={"field": "encoding"})
    ttl = field(body, "ttl", int)
    if ttl is not None and ttl < 1:
        raise InvalidArgument("ttl must be at least 1 second", details={"field": "ttl"})
    return value_proto(key_type, body["value"], _Reader(encoding == "base64")), ttl


# ---- routes ---------------------------------------------------------------------------------


async def _caller(connection: HTTPConnection, role: int) -> Caller:
    return await backends(connection).authorize(connection, role)


async def keys(request: Request) -> Response:
    """
    get:
      summary: One SCAN step with each key's type and TTL (viewers). Start with no cursor; "0" means done.
      parameters:
        - {name: pattern, in: query, schema: {type: string}, description: glob MATCH pattern}
        - {name: type, in: query, schema: {type: string}, description: 'string, hash, list, set, zset or stream'}
        - {name: count, in: query, schema: {type: integer, minimum: 1, maximum: 1000}}
        - {name: cursor, in: query, schema: {type: string}}
      responses:
        200: {description: '{"data": [{"key", "type", "ttl"}], "cursor": "0"}'}
        400: {description: 'a bad pattern, type, count or cursor'}
    """
    b = backends(request)
    caller = await _caller(request, VIEWER)
    params = request.query_params
    pattern = params.get("pattern", "")
    reply = await b.redis.ScanKeys(
        redis_pb2.ScanKeysRequest(
            target=caller.target,
            pattern=_b64decode(pattern, "pattern", urlsafe=True)
            if params.get("encoding") == "base64"
            else pattern.encode(),
            type=params.get("type", ""),
            count=query_int(request, "count", 0, minimum=1, maximum=1000),
            cursor=params.get("cursor", ""),
        ),
        metadata=caller.metadata,
        timeout=b.settings.read_deadline_s,
    )
    data = []
    for summary in reply.keys:
        text, binary = _text_or_b64(summary.key)
        entry: dict[str, Any] = {"key": text, "type": summary.type, "ttl": summary.ttl}
        if binary:
            entry["encoding"] = "base64"
        data.append(entry)
    return JSONResponse({"data": data, "cursor": reply.cursor or "0"})


async def key(request: Request) -> Response:
    """
    get:
      summary: A key's value by type (viewers). Hash, set and zset page by cursor/count, list by start/stop,
        stream by start/stop or cursor/count; strings are cut at max_bytes.
      parameters:
        - {name: encoding, in: query, schema: {type: string, enum: [base64]}, description: the key segment is base64url}
        - {name: max_bytes, in: query, schema: {type: integer}}
        - {name: cursor, in: query, schema: {type: string}}
        - {name: count, in: query, schema: {type: integer, minimum: 1, maximum: 1000}}
        - {name: start, in: query, schema: {type: integer}}
        - {name: stop, in: query, schema: {type: integer}}
      responses:
        200:
          description: '{"key", "type", "ttl", "size", "encoding", "object_encoding", "value", "truncated", "cursor"}'
        404: {description: no such key}
    post:
      summary: Creates a key (developers). 409 when it exists.
      requestBody: {content: {application/json: {example: {type: hash, value: {a: '1'}, ttl: 60}}}}
      responses: {201: {description: the new key's summary}, 409: {description: the key exists}}
    put:
      summary: Replaces a key's value atomically (developers). 404 when missing.
      responses: {200: {description: the key's summary}, 404: {description: no such key}}
    delete:
      summary: Deletes a key with UNLINK (developers).
      responses: {200: {description: '{"deleted": 1}'}, 404: {description: no such key}}
    """
    data, rest = _path_key(request)
    if rest == "expire":  # a key with '/' in it, followed by /expire
        if request.method != "POST":
            raise HTTPException(status_code=405)
        return await _expire(request, data)
    if rest:
        raise NotFound("no such route")
    b = backends(request)
    method = request.method
    if method == "GET":
        caller = await _caller(request, VIEWER)
        params = request.query_params
        get = redis_pb2.GetKeyRequest(
            target=caller.target,
            key=data,
            max_bytes=query_int(request, "max_bytes", 0, minimum=1),
            cursor=params.get("cursor", ""),
            count=query_int(request, "count", 0, minimum=1, maximum=1000),
        )
        if "start" in params:
            get.start = query_int(request, "start", 0, minimum=-(2**62), maximum=2**62)
        if "stop" in params:
            get.stop = query_int(request, "stop", -1, minimum=-(2**62), maximum=2**62)
        found = await b.redis.GetKey(get, metadata=caller.metadata, timeout=b.settings.read_deadline_s)
        return JSONResponse(key_json(found))
    caller = await _caller(request, DEVELOPER)
    if method == "DELETE":
        deleted = await b.redis.DeleteKey(
            redis_pb2.DeleteKeyRequest(target=caller.target, key=data),
            metadata=caller.metadata,
            timeout=b.settings.write_deadline_s,
        )
        return JSONResponse({"deleted": deleted.deleted})
    value, ttl = await _key_body(request)
    if method == "POST":
        written = await b.redis.CreateKey(
            redis_pb2.CreateKeyRequest(target=caller.target, key=data, value=value, ttl=ttl),
            metadata=caller.metadata,
            timeout=b.settings.write_deadline_s,
        )
    else:
        written = await b.redis.UpdateKey(
            redis_pb2.UpdateKeyRequest(target=caller.target, key=data, value=value, ttl=ttl),
            metadata=caller.metadata,
            timeout=b.settings.write_deadline_s,
        )
    text, binary = _text_or_b64(written.key)
    summary = {
        "key": text,
        "type": written.type,
        "ttl": written.ttl,
        "size": written.size,
        "encoding": "base64" if binary else "utf-8",
        "object_encoding": written.encoding,
    }
    return JSONResponse(summary, status_code=201 if method == "POST" else 200)


async def expire(request: Request) -> Response:
    """
    post:
      summary: 'Sets a key''s TTL in seconds, or removes it with {"ttl": null} (developers).'
      requestBody: {content: {application/json: {example: {ttl: 60}}}}
      responses: {200: {description: '{"ttl": 60}'}, 400: {description: ttl below 0}, 404: {description: no such key}}
    """
    data, rest = _path_key(request)
    if not rest:  # POST to a key whose name ends in "/expire": a create
        return await key(request)
    return await _expire(request, data)


async def _expire(request: Request, data: bytes) -> Response:
    b = backends(request)
    caller = await _caller(request, DEVELOPER)
    body = await read_object(request, b.settings.max_body_bytes, allowed=frozenset({"ttl"}))
    if "ttl" not in body:
        raise InvalidArgument("ttl is required (null removes the expiry)", details={"field": "ttl"})
    ttl = field(body, "ttl", int)
    if ttl is not None and ttl < 0:
        raise InvalidArgument("ttl must not be below 0", details={"field": "ttl"})
    reply = await b.redis.ExpireKey(
        redis_pb2.ExpireKeyRequest(target=caller.target, key=data, ttl=ttl),
        metadata=caller.metadata,
        timeout=b.settings.write_deadline_s,
    )
    return JSONResponse({"ttl": reply.ttl})


async def channels(request: Request) -> Response:
    """
    get:
      summary: Active channels with their subscriber counts (viewers).
      parameters: [{name: pattern, in: query, schema: {type: string}}]
      responses: {200: {description: '{"data": [{"channel", "subscribers"}]}'}}
    """
    b = backends(request)
    caller = await _caller(request, VIEWER)
    reply = await b.redis.ListChannels(
        redis_pb2.ListChannelsRequest(target=caller.target, pattern=request.query_params.get("pattern", "").encode()),
        metadata=caller.metadata,
        timeout=b.settings.read_deadline_s,
    )
    data = []
    for channel in reply.channels:
        text, binary = _text_or_b64(channel.channel)
        entry: dict[str, Any] = {"channel": text, "subscribers": channel.subscribers}
        if binary:
            entry["encoding"] = "base64"
        data.append(entry)
    return JSONResponse({"data": data})


async def publish(request: Request) -> Response:
    """
    post:
      summary: 'Publishes a message (developers); "encoding": "base64" for a binary channel and message.'
      requestBody: {content: {application/json: {example: {channel: news, message: hello}}}}
      responses: {200: {description: '{"receivers": 1}'}}
    """
    b = backends(request)
    caller = await _caller(request, DEVELOPER)
    body = await read_object(request, b.settings.max_body_bytes, allowed=frozenset({"channel", "message", "encoding"}))
    encoding = field(body, "encoding", str)
    if encoding not in (None, "utf-8", "utf8", "base64"):
        raise InvalidArgument("encoding must be utf-8 or base64", details={"field": "encoding"})
    read = _Reader(encoding == "base64")
    channel = read(field(body, "channel", str, required=True), "channel")
    if "message" not in body:
        raise InvalidArgument("message is required", details={"field": "message"})
    message = read(body["message"], "message")
    reply = await b.redis.Publish(
        redis_pb2.PublishRequest(target=caller.target, channel=channel, message=message),
        metadata=caller.metadata,
        timeout=b.settings.write_deadline_s,
    )
    return JSONResponse({"receivers": reply.receivers})


def _number(value: Any) -> Any:
    # google.protobuf.Struct holds every number as a double: show whole numbers as integers.
    if isinstance(value, float) and value.is_integer() and abs(value) < 2**53:
        return int(value)
    if isinstance(value, dict):
        return {name: _number(item) for name, item in value.items()}
    return value


async def info(request: Request) -> Response:
    """
    get:
      summary: INFO parsed into sections (viewers).
      parameters: [{name: section, in: query, schema: {type: string}, description: 'one section, e.g. memory'}]
      responses: {200: {description: '{"server": {...}, "memory": {...}, ...}'}, 400: {description: unknown section}}
    """
    b = backends(request)
    caller = await _caller(request, VIEWER)
    reply = await b.redis.GetInfo(
        redis_pb2.GetInfoRequest(target=caller.target, section=request.query_params.get("section", "")),
        metadata=caller.metadata,
        timeout=b.settings.read_deadline_s,
    )
    return JSONResponse({name: _number(json_format.MessageToDict(section)) for name, section in reply.sections.items()})


async def stats(request: Request) -> Response:
    """
    get:
      summary: Server figures for a dashboard (viewers).
      responses:
        200: {description: '{"ops_per_sec", "connected_clients", "used_memory", "hit_rate", "keyspace", "uptime_s"}'}
    """
    b = backends(request)
    caller = await _caller(request, VIEWER)
    reply = await b.redis.GetStats(
        redis_pb2.GetStatsRequest(target=caller.target), metadata=caller.metadata, timeout=b.settings.read_deadline_s
    )
    return JSONResponse(
        {
            "ops_per_sec": reply.ops_per_sec,
            "connected_clients": reply.connected_clients,
            "used_memory": reply.used_memory,
            "hit_rate": reply.hit_rate,
            "keyspace": {db: {"keys": ks.keys, "expires": ks.expires} for db, ks in sorted(reply.keyspace.items())},
            "uptime_s": reply.uptime_s,
        }
    )


routes: list[BaseRoute] = [
    Route("/redis/{ref}/keys", keys, methods=["GET"]),
    # Before the catch-all below; both read the key from the raw path, where '/' inside a key
    # stays percent-encoded.
    Route("/redis/{ref}/keys/{key}/expire", expire, methods=["POST"]),
    Route("/redis/{ref}/keys/{key:path}", key, methods=["GET", "POST", "PUT", "DELETE"]),
    Route("/redis/{ref}/pubsub/channels", channels, methods=["GET"]),
    Route("/redis/{ref}/pubsub/publish", publish, methods=["POST"]),
    WebSocketRoute("/redis/{ref}/pubsub/subscribe", redis_pubsub.subscribe),
    Route("/redis/{ref}/info", info, methods=["GET"]),
    Route("/redis/{ref}/stats", stats, methods=["GET"]),
]
