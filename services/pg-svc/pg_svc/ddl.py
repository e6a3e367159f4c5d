"""The statements of a catalogue write, quoted by Postgres itself and run one at a time.

A write adds statement templates in ``format()``'s language: ``%I`` for an identifier, ``%L`` for
a literal, ``%s`` for SQL text (a keyword we chose, or an expression postgres-meta's API takes as
SQL: a default, a check, a policy's USING, a trigger's WHEN, a function's arguments and body).
Postgres renders all of a write's templates in one round trip with ``pg_catalog.format``, its own
quote_ident and quote_literal, and each rendered statement then runs alone through the extended
protocol, which refuses a second statement in one text: a body's expression cannot end its
statement and start another. Every statement runs in the write's transaction, with the caller's
database privileges.

Request bodies arrive as the JSON the caller sent (postgres-meta's bodies); :class:`Body` reads
their fields with postgres-meta's JSON types and names a field that has the wrong one.
"""

from __future__ import annotations

import decimal
import re
from collections.abc import Iterable, Mapping, Sequence
from typing import Any, Final

import asyncpg
import orjson

from pg_svc.catalog import kinds
from udb.errors import InvalidArgument, NotFound

_RENDER: Final = """
SELECT pg_catalog.json_agg(
    pg_catalog.format(s.value ->> 0, VARIADIC ARRAY(SELECT jsonb_array_elements_text(s.value -> 1)))
    ORDER BY s.ordinality)::text
FROM jsonb_array_elements($1::text::jsonb) WITH ORDINALITY AS s"""


class Change:
    """The statements of one write, on a connection inside the write's transaction."""

    def __init__(self, connection: asyncpg.Connection | asyncpg.pool.PoolConnectionProxy) -> None:
        self.connection = connection
        self._pending: list[tuple[str, list[str | None]]] = []

    def add(self, template: str, *args: str | None) -> None:
        """Queues a statement; :meth:`run` (or a read through this object) runs what is queued."""
        self._pending.append((template, list(args)))

    async def run(self) -> None:
        """Renders and runs the queued statements, in order."""
        if not self._pending:
            return
        pending, self._pending = self._pending, []
        rendered: list[str] = orjson.loads(await self.connection.fetchval(_RENDER, orjson.dumps(pending).decode()))
        for statement in rendered:
            prepared = await self.connection.prepare(statement)
            await prepared.fetch()

    async def value(self, sql: str, *args: Any) -> Any:
        """One value read after the statements queued so far have run."""
        await self.run()
        return await self.connection.fetchval(sql, *args)

    async def array(self, sql: str, *args: Any) -> list[Any]:
        """The array that a one-value query reads (after the statements queued so far have run),
        as JSON values; [] when it reads no row or NULL. The connection reads every value as
        Postgres's text (pg_svc.codecs), an array as its literal: JSON carries its elements."""
        await self.run()
        text: str | None = await self.connection.fetchval(
            f"SELECT pg_catalog.to_json(q.v)::text FROM ({sql}) AS q(v)", *args
        )
        found: list[Any] = orjson.loads(text) if text is not None else []
        return found or []

    async def row(self, sql: str, *args: Any) -> asyncpg.Record | None:
        """One row read after the statements queued so far have run."""
        await self.run()
        row: asyncpg.Record | None = await self.connection.fetchrow(sql, *args)
        return row

    async def object(self, kind: int, key: str | int) -> str:
        """One catalogue object's JSON as it is now; NotFound with postgres-meta's message."""
        sql, args = kinds.object_query(kind, str(key))
        found: str | None = await self.value(sql, *args)
        if found is None:
            raise kinds.not_found(kind, str(key))
        return found

    async def object_named(self, kind: int, lookup: str, *args: Any, missing: str) -> str:
        """The object whose key the query ``lookup`` finds (after the queued statements have
        run), as postgres-meta reads what it just made by name; NotFound(``missing``) when the
        name finds nothing."""
        key = await self.value(lookup, *args)
        if key is None:
            raise NotFound(missing)
        sql, key_args = kinds.object_query(kind, str(key))
        found: str | None = await self.value(sql, *key_args)
        if found is None:
            raise NotFound(missing)
        return found

    async def object_fields(self, kind: int, key: str | int) -> tuple[str, dict[str, Any]]:
        """One catalogue object's JSON and its fields."""
        text = await self.object(kind, key)
        fields: dict[str, Any] = orjson.loads(text)
        return text, fields

    async def objects(self, kind: int, keys: Sequence[Any]) -> str:
        """Several objects' JSON array (privileges by their relations or columns)."""
        sql, args = kinds.objects_query(kind, list(keys))
        found: str = await self.value(sql, *args)
        return found


# ---- bodies -----------------------------------------------------------------------------------

_ABSENT: Final = object()


def parse_body(body: bytes) -> Any:
    """A write's JSON body (None when there is none); 400 when it is not JSON."""
    if not body:
        return None
    try:
        return orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise InvalidArgument(f"the body is not valid JSON: {exc.msg} at position {exc.pos}") from None


def _type_name(kind: type | tuple[type, ...]) -> str:
    names = {str: "string", bool: "boolean", int: "integer", float: "number", list: "array", dict: "object"}
    kinds_ = kind if isinstance(kind, tuple) else (kind,)
    return ",".join(names.get(k, k.__name__) for k in kinds_)


class Body:
    """A request body's fields, read with their JSON types (fields postgres-meta does not know
    are ignored, as postgres-meta ignores them)."""

    def __init__(self, value: Any, path: str = "body") -> None:
        if not isinstance(value, dict):
            raise InvalidArgument(f"{path} must be object", details={"field": path})
        self.fields: Mapping[str, Any] = value
        self.path = path

    def has(self, name: str) -> bool:
        return name in self.fields

    def _get(self, name: str, kind: type | tuple[type, ...], *, required: bool, nullable: bool = False) -> Any:
        if name not in self.fields:
            if required:
                raise InvalidArgument(f"{self.path} must have required property '{name}'", details={"field": name})
            return _ABSENT
        value = self.fields[name]
        if value is None and nullable:
            return None
        kinds_ = kind if isinstance(kind, tuple) else (kind,)
        if (isinstance(value, bool) and bool not in kinds_) or not isinstance(value, kinds_):
            raise InvalidArgument(f"{self.path}/{name} must be {_type_name(kind)}", details={"field": name})
        return value

    def text(self, name: str, default: str | None = None, *, required: bool = False) -> str | None:
        value = self._get(name, str, required=required)
        return default if value is _ABSENT else str(value)

    def required_text(self, name: str) -> str:
        value: str = self._get(name, str, required=True)
        return value

    def nullable_text(self, name: str) -> str | object | None:
        """A string or null; ``ABSENT`` when the field is not there."""
        value: str | object | None = self._get(name, str, required=False, nullable=True)
        return value

    def flag(self, name: str, default: bool | None = None) -> bool | None:
        value = self._get(name, bool, required=False)
        return default if value is _ABSENT else bool(value)

    def integer(self, name: str, *, required: bool = False) -> int | None:
        value = self._get(name, int, required=required)
        return None if value is _ABSENT else int(value)

    def choice(self, name: str, choices: Iterable[str], default: str | None = None) -> str | None:
        """One of ``choices`` (postgres-meta's enumerations; never SQL from the body)."""
        value = self.text(name)
        if value is None:
            return default
        if value not in set(choices):
            raise InvalidArgument(
                f"{self.path}/{name} must be equal to one of the allowed values: {', '.join(choices)}",
                details={"field": name},
            )
        return value

    def texts(self, name: str) -> list[str] | None:
        """An array of strings, or None when absent."""
        value = self._get(name, list, required=False)
        if value is _ABSENT:
            return None
        for index, item in enumerate(value):
            if not isinstance(item, str):
                raise InvalidArgument(f"{self.path}/{name}/{index} must be string", details={"field": name})
        return list(value)

    def mapping(self, name: str) -> dict[str, Any] | None:
        value = self._get(name, dict, required=False)
        return None if value is _ABSENT else dict(value)

    def items(self, name: str) -> list[Body] | None:
        """An array of objects, each read as a body of its own."""
        value = self._get(name, list, required=False)
        if value is _ABSENT:
            return None
        return [Body(item, f"{self.path}/{name}/{index}") for index, item in enumerate(value)]

    def raw(self, name: str) -> Any:
        """Any JSON value (``ABSENT`` when the field is not there)."""
        return self.fields.get(name, _ABSENT)


ABSENT: Final = _ABSENT


def body_list(value: Any) -> list[Body]:
    """A body that is an array of objects (grants and revokes)."""
    if not isinstance(value, list):
        raise InvalidArgument("body must be array", details={"field": "body"})
    return [Body(item, f"body/{index}") for index, item in enumerate(value)]


def literal_text(value: Any) -> str | None:
    """A JSON value as the text of the literal postgres-meta writes for it (pg-format's rules):
    strings as they are, numbers in JavaScript's spelling, booleans as 't' and 'f', objects as
    JSON. None is SQL NULL."""
    if value is None:
        return None
    if isinstance(value, bool):
        return "t" if value else "f"
    if isinstance(value, dict):
        return orjson.dumps(value).decode()
    if isinstance(value, float):
        return js_number(value)
    return str(value)


def js_number(value: float) -> str:
    """A number as JavaScript's Number.prototype.toString spells it (JSON has no int and float:
    JavaScript reads 5.0 as 5): positional from 1e-6 up to 1e21, else an exponent without leading
    zeros (1e-7, 1.5e+21)."""
    if value.is_integer() and abs(value) < 1e21:
        return str(int(value))
    if 1e-6 <= abs(value) < 1e21:
        return format(decimal.Decimal(repr(value)), "f")
    return re.sub(r"e([+-])0*(\d)", r"e\1\2", repr(value))
