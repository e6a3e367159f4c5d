"""NDJSON export and import: one Extended JSON document per line.

Both run as streams with bounded memory. An export reads the find's cursor and sends whole lines
in chunks of about :data:`CHUNK_BYTES` as the server's batches arrive (gRPC's flow control holds
the cursor while the caller reads slowly). An import splits the body into lines as its chunks
arrive, and inserts them in batches of at most :data:`BATCH_DOCUMENTS` documents and
:data:`BATCH_BYTES` bytes; each refused line (bad Extended JSON, not an object, a duplicate _id,
a validation failure) is reported with its line number, and the rest go in (unless
``stop_on_error``).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import TYPE_CHECKING, Any

import pymongo.errors
from pymongo.asynchronous.collection import AsyncCollection

from mongo_svc import ejson
from mongo_svc.explorer.scope import Document, collection_of
from udb.common.v1 import common_pb2
from udb.errors import DatabaseError, InvalidArgument
from udb.mongo.v1 import explorer_pb2

if TYPE_CHECKING:
    from mongo_svc.explorer.service import MongoExplorerService

CHUNK_BYTES = 256 * 1024
BATCH_DOCUMENTS = 1000
BATCH_BYTES = 8 * 1024 * 1024
#: A line longer than this is refused unread (a 16 MiB document's Extended JSON fits).
MAX_LINE_BYTES = 48 * 1024 * 1024
#: Refused lines reported one by one; past this they are only counted.
MAX_REPORTED = 1000


async def export(
    service: MongoExplorerService, request: explorer_pb2.ExportDocumentsRequest
) -> AsyncIterator[explorer_pb2.ExportChunk]:
    """The documents matching the filter, in the sort's order, as NDJSON chunks of whole lines."""
    if request.limit < 0:
        raise InvalidArgument("limit must not be negative", details={"field": "limit"})
    query = ejson.parse_object(request.filter, "filter", default={})
    projection = ejson.parse_object(request.projection, "projection", default={}) or None
    sort = ejson.parse_sort(request.sort)
    if not service.settings.allow_javascript:
        ejson.refuse_javascript(query, "filter")
        ejson.refuse_javascript(projection, "projection")
    options = ejson.json_options(request.json_mode)
    async with service.borrow(request.target, common_pb2.ROLE_VIEWER) as borrowed:
        collection = collection_of(borrowed.client, request.database, request.collection)
        cursor = collection.find(query, projection, sort=sort, limit=request.limit)
        lines: list[bytes] = []
        size = 0
        try:
            async for document in cursor:
                line = ejson.dumps(document, options).encode() + b"\n"
                lines.append(line)
                size += len(line)
                if size >= CHUNK_BYTES:
                    yield explorer_pb2.ExportChunk(lines=b"".join(lines), documents=len(lines))
                    lines, size = [], 0
        finally:
            await cursor.close()
        if lines:
            yield explorer_pb2.ExportChunk(lines=b"".join(lines), documents=len(lines))


class _Importer:
    """Lines in, batches out, refusals counted with their line numbers."""

    def __init__(self, service: MongoExplorerService, collection: AsyncCollection[Document], stop: bool) -> None:
        self.service = service
        self.collection = collection
        self.stop_on_error = stop
        self.reply = explorer_pb2.ImportDocumentsResponse()
        self.batch: list[tuple[int, Document]] = []
        self.batch_bytes = 0

    def refuse(self, line: int, reason: str) -> None:
        self.reply.refused_count += 1
        if len(self.reply.refused) < MAX_REPORTED:
            self.reply.refused.append(explorer_pb2.RefusedLine(line=line, reason=reason))
        if self.stop_on_error:
            self.reply.stopped = True

    async def line(self, number: int, raw: bytes) -> None:
        text = raw.decode("utf-8", errors="replace").strip()
        if not text:
            return
        self.reply.lines += 1
        try:
            document = ejson.parse_document(text, f"line {number}")
            if not self.service.settings.allow_javascript:
                ejson.refuse_javascript(document, f"line {number}")
        except DatabaseError as exc:  # bad Extended JSON, not an object, over 16 MiB, JavaScript
            await self.flush()  # the lines before it go in first (they come first in the file)
            self.refuse(number, exc.message)
            return
        self.batch.append((number, document))
        self.batch_bytes += len(raw)
        if len(self.batch) >= BATCH_DOCUMENTS or self.batch_bytes >= BATCH_BYTES:
            await self.flush()

    async def flush(self) -> None:
        if not self.batch or self.reply.stopped:
            self.batch, self.batch_bytes = [], 0
            return
        batch, self.batch, self.batch_bytes = self.batch, [], 0
        try:
            result = await self.collection.insert_many([document for _, document in batch], ordered=self.stop_on_error)
            self.reply.inserted += len(result.inserted_ids)
        except pymongo.errors.BulkWriteError as exc:
            details: dict[str, Any] = dict(exc.details)
            self.reply.inserted += int(details.get("nInserted", 0))
            for error in details.get("writeErrors", []):
                number = batch[int(error["index"])][0]
                self.refuse(number, f"mongodb: {error.get('errmsg', 'write error')} (code {error.get('code')})")


async def import_lines(
    service: MongoExplorerService, chunks: AsyncIterator[explorer_pb2.ImportChunk]
) -> explorer_pb2.ImportDocumentsResponse:
    """Inserts the NDJSON lines of the stream (after its first message, the target)."""
    first = await anext(chunks, None)
    if first is None or first.WhichOneof("part") != "start":
        raise InvalidArgument("the first message names the target (start)", details={"field": "start"})
    start = first.start
    async with service.borrow(start.target, common_pb2.ROLE_DEVELOPER) as borrowed:
        collection = collection_of(borrowed.client, start.database, start.collection)
        importer = _Importer(service, collection, start.stop_on_error)
        buffer = bytearray()
        number = 0
        skipping = False  # inside a line past MAX_LINE_BYTES, refused already
        async for chunk in chunks:
            if chunk.WhichOneof("part") != "data":
                raise InvalidArgument("only the first message names the target", details={"field": "start"})
            buffer += chunk.data
            while (end := buffer.find(b"\n")) >= 0 and not importer.reply.stopped:
                number += 1
                if not skipping:
                    await importer.line(number, bytes(buffer[:end]))
                skipping = False
                del buffer[: end + 1]
            if importer.reply.stopped:
                break
            if len(buffer) > MAX_LINE_BYTES and not skipping:
                await importer.flush()
                importer.refuse(number + 1, f"the line is over {MAX_LINE_BYTES} bytes")
                skipping = True
            if skipping:
                buffer.clear()
        if buffer and not skipping and not importer.reply.stopped:
            await importer.line(number + 1, bytes(buffer))
        await importer.flush()
    return importer.reply
