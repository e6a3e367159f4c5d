"""MongoDB routes: `/mongodb/[ref]/...` (databases, collections, documents, aggregate, indexes).

Documents travel as Extended JSON text: mongo-svc writes it, and the replies here embed those
strings as they are (``orjson.Fragment``), never parsing them again. A document body goes on as
the text the client sent; it is parsed (by orjson) only to tell its shape: one document or
``{"documents": [...]}``, a replacement or an update. Where a body must be split into parts (a
batch, a pipeline and its options), the parts are written again by the standard library's json,
which keeps every JSON number as it was: orjson would turn an integer past 64 bits into a double.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

import orjson
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from gateway.backends import Backends, Caller
from gateway.http import JSONResponse, field, query_bool, query_int, raw_json, read_body
from gateway.routes.common import backends
from udb.common.v1 import common_pb2
from udb.errors import InvalidArgument
from udb.mongo.v1 import mongo_pb2

_JSON_MODES = {
    "": mongo_pb2.JSON_MODE_RELAXED,
    "relaxed": mongo_pb2.JSON_MODE_RELAXED,
    "canonical": mongo_pb2.JSON_MODE_CANONICAL,
}
_MAX_SKIP = 2**63 - 1


def _json_mode(request: Request) -> mongo_pb2.JsonMode:
    mode = request.query_params.get("ejson", "").lower()
    if mode not in _JSON_MODES:
        raise InvalidArgument("ejson must be relaxed or canonical", details={"parameter": "ejson"})
    return _JSON_MODES[mode]


def _limit(request: Request) -> int:
    """``?limit=`` (1-1000); 0 lets the service apply the default of 100."""
    return query_int(request, "limit", 0, minimum=1, maximum=1000)


def _path(request: Request, name: str) -> str:
    return str(request.path_params[name])


async def _body(request: Request, b: Backends) -> tuple[str, Any]:
    """The body's text and its shape (parsed by orjson, to look at only)."""
    raw = await read_body(request, b.settings.max_body_bytes)
    try:
        shape = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise InvalidArgument(f"the body is not valid JSON: {exc.msg} at position {exc.pos}") from None
    return raw.decode(), shape


async def _object_body(request: Request, b: Backends, allowed: frozenset[str]) -> dict[str, Any]:
    """A JSON object body with only ``allowed`` fields, parsed without loss of any number."""
    text, shape = await _body(request, b)
    if not isinstance(shape, dict):
        raise InvalidArgument("the body must be a JSON object")
    unknown = sorted(set(shape) - allowed)
    if unknown:
        raise InvalidArgument(f"unknown fields: {', '.join(unknown)}", details={"fields": ",".join(unknown)})
    body: dict[str, Any] = json.loads(text)
    return body


def _dumps(value: Any) -> str:
    """JSON text of a part of a body, every number as the client wrote it."""
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False)


def _fragments(texts: Sequence[str]) -> list[orjson.Fragment]:
    return [orjson.Fragment(text) for text in texts]


async def _caller(request: Request, role: int) -> tuple[Backends, Caller]:
    b = backends(request)
    return b, await b.authorize(request, role)


async def databases(request: Request) -> Response:
    """
    get:
      summary: The deployment's databases (viewers).
      parameters: [{name: connection, in: query}]
      responses: {200: {description: '{"data": [{"name", "sizeOnDisk", "empty"}]}'}}
    """
    b, caller = await _caller(request, common_pb2.ROLE_VIEWER)
    reply = await b.mongo.ListDatabases(
        mongo_pb2.ListDatabasesRequest(target=caller.target),
        metadata=caller.metadata,
        timeout=b.settings.read_deadline_s,
    )
    return JSONResponse(
        {"data": [{"name": d.name, "sizeOnDisk": d.size_on_disk, "empty": d.empty} for d in reply.databases]}
    )


async def database_stats(request: Request) -> Response:
    """
    get:
      summary: dbStats of one database (viewers), as Extended JSON.
      parameters: [{name: ejson, in: query, description: relaxed (default) or canonical}]
      responses: {200: {description: the dbStats reply}, 404: {description: no such database}}
    """
    b, caller = await _caller(request, common_pb2.ROLE_VIEWER)
    reply = await b.mongo.GetDatabaseStats(
        mongo_pb2.GetDatabaseStatsRequest(
            target=caller.target, database=_path(request, "db"), json_mode=_json_mode(request)
        ),
        metadata=caller.metadata,
        timeout=b.settings.read_deadline_s,
    )
    return raw_json(reply.stats)


def _collection_json(collection: mongo_pb2.Collection) -> dict[str, Any]:
    return {"name": collection.name, "type": collection.type, "options": orjson.Fragment(collection.options or "{}")}


async def collections(request: Request) -> Response:
    """
    get:
      summary: One page of the database's collections, by name (viewers).
      parameters: [{name: limit, in: query}, {name: cursor, in: query}]
      responses: {200: {description: '{"data": [{"name", "type", "options"}], "next_cursor"}'}}
    post:
      summary: Creates a collection (developers). Options are create's own, as Extended JSON.
      requestBody:
        content:
          application/json:
            example: {name: events, options: {capped: true, size: 1048576}}
      responses:
        201: {description: '{"name", "type", "options"}'}
        409: {description: the collection exists}
    """
    if request.method == "GET":
        b, caller = await _caller(request, common_pb2.ROLE_VIEWER)
        listed = await b.mongo.ListCollections(
            mongo_pb2.ListCollectionsRequest(
                target=caller.target,
                database=_path(request, "db"),
                limit=_limit(request),
                cursor=request.query_params.get("cursor", ""),
            ),
            metadata=caller.metadata,
            timeout=b.settings.read_deadline_s,
        )
        return JSONResponse(
            {
                "data": [_collection_json(c) for c in listed.collections],
                "next_cursor": listed.next_cursor or None,
            }
        )
    b, caller = await _caller(request, common_pb2.ROLE_DEVELOPER)
    body = await _object_body(request, b, frozenset({"name", "options"}))
    options = field(body, "options", dict)
    created = await b.mongo.CreateCollection(
        mongo_pb2.CreateCollectionRequest(
            target=caller.target,
            database=_path(request, "db"),
            name=field(body, "name", str, required=True),
            options=_dumps(options) if options else "",
        ),
        metadata=caller.metadata,
        timeout=b.settings.write_deadline_s,
    )
    return JSONResponse(_collection_json(created), status_code=201)


async def collection(request: Request) -> Response:
    """
    delete:
      summary: Drops the collection (admins).
      responses: {200: {description: '{"dropped": true}'}, 404: {description: no such collection}}
    """
    b, caller = await _caller(request, common_pb2.ROLE_ADMIN)
    await b.mongo.DropCollection(
        mongo_pb2.DropCollectionRequest(
            target=caller.target, database=_path(request, "db"), name=_path(request, "coll")
        ),
        metadata=caller.metadata,
        timeout=b.settings.admin_deadline_s,
    )
    return JSONResponse({"dropped": True})


def _page_reply(
    documents: Sequence[str], next_cursor: str, truncated: bool, count: int | None = None, paged_by: str = ""
) -> JSONResponse:
    reply: dict[str, Any] = {"data": _fragments(documents)}
    if count is not None:
        reply["count"] = count
    reply["next_cursor"] = next_cursor or None
    if next_cursor and paged_by:
        reply["paged_by"] = paged_by
    if truncated:
        reply["truncated"] = True
    return JSONResponse(reply)


async def documents(request: Request) -> Response:
    """
    get:
      summary: One page of a find (viewers), in sort order with _id last; next_cursor continues it.
      description: >-
        filter, projection and sort are Extended JSON objects; without a sort the order is _id.
        next_cursor is opaque and signed: it holds the query and the last document's sort keys,
        and the next page is a fresh find for the documents after them (keyset, "paged_by":
        "keyset"), on any replica, with no server cursor left open. Where a keyset cannot be
        exact (an array in a sort key, a $meta sort, a first page with skip) the next page passes
        over the documents before it instead ("paged_by": "skip"). With cursor the query is the
        cursor's own: filter, projection and sort may be sent again but must be its own, skip is
        refused, limit and ejson apply. A cursor may be presented again (it gives the same page
        while the data is unchanged); another caller's, or a changed one, is 400.
      parameters:
        - {name: filter, in: query, example: '{"status": "active"}'}
        - {name: projection, in: query, example: '{"name": 1}'}
        - {name: sort, in: query, example: '{"created": -1}'}
        - {name: skip, in: query, description: first page only}
        - {name: limit, in: query, description: '1-1000, default 100'}
        - {name: count, in: query, description: also count all the matches}
        - {name: cursor, in: query}
        - {name: ejson, in: query, description: relaxed (default) or canonical}
      responses:
        200: {description: '{"data": [doc], "count"?, "next_cursor", "paged_by"?, "truncated"?}'}
        400: {description: 'bad Extended JSON, an unknown operator, server-side JavaScript, or another query''s cursor'}
    post:
      summary: 'Inserts one document, or {"documents": [...]} (developers).'
      requestBody: {content: {application/json: {example: {name: Ada, born: {$date: '1815-12-10T00:00:00.000Z'}}}}}
      responses:
        201: {description: '{"inserted_ids": [..]}'}
        409: {description: duplicate _id}
        413: {description: a document over 16 MiB}
    """
    if request.method == "GET":
        return await _find(request)
    b, caller = await _caller(request, common_pb2.ROLE_DEVELOPER)
    text, shape = await _body(request, b)
    if isinstance(shape, dict) and len(shape) == 1 and isinstance(shape.get("documents"), list):
        texts = [_dumps(document) for document in json.loads(text)["documents"]]
    elif isinstance(shape, dict):
        texts = [text]  # one document: on as the client wrote it
    else:
        raise InvalidArgument('the body must be a document or {"documents": [...]}')
    inserted = await b.mongo.InsertDocuments(
        mongo_pb2.InsertDocumentsRequest(
            target=caller.target,
            database=_path(request, "db"),
            collection=_path(request, "coll"),
            documents=texts,
            json_mode=_json_mode(request),
        ),
        metadata=caller.metadata,
        timeout=b.settings.write_deadline_s,
    )
    return JSONResponse({"inserted_ids": _fragments(inserted.inserted_ids)}, status_code=201)


async def _find(request: Request) -> Response:
    b, caller = await _caller(request, common_pb2.ROLE_VIEWER)
    params = request.query_params
    reply = await b.mongo.FindDocuments(
        mongo_pb2.FindDocumentsRequest(
            target=caller.target,
            database=_path(request, "db"),
            collection=_path(request, "coll"),
            filter=params.get("filter", ""),
            projection=params.get("projection", ""),
            sort=params.get("sort", ""),
            skip=query_int(request, "skip", 0, maximum=_MAX_SKIP),
            limit=_limit(request),
            count=query_bool(request, "count", False),
            json_mode=_json_mode(request),
            cursor=params.get("cursor", ""),
        ),
        metadata=caller.metadata,
        timeout=b.settings.read_deadline_s,
    )
    count = reply.count if reply.HasField("count") else None
    return _page_reply(reply.documents, reply.next_cursor, reply.truncated, count, reply.paged_by)


async def document(request: Request) -> Response:
    """
    get:
      summary: One document by id (viewers).
      description: >-
        The id is an ObjectId for 24 hex digits; otherwise Extended JSON when it parses
        (42, "42", {"$numberLong": "42"}), else a string.
      parameters: [{name: ejson, in: query, description: relaxed (default) or canonical}]
      responses: {200: {description: the document}, 404: {description: no such document}}
    put:
      summary: Replaces the document, or updates it when every key is an operator (developers).
      requestBody: {content: {application/json: {example: {$set: {status: done}, $inc: {version: 1}}}}}
      responses: {200: {description: the document after the change}, 404: {description: no such document}}
    delete:
      summary: Deletes the document (developers).
      responses: {200: {description: '{"deleted": 1}'}, 404: {description: no such document}}
    """
    database, name, document_id = _path(request, "db"), _path(request, "coll"), _path(request, "id")
    if request.method == "GET":
        b, caller = await _caller(request, common_pb2.ROLE_VIEWER)
        found = await b.mongo.GetDocument(
            mongo_pb2.GetDocumentRequest(
                target=caller.target,
                database=database,
                collection=name,
                id=document_id,
                json_mode=_json_mode(request),
            ),
            metadata=caller.metadata,
            timeout=b.settings.read_deadline_s,
        )
        return raw_json(found.document)
    b, caller = await _caller(request, common_pb2.ROLE_DEVELOPER)
    if request.method == "DELETE":
        deleted = await b.mongo.DeleteDocument(
            mongo_pb2.DeleteDocumentRequest(target=caller.target, database=database, collection=name, id=document_id),
            metadata=caller.metadata,
            timeout=b.settings.write_deadline_s,
        )
        return JSONResponse({"deleted": deleted.deleted})
    text, body = await _body(request, b)
    if not isinstance(body, dict):
        raise InvalidArgument("the body must be a document, or update operators")
    if body and all(key.startswith("$") for key in body):
        changed = await b.mongo.UpdateDocument(
            mongo_pb2.UpdateDocumentRequest(
                target=caller.target,
                database=database,
                collection=name,
                id=document_id,
                update=text,
                json_mode=_json_mode(request),
            ),
            metadata=caller.metadata,
            timeout=b.settings.write_deadline_s,
        )
    else:
        changed = await b.mongo.ReplaceDocument(
            mongo_pb2.ReplaceDocumentRequest(
                target=caller.target,
                database=database,
                collection=name,
                id=document_id,
                document=text,
                json_mode=_json_mode(request),
            ),
            metadata=caller.metadata,
            timeout=b.settings.write_deadline_s,
        )
    return raw_json(changed.document)


async def aggregate(request: Request) -> Response:
    """
    post:
      summary: One page of a pipeline's results (viewers; $out and $merge need developers).
      description: >-
        Options: allowDiskUse, maxTimeMS (lowers the configured limit, never raises it),
        collation, let, hint, comment, bypassDocumentValidation. With ?cursor= (a next_cursor of
        an earlier page) no body is needed. An aggregate's cursor is a server cursor kept by the
        replica that answered: it is closed once exhausted, after a minute idle, or when its
        connection has too many open (then the next page is 404: run the pipeline again).
      parameters:
        - {name: limit, in: query, description: '1-1000, default 100'}
        - {name: cursor, in: query}
        - {name: ejson, in: query, description: relaxed (default) or canonical}
      requestBody:
        content:
          application/json:
            example:
              pipeline: [{$match: {status: active}}, {$group: {_id: $city, n: {$sum: 1}}}]
              options: {allowDiskUse: true}
      responses:
        200: {description: '{"data": [..], "next_cursor", "truncated"?}'}
        400: {description: a bad pipeline or server-side JavaScript}
        403: {description: $out or $merge without the developer role}
    """
    b, caller = await _caller(request, common_pb2.ROLE_VIEWER)
    cursor = request.query_params.get("cursor", "")
    pipeline = options = ""
    if not cursor:
        body = await _object_body(request, b, frozenset({"pipeline", "options"}))
        stages = field(body, "pipeline", list, required=True)
        given = field(body, "options", dict)
        pipeline = _dumps(stages)
        options = _dumps(given) if given else ""
    reply = await b.mongo.Aggregate(
        mongo_pb2.AggregateRequest(
            target=caller.target,
            database=_path(request, "db"),
            collection=_path(request, "coll"),
            pipeline=pipeline,
            options=options,
            json_mode=_json_mode(request),
            limit=_limit(request),
            cursor=cursor,
        ),
        metadata=caller.metadata,
        timeout=b.settings.read_deadline_s,
    )
    return _page_reply(reply.documents, reply.next_cursor, reply.truncated)


async def indexes(request: Request) -> Response:
    """
    get:
      summary: The collection's indexes (viewers), each its full specification.
      responses:
        200: {description: '{"data": [{"name", "key", "unique"?, ...}]}'}
        404: {description: no such collection}
    post:
      summary: Creates an index (developers).
      requestBody:
        content:
          application/json:
            example: {keys: {email: 1}, options: {unique: true, name: email_unique}}
      responses:
        201: {description: '{"name"}'}
        409: {description: 'the index exists, or another one has its name'}
    """
    database, name = _path(request, "db"), _path(request, "coll")
    if request.method == "GET":
        b, caller = await _caller(request, common_pb2.ROLE_VIEWER)
        listed = await b.mongo.ListIndexes(
            mongo_pb2.ListIndexesRequest(target=caller.target, database=database, collection=name),
            metadata=caller.metadata,
            timeout=b.settings.read_deadline_s,
        )
        return JSONResponse({"data": _fragments([index.spec for index in listed.indexes])})
    b, caller = await _caller(request, common_pb2.ROLE_DEVELOPER)
    body = await _object_body(request, b, frozenset({"keys", "options"}))
    keys = field(body, "keys", dict, required=True)
    options = field(body, "options", dict)
    created = await b.mongo.CreateIndex(
        mongo_pb2.CreateIndexRequest(
            target=caller.target,
            database=database,
            collection=name,
            keys=_dumps(keys),
            options=_dumps(options) if options else "",
        ),
        metadata=caller.metadata,
        timeout=b.settings.write_deadline_s,
    )
    return JSONResponse({"name": created.name}, status_code=201)


async def index(request: Request) -> Response:
    """
    delete:
      summary: Drops the index (admins).
      responses: {200: {description: '{"dropped": true}'}, 404: {description: no such index or collection}}
    """
    b, caller = await _caller(request, common_pb2.ROLE_ADMIN)
    await b.mongo.DropIndex(
        mongo_pb2.DropIndexRequest(
            target=caller.target,
            database=_path(request, "db"),
            collection=_path(request, "coll"),
            name=_path(request, "name"),
        ),
        metadata=caller.metadata,
        timeout=b.settings.admin_deadline_s,
    )
    return JSONResponse({"dropped": True})


_BASE = "/mongodb/{ref}/databases"
_COLLECTION = _BASE + "/{db}/collections/{coll}"

routes: list[BaseRoute] = [
    Route(_BASE, databases, methods=["GET"]),
    Route(_BASE + "/{db}/stats", database_stats, methods=["GET"]),
    Route(_BASE + "/{db}/collections", collections, methods=["GET", "POST"]),
    Route(_COLLECTION, collection, methods=["DELETE"]),
    Route(_COLLECTION + "/documents", documents, methods=["GET", "POST"]),
    # {id:path}: an id may hold a '/' (a string id, or Extended JSON).
    Route(_COLLECTION + "/documents/{id:path}", document, methods=["GET", "PUT", "DELETE"]),
    Route(_COLLECTION + "/aggregate", aggregate, methods=["POST"]),
    Route(_COLLECTION + "/indexes", indexes, methods=["GET", "POST"]),
    Route(_COLLECTION + "/indexes/{name}", index, methods=["DELETE"]),
]
