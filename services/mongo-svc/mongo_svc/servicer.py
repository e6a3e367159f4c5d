"""mongo-svc's RPCs.

Every operation runs inside ``pymongo.timeout`` (the configured limit, or the caller's gRPC
deadline when that comes first): the driver sends the remaining time as ``maxTimeMS`` with each
command (so the server stops a runaway query, or one nobody waits for any more) and bounds the
socket reads by it. Filters, pipelines, updates and options are parsed from the caller's Extended JSON
text and checked for server-side JavaScript and write stages before anything is sent.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import AsyncIterator, Iterator, Mapping
from typing import Any

import bson.errors
import grpc
import pymongo
import pymongo.errors
from pymongo import IndexModel, ReadPreference, ReturnDocument
from pymongo.asynchronous.collection import AsyncCollection
from pymongo.asynchronous.database import AsyncDatabase

from mongo_svc import ejson
from mongo_svc.clients import MongoClient, translate
from mongo_svc.cursors import CursorRegistry, CursorScope, Page, PagedCursor, ServerCursor
from mongo_svc.find_cursor import CursorSigner, FindCursor, FindQuery, is_find_cursor, signing_key
from mongo_svc.finds import FindPager
from mongo_svc.options import INDEX_TYPES, check_aggregate_options, command_options, index_kind_ok
from mongo_svc.settings import Settings
from udb.auth import current_principal
from udb.common.v1 import common_pb2
from udb.engine import PARSE_ERRORS, Borrowed, EngineRuntime, unreadable_reply
from udb.errors import AlreadyExists, DeadlineExceeded, InvalidArgument, NotFound, Unavailable
from udb.interceptors import deadline_var
from udb.mongo.v1 import mongo_pb2, mongo_pb2_grpc
from udb.paging import decode_cursor, encode_cursor, page_limit

Context = grpc.aio.ServicerContext[Any, Any]
Document = dict[str, Any]

VIEWER = common_pb2.ROLE_VIEWER
DEVELOPER = common_pb2.ROLE_DEVELOPER
ADMIN = common_pb2.ROLE_ADMIN

#: How a find's next page is found: by the sort keys of the last document, or by counting.
_PAGED_BY = {True: "keyset", False: "skip"}
#: Metadata the server adds to command replies, not part of what the caller asked for.
_REPLY_METADATA = ("$clusterTime", "operationTime", "$configTime", "$topologyTime")


class MongoService(mongo_pb2_grpc.MongoServiceServicer):
    """Operations on a project's MongoDB deployments."""

    def __init__(self, runtime: EngineRuntime[MongoClient], settings: Settings, cursors: CursorRegistry) -> None:
        self.runtime = runtime
        self.settings = settings
        self.cursors = cursors
        self.finds = FindPager(CursorSigner(signing_key(settings)), max_page_bytes=settings.max_page_bytes)
        self._timeout_s = settings.max_time_ms / 1000

    # ---- plumbing -----------------------------------------------------------------------------

    @contextlib.asynccontextmanager
    async def _borrow(self, target: common_pb2.ConnectionTarget, role: int) -> AsyncIterator[Borrowed[MongoClient]]:
        """The target's client after the role check, inside the operation's time limit, with
        PyMongo's errors translated."""
        async with self.runtime.borrow(target, role) as borrowed:
            await self._ensure_reachable(borrowed.client, write=role >= DEVELOPER)
            try:
                with time_limit(self._time_left_s()):
                    yield borrowed
            except (pymongo.errors.PyMongoError, bson.errors.BSONError) as exc:
                raise translate(exc) from None
            except OverflowError:  # the driver encoding a caller's number
                raise InvalidArgument("a number is too large for BSON (64-bit integers at most)") from None
            except PARSE_ERRORS as exc:  # the driver choking on a reply it cannot read
                error = unreadable_reply(exc, "mongodb", "pymongo", "bson")
                if error is None:
                    raise
                raise error from None

    def _time_left_s(self) -> float:
        """The configured limit, or less when the caller's deadline comes first (then the
        server stops the operation when the caller stops waiting for it)."""
        deadline = deadline_var.get()
        if deadline is None:
            return self._timeout_s
        return max(0.001, min(self._timeout_s, deadline - time.monotonic()))

    async def _ensure_reachable(self, client: MongoClient, *, write: bool) -> None:
        """Fails within the server selection timeout when no known server can serve the call.

        Under ``pymongo.timeout`` the driver waits for a server as long as the operation's whole
        time limit; a database that is down must answer 503 promptly instead. A server the
        driver already knows to be up costs nothing here.
        """
        description = client.topology_description
        read_preference = ReadPreference.PRIMARY if write else client.read_preference
        if description.has_readable_server(read_preference):
            return
        try:
            with pymongo.timeout(self.settings.server_selection_timeout_s):
                await client.admin.command("ping", read_preference=read_preference)
        except pymongo.errors.PyMongoError as exc:
            error = translate(exc)
            if isinstance(error, DeadlineExceeded):  # this check's own short limit ran out
                error = Unavailable("mongodb: the server does not answer")
            raise error from None

    def _refuse_javascript(self, value: Any, what: str) -> None:
        if not self.settings.allow_javascript:
            ejson.refuse_javascript(value, what)

    def _parse_id(self, text: str) -> Any:
        document_id = ejson.parse_id(text)
        self._refuse_javascript(document_id, "id")
        return document_id

    async def _first_page(
        self,
        borrowed: Borrowed[MongoClient],
        cursor: ServerCursor,
        limit: int,
        mode: int,
        namespace: tuple[str, str],
    ) -> tuple[Page, str]:
        """The first page of a fresh server cursor, and the token of the rest (empty when none:
        the cursor is then closed already)."""
        paged = PagedCursor(cursor)
        try:
            page = await paged.page(limit, self.settings.max_page_bytes, ejson.json_options(mode))
        except BaseException:
            await paged.close()
            raise
        if not page.more:
            return page, ""
        entry = await self.cursors.open(
            paged, _scope(borrowed), borrowed.client, self.runtime.pools.hold(borrowed.resolved), namespace
        )
        return page, await self.cursors.park(entry)

    async def _next_page(
        self, target: common_pb2.ConnectionTarget, token: str, limit: int, mode: int, namespace: tuple[str, str]
    ) -> tuple[Page, str]:
        """The next page of an open server cursor, and the token of the rest (empty when none)."""
        if is_find_cursor(token):
            raise InvalidArgument("the cursor continues a find, not an aggregate", details={"field": "cursor"})
        async with self._borrow(target, VIEWER) as borrowed:
            entry = self.cursors.take(token, _scope(borrowed), namespace)
            if entry.client is not borrowed.client:
                # The connection record changed since: the cursor belongs to a retired client.
                await entry.close()
                raise NotFound("cursor expired: the connection changed; run the query again")
            try:
                page = await entry.cursor.page(limit, self.settings.max_page_bytes, ejson.json_options(mode))
            except BaseException:
                await entry.close()
                raise
            if not page.more:
                await entry.close()
                return page, ""
            return page, await self.cursors.park(entry)

    # ---- databases and collections ------------------------------------------------------------

    async def ListDatabases(
        self, request: mongo_pb2.ListDatabasesRequest, context: Context
    ) -> mongo_pb2.ListDatabasesResponse:
        async with self._borrow(request.target, VIEWER) as borrowed:
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
        async with self._borrow(request.target, VIEWER) as borrowed:
            db = _database(borrowed.client, request.database)
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
        async with self._borrow(request.target, VIEWER) as borrowed:
            db = _database(borrowed.client, request.database)
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
        name = _required(request.name, "name")
        options = command_options(ejson.parse_object(request.options, "options", default={}), "options", "create")
        self._refuse_javascript(options, "options")
        async with self._borrow(request.target, DEVELOPER) as borrowed:
            db = _database(borrowed.client, request.database)
            _collection(db, name)  # validates the name before the server sees it
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
        name = _required(request.name, "name")
        async with self._borrow(request.target, ADMIN) as borrowed:
            db = _database(borrowed.client, request.database)
            # Since MongoDB 7.0 dropping a missing collection succeeds: ask first, to answer 404.
            if not await db.list_collection_names(filter={"name": name}):
                raise NotFound(f"collection {name!r} not found", details={"collection": name})
            await db.command("drop", name)
        return mongo_pb2.DropCollectionResponse(dropped=True)

    # ---- documents ----------------------------------------------------------------------------

    async def FindDocuments(
        self, request: mongo_pb2.FindDocumentsRequest, context: Context
    ) -> mongo_pb2.FindDocumentsResponse:
        limit = page_limit(request.limit)
        if request.skip < 0:
            raise InvalidArgument("skip must not be negative", details={"field": "skip"})
        query = FindQuery(
            database=request.database,
            collection=request.collection,
            filter=ejson.parse_object(request.filter, "filter", default={}),
            projection=ejson.parse_object(request.projection, "projection", default={}) or None,
            sort=ejson.parse_sort(request.sort),
        )
        after: FindCursor | None = None
        if request.cursor:
            after = self.finds.resume(request, query, subject=current_principal().subject)
            query = after.query
        self._refuse_javascript(query.filter, "filter")
        self._refuse_javascript(query.projection, "projection")
        count: int | None = None
        async with self._borrow(request.target, VIEWER) as borrowed:
            connection_id = borrowed.resolved.connection.id
            if after is not None and after.connection_id != connection_id:
                raise InvalidArgument("the cursor continues a find on another connection", details={"field": "cursor"})
            collection = _collection(_database(borrowed.client, query.database), query.collection)
            if request.count:
                count = await collection.count_documents(query.filter)
            page, following = await self.finds.page(
                collection,
                query,
                connection_id=connection_id,
                limit=limit,
                options=ejson.json_options(request.json_mode),
                skip=request.skip,
                after=after,
            )
        token = ""
        if following is not None:
            token = self.finds.signer.encode(
                following, subject=current_principal().subject, project_ref=request.target.project_ref
            )
        return mongo_pb2.FindDocumentsResponse(
            documents=page.documents,
            count=count,
            truncated=page.truncated,
            next_cursor=token,
            paged_by=_PAGED_BY[following.after is not None] if following is not None else "",
        )

    async def InsertDocuments(
        self, request: mongo_pb2.InsertDocumentsRequest, context: Context
    ) -> mongo_pb2.InsertDocumentsResponse:
        if not request.documents:
            raise InvalidArgument("no documents to insert", details={"field": "documents"})
        documents = [ejson.parse_document(text, f"documents[{i}]") for i, text in enumerate(request.documents)]
        for index, document in enumerate(documents):
            self._refuse_javascript(document, f"documents[{index}]")
        async with self._borrow(request.target, DEVELOPER) as borrowed:
            collection = _collection(_database(borrowed.client, request.database), request.collection)
            if len(documents) == 1:
                ids = [(await collection.insert_one(documents[0])).inserted_id]
            else:
                ids = (await collection.insert_many(documents, ordered=True)).inserted_ids
        options = ejson.json_options(request.json_mode)
        return mongo_pb2.InsertDocumentsResponse(inserted_ids=[ejson.dumps(i, options) for i in ids])

    async def GetDocument(self, request: mongo_pb2.GetDocumentRequest, context: Context) -> mongo_pb2.Document:
        document_id = self._parse_id(request.id)
        async with self._borrow(request.target, VIEWER) as borrowed:
            collection = _collection(_database(borrowed.client, request.database), request.collection)
            found = await collection.find_one({"_id": document_id})
        return _document_message(found, request.json_mode)

    async def ReplaceDocument(self, request: mongo_pb2.ReplaceDocumentRequest, context: Context) -> mongo_pb2.Document:
        document_id = self._parse_id(request.id)
        replacement = ejson.parse_document(request.document, "document")
        self._refuse_javascript(replacement, "document")
        if any(key.startswith("$") for key in replacement):
            raise InvalidArgument(
                "a replacement cannot hold update operators: send only operators for an update",
                details={"field": "document"},
            )
        if "_id" in replacement and replacement["_id"] != document_id:
            raise InvalidArgument("the document's _id differs from the id in the path", details={"field": "_id"})
        async with self._borrow(request.target, DEVELOPER) as borrowed:
            collection = _collection(_database(borrowed.client, request.database), request.collection)
            found = await collection.find_one_and_replace(
                {"_id": document_id}, replacement, return_document=ReturnDocument.AFTER
            )
        return _document_message(found, request.json_mode)

    async def UpdateDocument(self, request: mongo_pb2.UpdateDocumentRequest, context: Context) -> mongo_pb2.Document:
        document_id = self._parse_id(request.id)
        update = ejson.parse_object(request.update, "update")
        if not update or not all(key.startswith("$") for key in update):
            raise InvalidArgument(
                "an update holds update operators only ($set, $unset, $inc, ...)", details={"field": "update"}
            )
        self._refuse_javascript(update, "update")
        async with self._borrow(request.target, DEVELOPER) as borrowed:
            collection = _collection(_database(borrowed.client, request.database), request.collection)
            found = await collection.find_one_and_update(
                {"_id": document_id}, update, return_document=ReturnDocument.AFTER
            )
        return _document_message(found, request.json_mode)

    async def DeleteDocument(
        self, request: mongo_pb2.DeleteDocumentRequest, context: Context
    ) -> mongo_pb2.DeleteDocumentResponse:
        document_id = self._parse_id(request.id)
        async with self._borrow(request.target, DEVELOPER) as borrowed:
            collection = _collection(_database(borrowed.client, request.database), request.collection)
            result = await collection.delete_one({"_id": document_id})
        if not result.deleted_count:
            raise NotFound("document not found", details={"id": request.id})
        return mongo_pb2.DeleteDocumentResponse(deleted=result.deleted_count)

    # ---- aggregate ----------------------------------------------------------------------------

    async def Aggregate(self, request: mongo_pb2.AggregateRequest, context: Context) -> mongo_pb2.AggregateResponse:
        limit = page_limit(request.limit)
        if request.cursor:
            page, token = await self._next_page(
                request.target, request.cursor, limit, request.json_mode, (request.database, request.collection)
            )
            return mongo_pb2.AggregateResponse(documents=page.documents, truncated=page.truncated, next_cursor=token)
        pipeline = ejson.parse_pipeline(request.pipeline)
        options = ejson.parse_object(request.options, "options", default={})
        check_aggregate_options(options)
        self._refuse_javascript(pipeline, "pipeline")
        self._refuse_javascript(options.get("let"), "options.let")
        # Writing stages make the pipeline a data write.
        role = DEVELOPER if ejson.write_stages(pipeline) else VIEWER
        time_limit_s = self._timeout_s
        max_time_ms = options.pop("maxTimeMS", None)
        if max_time_ms is not None:
            if max_time_ms <= 0:
                raise InvalidArgument("maxTimeMS must be a positive integer", details={"field": "options.maxTimeMS"})
            time_limit_s = min(time_limit_s, max_time_ms / 1000)
        async with self._borrow(request.target, role) as borrowed:
            collection = _collection(_database(borrowed.client, request.database), request.collection)
            # Nested limits take the earlier deadline: maxTimeMS lowers the limit, never raises it.
            with time_limit(time_limit_s):
                cursor = await collection.aggregate(pipeline, batchSize=limit + 1, **options)
                page, token = await self._first_page(
                    borrowed, cursor, limit, request.json_mode, (request.database, request.collection)
                )
        return mongo_pb2.AggregateResponse(documents=page.documents, truncated=page.truncated, next_cursor=token)

    # ---- indexes ------------------------------------------------------------------------------

    async def ListIndexes(
        self, request: mongo_pb2.ListIndexesRequest, context: Context
    ) -> mongo_pb2.ListIndexesResponse:
        async with self._borrow(request.target, VIEWER) as borrowed:
            db = _database(borrowed.client, request.database)
            _collection(db, request.collection)
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
        async with self._borrow(request.target, DEVELOPER) as borrowed:
            db = _database(borrowed.client, request.database)
            _collection(db, request.collection)
            reply = await db.command({"createIndexes": request.collection, "indexes": [spec]})
        if reply.get("numIndexesBefore") == reply.get("numIndexesAfter") and not reply.get(
            "createdCollectionAutomatically"
        ):
            raise AlreadyExists(f"index {spec['name']!r} already exists", details={"index": spec["name"]})
        return mongo_pb2.CreateIndexResponse(name=str(spec["name"]))

    async def DropIndex(self, request: mongo_pb2.DropIndexRequest, context: Context) -> mongo_pb2.DropIndexResponse:
        name = _required(request.name, "name")
        if name == "*":
            raise InvalidArgument("'*' would drop every index: drop them one by one", details={"field": "name"})
        async with self._borrow(request.target, ADMIN) as borrowed:
            db = _database(borrowed.client, request.database)
            _collection(db, request.collection)
            await db.command("dropIndexes", request.collection, index=name)
        return mongo_pb2.DropIndexResponse(dropped=True)

    # ---- connection test ----------------------------------------------------------------------

    async def TestConnection(
        self, request: mongo_pb2.TestConnectionRequest, context: Context
    ) -> common_pb2.ConnectionTestResult:
        async def probe(client: MongoClient) -> str:
            await self._ensure_reachable(client, write=False)
            with time_limit(self._time_left_s()):
                info = await client.admin.command("buildInfo")
            return str(info.get("version", ""))

        return await self.runtime.test_connection(request.target, probe, translate)


@contextlib.contextmanager
def time_limit(seconds: float) -> Iterator[None]:
    """``pymongo.timeout``: every command in the block carries the remaining time as maxTimeMS
    and socket reads wait no longer. A deadline that runs out while the driver is still
    selecting a server is the operation's deadline, not an unreachable server."""
    started = time.monotonic()
    try:
        with pymongo.timeout(seconds):
            yield
    except pymongo.errors.ServerSelectionTimeoutError:
        if time.monotonic() - started < seconds:
            raise
        raise DeadlineExceeded(f"mongodb: the operation ran past its time limit of {seconds:g} s") from None


def _scope(borrowed: Borrowed[MongoClient]) -> CursorScope:
    return CursorScope(
        subject=current_principal().subject,
        project_ref=borrowed.access.project_ref,
        connection_id=borrowed.resolved.connection.id,
    )


def _required(value: str, what: str) -> str:
    if not value:
        raise InvalidArgument(f"{what} is required", details={"field": what})
    return value


def _database(client: MongoClient, name: str) -> AsyncDatabase[Document]:
    if not name:
        raise InvalidArgument("database is required", details={"field": "database"})
    try:
        return client.get_database(name)
    except pymongo.errors.InvalidName as exc:
        raise InvalidArgument(f"bad database name: {exc}", details={"field": "database"}) from None


def _collection(db: AsyncDatabase[Document], name: str) -> AsyncCollection[Document]:
    if not name:
        raise InvalidArgument("collection is required", details={"field": "collection"})
    try:
        return db.get_collection(name)
    except pymongo.errors.InvalidName as exc:
        raise InvalidArgument(f"bad collection name: {exc}", details={"field": "collection"}) from None


def _without_metadata(reply: Document) -> Document:
    return {key: value for key, value in reply.items() if key not in _REPLY_METADATA}


def _collection_message(info: Mapping[str, Any]) -> mongo_pb2.Collection:
    return mongo_pb2.Collection(
        name=str(info["name"]),
        type=str(info.get("type", "collection")),
        options=ejson.dumps(info.get("options") or {}),
    )


def _document_message(found: Document | None, mode: int) -> mongo_pb2.Document:
    if found is None:
        raise NotFound("document not found")
    return mongo_pb2.Document(document=ejson.dumps(found, ejson.json_options(mode)))
