"""mongo-svc's index RPCs: list, create, drop."""

from __future__ import annotations

from typing import Any

import grpc
from pymongo import IndexModel

from mongo_svc import ejson
from mongo_svc.operations import (
    ADMIN,
    DEVELOPER,
    VIEWER,
    Document,
    MongoOperations,
    named_collection,
    named_database,
    required,
)
from mongo_svc.options import INDEX_TYPES, command_options, index_kind_ok
from udb.errors import AlreadyExists, InvalidArgument
from udb.mongo.v1 import mongo_pb2

Context = grpc.aio.ServicerContext[Any, Any]


class IndexRpcs(MongoOperations):
    """The indexes of a collection."""

    async def ListIndexes(
        self, request: mongo_pb2.ListIndexesRequest, context: Context
    ) -> mongo_pb2.ListIndexesResponse:
        async with self.borrow(request.target, VIEWER) as borrowed:
            db = named_database(borrowed.client, request.database)
            named_collection(db, request.collection)
            # The command, not list_indexes(): that one answers [] for a missing collection.
            # A collection has at most 64 indexes, so the first batch holds them all.
            reply = await db.command("listIndexes", request.collection)
        specs: list[Document] = reply["cursor"]["firstBatch"]
        return mongo_pb2.ListIndexesResponse(
            indexes=[mongo_pb2.Index(name=str(spec.get("name", "")), spec=ejson.dumps(spec)) for spec in specs]
        )

    async def CreateIndex(
        self, request: mongo_pb2.CreateIndexRequest, context: Context
    ) -> mongo_pb2.CreateIndexResponse:
        keys = ejson.parse_object(request.keys, "keys")
        if not keys:
            raise InvalidArgument("keys must name at least one field", details={"field": "keys"})
        for key, kind in keys.items():
            if not index_kind_ok(kind):
                raise InvalidArgument(
                    f"index key {key!r} must be 1, -1 or one of {', '.join(sorted(INDEX_TYPES))}",
                    details={"field": "keys"},
                )
        options = command_options(ejson.parse_object(request.options, "options", default={}), "options", "key")
        self._refuse_javascript(options, "options")
        try:
            spec = IndexModel(list(keys.items()), **options).document
        except (TypeError, ValueError) as exc:
            raise InvalidArgument(f"bad index: {exc}", details={"field": "keys"}) from None
        async with self.borrow(request.target, DEVELOPER) as borrowed:
            db = named_database(borrowed.client, request.database)
            named_collection(db, request.collection)
            reply = await db.command({"createIndexes": request.collection, "indexes": [spec]})
        if reply.get("numIndexesBefore") == reply.get("numIndexesAfter") and not reply.get(
            "createdCollectionAutomatically"
        ):
            raise AlreadyExists(f"index {spec['name']!r} already exists", details={"index": spec["name"]})
        return mongo_pb2.CreateIndexResponse(name=str(spec["name"]))

    async def DropIndex(self, request: mongo_pb2.DropIndexRequest, context: Context) -> mongo_pb2.DropIndexResponse:
        name = required(request.name, "name")
        if name == "*":
            raise InvalidArgument("'*' would drop every index: drop them one by one", details={"field": "name"})
        async with self.borrow(request.target, ADMIN) as borrowed:
            db = named_database(borrowed.client, request.database)
            named_collection(db, request.collection)
            await db.command("dropIndexes", request.collection, index=name)
        return mongo_pb2.DropIndexResponse(dropped=True)
