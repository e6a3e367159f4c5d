"""The schema of a sample of a collection, as Compass shows it: each field path with the share of
documents holding it, its BSON types with their shares and a few example values.

The sample is read as a stream (``$sample`` after the optional ``$match``) and folded into the
counts one document at a time, so memory holds the counts, never the sample. A server that
refuses ``$sample`` as unsupported (FerretDB, some MongoDB-compatible services) gets the first
documents of the filter instead (``$limit``, natural order), and the reply says so. At most
:data:`MAX_PATHS` paths, each with at most :data:`MAX_EXAMPLES` examples of at most
:data:`MAX_EXAMPLE_CHARS` characters per type.
"""

from __future__ import annotations

import datetime
import re
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from bson import DBRef, Decimal128, Int64, MaxKey, MinKey, ObjectId, Regex, Timestamp
from bson.binary import Binary
from bson.code import Code
from bson.datetime_ms import DatetimeMS
from bson.json_util import JSONOptions
from pymongo.errors import OperationFailure

from mongo_svc import ejson
from mongo_svc.explorer.scope import collection_of
from udb.common.v1 import common_pb2
from udb.errors import InvalidArgument
from udb.mongo.v1 import explorer_pb2

if TYPE_CHECKING:
    from mongo_svc.explorer.service import MongoExplorerService

DEFAULT_SAMPLE = 1000
MAX_SAMPLE = 10_000
MAX_PATHS = 1000
MAX_EXAMPLES = 3
MAX_EXAMPLE_CHARS = 120
#: A string example is cut to this many characters (marked with an ellipsis).
_STRING_EXAMPLE = 80

#: Python types of decoded BSON values -> $type names, most specific first (bool before int,
#: Int64 before int).
_TYPE_NAMES: tuple[tuple[type | tuple[type, ...], str], ...] = (
    (bool, "bool"),
    (Int64, "long"),
    (int, "int"),
    (float, "double"),
    (Code, "javascript"),  # a str subclass
    (str, "string"),
    (ObjectId, "objectId"),
    ((datetime.datetime, DatetimeMS), "date"),
    ((Decimal128, Decimal), "decimal"),
    ((Binary, bytes, uuid.UUID), "binData"),
    (DBRef, "dbPointer"),
    (Mapping, "object"),
    (list, "array"),
    (type(None), "null"),
    ((Regex, re.Pattern), "regex"),
    (Timestamp, "timestamp"),
    (MinKey, "minKey"),
    (MaxKey, "maxKey"),
)
_NO_EXAMPLES = frozenset({"object", "array", "null", "minKey", "maxKey"})
#: Server error codes for a stage the server does not have: CommandNotSupported (115),
#: NotImplemented (238: FerretDB's answer to $sample) and "Unrecognized pipeline stage name"
#: (40324: servers that leave a stage out).
_STAGE_UNSUPPORTED = frozenset({115, 238, 40324})


def type_name(value: Any) -> str:
    """The $type name of a decoded BSON value."""
    for kinds, name in _TYPE_NAMES:
        if isinstance(value, kinds):
            if name == "int" and isinstance(value, int) and not -(2**31) <= value < 2**31:
                return "long"
            return name
    return type(value).__name__


@dataclass(slots=True)
class _Type:
    count: int = 0
    examples: list[str] = field(default_factory=list)


@dataclass(slots=True)
class _Path:
    count: int = 0
    types: dict[str, _Type] = field(default_factory=dict)


class SchemaSample:
    """Counts folded from documents one at a time (:meth:`add`), bounded in paths and examples."""

    def __init__(self, options: JSONOptions = ejson.RELAXED) -> None:
        self.options = options
        self.documents = 0
        self.paths: dict[str, _Path] = {}
        #: How many objects each path's fields could appear in ("" is the top level, "a[]" the
        #: objects among the elements of arrays a).
        self.parents: dict[str, int] = {}
        self.truncated = False

    def add(self, document: Mapping[str, Any]) -> None:
        self.documents += 1
        self._object("", document)

    def _object(self, prefix: str, document: Mapping[str, Any]) -> None:
        self.parents[prefix] = self.parents.get(prefix, 0) + 1
        for key, value in document.items():
            self._value(f"{prefix}.{key}" if prefix else str(key), value)

    def _value(self, path: str, value: Any) -> None:
        entry = self.paths.get(path)
        if entry is None:
            if len(self.paths) >= MAX_PATHS:
                self.truncated = True
                return
            entry = self.paths[path] = _Path()
        entry.count += 1
        name = type_name(value)
        kind = entry.types.get(name)
        if kind is None:
            kind = entry.types[name] = _Type()
        kind.count += 1
        if name not in _NO_EXAMPLES and len(kind.examples) < MAX_EXAMPLES:
            self._example(kind, value)
        if isinstance(value, Mapping) and not isinstance(value, DBRef):
            self._object(path, value)
        elif isinstance(value, list):
            # Each element is one "value" of path[]; its fields are under path[].<field>.
            for element in value:
                self._value(f"{path}[]", element)

    def _example(self, kind: _Type, value: Any) -> None:
        if isinstance(value, str) and len(value) > _STRING_EXAMPLE:
            value = value[:_STRING_EXAMPLE] + "…"
        text = ejson.dumps(value, self.options)
        if len(text) <= MAX_EXAMPLE_CHARS and text not in kind.examples:
            kind.examples.append(text)

    def reply(
        self, method: explorer_pb2.SampleMethod = explorer_pb2.SAMPLE_METHOD_RANDOM
    ) -> explorer_pb2.AnalyzeSchemaResponse:
        fields = []
        for path in sorted(self.paths):
            entry = self.paths[path]
            # An array's elements (path[]) are all of its values; a field is in some of its parents.
            within = entry.count if path.endswith("[]") else self.parents.get(path.rpartition(".")[0], 0) or 1
            types = sorted(entry.types.items(), key=lambda item: -item[1].count)
            fields.append(
                explorer_pb2.SchemaField(
                    path=path,
                    count=entry.count,
                    probability=round(entry.count / within, 6),
                    types=[
                        explorer_pb2.SchemaType(
                            name=name,
                            count=kind.count,
                            probability=round(kind.count / entry.count, 6),
                            examples=kind.examples,
                        )
                        for name, kind in types
                    ],
                )
            )
        return explorer_pb2.AnalyzeSchemaResponse(
            sampled=self.documents, fields=fields, truncated=self.truncated, method=method
        )


def lacks_sample(exc: OperationFailure) -> bool:
    """Whether the server refused ``$sample`` itself as unsupported: the code says unsupported and
    the server's message names the stage. An error about the filter, the credentials or a time
    limit is not that."""
    message = (exc.details or {}).get("errmsg")
    return exc.code in _STAGE_UNSUPPORTED and isinstance(message, str) and "$sample" in message


async def analyze(
    service: MongoExplorerService, request: explorer_pb2.AnalyzeSchemaRequest
) -> explorer_pb2.AnalyzeSchemaResponse:
    """The schema of a ``$sample`` of ``sample_size`` documents (after the filter, when given), or
    of the filter's first ``sample_size`` documents where the server has no ``$sample``."""
    size = request.sample_size or DEFAULT_SAMPLE
    if not 1 <= size <= MAX_SAMPLE:
        raise InvalidArgument(f"sample_size must be between 1 and {MAX_SAMPLE}", details={"field": "sample_size"})
    query = ejson.parse_object(request.filter, "filter", default={})
    if not service.settings.allow_javascript:
        ejson.refuse_javascript(query, "filter")
    match: list[dict[str, Any]] = [{"$match": query}] if query else []
    sample = SchemaSample(ejson.json_options(request.json_mode))
    async with service.borrow(request.target, common_pb2.ROLE_VIEWER) as borrowed:
        collection = collection_of(borrowed.client, request.database, request.collection)
        method = explorer_pb2.SAMPLE_METHOD_RANDOM
        try:
            cursor = await collection.aggregate([*match, {"$sample": {"size": size}}])
        except OperationFailure as exc:
            if not lacks_sample(exc):
                raise
            method = explorer_pb2.SAMPLE_METHOD_FIRST
            cursor = await collection.aggregate([*match, {"$limit": size}])
        async for document in cursor:
            sample.add(document)
    return sample.reply(method)
