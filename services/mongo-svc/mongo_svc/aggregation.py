"""mongo-svc's Aggregate: a pipeline's first page from a fresh server cursor, the next pages from
the cursor parked between calls (:mod:`mongo_svc.cursors`)."""

from __future__ import annotations

from typing import Any

import grpc

from mongo_svc import ejson
from mongo_svc.clients import MongoClient
from mongo_svc.cursors import Page, PagedCursor, ServerCursor
from mongo_svc.find_cursor import is_find_cursor
from mongo_svc.operations import (
    DEVELOPER,
    VIEWER,
    MongoOperations,
    cursor_scope,
    named_collection,
    named_database,
    time_limit,
)
from mongo_svc.options import check_aggregate_options
from udb.common.v1 import common_pb2
from udb.engine import Borrowed
from udb.errors import InvalidArgument, NotFound
from udb.mongo.v1 import mongo_pb2
from udb.paging import page_limit

Context = grpc.aio.ServicerContext[Any, Any]


class AggregateRpcs(MongoOperations):
    """Aggregation pipelines, paged."""

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
        async with self.borrow(request.target, role) as borrowed:
            collection = named_collection(named_database(borrowed.client, request.database), request.collection)
            # Nested limits take the earlier deadline: maxTimeMS lowers the limit, never raises it.
            with time_limit(time_limit_s):
                cursor = await collection.aggregate(pipeline, batchSize=limit + 1, **options)
                page, token = await self._first_page(
                    borrowed, cursor, limit, request.json_mode, (request.database, request.collection)
                )
        return mongo_pb2.AggregateResponse(documents=page.documents, truncated=page.truncated, next_cursor=token)

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
            paged, cursor_scope(borrowed), borrowed.client, self.runtime.hold(borrowed.resolved), namespace
        )
        return page, await self.cursors.park(entry)

    async def _next_page(
        self, target: common_pb2.ConnectionTarget, token: str, limit: int, mode: int, namespace: tuple[str, str]
    ) -> tuple[Page, str]:
        """The next page of an open server cursor, and the token of the rest (empty when none)."""
        if is_find_cursor(token):
            raise InvalidArgument("the cursor continues a find, not an aggregate", details={"field": "cursor"})
        async with self.borrow(target, VIEWER) as borrowed:
            entry = self.cursors.take(token, cursor_scope(borrowed), namespace)
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
