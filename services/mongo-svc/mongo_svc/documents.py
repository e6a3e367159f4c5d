"""mongo-svc's document RPCs: find (paged by keyset or by count), insert, get, replace, update, delete."""

from __future__ import annotations

from typing import Any

import grpc
from pymongo import ReturnDocument

from mongo_svc import ejson
from mongo_svc.find_cursor import FindCursor, FindQuery
from mongo_svc.operations import DEVELOPER, VIEWER, MongoOperations, document_message, named_collection, named_database
from udb.auth import current_principal
from udb.errors import InvalidArgument, NotFound
from udb.mongo.v1 import mongo_pb2
from udb.paging import page_limit

Context = grpc.aio.ServicerContext[Any, Any]

#: How a find's next page is found: by the sort keys of the last document, or by counting.
_PAGED_BY = {True: "keyset", False: "skip"}


class DocumentRpcs(MongoOperations):
    """The documents of a collection."""

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
        async with self.borrow(request.target, VIEWER) as borrowed:
            connection_id = borrowed.resolved.connection.id
            if after is not None and after.connection_id != connection_id:
                raise InvalidArgument("the cursor continues a find on another connection", details={"field": "cursor"})
            collection = named_collection(named_database(borrowed.client, query.database), query.collection)
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
        async with self.borrow(request.target, DEVELOPER) as borrowed:
            collection = named_collection(named_database(borrowed.client, request.database), request.collection)
            if len(documents) == 1:
                ids = [(await collection.insert_one(documents[0])).inserted_id]
            else:
                ids = (await collection.insert_many(documents, ordered=True)).inserted_ids
        options = ejson.json_options(request.json_mode)
        return mongo_pb2.InsertDocumentsResponse(inserted_ids=[ejson.dumps(i, options) for i in ids])

    async def GetDocument(self, request: mongo_pb2.GetDocumentRequest, context: Context) -> mongo_pb2.Document:
        document_id = self._parse_id(request.id)
        async with self.borrow(request.target, VIEWER) as borrowed:
            collection = named_collection(named_database(borrowed.client, request.database), request.collection)
            found = await collection.find_one({"_id": document_id})
        return document_message(found, request.json_mode)

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
        async with self.borrow(request.target, DEVELOPER) as borrowed:
            collection = named_collection(named_database(borrowed.client, request.database), request.collection)
            found = await collection.find_one_and_replace(
                {"_id": document_id}, replacement, return_document=ReturnDocument.AFTER
            )
        return document_message(found, request.json_mode)

    async def UpdateDocument(self, request: mongo_pb2.UpdateDocumentRequest, context: Context) -> mongo_pb2.Document:
        document_id = self._parse_id(request.id)
        update = ejson.parse_object(request.update, "update")
        if not update or not all(key.startswith("$") for key in update):
            raise InvalidArgument(
                "an update holds update operators only ($set, $unset, $inc, ...)", details={"field": "update"}
            )
        self._refuse_javascript(update, "update")
        async with self.borrow(request.target, DEVELOPER) as borrowed:
            collection = named_collection(named_database(borrowed.client, request.database), request.collection)
            found = await collection.find_one_and_update(
                {"_id": document_id}, update, return_document=ReturnDocument.AFTER
            )
        return document_message(found, request.json_mode)

    async def DeleteDocument(
        self, request: mongo_pb2.DeleteDocumentRequest, context: Context
    ) -> mongo_pb2.DeleteDocumentResponse:
        document_id = self._parse_id(request.id)
        async with self.borrow(request.target, DEVELOPER) as borrowed:
            collection = named_collection(named_database(borrowed.client, request.database), request.collection)
            result = await collection.delete_one({"_id": document_id})
        if not result.deleted_count:
            raise NotFound("document not found", details={"id": request.id})
        return mongo_pb2.DeleteDocumentResponse(deleted=result.deleted_count)
