"""Keyset paging of a find: the next page is a fresh find for the documents after the last one
sent, in the sort's order, so no server cursor outlives a page and no page skips over the ones
before it.

The order is MongoDB's sort order (https://www.mongodb.com/docs/manual/reference/bson-type-comparison-order/):
values compare by type class first (MinKey, null and missing, numbers, strings, objects, ...,
MaxKey), then by value within the class. A query's ``$gt``/``$lt`` only match values of the
operand's own class (type bracketing), so "after the boundary" is written as ordered segments,
each one simple enough for an index range:

    for the last sort key, then the one before it, ... then the first:
        the keys before it equal the boundary's, and this key is
        (a) past the boundary's value within its class, then
        (b) of a class past the boundary's class ("past" is later for 1, earlier for -1).

Segments are disjoint and come in sort order, so reading them one after another until the page
is full reads exactly the documents after the boundary (so does one query of their union, sorted).
``_id`` ends every sort, so the order is total.

Where a keyset cannot be exact the continuation counts documents instead (``skip``, stateless
all the same): a sort by ``$meta``/``$natural``; a boundary of a class a query cannot range over
(regular expression, JavaScript, DBPointer, DBRef); a projection that would hide a sort key; a
first page with ``skip`` (the documents skipped over were never seen); and arrays. MongoDB sorts
an array by its smallest element ascending and its largest descending, while ``$gt`` matches an
array when *any* element is greater, so a range over a field holding arrays can match documents
that sort before the boundary. A document with an array at a sort key that sorts after the
boundary is still matched (its smallest element is past it), so every page is exact until one
shows an array; from then on the listing continues by count.
"""

from __future__ import annotations

import datetime
import math
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from enum import IntEnum
from typing import Any

from bson import Binary, Code, DBRef, Decimal128, MaxKey, MinKey, ObjectId, Regex, Timestamp
from bson.datetime_ms import DatetimeMS

Document = dict[str, Any]
SortSpec = list[tuple[str, Any]]


class TypeClass(IntEnum):
    """MongoDB's sort order of BSON types (arrays sort by their elements, so they have none)."""

    MIN_KEY = 0
    NULL = 1  # null, and a missing field
    NUMBER = 2
    STRING = 3  # and symbol
    OBJECT = 4
    BINARY = 6
    OBJECT_ID = 7
    BOOLEAN = 8
    DATE = 9
    TIMESTAMP = 10
    REGEX = 11
    DB_POINTER = 12
    JAVASCRIPT = 13
    JAVASCRIPT_WITH_SCOPE = 14
    MAX_KEY = 15


#: ``$type`` aliases of each class (null is matched by ``{$eq: null}``, which also matches a
#: missing field).
_ALIASES: dict[TypeClass, tuple[str, ...]] = {
    TypeClass.MIN_KEY: ("minKey",),
    TypeClass.NUMBER: ("number",),
    TypeClass.STRING: ("string", "symbol"),
    TypeClass.OBJECT: ("object",),
    TypeClass.BINARY: ("binData",),
    TypeClass.OBJECT_ID: ("objectId",),
    TypeClass.BOOLEAN: ("bool",),
    TypeClass.DATE: ("date",),
    TypeClass.TIMESTAMP: ("timestamp",),
    TypeClass.REGEX: ("regex",),
    TypeClass.DB_POINTER: ("dbPointer",),
    TypeClass.JAVASCRIPT: ("javascript",),
    TypeClass.JAVASCRIPT_WITH_SCOPE: ("javascriptWithScope",),
    TypeClass.MAX_KEY: ("maxKey",),
}
#: Deprecated or internal types a server may not implement at all (FerretDB refuses to name
#: them in ``$type``); such a server holds no value of them, so they may be left out.
RARE_ALIASES = frozenset({"minKey", "maxKey", "symbol", "dbPointer", "javascript", "javascriptWithScope"})
#: Classes whose values a query cannot range over (``$gt`` of a regular expression is refused).
_NO_RANGE = frozenset({TypeClass.REGEX, TypeClass.DB_POINTER, TypeClass.JAVASCRIPT, TypeClass.JAVASCRIPT_WITH_SCOPE})


class NotKeyable(Exception):
    """A value or a query for which no exact keyset exists; the listing continues by count."""


def type_class(value: Any) -> TypeClass:
    """The sort class of a decoded BSON value (NotKeyable for an array or an unknown type)."""
    if value is None:
        return TypeClass.NULL
    if isinstance(value, bool):
        return TypeClass.BOOLEAN
    if isinstance(value, int | float | Decimal128):
        return TypeClass.NUMBER
    if isinstance(value, Code):  # a str subclass
        return TypeClass.JAVASCRIPT_WITH_SCOPE if value.scope is not None else TypeClass.JAVASCRIPT
    if isinstance(value, str):
        return TypeClass.STRING
    if isinstance(value, ObjectId):
        return TypeClass.OBJECT_ID
    if isinstance(value, datetime.datetime | DatetimeMS):
        return TypeClass.DATE
    if isinstance(value, DBRef):
        # A DBRef is an object whose $-prefixed fields a query operand cannot hold.
        raise NotKeyable("a DBRef")
    if isinstance(value, Mapping):
        return TypeClass.OBJECT
    if isinstance(value, Binary | bytes):
        return TypeClass.BINARY
    if isinstance(value, Timestamp):
        return TypeClass.TIMESTAMP
    if isinstance(value, Regex | re.Pattern):
        return TypeClass.REGEX
    if isinstance(value, MinKey):
        return TypeClass.MIN_KEY
    if isinstance(value, MaxKey):
        return TypeClass.MAX_KEY
    raise NotKeyable(f"a value of type {type(value).__name__}")


def _is_nan(value: Any) -> bool:
    if isinstance(value, float):
        return math.isnan(value)
    return isinstance(value, Decimal128) and value.to_decimal().is_nan()


# ---- sort and projection ------------------------------------------------------------------------


def server_sort(sort: SortSpec | None) -> SortSpec:
    """The sort a page asks for: the caller's, then ``_id`` (ascending) unless the caller sorted by
    it, so that the order is total; a ``$natural`` sort is left as it is (it takes no other key)."""
    keys = list(sort or ())
    if not any(path in ("_id", "$natural") for path, _ in keys):
        keys.append(("_id", 1))
    return keys


def keyset_keys(sort: SortSpec) -> list[tuple[str, int]]:
    """The keys of a total sort as (path, 1 | -1); NotKeyable for $meta and $natural."""
    keys: list[tuple[str, int]] = []
    for path, direction in sort:
        if path.startswith("$") or isinstance(direction, bool) or direction not in (1, -1):
            raise NotKeyable(f"a sort by {path!r}")
        keys.append((path, direction))
    return keys


def _covers(key: str, path: str) -> bool:
    """Whether a projection key is the path or one of its parents."""
    return key == path or path.startswith(key + ".")


def _under(key: str, path: str) -> bool:
    """Whether a projection key lies strictly inside the path."""
    return key.startswith(path + ".")


@dataclass(frozen=True, slots=True)
class FetchPlan:
    """What a page asks the server for so that it sees every sort key, and what it then removes
    from each document so that the caller gets what their projection asked for."""

    projection: Document | None
    strip: tuple[str, ...] = ()


def fetch_plan(projection: Document | None, paths: list[str]) -> FetchPlan:
    """The projection to send so that every sort key and ``_id`` come back (NotKeyable when that
    cannot be done exactly: projection operators, or a sort key holding projected parts)."""
    if not projection:
        return FetchPlan(None)
    fields = dict(projection)
    strip: list[str] = []
    hide_id = "_id" in fields and not _truthy(fields["_id"])
    if hide_id:
        del fields["_id"]
        strip.append("_id")
    kinds = {_flag(key, value) for key, value in fields.items() if key != "_id"}
    if len(kinds) > 1:  # both: the server refuses it as the caller wrote it
        return FetchPlan(dict(projection))
    if kinds == {True}:  # inclusion: add the sort keys, then remove what was added
        included = [key for key in fields if key != "_id"]
        for path in paths:
            if path == "_id" or any(_covers(key, path) for key in included):
                continue
            if any(_under(key, path) for key in included):
                raise NotKeyable(f"the projection holds parts of the sort key {path!r}")
            fields[path] = 1
            strip.append(_outermost_added(path, included))
    else:  # exclusion (or only _id): keep whatever touches a sort key, and remove it after
        for key in [key for key in fields if key != "_id"]:
            if any(_covers(key, path) or _under(key, path) for path in paths):
                del fields[key]
                strip.append(key)
    return FetchPlan(fields or None, tuple(dict.fromkeys(strip)))


def _flag(key: str, value: Any) -> bool:
    """True for an inclusion, False for an exclusion; NotKeyable for an operator or expression."""
    if "$" in key or isinstance(value, dict | str | list):
        raise NotKeyable(f"the projection of {key!r} is an operator or an expression")
    return _truthy(value)


def _truthy(value: Any) -> bool:
    return bool(value)


def _outermost_added(path: str, included: list[str]) -> str:
    """The shortest prefix of an added path that the caller's inclusion does not reach: removing
    it removes everything the addition brought."""
    parts = path.split(".")
    for end in range(1, len(parts) + 1):
        prefix = ".".join(parts[:end])
        if not any(key == prefix or _under(key, prefix) for key in included):
            return prefix
    return path


def strip_paths(document: Document, paths: tuple[str, ...]) -> None:
    """Removes dotted paths from a document, through arrays of documents as MongoDB's
    exclusion projection does."""
    for path in paths:
        _delete(document, path.split("."))


def _delete(value: Any, parts: list[str]) -> None:
    if isinstance(value, list):
        for item in value:
            _delete(item, parts)
    elif isinstance(value, dict):
        if len(parts) == 1:
            value.pop(parts[0], None)
        elif parts[0] in value:
            _delete(value[parts[0]], parts[1:])


# ---- boundary ---------------------------------------------------------------------------------


def sort_value(document: Document, path: str) -> Any:
    """The value a dotted sort key has in a document (None when missing); NotKeyable when the
    path meets an array (MongoDB then sorts by an element, which a range cannot follow)."""
    current: Any = document
    for part in path.split("."):
        if isinstance(current, list):
            raise NotKeyable(f"an array at the sort key {path!r}")
        if not isinstance(current, Mapping) or part not in current:
            return None
        current = current[part]
    if isinstance(current, list):
        raise NotKeyable(f"an array at the sort key {path!r}")
    return current


def key_values(document: Document, keys: list[tuple[str, int]]) -> list[Any]:
    """A document's sort-key values (NotKeyable when one is an array)."""
    return [sort_value(document, path) for path, _ in keys]


def check_rangeable(values: list[Any]) -> None:
    """NotKeyable when a boundary holds a value no query can range past."""
    for value in values:
        if type_class(value) in _NO_RANGE:
            raise NotKeyable("a sort key holds a regular expression or JavaScript")


# ---- the segments after a boundary ----------------------------------------------------------------


def segments_after(keys: list[tuple[str, int]], values: list[Any], *, rare_types: bool = True) -> Iterator[Document]:
    """Filters (to be and-ed with the caller's) whose matches, read one after another, are the
    documents after the boundary in sort order. ``rare_types=False`` leaves out the types of
    :data:`RARE_ALIASES`, for a server that refuses to name them."""
    for index in range(len(keys) - 1, -1, -1):
        equal = [{path: {"$eq": value}} for (path, _), value in zip(keys[:index], values[:index], strict=True)]
        path, direction = keys[index]
        for condition in _past(path, direction, values[index], rare_types):
            yield {"$and": [*equal, condition]} if equal else condition


def _past(path: str, direction: int, value: Any, rare_types: bool) -> Iterator[Document]:
    """Conditions on one key for the values past ``value`` in the direction, in order: past it
    within its class, then the classes past its class."""
    kind = type_class(value)
    ascending = direction > 0
    if kind is TypeClass.NUMBER and _is_nan(value):
        # NaN sorts below every number, and a comparison with it matches nothing.
        if ascending:
            yield {path: {"$gte": -math.inf}}
    elif kind not in (TypeClass.NULL, TypeClass.MIN_KEY, TypeClass.MAX_KEY):
        yield {path: {"$gt" if ascending else "$lt": value}}
        if kind is TypeClass.NUMBER and not ascending:
            # NaN, last of the numbers in a descending sort, is matched by no comparison.
            yield {path: {"$type": "number", "$not": {"$gte": -math.inf}}}
    classes = [c for c in TypeClass if (c > kind if ascending else c < kind)]
    aliases = [alias for c in classes for alias in _ALIASES.get(c, ()) if rare_types or alias not in RARE_ALIASES]
    null = TypeClass.NULL in classes
    if aliases and null:
        yield {"$or": [{path: {"$eq": None}}, {path: {"$type": aliases}}]}
    elif aliases:
        yield {path: {"$type": aliases}}
    elif null:
        yield {path: {"$eq": None}}


def names_rare_types(condition: Any) -> bool:
    """Whether a filter names a type of :data:`RARE_ALIASES` in a ``$type``."""
    if isinstance(condition, dict):
        for key, value in condition.items():
            if key == "$type" and isinstance(value, list) and RARE_ALIASES.intersection(value):
                return True
            if names_rare_types(value):
                return True
    elif isinstance(condition, list):
        return any(names_rare_types(item) for item in condition)
    return False
