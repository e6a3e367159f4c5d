"""MongoDB explorer routes beside the browsing ones (routes/mongodb.py): explain, index usage,
the schema of a sample, NDJSON export and import. They call mongo-svc's MongoExplorerService."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

import orjson
from starlette.requests import Request
from starlette.responses import Response, StreamingResponse
from starlette.routing import BaseRoute, Route

from gateway.calls import aimed, authorize, backends, call, rpc_errors
from gateway.http import JSONResponse, field, query_bool, query_int, raw_json, read_body
from udb.common.v1 import common_pb2
from udb.errors import InvalidArgument
from udb.interceptors import outgoing_timeout
from udb.mongo.v1 import explorer_pb2, mongo_pb2

VIEWER = common_pb2.ROLE_VIEWER
DEVELOPER = common_pb2.ROLE_DEVELOPER


_VERBOSITIES = {
    "queryPlanner": explorer_pb2.EXPLAIN_VERBOSITY_QUERY_PLANNER,
    "executionStats": explorer_pb2.EXPLAIN_VERBOSITY_EXECUTION_STATS,
    "allPlansExecution": explorer_pb2.EXPLAIN_VERBOSITY_ALL_PLANS_EXECUTION,
}
_FIND_FIELDS = ("filter", "projection", "sort", "hint")
#: How a schema's documents were chosen; a mongo-svc that predates the field only used $sample.
_SAMPLE_METHODS = {explorer_pb2.SAMPLE_METHOD_FIRST: "first"}
_JSON_MODES = {
    "": mongo_pb2.JSON_MODE_RELAXED,
    "relaxed": mongo_pb2.JSON_MODE_RELAXED,
    "canonical": mongo_pb2.JSON_MODE_CANONICAL,
}


def _path(request: Request, name: str) -> str:
    return str(request.path_params[name])


def _json_mode(request: Request) -> mongo_pb2.JsonMode:
    mode = request.query_params.get("ejson", "").lower()
    if mode not in _JSON_MODES:
        raise InvalidArgument("ejson must be relaxed or canonical", details={"parameter": "ejson"})
    return _JSON_MODES[mode]


async def json_body(request: Request, allowed: frozenset[str]) -> dict[str, Any]:
    """A JSON object body with only ``allowed`` fields, parsed without loss of any number (the
    standard library keeps integers past 64 bits; orjson would not)."""
    raw = await read_body(request, backends(request).settings.max_body_bytes)
    try:
        body = json.loads(raw)
    except ValueError as exc:
        raise InvalidArgument(f"the body is not valid JSON: {exc}") from None
    if not isinstance(body, dict):
        raise InvalidArgument("the body must be a JSON object")
    unknown = sorted(set(body) - allowed)
    if unknown:
        raise InvalidArgument(f"unknown fields: {', '.join(unknown)}", details={"fields": ",".join(unknown)})
    return body


def dumps(value: Any) -> str:
    """JSON text of a part of a body, every number as the client wrote it ("" for None)."""
    return "" if value is None else json.dumps(value, separators=(",", ":"), ensure_ascii=False)


async def explain(request: Request) -> Response:
    """
    post:
      summary: The query plan of a find or an aggregate (queryPlanner for viewers; executionStats
        and allPlansExecution, which run the query, for developers).
      description: >-
        The body is a find (filter, projection, sort, skip, limit, hint) or a pipeline. A
        pipeline with $out or $merge needs a developer and is explained with queryPlanner only.
        The reply is the server's explain output as Extended JSON.
      parameters:
        - {name: ejson, in: query, description: relaxed (default) or canonical}
      requestBody:
        content:
          application/json:
            examples:
              find: {value: {filter: {status: active}, sort: {created: -1}, limit: 10, verbosity: executionStats}}
              aggregate: {value: {pipeline: [{$match: {status: active}}], verbosity: queryPlanner}}
      responses:
        200: {description: '{"queryPlanner": {...}, "executionStats"?: {...}, ...}'}
        403: {description: executionStats or allPlansExecution without the developer role}
    """
    body = await json_body(request, frozenset({*_FIND_FIELDS, "skip", "limit", "pipeline", "verbosity"}))
    verbosity_name = field(body, "verbosity", str) or "queryPlanner"
    if verbosity_name not in _VERBOSITIES:
        raise InvalidArgument(
            "verbosity must be queryPlanner, executionStats or allPlansExecution", details={"field": "verbosity"}
        )
    verbosity = _VERBOSITIES[verbosity_name]
    message = explorer_pb2.ExplainRequest(
        database=_path(request, "db"),
        collection=_path(request, "coll"),
        verbosity=verbosity,
        json_mode=_json_mode(request),
    )
    if "pipeline" in body:
        if set(body) & {*_FIND_FIELDS, "skip", "limit"}:
            raise InvalidArgument("explain a find or a pipeline, not both", details={"field": "pipeline"})
        message.aggregate.pipeline = dumps(field(body, "pipeline", list, required=True))
    else:
        find = message.find
        find.filter, find.projection, find.sort = (dumps(field(body, name, dict)) for name in _FIND_FIELDS[:3])
        find.hint = dumps(field(body, "hint", (str, dict)))
        find.skip = field(body, "skip", int) or 0
        find.limit = field(body, "limit", int) or 0
    runs = verbosity != explorer_pb2.EXPLAIN_VERBOSITY_QUERY_PLANNER
    reply = await call(
        request, backends(request).mongo_explorer.Explain, aimed(message), role=DEVELOPER if runs else VIEWER
    )
    return raw_json(reply.explain)


async def index_usage(request: Request) -> Response:
    """
    get:
      summary: The collection's indexes with their use ($indexStats) since the server started (viewers).
      description: >-
        Each index of the list (its full specification) with usage {"ops", "since"} (summed over
        shards), or usage null where the server has no statistics for it yet. A server without
        $indexStats (FerretDB) answers 400 with its own message.
      responses:
        200: {description: '{"data": [{"name", "spec": {...}, "usage": {"ops", "since"} | null}]}'}
        404: {description: no such collection}
    """
    database, collection = _path(request, "db"), _path(request, "coll")
    listed = await call(
        request,
        backends(request).mongo.ListIndexes,
        aimed(mongo_pb2.ListIndexesRequest(database=database, collection=collection)),
        role=VIEWER,
    )
    stats = await call(
        request,
        backends(request).mongo_explorer.GetIndexStats,
        aimed(explorer_pb2.GetIndexStatsRequest(database=database, collection=collection)),
        role=VIEWER,
    )
    usage: dict[str, dict[str, Any]] = {}
    for row in stats.indexes:  # one row per index and shard: a sharded index's use adds up
        seen = usage.setdefault(row.name, {"ops": 0, "since": row.since or None})
        seen["ops"] += row.ops
        if row.since and (seen["since"] is None or row.since < seen["since"]):
            seen["since"] = row.since
    return JSONResponse(
        {
            "data": [
                {"name": index.name, "spec": orjson.Fragment(index.spec), "usage": usage.get(index.name)}
                for index in listed.indexes
            ]
        }
    )


async def schema(request: Request) -> Response:
    """
    get:
      summary: The schema of a sample of the collection, as Compass shows it (viewers).
      description: >-
        $sample of `sample` documents (default 1000, at most 10000), after `filter` when given;
        `method` is `random`. A server that refuses $sample as unsupported (FerretDB, some
        MongoDB-compatible services) gets the first `sample` documents of the filter in natural
        order instead, and `method` is `first`. Each field path (nested ones dotted, an array's
        elements as `path[]`) with its count, its probability (the share of its parents holding
        it) and its BSON types, each with count, probability and up to 3 example values
        (Extended JSON, strings cut at 80 characters). At most 1000 paths (then truncated is
        true).
      parameters:
        - {name: sample, in: query, description: '1-10000, default 1000'}
        - {name: filter, in: query, example: '{"status": "active"}'}
        - {name: ejson, in: query, description: relaxed (default) or canonical}
      responses:
        200:
          description: >-
            {"sampled", "method": "random" | "first", "fields": [{"path", "count", "probability",
            "types": [{"name", "count", "probability", "examples"}]}], "truncated"}
    """
    reply = await call(
        request,
        backends(request).mongo_explorer.AnalyzeSchema,
        aimed(
            explorer_pb2.AnalyzeSchemaRequest(
                database=_path(request, "db"),
                collection=_path(request, "coll"),
                sample_size=query_int(request, "sample", 0, minimum=1, maximum=10_000),
                filter=request.query_params.get("filter", ""),
                json_mode=_json_mode(request),
            ),
        ),
        role=VIEWER,
    )
    return JSONResponse(
        {
            "sampled": reply.sampled,
            "method": _SAMPLE_METHODS.get(reply.method, "random"),
            "fields": [
                {
                    "path": item.path,
                    "count": item.count,
                    "probability": item.probability,
                    "types": [
                        {
                            "name": kind.name,
                            "count": kind.count,
                            "probability": kind.probability,
                            "examples": [orjson.Fragment(example) for example in kind.examples],
                        }
                        for kind in item.types
                    ],
                }
                for item in reply.fields
            ],
            "truncated": reply.truncated,
        }
    )


NDJSON_MEDIA_TYPE = "application/x-ndjson"


async def export(request: Request) -> Response:
    """
    get:
      summary: The documents matching a filter as NDJSON, streamed (viewers).
      description: >-
        One Extended JSON document per line, in the sort's order, sent as the server's batches
        arrive (memory stays bounded whatever the size). The export must finish within the
        service's time limit (MONGO_MAX_TIME_MS); a failure after the first line cuts the
        stream off (the reply is then incomplete, which HTTP clients report).
      parameters:
        - {name: filter, in: query, example: '{"status": "active"}'}
        - {name: projection, in: query}
        - {name: sort, in: query}
        - {name: limit, in: query, description: 0 (default) for every match}
        - {name: ejson, in: query, description: relaxed (default) or canonical}
      responses:
        200: {description: 'application/x-ndjson: one document per line', content: {application/x-ndjson: {}}}
    """
    params = request.query_params
    message = explorer_pb2.ExportDocumentsRequest(
        database=_path(request, "db"),
        collection=_path(request, "coll"),
        filter=params.get("filter", ""),
        projection=params.get("projection", ""),
        sort=params.get("sort", ""),
        limit=query_int(request, "limit", 0, maximum=2**63 - 1),
        json_mode=_json_mode(request),
    )
    caller = await authorize(request, VIEWER)
    message.target.CopyFrom(caller.target)
    replies = aiter(backends(request).mongo_explorer.ExportDocuments(message, metadata=caller.metadata))
    # The first chunk is awaited here, so that a refused export is an error reply, not a 200.
    with rpc_errors():
        first = await anext(replies, None)

    async def lines() -> AsyncIterator[bytes]:
        if first is None:
            return
        yield first.lines
        async for chunk in replies:
            yield chunk.lines

    name = f"{_path(request, 'db')}.{_path(request, 'coll')}.ndjson".replace('"', "")
    return StreamingResponse(
        lines(),
        media_type=NDJSON_MEDIA_TYPE,
        headers={"content-disposition": f'attachment; filename="{name}"'},
    )


async def import_documents(request: Request) -> Response:
    """
    post:
      summary: Inserts NDJSON lines in bounded batches (developers), with a report of the lines refused.
      description: >-
        The body (one Extended JSON document per line, up to the gateway's body limit) is
        streamed to the service and inserted in batches of at most 1000 documents. A line that
        is not an Extended JSON object, or that the server refuses (a duplicate _id, a
        validation failure), is reported with its 1-based line number and the others go in;
        with stop_on_error=true the import stops at the first one. Empty lines are skipped.
      parameters:
        - {name: stop_on_error, in: query, description: 'false (default): import past refused lines'}
      requestBody:
        content:
          application/x-ndjson:
            example: |
              {"_id": 1, "name": "Ada"}
              {"_id": 2, "born": {"$date": "1815-12-10T00:00:00Z"}}
      responses:
        200:
          description: >-
            {"inserted", "lines", "refused": [{"line", "reason"}] (the first 1000),
            "refused_count", "stopped"}
    """
    start = explorer_pb2.ImportTarget(
        database=_path(request, "db"),
        collection=_path(request, "coll"),
        stop_on_error=query_bool(request, "stop_on_error", False),
    )

    async def chunks(first: explorer_pb2.ImportTarget) -> AsyncIterator[explorer_pb2.ImportChunk]:
        yield explorer_pb2.ImportChunk(start=first)
        async for data in request.stream():
            if data:
                yield explorer_pb2.ImportChunk(data=data)

    caller = await authorize(request, DEVELOPER)
    start.target.CopyFrom(caller.target)
    with rpc_errors():
        # A client-streaming call passes no interceptor: its deadline is the request's time left.
        reply = await backends(request).mongo_explorer.ImportDocuments(
            chunks(start), metadata=caller.metadata, timeout=outgoing_timeout(None)
        )
    return JSONResponse(
        {
            "inserted": reply.inserted,
            "lines": reply.lines,
            "refused": [{"line": refused.line, "reason": refused.reason} for refused in reply.refused],
            "refused_count": reply.refused_count,
            "stopped": reply.stopped,
        }
    )


_COLLECTION = "/mongodb/{ref}/databases/{db}/collections/{coll}"

routes: list[BaseRoute] = [
    Route(_COLLECTION + "/explain", explain, methods=["POST"]),
    Route(_COLLECTION + "/index-usage", index_usage, methods=["GET"]),
    Route(_COLLECTION + "/schema", schema, methods=["GET"]),
    Route(_COLLECTION + "/export", export, methods=["GET"]),
    Route(_COLLECTION + "/import", import_documents, methods=["POST"]),
]
