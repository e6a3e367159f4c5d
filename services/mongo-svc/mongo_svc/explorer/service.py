"""The MongoExplorerService RPCs: writes by filter, explain and index usage here; the schema of a
sample (:mod:`.schema`) and NDJSON export and import (:mod:`.transfer`) in their own modules."""

from __future__ import annotations

import datetime
from collections.abc import AsyncIterator
from typing import Any

import grpc

from mongo_svc import ejson
from mongo_svc.explorer import schema, transfer
from mongo_svc.explorer.scope import Borrow, Document, collection_of
from mongo_svc.settings import Settings
from udb.common.v1 import common_pb2
from udb.errors import InvalidArgument
from udb.mongo.v1 import explorer_pb2, explorer_pb2_grpc

Context = grpc.aio.ServicerContext[Any, Any]

VIEWER = common_pb2.ROLE_VIEWER
DEVELOPER = common_pb2.ROLE_DEVELOPER

#: Explain verbosity names, and whether the verbosity runs the query (developers only).
_VERBOSITIES: dict[int, tuple[str, bool]] = {
    explorer_pb2.EXPLAIN_VERBOSITY_UNSPECIFIED: ("queryPlanner", False),
    explorer_pb2.EXPLAIN_VERBOSITY_QUERY_PLANNER: ("queryPlanner", False),
    explorer_pb2.EXPLAIN_VERBOSITY_EXECUTION_STATS: ("executionStats", True),
    explorer_pb2.EXPLAIN_VERBOSITY_ALL_PLANS_EXECUTION: ("allPlansExecution", True),
}
#: Metadata the server adds to command replies, not part of what the caller asked for.
_REPLY_METADATA = frozenset({"$clusterTime", "operationTime", "$configTime", "$topologyTime", "ok"})


class MongoExplorerService(explorer_pb2_grpc.MongoExplorerServiceServicer):
    """What a MongoDB explorer needs beyond browsing, on a project's deployments."""

    def __init__(self, borrow: Borrow, settings: Settings) -> None:
        self.borrow = borrow
        self.settings = settings

    def _refuse_javascript(self, value: Any, what: str) -> None:
        if not self.settings.allow_javascript:
            ejson.refuse_javascript(value, what)

    def _filter(self, text: str) -> Document:
        """A write's filter: required (``{}`` matches every document), no JavaScript."""
        query = ejson.parse_object(text, "filter")
        self._refuse_javascript(query, "filter")
        return query

    # ---- writes by filter ---------------------------------------------------------------------

    async def UpdateDocuments(
        self, request: explorer_pb2.UpdateDocumentsRequest, context: Context
    ) -> explorer_pb2.UpdateDocumentsResponse:
        query = self._filter(request.filter)
        change = request.WhichOneof("change")
        if change == "replacement":
            if request.many:
                raise InvalidArgument("a replacement replaces one document", details={"field": "many"})
            replacement = ejson.parse_document(request.replacement, "replacement")
            if any(str(key).startswith("$") for key in replacement):
                raise InvalidArgument("a replacement cannot hold update operators", details={"field": "replacement"})
            self._refuse_javascript(replacement, "replacement")
        elif change == "update":
            update = _update(request.update)
            self._refuse_javascript(update, "update")
        else:
            raise InvalidArgument("update or replacement is required", details={"field": "update"})
        async with self.borrow(request.target, DEVELOPER) as borrowed:
            collection = collection_of(borrowed.client, request.database, request.collection)
            if change == "replacement":
                result = await collection.replace_one(query, replacement, upsert=request.upsert)
            elif request.many:
                result = await collection.update_many(query, update, upsert=request.upsert)
            else:
                result = await collection.update_one(query, update, upsert=request.upsert)
        upserted = result.upserted_id
        return explorer_pb2.UpdateDocumentsResponse(
            matched_count=result.matched_count,
            modified_count=result.modified_count,
            upserted_id=ejson.dumps(upserted, ejson.json_options(request.json_mode)) if upserted is not None else "",
        )

    async def DeleteDocuments(
        self, request: explorer_pb2.DeleteDocumentsRequest, context: Context
    ) -> explorer_pb2.DeleteDocumentsResponse:
        query = self._filter(request.filter)
        async with self.borrow(request.target, DEVELOPER) as borrowed:
            collection = collection_of(borrowed.client, request.database, request.collection)
            if request.many:
                result = await collection.delete_many(query)
            else:
                result = await collection.delete_one(query)
        return explorer_pb2.DeleteDocumentsResponse(deleted_count=result.deleted_count)

    # ---- explain and index usage --------------------------------------------------------------

    async def Explain(self, request: explorer_pb2.ExplainRequest, context: Context) -> explorer_pb2.ExplainResponse:
        verbosity, runs = _VERBOSITIES.get(request.verbosity, ("", False))
        if not verbosity:
            raise InvalidArgument("unknown explain verbosity", details={"field": "verbosity"})
        role = DEVELOPER if runs else VIEWER
        which = request.WhichOneof("query")
        if which == "find":
            command = self._find_command(request.collection, request.find)
        elif which == "aggregate":
            pipeline = ejson.parse_pipeline(request.aggregate.pipeline)
            self._refuse_javascript(pipeline, "pipeline")
            if ejson.write_stages(pipeline):
                if runs:
                    # Explaining with execution would run $out/$merge, and MongoDB refuses it.
                    raise InvalidArgument(
                        "a pipeline with $out or $merge is explained with queryPlanner only",
                        details={"field": "verbosity"},
                    )
                role = DEVELOPER
            command = {"aggregate": request.collection, "pipeline": pipeline, "cursor": {}}
        else:
            raise InvalidArgument("find or aggregate is required", details={"field": "query"})
        async with self.borrow(request.target, role) as borrowed:
            db = collection_of(borrowed.client, request.database, request.collection).database
            reply = await db.command({"explain": command, "verbosity": verbosity})
        plan = {key: value for key, value in reply.items() if key not in _REPLY_METADATA}
        return explorer_pb2.ExplainResponse(explain=ejson.dumps(plan, ejson.json_options(request.json_mode)))

    def _find_command(self, collection: str, find: explorer_pb2.ExplainFind) -> Document:
        if find.skip < 0 or find.limit < 0:
            raise InvalidArgument("skip and limit must not be negative", details={"field": "find"})
        command: Document = {"find": collection, "filter": ejson.parse_object(find.filter, "filter", default={})}
        projection = ejson.parse_object(find.projection, "projection", default={})
        sort = ejson.parse_sort(find.sort)
        if projection:
            command["projection"] = projection
        if sort:
            command["sort"] = dict(sort)
        if find.skip:
            command["skip"] = find.skip
        if find.limit:
            command["limit"] = find.limit
        if find.hint:
            hint = ejson.loads(find.hint, "hint")
            if not isinstance(hint, str | dict):
                raise InvalidArgument("hint must be an index name or a key pattern", details={"field": "hint"})
            command["hint"] = hint
        self._refuse_javascript(command, "find")
        return command

    async def GetIndexStats(
        self, request: explorer_pb2.GetIndexStatsRequest, context: Context
    ) -> explorer_pb2.GetIndexStatsResponse:
        async with self.borrow(request.target, VIEWER) as borrowed:
            collection = collection_of(borrowed.client, request.database, request.collection)
            # One row per index (per shard on a sharded cluster): at most 64 per shard.
            cursor = await collection.aggregate([{"$indexStats": {}}])
            rows = [row async for row in cursor]
        return explorer_pb2.GetIndexStatsResponse(indexes=[_usage(row) for row in rows])

    # ---- schema of a sample, NDJSON export and import ----------------------------------------

    async def AnalyzeSchema(
        self, request: explorer_pb2.AnalyzeSchemaRequest, context: Context
    ) -> explorer_pb2.AnalyzeSchemaResponse:
        return await schema.analyze(self, request)

    async def ExportDocuments(
        self, request: explorer_pb2.ExportDocumentsRequest, context: Context
    ) -> AsyncIterator[explorer_pb2.ExportChunk]:
        async for chunk in transfer.export(self, request):
            yield chunk

    async def ImportDocuments(
        self, request_iterator: AsyncIterator[explorer_pb2.ImportChunk], context: Context
    ) -> explorer_pb2.ImportDocumentsResponse:
        return await transfer.import_lines(self, request_iterator)


def _update(text: str) -> Document | list[Document]:
    """Update operators, or an update pipeline (an array of stages)."""
    value = ejson.loads(text, "update") if text.strip() else None
    if isinstance(value, list) and value and all(isinstance(stage, dict) for stage in value):
        return value
    if isinstance(value, dict) and value and all(str(key).startswith("$") for key in value):
        return value
    raise InvalidArgument(
        "update must hold update operators only ($set, $inc, ...) or be a pipeline", details={"field": "update"}
    )


def _usage(row: Document) -> explorer_pb2.IndexUsage:
    accesses = row.get("accesses") or {}
    since = accesses.get("since")
    return explorer_pb2.IndexUsage(
        name=str(row.get("name", "")),
        ops=int(accesses.get("ops") or 0),
        since=since.isoformat() if isinstance(since, datetime.datetime) else "",
        stats=ejson.dumps(row),
    )
