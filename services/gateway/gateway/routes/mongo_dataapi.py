"""Atlas Data API-compatible actions: ``POST /mongodb/[ref]/action/{findOne,find,...}``.

MongoDB retired the Atlas Data API on 2025-09-30. A client written for it works here by
changing its base URL (``https://data.mongodb-api.com/app/<app>/endpoint/data/v1`` becomes
``<gateway>/api/platform/mongodb/<ref>``) and its credential (``Authorization: Bearer <jwt>``):
the actions take the Data API's body (``dataSource``, ``database``, ``collection``, ``filter``,
...) and answer its shapes (``{"document"}``, ``{"documents"}``, ``{"insertedId"}``, ...).

- ``dataSource`` is required, as it was, and names nothing here: the connection is the
  project's primary one, or ``?connection=<id>``.
- Bodies are Extended JSON (``Content-Type: application/json`` or ``application/ejson``).
  Replies are relaxed Extended JSON, or canonical for ``Accept: application/ejson``.
- Errors have the API's shape (``{"message", "error": {"code", "message", "details"}}``), the
  Data API's ``error`` string being the top-level ``message``.
- Roles are those of the equivalent routes: reads for viewers, writes for developers.
- ``find`` and ``aggregate`` answer every result in one reply as the Data API did, built from
  pages of at most 1000 documents; past 50,000 documents or 16 MiB the action is refused (400)
  rather than cut short, so that a client pages with ``limit`` and ``skip``.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Awaitable, Callable
from typing import Any

import orjson
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from gateway.backends import Backends
from gateway.http import JSONResponse, field
from gateway.routes.common import backends
from gateway.routes.mongo_explorer import dumps, explorer, json_body
from udb.common.v1 import common_pb2
from udb.errors import InvalidArgument
from udb.mongo.v1 import explorer_pb2, mongo_pb2

VIEWER = common_pb2.ROLE_VIEWER
DEVELOPER = common_pb2.ROLE_DEVELOPER

EJSON_MEDIA_TYPE = "application/ejson"
#: The most documents ``find`` and ``aggregate`` answer in one reply, and the most bytes.
MAX_DOCUMENTS = 50_000
MAX_REPLY_BYTES = 16 * 1024 * 1024
#: Documents asked of the service per page while a reply is built.
_PAGE = 1000
_COMMON = frozenset({"dataSource", "database", "collection"})


async def _call(
    request: Request,
    role: int,
    rpc: Callable[[Backends], Callable[..., Awaitable[Any]]],
    message: Any,
) -> Any:
    """This module's one gateway-to-service crossing: the caller authorized for ``role`` on the
    project, then ``rpc`` called with ``message`` aimed at the caller's target, with their
    metadata, within the route's deadline."""
    b = backends(request)
    caller = await b.authorize(request, role)
    message.target.CopyFrom(caller.target)
    deadline = b.settings.read_deadline_s if role == VIEWER else b.settings.write_deadline_s
    return await rpc(b)(message, metadata=caller.metadata, timeout=deadline)


class Action:
    """One action's request: the parsed body, its namespace and the reply's JSON mode."""

    def __init__(self, request: Request, body: dict[str, Any]) -> None:
        self.request = request
        self.body = body
        field(body, "dataSource", str, required=True)
        self.database: str = field(body, "database", str, required=True)
        self.collection: str = field(body, "collection", str, required=True)
        self.canonical = EJSON_MEDIA_TYPE in request.headers.get("accept", "")
        self.json_mode = mongo_pb2.JSON_MODE_CANONICAL if self.canonical else mongo_pb2.JSON_MODE_RELAXED

    def text(self, name: str, kind: type | tuple[type, ...], *, required: bool = False) -> str:
        """A body field as Extended JSON text for the service ("" when absent), every number as
        the client wrote it."""
        return dumps(field(self.body, name, kind, required=required))

    def count(self, name: str, maximum: int) -> int:
        value = field(self.body, name, int)
        if value is None:
            return 0
        if not 0 <= value <= maximum:
            raise InvalidArgument(f"{name} must be between 0 and {maximum}", details={"field": name})
        return int(value)

    def reply(self, content: dict[str, Any], status_code: int = 200) -> Response:
        response = JSONResponse(content, status_code=status_code)
        if self.canonical:
            response.headers["content-type"] = EJSON_MEDIA_TYPE
        return response


async def _action(request: Request, allowed: frozenset[str]) -> Action:
    return Action(request, await json_body(request, _COMMON | allowed))


class _Collected:
    """Documents gathered page by page for one reply, within its bounds."""

    def __init__(self, limit: int) -> None:
        self.limit = limit or MAX_DOCUMENTS
        #: Without a limit, more than MAX_DOCUMENTS is refused rather than cut short.
        self.unbounded = not limit
        self.documents: list[orjson.Fragment] = []
        self.size = 0

    @property
    def wanted(self) -> int:
        return min(_PAGE, self.limit - len(self.documents))

    def add(self, texts: Any, more: bool) -> None:
        for text in texts:
            self.size += len(text)
            self.documents.append(orjson.Fragment(text))
        over = self.unbounded and more and len(self.documents) >= MAX_DOCUMENTS
        if self.size > MAX_REPLY_BYTES or over:
            raise InvalidArgument(
                f"the result is over {MAX_DOCUMENTS} documents or {MAX_REPLY_BYTES} bytes:"
                " page it with limit and skip (or $skip and $limit)",
                details={"limit": MAX_DOCUMENTS, "max_bytes": MAX_REPLY_BYTES},
            )


async def _gather(
    request: Request, rpc: Callable[[Backends], Any], first: Any, collected: _Collected
) -> list[orjson.Fragment]:
    """The documents of a find or an aggregate, page after page (``first``, then its cursor)."""
    message = first
    while True:
        page = await _call(request, VIEWER, rpc, message)
        collected.add(page.documents, bool(page.next_cursor))
        if not page.next_cursor or not collected.wanted:
            return collected.documents
        message = type(first)(
            database=first.database,
            collection=first.collection,
            json_mode=first.json_mode,
            limit=collected.wanted,
            cursor=page.next_cursor,
        )


async def _find(request: Request, action: Action, limit: int, skip: int) -> list[orjson.Fragment]:
    collected = _Collected(limit)
    first = mongo_pb2.FindDocumentsRequest(
        database=action.database,
        collection=action.collection,
        filter=action.text("filter", dict),
        projection=action.text("projection", dict),
        sort=action.text("sort", dict),
        skip=skip,
        limit=collected.wanted,
        json_mode=action.json_mode,
    )
    return await _gather(request, lambda b: b.mongo.FindDocuments, first, collected)


async def find_one(request: Request) -> Response:
    action = await _action(request, frozenset({"filter", "projection", "sort"}))
    documents = await _find(request, action, 1, 0)
    return action.reply({"document": documents[0] if documents else None})


async def find(request: Request) -> Response:
    action = await _action(request, frozenset({"filter", "projection", "sort", "limit", "skip"}))
    documents = await _find(request, action, action.count("limit", MAX_DOCUMENTS), action.count("skip", 2**63 - 1))
    return action.reply({"documents": documents})


async def aggregate(request: Request) -> Response:
    action = await _action(request, frozenset({"pipeline"}))
    collected = _Collected(0)
    first = mongo_pb2.AggregateRequest(
        database=action.database,
        collection=action.collection,
        pipeline=action.text("pipeline", list, required=True),
        json_mode=action.json_mode,
        limit=collected.wanted,
    )
    return action.reply({"documents": await _gather(request, lambda b: b.mongo.Aggregate, first, collected)})


async def _insert(request: Request, action: Action, documents: list[str]) -> list[orjson.Fragment]:
    """Inserts the documents (Extended JSON texts) in order; their ids."""
    reply = await _call(
        request,
        DEVELOPER,
        lambda b: b.mongo.InsertDocuments,
        mongo_pb2.InsertDocumentsRequest(
            database=action.database, collection=action.collection, documents=documents, json_mode=action.json_mode
        ),
    )
    return [orjson.Fragment(inserted) for inserted in reply.inserted_ids]


async def insert_one(request: Request) -> Response:
    action = await _action(request, frozenset({"document"}))
    ids = await _insert(request, action, [action.text("document", dict, required=True)])
    return action.reply({"insertedId": ids[0]}, status_code=201)


async def insert_many(request: Request) -> Response:
    action = await _action(request, frozenset({"documents"}))
    documents = field(action.body, "documents", list, required=True)
    if not documents or not all(isinstance(document, dict) for document in documents):
        raise InvalidArgument("documents must be a non-empty array of objects", details={"field": "documents"})
    ids = await _insert(request, action, [dumps(document) for document in documents])
    return action.reply({"insertedIds": ids}, status_code=201)


async def _update(request: Request, *, many: bool, replace: bool) -> Response:
    change = "replacement" if replace else "update"
    action = await _action(request, frozenset({"filter", change, "upsert"}))
    filter_text = action.text("filter", dict, required=True)
    change_text = action.text(change, dict if replace else (dict, list), required=True)
    upsert = bool(field(action.body, "upsert", bool))
    reply = await _call(
        request,
        DEVELOPER,
        lambda b: explorer(b).UpdateDocuments,
        explorer_pb2.UpdateDocumentsRequest(
            database=action.database,
            collection=action.collection,
            filter=filter_text,
            upsert=upsert,
            many=many,
            json_mode=action.json_mode,
            replacement=change_text if replace else None,
            update=None if replace else change_text,
        ),
    )
    content: dict[str, Any] = {"matchedCount": reply.matched_count, "modifiedCount": reply.modified_count}
    if reply.upserted_id:
        content["upsertedId"] = orjson.Fragment(reply.upserted_id)
    return action.reply(content)


async def _delete(request: Request, *, many: bool) -> Response:
    action = await _action(request, frozenset({"filter"}))
    filter_text = action.text("filter", dict, required=True)
    reply = await _call(
        request,
        DEVELOPER,
        lambda b: explorer(b).DeleteDocuments,
        explorer_pb2.DeleteDocumentsRequest(
            database=action.database, collection=action.collection, filter=filter_text, many=many
        ),
    )
    return action.reply({"deletedCount": reply.deleted_count})


def _openapi(summary: str, example: dict[str, Any], reply: str, *, status: int = 200, description: str = "") -> str:
    """An action's OpenAPI operation (YAML; JSON is YAML), from its example's fields."""
    body = {"dataSource": "mongodb-atlas", "database": "todo", "collection": "tasks", **example}
    lines = ["post:", f"  summary: {json.dumps('Data API ' + summary)}"]
    if description:
        lines.append(f"  description: {json.dumps(description)}")
    lines.append(f"  requestBody: {{content: {{application/json: {{example: {json.dumps(body)}}}}}}}")
    lines.append(f"  responses: {{{status}: {{description: {json.dumps(reply)}}}}}")
    return "\n".join(lines)


_ALL = "every result in one reply; over 50,000 documents or 16 MiB is 400 (page with limit and skip)"
_COUNTS = '{"matchedCount", "modifiedCount", "upsertedId"?}'
_WHERE = {"filter": {"status": "open"}}

#: The Data API's actions as its clients spell them in the URL: the handler and its OpenAPI.
ACTIONS: dict[str, tuple[Callable[[Request], Awaitable[Response]], str]] = {
    "findOne": (find_one, _openapi("findOne (viewers)", {**_WHERE, "projection": {"text": 1}}, '{"document"}')),
    "find": (
        find,
        _openapi(
            "find (viewers)",
            {**_WHERE, "sort": {"due": 1}, "skip": 0, "limit": 10},
            '{"documents": [...]}',
            description=_ALL,
        ),
    ),
    "aggregate": (
        aggregate,
        _openapi(
            "aggregate (viewers; $out and $merge need developers)",
            {"pipeline": [{"$group": {"_id": "$status", "n": {"$sum": 1}}}]},
            '{"documents": [...]}',
            description=_ALL,
        ),
    ),
    "insertOne": (
        insert_one,
        _openapi("insertOne (developers)", {"document": {"status": "open"}}, '{"insertedId"}', status=201),
    ),
    "insertMany": (
        insert_many,
        _openapi("insertMany (developers)", {"documents": [{"a": 1}, {"a": 2}]}, '{"insertedIds"}', status=201),
    ),
    "updateOne": (
        functools.partial(_update, many=False, replace=False),
        _openapi(
            "updateOne (developers)", {**_WHERE, "update": {"$set": {"status": "done"}}, "upsert": False}, _COUNTS
        ),
    ),
    "updateMany": (
        functools.partial(_update, many=True, replace=False),
        _openapi("updateMany (developers)", {**_WHERE, "update": {"$set": {"status": "stale"}}}, _COUNTS),
    ),
    "replaceOne": (
        functools.partial(_update, many=False, replace=True),
        _openapi("replaceOne (developers)", {**_WHERE, "replacement": {"text": "x"}, "upsert": True}, _COUNTS),
    ),
    "deleteOne": (
        functools.partial(_delete, many=False),
        _openapi("deleteOne (developers)", _WHERE, '{"deletedCount"}'),
    ),
    "deleteMany": (
        functools.partial(_delete, many=True),
        _openapi("deleteMany (developers); filter {} deletes every document", _WHERE, '{"deletedCount"}'),
    ),
}


def _route(name: str, handler: Callable[[Request], Awaitable[Response]], openapi: str) -> Route:
    async def action(request: Request) -> Response:
        return await handler(request)

    action.__name__ = action.__qualname__ = f"data_api_{name}"
    action.__doc__ = openapi
    return Route(f"/mongodb/{{ref}}/action/{name}", action, methods=["POST"])


routes: list[BaseRoute] = [_route(name, handler, openapi) for name, (handler, openapi) in ACTIONS.items()]
