"""Redis routes: `/redis/[ref]/...` (keys, pub/sub, info, stats).

Keys and values are bytes end to end (:mod:`gateway.redis_codec` shapes them); the pub/sub
WebSocket is :mod:`gateway.routes.redis_pubsub`.
"""

from __future__ import annotations

from typing import Any

from google.protobuf import json_format
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route, WebSocketRoute

from gateway.calls import backends, call
from gateway.http import JSONResponse, field, query_bool, query_int, read_object
from gateway.redis_codec import b64decode, body_reader, key_body, key_json, path_key, text_or_b64
from gateway.routes import redis_pubsub
from udb.common.v1 import common_pb2
from udb.errors import InvalidArgument, NotFound
from udb.redis.v1 import redis_pb2
from udb.structs import plain_numbers

VIEWER = common_pb2.ROLE_VIEWER
DEVELOPER = common_pb2.ROLE_DEVELOPER


async def keys(request: Request) -> Response:
    """
    get:
      summary: One SCAN step with each key's type and TTL (viewers). Start with no cursor; "0" means done.
      parameters:
        - {name: pattern, in: query, schema: {type: string}, description: glob MATCH pattern}
        - {name: type, in: query, schema: {type: string}, description: 'string, hash, list, set, zset or stream'}
        - {name: count, in: query, schema: {type: integer, minimum: 1, maximum: 1000}}
        - {name: cursor, in: query, schema: {type: string}}
        - {name: with_size, in: query, schema: {type: boolean}, description: 'each key''s memory and length too'}
      responses:
        200: {description: '{"data": [{"key", "type", "ttl", "memory"?, "length"?}], "cursor": "0"}'}
        400: {description: 'a bad pattern, type, count or cursor'}
    """
    params = request.query_params
    pattern = params.get("pattern", "")
    reply = await call(
        request,
        backends(request).redis.ScanKeys,
        lambda target: redis_pb2.ScanKeysRequest(
            target=target,
            pattern=b64decode(pattern, "pattern", urlsafe=True)
            if params.get("encoding") == "base64"
            else pattern.encode(),
            type=params.get("type", ""),
            count=query_int(request, "count", 0, minimum=1, maximum=1000),
            cursor=params.get("cursor", ""),
            with_size=query_bool(request, "with_size", False),
        ),
        role=VIEWER,
    )
    data = []
    for summary in reply.keys:
        text, binary = text_or_b64(summary.key)
        entry: dict[str, Any] = {"key": text, "type": summary.type, "ttl": summary.ttl}
        if summary.HasField("memory"):
            entry["memory"] = summary.memory
        if summary.HasField("length"):
            entry["length"] = summary.length
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
    data, rest = path_key(request)
    if rest == "expire":  # a key with '/' in it, followed by /expire
        if request.method != "POST":
            raise HTTPException(status_code=405)
        return await _expire(request, data)
    if rest:
        raise NotFound("no such route")
    b = backends(request)
    method = request.method
    if method == "GET":
        found = await call(request, b.redis.GetKey, lambda target: _get_key(request, target, data), role=VIEWER)
        return JSONResponse(key_json(found))
    if method == "DELETE":
        delete = redis_pb2.DeleteKeyRequest
        deleted = await call(request, b.redis.DeleteKey, lambda target: delete(target=target, key=data), role=DEVELOPER)
        return JSONResponse({"deleted": deleted.deleted})

    async def create(target: common_pb2.ConnectionTarget) -> redis_pb2.CreateKeyRequest:
        value, ttl = await key_body(request, b.settings.max_body_bytes)
        return redis_pb2.CreateKeyRequest(target=target, key=data, value=value, ttl=ttl)

    async def update(target: common_pb2.ConnectionTarget) -> redis_pb2.UpdateKeyRequest:
        value, ttl = await key_body(request, b.settings.max_body_bytes)
        return redis_pb2.UpdateKeyRequest(target=target, key=data, value=value, ttl=ttl)

    if method == "POST":
        written = await call(request, b.redis.CreateKey, create, role=DEVELOPER)
    else:
        written = await call(request, b.redis.UpdateKey, update, role=DEVELOPER)
    text, binary = text_or_b64(written.key)
    summary = {
        "key": text,
        "type": written.type,
        "ttl": written.ttl,
        "size": written.size,
        "encoding": "base64" if binary else "utf-8",
        "object_encoding": written.encoding,
    }
    return JSONResponse(summary, status_code=201 if method == "POST" else 200)


def _get_key(request: Request, target: common_pb2.ConnectionTarget, key: bytes) -> redis_pb2.GetKeyRequest:
    params = request.query_params
    get = redis_pb2.GetKeyRequest(
        target=target,
        key=key,
        max_bytes=query_int(request, "max_bytes", 0, minimum=1),
        cursor=params.get("cursor", ""),
        count=query_int(request, "count", 0, minimum=1, maximum=1000),
    )
    if "start" in params:
        get.start = query_int(request, "start", 0, minimum=-(2**62), maximum=2**62)
    if "stop" in params:
        get.stop = query_int(request, "stop", -1, minimum=-(2**62), maximum=2**62)
    return get


async def expire(request: Request) -> Response:
    """
    post:
      summary: 'Sets a key''s TTL in seconds, or removes it with {"ttl": null} (developers).'
      requestBody: {content: {application/json: {example: {ttl: 60}}}}
      responses: {200: {description: '{"ttl": 60}'}, 400: {description: ttl below 0}, 404: {description: no such key}}
    """
    data, rest = path_key(request)
    if not rest:  # POST to a key whose name ends in "/expire": a create
        return await key(request)
    return await _expire(request, data)


async def _expire(request: Request, data: bytes) -> Response:
    b = backends(request)

    async def build(target: common_pb2.ConnectionTarget) -> redis_pb2.ExpireKeyRequest:
        body = await read_object(request, b.settings.max_body_bytes, allowed=frozenset({"ttl"}))
        if "ttl" not in body:
            raise InvalidArgument("ttl is required (null removes the expiry)", details={"field": "ttl"})
        ttl = field(body, "ttl", int)
        if ttl is not None and ttl < 0:
            raise InvalidArgument("ttl must not be below 0", details={"field": "ttl"})
        return redis_pb2.ExpireKeyRequest(target=target, key=data, ttl=ttl)

    reply = await call(request, b.redis.ExpireKey, build, role=DEVELOPER)
    return JSONResponse({"ttl": reply.ttl})


async def channels(request: Request) -> Response:
    """
    get:
      summary: Active channels with their subscriber counts (viewers).
      parameters: [{name: pattern, in: query, schema: {type: string}}]
      responses: {200: {description: '{"data": [{"channel", "subscribers"}]}'}}
    """
    pattern = request.query_params.get("pattern", "").encode()
    reply = await call(
        request,
        backends(request).redis.ListChannels,
        lambda target: redis_pb2.ListChannelsRequest(target=target, pattern=pattern),
        role=VIEWER,
    )
    data = []
    for channel in reply.channels:
        text, binary = text_or_b64(channel.channel)
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

    async def build(target: common_pb2.ConnectionTarget) -> redis_pb2.PublishRequest:
        fields = frozenset({"channel", "message", "encoding"})
        body = await read_object(request, b.settings.max_body_bytes, allowed=fields)
        read = body_reader(body)
        channel = read(field(body, "channel", str, required=True), "channel")
        if "message" not in body:
            raise InvalidArgument("message is required", details={"field": "message"})
        return redis_pb2.PublishRequest(target=target, channel=channel, message=read(body["message"], "message"))

    reply = await call(request, b.redis.Publish, build, role=DEVELOPER)
    return JSONResponse({"receivers": reply.receivers})


async def info(request: Request) -> Response:
    """
    get:
      summary: INFO parsed into sections (viewers).
      parameters: [{name: section, in: query, schema: {type: string}, description: 'one section, e.g. memory'}]
      responses: {200: {description: '{"server": {...}, "memory": {...}, ...}'}, 400: {description: unknown section}}
    """
    section = request.query_params.get("section", "")
    reply = await call(
        request,
        backends(request).redis.GetInfo,
        lambda target: redis_pb2.GetInfoRequest(target=target, section=section),
        role=VIEWER,
    )
    # google.protobuf.Struct holds every number as a double: whole numbers show as integers.
    return JSONResponse(
        {name: plain_numbers(json_format.MessageToDict(section)) for name, section in reply.sections.items()}
    )


async def stats(request: Request) -> Response:
    """
    get:
      summary: Server figures for a dashboard (viewers).
      responses:
        200: {description: '{"ops_per_sec", "connected_clients", "used_memory", "hit_rate", "keyspace", "uptime_s"}'}
    """
    reply = await call(
        request, backends(request).redis.GetStats, lambda target: redis_pb2.GetStatsRequest(target=target), role=VIEWER
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
