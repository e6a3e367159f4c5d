"""Extended JSON v2 both ways (``bson.json_util``), the ``[id]`` rule, and the guards on what a
caller may send: server-side JavaScript and the write stages of a pipeline.

Every query value comes from parsing the caller's text here: nothing is built from strings.
"""

from __future__ import annotations

import datetime
import json
import re
from collections.abc import Iterator, Mapping
from typing import Any

import bson
import bson.errors
from bson import json_util
from bson.code import Code
from bson.codec_options import CodecOptions, DatetimeConversion
from bson.json_util import JSONMode, JSONOptions
from bson.objectid import ObjectId

from udb.errors import InvalidArgument, PayloadTooLarge
from udb.mongo.v1 import mongo_pb2

#: How documents are decoded from the wire: aware UTC datetimes, and dates outside Python's
#: range kept as ``DatetimeMS`` so that they round-trip instead of failing.
CODEC_OPTIONS: CodecOptions[dict[str, Any]] = CodecOptions(
    document_class=dict,
    tz_aware=True,
    tzinfo=datetime.UTC,
    datetime_conversion=DatetimeConversion.DATETIME_AUTO,
)
RELAXED = JSONOptions(
    json_mode=JSONMode.RELAXED,
    tz_aware=True,
    tzinfo=datetime.UTC,
    datetime_conversion=DatetimeConversion.DATETIME_AUTO,
)
CANONICAL = JSONOptions(
    json_mode=JSONMode.CANONICAL,
    tz_aware=True,
    tzinfo=datetime.UTC,
    datetime_conversion=DatetimeConversion.DATETIME_AUTO,
)

#: Operators that run JavaScript on the server.
JAVASCRIPT_OPERATORS = frozenset({"$where", "$function", "$accumulator"})
#: Stages that write to a collection: they need the developer role.
WRITE_STAGES = frozenset({"$out", "$merge"})

#: MongoDB's largest document.
MAX_BSON_BYTES = 16 * 1024 * 1024

_OBJECT_ID_RE = re.compile(r"[0-9a-fA-F]{24}")
#: EJSON decoding errors: malformed JSON (ValueError), malformed wrappers ($oid, $date, ...).
_DECODE_ERRORS = (ValueError, TypeError, KeyError, IndexError, OverflowError, RecursionError, bson.errors.BSONError)


def json_options(mode: int) -> JSONOptions:
    """The output options for a request's ``JsonMode`` (relaxed unless canonical is asked for)."""
    return CANONICAL if mode == mongo_pb2.JSON_MODE_CANONICAL else RELAXED


def dumps(value: Any, options: JSONOptions = RELAXED) -> str:
    """A value as compact Extended JSON text."""
    return json_util.dumps(value, json_options=options, separators=(",", ":"), ensure_ascii=False)


def loads(text: str, what: str) -> Any:
    """Any Extended JSON value; InvalidArgument naming ``what`` when the text is not one."""
    try:
        return json_util.loads(text, json_options=RELAXED)
    except _DECODE_ERRORS as exc:
        raise InvalidArgument(f"{what} is not valid Extended JSON: {_reason(exc)}", details={"field": what}) from None


def parse_object(text: str, what: str, *, default: dict[str, Any] | None = None) -> dict[str, Any]:
    """An Extended JSON object; ``default`` (or an error) for empty text."""
    if not text.strip():
        if default is None:
            raise InvalidArgument(f"{what} is required", details={"field": what})
        return default
    value = loads(text, what)
    if not isinstance(value, dict):
        raise InvalidArgument(f"{what} must be a JSON object", details={"field": what})
    return value


def parse_pipeline(text: str) -> list[dict[str, Any]]:
    """An aggregation pipeline: an array of stage objects."""
    value = loads(text, "pipeline") if text.strip() else None
    if not isinstance(value, list) or not all(isinstance(stage, dict) for stage in value):
        raise InvalidArgument("pipeline must be a JSON array of stage objects", details={"field": "pipeline"})
    return value


def parse_sort(text: str) -> list[tuple[str, Any]] | None:
    """A sort specification: field to 1, -1 or ``{"$meta": ...}``, in the caller's order."""
    spec = parse_object(text, "sort", default={})
    for key, direction in spec.items():
        if direction in (1, -1) and not isinstance(direction, bool):
            continue
        if isinstance(direction, dict) and set(direction) == {"$meta"}:
            continue
        raise InvalidArgument(f"sort direction of {key!r} must be 1, -1 or a $meta object", details={"field": "sort"})
    return list(spec.items()) or None


def parse_id(text: str) -> Any:
    """A document id from a path segment: 24 hex digits are an ObjectId; otherwise the segment is
    Extended JSON when it parses (``42``, ``"42"``, ``{"$numberLong": "42"}``), else a string."""
    if _OBJECT_ID_RE.fullmatch(text):
        return ObjectId(text)
    try:
        value = json_util.loads(text, json_options=RELAXED)
    except _DECODE_ERRORS:
        return text
    if isinstance(value, list):
        raise InvalidArgument("a document id cannot be an array", details={"field": "id"})
    # An id is a value, never a query: {"$gt": ""} would match some other document.
    if isinstance(value, dict) and any(str(key).startswith("$") for key in value):
        raise InvalidArgument("a document id cannot hold $-prefixed fields", details={"field": "id"})
    return value


def parse_document(text: str, what: str) -> dict[str, Any]:
    """A document to write: an Extended JSON object of at most 16 MiB of BSON."""
    document = parse_object(text, what)
    # BSON is at most ~5x the EJSON text (a one-digit array element is 2 characters, 9 bytes):
    # only documents whose text could reach the limit are encoded to be measured.
    if len(text) * 5 > MAX_BSON_BYTES:
        try:
            size = len(bson.encode(document, codec_options=CODEC_OPTIONS))
        except (bson.errors.InvalidDocument, OverflowError) as exc:
            raise InvalidArgument(f"{what} is not a valid document: {_reason(exc)}", details={"field": what}) from None
        if size > MAX_BSON_BYTES:
            raise PayloadTooLarge(
                f"{what} is {size} bytes of BSON, over MongoDB's limit of {MAX_BSON_BYTES}",
                details={"field": what, "size": size, "limit": MAX_BSON_BYTES},
            )
    return document


def _reason(exc: BaseException) -> str:
    if isinstance(exc, json.JSONDecodeError):
        return f"{exc.msg} at position {exc.pos}"
    if isinstance(exc, RecursionError):
        return "nested too deeply"
    text = str(exc) or type(exc).__name__
    return text if len(text) <= 200 else text[:200] + "..."


def _keys(value: Any, path: str) -> Iterator[tuple[str, str]]:
    """Every (key, path) of every object nested in ``value``, depth first."""
    stack: list[tuple[Any, str]] = [(value, path)]
    while stack:
        current, where = stack.pop()
        if isinstance(current, Mapping):
            for key, item in current.items():
                here = f"{where}.{key}" if where else str(key)
                yield str(key), here
                if isinstance(item, Mapping | list):
                    stack.append((item, here))
        elif isinstance(current, list):
            for index, item in enumerate(current):
                if isinstance(item, Mapping | list):
                    stack.append((item, f"{where}[{index}]"))


def _javascript_values(value: Any, path: str) -> Iterator[str]:
    """The path of every JavaScript value (BSON's code type: ``{"$code": ...}``, with or without
    ``$scope``) nested in ``value``."""
    stack: list[tuple[Any, str]] = [(value, path)]
    while stack:
        current, where = stack.pop()
        if isinstance(current, Code):
            yield where
        elif isinstance(current, Mapping):
            stack.extend((item, f"{where}.{key}" if where else str(key)) for key, item in current.items())
        elif isinstance(current, list):
            stack.extend((item, f"{where}[{index}]") for index, item in enumerate(current))


def refuse_javascript(value: Any, what: str) -> None:
    """InvalidArgument when ``$where``, ``$function`` or ``$accumulator`` occurs anywhere in the
    value (nested in ``$and``/``$or``, in ``$expr``, in a ``$lookup`` or ``$facet`` sub-pipeline),
    or a JavaScript value (``{"$code": ...}``, ``$codeWithScope``), which a server may run."""
    for key, path in _keys(value, what):
        if key in JAVASCRIPT_OPERATORS:
            raise InvalidArgument(
                f"{key} runs JavaScript on the server, which is disabled (at {path})",
                details={"field": what, "operator": key, "path": path},
            )
    for path in _javascript_values(value, what):
        raise InvalidArgument(
            f"a JavaScript value ($code) may run on the server, which is disabled (at {path})",
            details={"field": what, "operator": "$code", "path": path},
        )


def write_stages(pipeline: list[dict[str, Any]]) -> list[str]:
    """The write stages ($out, $merge) a pipeline holds, at any depth."""
    return sorted({key for key, _ in _keys(pipeline, "pipeline") if key in WRITE_STAGES})
