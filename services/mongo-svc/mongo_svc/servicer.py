"""mongo-svc's RPCs: the servicer is the RPCs of each concern (:mod:`mongo_svc.documents`,
:mod:`mongo_svc.aggregation`, :mod:`mongo_svc.indexes`) over their shared plumbing
(:mod:`mongo_svc.operations`), plus databases, collections and the connection test here.

Filters, pipelines, updates and options are parsed from the caller's Extended JSON text and
checked for server-side JavaScript and write stages before anything is sent.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import grpc

from mongo_svc import ejson
from mongo_svc.aggregation import AggregateRpcs
from mongo_svc.clients import MongoClient
from mongo_svc.documents import DocumentRpcs
from mongo_svc.indexes import IndexRpcs
from mongo_svc.operations import (
    ADMIN,
    DEVELOPER,
    VIEWER,
    Document,
    named_collection,
    named_database,
    required,
    time_limit,
)
from mongo_svc.options import command_options
from udb.common.v1 import common_pb2
from udb.errors import NotFound
from udb.mongo.v1 import mongo_pb2
from udb.paging import decode_cursor, encode_cursor, page_limit

Context = grpc.aio.ServicerContext[Any, Any]

#: Metadata the server adds to command replies, not part of what the caller asked for.
_REPLY_METADATA = ("$clusterTime", "operationTime", "$configTime", "$topologyTime")


class MongoService(DocumentRpcs, AggregateRpcs, IndexRpcs):
    """Operations on a project's MongoDB deployments."""

    # ---- databases and collections ------------------------------------------------------------

    async def ListDatabases(
        self, request: mongo_pb2.ListDatabasesRequest, context: Context
    ) -> mongo_pb2.ListDatabasesResponse:
        async with self.borrow(request.target, VIEWER) as borrowed:
            cursor = await borrowed.client.list_databases()
            databases = [
                mongo_pb2.Database(
                    name=str(info["name"]),
                    size_on_disk=int(info.get("sizeOnDisk") or 0),
                    empty=bool(info.get("empty", False)),
                )
                async for info in cursor
            ]
        return mongo_pb2.ListDatabasesResponse(databases=databases)

    async def GetDatabaseStats(
        self, request: mongo_pb2.GetDatabaseStatsRequest, context: Context
    ) -> mongo_pb2.GetDatabaseStatsResponse:
        async with self.borrow(request.target, VIEWER) as borrowed:
            db = named_database(borrowed.client, request.database)
            # dbStats answers zeros for any name: a database exists once it is listed.
            if request.database not in await borrowed.client.list_database_names():
                raise NotFound(f"database {request.database!r} not found", details={"database": request.database})
            stats = _without_metadata(await db.command("dbStats"))
        return mongo_pb2.GetDatabaseStatsResponse(stats=ejson.dumps(stats, ejson.json_options(request.json_mode)))

    async def ListCollections(
        self, request: mongo_pb2.ListCollectionsRequest, context: Context
    ) -> mongo_pb2.ListCollectionsResponse:
        limit = page_limit(request.limit)
        after = decode_cursor(request.cursor)
        async with self.borrow(request.target, VIEWER) as borrowed:
            db = named_database(borrowed.client, request.database)
            cursor = await db.list_collections(filter={"name": {"$gt": after}} if after else None)
            infos = [info async for info in cursor]
        # listCollections has no order: sort by name so that pages follow one another.
        infos.sort(key=lambda info: str(info["name"]))
        page = infos[:limit]
        return mongo_pb2.ListCollectionsResponse(
            collections=[_collection_message(info) for info in page],
            next_cursor=encode_cursor(str(page[-1]["name"])) if len(infos) > limit else "",
        )

    async def CreateCollection(
        self, request: mongo_pb2.CreateCollectionRequest, context: Context
    ) -> mongo_pb2.Collection:
        name = required(request.name, "name")
        options = command_options(ejson.parse_object(request.options, "options", default={}), "options", "create")
        self._refuse_javascript(options, "options")
        async with self.borrow(request.target, DEVELOPER) as borrowed:
            db = named_database(borrowed.client, request.database)
            named_collection(db, name)  # validates the name before the server sees it
            await db.command({"create": name, **options})
            cursor = await db.list_collections(filter={"name": name})
            created = [info async for info in cursor]
        if created:
            return _collection_message(created[0])
        kind = "view" if "viewOn" in options else "timeseries" if "timeseries" in options else "collection"
        return mongo_pb2.Collection(name=name, type=kind, options=ejson.dumps(options))

    async def DropCollection(
        self, request: mongo_pb2.DropCollectionRequest, context: Context
    ) -> mongo_pb2.DropCollectionResponse:
        name = required(request.name, "name")
        async with self.borrow(request.target, ADMIN) as borrowed:
            db = named_database(borrowed.client, request.database)
            # Since MongoDB 7.0 dropping a missing collection succeeds: ask first, to answer 404.
            if not await db.list_collection_names(filter={"name": name}):
                raise NotFound(f"collection {name!r} not found", details={"collection": name})
            await db.command("drop", name)
        return mongo_pb2.DropCollectionResponse(dropped=True)

    # ---- connection test ----------------------------------------------------------------------

    async def TestConnection(
        self, request: mongo_pb2.TestConnectionRequest, context: Context
    ) -> common_pb2.ConnectionTestResult:
        async def probe(client: MongoClient) -> str:
            await self._ensure_reachable(client, write=False)
            with time_limit(self._time_left_s()):
                info = await client.admin.command("buildInfo")
            return str(info.get("version", ""))

        return await self.runtime.test_connection(request.target, probe)


def _without_metadata(reply: Document) -> Document:
    return {key: value for key, value in reply.items() if key not in _REPLY_METADATA}


def _collection_message(info: Mapping[str, Any]) -> mongo_pb2.Collection:
    return mongo_pb2.Collection(
        name=str(info["name"]),
        type=str(info.get("type", "collection")),
        options=ejson.dumps(info.get("options") or {}),
    )
