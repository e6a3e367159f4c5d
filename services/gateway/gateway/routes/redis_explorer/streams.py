"""Stream routes: `/redis/[ref]/streams/...`. Reads name the key (and group) in the query; writes
in the body, where the audit log reads the key's name."""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from gateway.http import JSONResponse, field, query_bool, query_int
from gateway.routes.redis_explorer.crossing import (
    DEVELOPER,
    VIEWER,
    binary_body,
    explorer_call,
    named,
    query_bytes,
    texts,
)
from udb.errors import InvalidArgument
from udb.redis.v1 import explorer_pb2


def _records(records: Any) -> list[dict[str, Any]]:
    """Entries as ``{"id", "fields": [[field, value], ...]}`` (pairs: a stream entry may repeat a
    field), each with ``"encoding": "base64"`` when one of its parts is not UTF-8."""
    shown = []
    for record in records:
        parts, binary = texts([part for item in record.fields for part in (item.field, item.value)])
        entry: dict[str, Any] = {"id": record.id, "fields": [parts[i : i + 2] for i in range(0, len(parts), 2)]}
        if binary:
            entry["encoding"] = "base64"
        shown.append(entry)
    return shown


def _ids(body: dict[str, Any]) -> list[str]:
    ids: list[Any] = field(body, "ids", list, required=True)
    if not all(isinstance(item, str) for item in ids):
        raise InvalidArgument("ids must be an array of strings", details={"field": "ids"})
    return [str(item) for item in ids]


async def entries(request: Request) -> Response:
    """
    get:
      summary: A page of a stream's entries by id (viewers); follow `next` as the next `start`.
      parameters:
        - {name: key, in: query, required: true, schema: {type: string}}
        - {name: start, in: query, schema: {type: string}, description: '"-", an id, or "(" and an id (exclusive)'}
        - {name: end, in: query, schema: {type: string}, description: '"+" or an id'}
        - {name: count, in: query, schema: {type: integer, minimum: 1, maximum: 1000}}
        - {name: reverse, in: query, schema: {type: boolean}, description: 'newest first (start "+", end "-")'}
      responses:
        200: {description: '{"data": [{"id", "fields": [[field, value]]}], "next": "(1-0" | null, "length"}'}
        404: {description: no such key}
    post:
      summary: 'XADD (developers): {"key", "id"?, "fields": {...}, "max_length"?, "no_create"?}.'
      responses: {201: {description: '{"id": "1700000000000-0"}'}}
    delete:
      summary: 'XDEL (developers): {"key", "ids": [...]}.'
      responses: {200: {description: '{"deleted": 1}'}}
    """
    if request.method == "GET":
        reply = await explorer_call(
            request,
            VIEWER,
            "ReadStream",
            lambda target: explorer_pb2.ReadStreamRequest(
                target=target,
                key=query_bytes(request, "key"),
                start=request.query_params.get("start", ""),
                end=request.query_params.get("end", ""),
                count=query_int(request, "count", 0, minimum=1, maximum=1000),
                reverse=query_bool(request, "reverse", False),
            ),
        )
        return JSONResponse({"data": _records(reply.entries), "next": reply.next or None, "length": reply.length})
    if request.method == "DELETE":
        body, read = await binary_body(request, frozenset({"key", "ids"}))
        deleted = await explorer_call(
            request,
            DEVELOPER,
            "DeleteStreamEntries",
            lambda target: explorer_pb2.DeleteStreamEntriesRequest(
                target=target, key=read(body.get("key"), "key"), ids=_ids(body)
            ),
        )
        return JSONResponse({"deleted": deleted.count})
    body, read = await binary_body(request, frozenset({"key", "id", "fields", "max_length", "no_create"}))
    fields = field(body, "fields", dict, required=True)
    added = await explorer_call(
        request,
        DEVELOPER,
        "AddStreamEntry",
        lambda target: explorer_pb2.AddStreamEntryRequest(
            target=target,
            key=read(body.get("key"), "key"),
            id=field(body, "id", str) or "*",
            fields=[
                explorer_pb2.StreamField(field=read(name, "field"), value=read(value, "value"))
                for name, value in fields.items()
            ],
            max_length=field(body, "max_length", int) or 0,
            no_create=bool(field(body, "no_create", bool)),
        ),
    )
    return JSONResponse({"id": added.id}, status_code=201)


async def trim(request: Request) -> Response:
    """
    post:
      summary: 'XTRIM (developers): {"key", "max_length"} or {"key", "min_id"}; "exact": true trims exactly.'
      responses: {200: {description: '{"trimmed": 10}'}, 400: {description: neither or both of max_length and min_id}}
    """
    body, read = await binary_body(request, frozenset({"key", "max_length", "min_id", "exact"}))
    trimmed = await explorer_call(
        request,
        DEVELOPER,
        "TrimStream",
        lambda target: explorer_pb2.TrimStreamRequest(
            target=target,
            key=read(body.get("key"), "key"),
            max_length=field(body, "max_length", int),
            min_id=field(body, "min_id", str) or "",
            exact=bool(field(body, "exact", bool)),
        ),
    )
    return JSONResponse({"trimmed": trimmed.count})


async def groups(request: Request) -> Response:
    """
    get:
      summary: A stream's consumer groups (viewers).
      parameters: [{name: key, in: query, required: true, schema: {type: string}}]
      responses:
        200: {description: '{"data": [{"name", "consumers", "pending", "last_delivered_id", "lag", "entries_read"}]}'}
    """
    reply = await explorer_call(
        request,
        VIEWER,
        "ListStreamGroups",
        lambda target: explorer_pb2.ListStreamGroupsRequest(target=target, key=query_bytes(request, "key")),
    )
    data = [
        named(
            {
                "consumers": group.consumers,
                "pending": group.pending,
                "last_delivered_id": group.last_delivered_id,
                "lag": group.lag if group.lag >= 0 else None,
                "entries_read": group.entries_read,
            },
            name=group.name,
        )
        for group in reply.groups
    ]
    return JSONResponse({"data": data})


async def consumers(request: Request) -> Response:
    """
    get:
      summary: A consumer group's consumers (viewers).
      parameters:
        - {name: key, in: query, required: true, schema: {type: string}}
        - {name: group, in: query, required: true, schema: {type: string}}
      responses: {200: {description: '{"data": [{"name", "pending", "idle_ms", "inactive_ms"}]}'}}
    """
    reply = await explorer_call(
        request,
        VIEWER,
        "ListStreamConsumers",
        lambda target: explorer_pb2.ListStreamConsumersRequest(
            target=target, key=query_bytes(request, "key"), group=query_bytes(request, "group")
        ),
    )
    data = [
        named(
            {
                "pending": item.pending,
                "idle_ms": item.idle_ms,
                "inactive_ms": item.inactive_ms if item.inactive_ms >= 0 else None,
            },
            name=item.name,
        )
        for item in reply.consumers
    ]
    return JSONResponse({"data": data})


async def pending(request: Request) -> Response:
    """
    get:
      summary: A group's pending entries (viewers), with its total and count per consumer; follow `next`.
      parameters:
        - {name: key, in: query, required: true, schema: {type: string}}
        - {name: group, in: query, required: true, schema: {type: string}}
        - {name: consumer, in: query, schema: {type: string}}
        - {name: start, in: query, schema: {type: string}}
        - {name: end, in: query, schema: {type: string}}
        - {name: count, in: query, schema: {type: integer, minimum: 1, maximum: 1000}}
        - {name: min_idle_ms, in: query, schema: {type: integer, minimum: 0}}
      responses:
        200: {description: '{"data": [{"id", "consumer", "idle_ms", "deliveries"}], "total", "consumers", "next"}'}
    """
    reply = await explorer_call(
        request,
        VIEWER,
        "ListStreamPending",
        lambda target: explorer_pb2.ListStreamPendingRequest(
            target=target,
            key=query_bytes(request, "key"),
            group=query_bytes(request, "group"),
            consumer=query_bytes(request, "consumer"),
            start=request.query_params.get("start", ""),
            end=request.query_params.get("end", ""),
            count=query_int(request, "count", 0, minimum=1, maximum=1000),
            min_idle_ms=query_int(request, "min_idle_ms", 0, maximum=2**62),
        ),
    )
    data = [
        named({"id": item.id, "idle_ms": item.idle_ms, "deliveries": item.deliveries}, consumer=item.consumer)
        for item in reply.entries
    ]
    return JSONResponse(
        {"data": data, "total": reply.total, "consumers": dict(reply.by_consumer), "next": reply.next or None}
    )


async def ack(request: Request) -> Response:
    """
    post:
      summary: 'XACK (developers): {"key", "group", "ids": [...]}.'
      responses: {200: {description: '{"acknowledged": 2}'}}
    """
    body, read = await binary_body(request, frozenset({"key", "group", "ids"}))
    acked = await explorer_call(
        request,
        DEVELOPER,
        "AckStreamEntries",
        lambda target: explorer_pb2.AckStreamEntriesRequest(
            target=target, key=read(body.get("key"), "key"), group=read(body.get("group"), "group"), ids=_ids(body)
        ),
    )
    return JSONResponse({"acknowledged": acked.count})


async def claim(request: Request) -> Response:
    """
    post:
      summary: 'XCLAIM (developers): {"key", "group", "consumer", "min_idle_ms", "ids": [...]}; the entries moved.'
      responses: {200: {description: '{"data": [{"id", "fields"}]}'}}
    """
    body, read = await binary_body(request, frozenset({"key", "group", "consumer", "min_idle_ms", "ids"}))
    claimed = await explorer_call(
        request,
        DEVELOPER,
        "ClaimStreamEntries",
        lambda target: explorer_pb2.ClaimStreamEntriesRequest(
            target=target,
            key=read(body.get("key"), "key"),
            group=read(body.get("group"), "group"),
            consumer=read(body.get("consumer"), "consumer"),
            min_idle_ms=field(body, "min_idle_ms", int) or 0,
            ids=_ids(body),
        ),
    )
    return JSONResponse({"data": _records(claimed.entries)})


ROUTES = [
    Route("/redis/{ref}/streams/entries", entries, methods=["GET", "POST", "DELETE"]),
    Route("/redis/{ref}/streams/trim", trim, methods=["POST"]),
    Route("/redis/{ref}/streams/groups", groups, methods=["GET"]),
    Route("/redis/{ref}/streams/consumers", consumers, methods=["GET"]),
    Route("/redis/{ref}/streams/pending", pending, methods=["GET"]),
    Route("/redis/{ref}/streams/ack", ack, methods=["POST"]),
    Route("/redis/{ref}/streams/claim", claim, methods=["POST"]),
]
