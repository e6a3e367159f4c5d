"""Pages of a find, each a fresh query: by keyset where one is exact, else by position.

Every page reads at most ``limit + 1`` documents (one ahead tells whether more follow) and stops
before ``max_page_bytes`` of Extended JSON; its server cursor is closed before the reply, so a
listing leaves nothing open on the server or in this process, and any replica continues it.
See :mod:`mongo_svc.keyset` for the order and :mod:`mongo_svc.find_cursor` for the cursor.
"""

from __future__ import annotations

import weakref
from dataclasses import dataclass, field
from typing import Any

import pymongo.errors
from bson.json_util import JSONOptions
from pymongo.asynchronous.collection import AsyncCollection

from mongo_svc import ejson, keyset
from mongo_svc.cursors import Page
from mongo_svc.find_cursor import CursorSigner, FindCursor, FindQuery, is_find_cursor
from udb.errors import InvalidArgument
from udb.mongo.v1 import mongo_pb2

Document = dict[str, Any]


@dataclass
class _Reading:
    """A page being read: the documents sent so far and the last one's sort-key values."""

    limit: int
    max_bytes: int
    options: JSONOptions
    keys: list[tuple[str, int]] | None
    strip: tuple[str, ...]
    documents: list[str] = field(default_factory=list)
    size: int = 0
    last_values: list[Any] | None = None
    #: Every document so far could be placed by its sort keys (no array at one).
    keyable: bool = True
    truncated: bool = False
    more: bool = False

    def fresh(self) -> _Reading:
        """An empty page with the same bounds, to read again."""
        return _Reading(self.limit, self.max_bytes, self.options, self.keys, self.strip)

    def take(self, document: Document) -> None:
        """Adds a document to the page, or marks that more follow when the page is full."""
        if len(self.documents) >= self.limit:
            self.more = True
            return
        values = None
        if self.keys is not None and self.keyable:
            try:
                values = keyset.key_values(document, self.keys)
            except keyset.NotKeyable:
                self.keyable = False
        if self.strip:
            keyset.strip_paths(document, self.strip)
        text = ejson.dumps(document, self.options)
        length = len(text.encode())
        if self.documents and self.size + length > self.max_bytes:
            self.truncated = self.more = True
            return
        self.documents.append(text)
        self.size += length
        self.last_values = values


@dataclass(frozen=True, slots=True)
class _After:
    """A keyset continuation: the query's parts and the boundary it continues after."""

    collection: AsyncCollection[Document]
    query_filter: Document
    sort: keyset.SortSpec
    plan: keyset.FetchPlan
    keys: list[tuple[str, int]]
    values: list[Any]


class _RareTypeRefused(Exception):
    """The server refused a segment that names a type it does not implement."""


class FindPager:
    """Reads the pages of finds and writes their cursors."""

    def __init__(self, signer: CursorSigner, *, max_page_bytes: int) -> None:
        self.signer = signer
        self.max_page_bytes = max_page_bytes
        # Clients whose server refused to name a rare type in $type (it holds none of them).
        self._without_rare_types: weakref.WeakSet[Any] = weakref.WeakSet()

    async def page(
        self,
        collection: AsyncCollection[Document],
        query: FindQuery,
        *,
        connection_id: str,
        limit: int,
        options: JSONOptions,
        skip: int = 0,
        after: FindCursor | None = None,
    ) -> tuple[Page, FindCursor | None]:
        """The page of a query that starts at ``skip``, or where the cursor ``after`` left off;
        and the cursor of the next page (None after the last)."""
        sort = keyset.server_sort(query.sort)
        keys: list[tuple[str, int]] | None
        try:
            keys = keyset.keyset_keys(sort)
            plan = keyset.fetch_plan(query.projection, [path for path, _ in keys])
        except keyset.NotKeyable:
            keys, plan = None, keyset.FetchPlan(query.projection)
        reading = _Reading(limit, self.max_page_bytes, options, keys, plan.strip)
        position = after.position if after is not None else skip
        by_keyset = after.after is not None if after is not None else not skip
        if after is not None and after.after is not None and keys is not None:
            following = _After(collection, query.filter, sort, plan, keys, after.after)
            reading = await self._read_after(following, reading)
        else:
            await self._read(collection, query.filter, sort, plan, reading, skip=position)
        page = Page(reading.documents, truncated=reading.truncated, more=reading.more)
        if not reading.more:
            return page, None
        # A listing that once continued by position stays so: the arrays that made it do so, or
        # the documents a first page skipped, may lie before any later boundary.
        values = reading.last_values if by_keyset and reading.keyable else None
        if values is not None:
            try:
                keyset.check_rangeable(values)
            except keyset.NotKeyable:
                values = None
        return page, FindCursor(connection_id, query, position + len(reading.documents), values)

    async def _read_after(self, after: _After, reading: _Reading) -> _Reading:
        """Reads the segments after the boundary one after another until the page is full."""
        client = after.collection.database.client
        if client not in self._without_rare_types:
            try:
                await self._read_segments(after, reading, rare_types=True)
                return reading
            except _RareTypeRefused:
                # The server cannot name (so holds no value of) some rare type: read the page
                # again without them, and never name them to this server again.
                self._without_rare_types.add(client)
                reading = reading.fresh()
        await self._read_segments(after, reading, rare_types=False)
        return reading

    async def _read_segments(self, after: _After, reading: _Reading, *, rare_types: bool) -> None:
        """The first segment (where a page almost always fills), then, when the page is not full,
        the others in one query: they are disjoint and ordered, so the server's sort of their
        union is their concatenation. A page costs at most two queries."""
        segments = list(keyset.segments_after(after.keys, after.values, rare_types=rare_types))
        queries = segments if len(segments) <= 2 else [segments[0], {"$or": segments[1:]}]
        for segment in queries:
            if reading.more:
                return
            conditions = {"$and": [after.query_filter, segment]} if after.query_filter else segment
            try:
                await self._read(after.collection, conditions, after.sort, after.plan, reading)
            except pymongo.errors.OperationFailure as exc:
                if rare_types and keyset.names_rare_types(segment):
                    raise _RareTypeRefused from exc
                raise

    @staticmethod
    async def _read(
        collection: AsyncCollection[Document],
        conditions: Document,
        sort: keyset.SortSpec,
        plan: keyset.FetchPlan,
        reading: _Reading,
        *,
        skip: int = 0,
    ) -> None:
        """One query's documents into the page, up to one past it; its cursor closed after."""
        wanted = reading.limit - len(reading.documents) + 1
        cursor = collection.find(conditions, plan.projection, sort=sort, skip=skip, limit=wanted, batch_size=wanted)
        try:
            async for document in cursor:
                reading.take(document)
                if reading.more:
                    return
        finally:
            await cursor.close()

    def resume(self, request: mongo_pb2.FindDocumentsRequest, query: FindQuery, *, subject: str) -> FindCursor:
        """The cursor a request continues; InvalidArgument unless it is a find cursor given to
        this caller on this project, for the request's database and collection, and each of
        filter, projection and sort the request gives again is the cursor's own."""
        if request.skip:
            raise InvalidArgument(
                "skip applies to a first page: a cursor continues where its page ended", details={"field": "skip"}
            )
        if not is_find_cursor(request.cursor):
            raise InvalidArgument("the cursor continues an aggregate, not a find", details={"field": "cursor"})
        cursor = self.signer.decode(request.cursor, subject=subject, project_ref=request.target.project_ref)
        ours = cursor.query
        if (query.database, query.collection) != (ours.database, ours.collection):
            raise InvalidArgument("the cursor continues a find on another collection", details={"field": "cursor"})
        if (
            (request.filter.strip() and query.filter != ours.filter)
            or (request.projection.strip() and (query.projection or None) != (ours.projection or None))
            or (request.sort.strip() and (query.sort or None) != (ours.sort or None))
        ):
            raise InvalidArgument(
                "the cursor continues another query: send the same filter, projection and sort as its "
                "first page, or none of them",
                details={"field": "cursor"},
            )
        return cursor
