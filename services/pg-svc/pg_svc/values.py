"""Postgres values to JSON and JSON values to bind parameters.

Results follow postgres-meta (node-postgres) wherever it is lossless: int8 is a number when it is
a safe JavaScript integer and a string otherwise; numeric and money are strings; dates, times,
timestamps and intervals are Postgres's own text (ISO DateStyle, for example
``2024-05-01 10:00:00+00``); json and jsonb are embedded as JSON; arrays are arrays. Where
node-postgres has no faithful form we choose one: bytea is base64, a composite value is an
object, a range is its Postgres text.
"""

from __future__ import annotations

import base64
import binascii
import decimal
from collections.abc import Callable, Sequence
from typing import Any

import asyncpg
import orjson
from asyncpg.types import Range, Type

from udb.errors import InvalidArgument

#: Largest integer a JavaScript client reads without loss (Number.MAX_SAFE_INTEGER).
MAX_SAFE_INTEGER = 2**53 - 1

#: Types exchanged as Postgres text: exact for numeric and money, Postgres's own spelling for
#: dates and times, and no Python object in between for the rest.
TEXT_TYPES = (
    "numeric",
    "money",
    "date",
    "time",
    "timetz",
    "timestamp",
    "timestamptz",
    "interval",
    "inet",
    "cidr",
    "bit",
    "varbit",
    "point",
    "line",
    "lseg",
    "box",
    "path",
    "polygon",
    "circle",
    "pg_lsn",
    "pg_snapshot",
    "txid_snapshot",
    "tid",
)


def _text(value: str) -> str:
    return value


def _decode_int8(text: str) -> int | str:
    number = int(text)
    return number if -MAX_SAFE_INTEGER <= number <= MAX_SAFE_INTEGER else text


def _encode_json(value: Any) -> str:
    # A string is taken as JSON text already, as node-postgres sends it.
    return value if isinstance(value, str) else orjson.dumps(value).decode()


async def setup_codecs(connection: asyncpg.Connection) -> None:
    """Installs the codecs above on a new connection (builtin types: no catalogue query)."""
    for name in TEXT_TYPES:
        await connection.set_type_codec(name, schema="pg_catalog", encoder=str, decoder=_text, format="text")
    await connection.set_type_codec("int8", schema="pg_catalog", encoder=str, decoder=_decode_int8, format="text")
    for name in ("json", "jsonb"):
        await connection.set_type_codec(
            name, schema="pg_catalog", encoder=_encode_json, decoder=orjson.Fragment, format="text"
        )


def _range_text(value: Range[Any]) -> str:
    if value.isempty:
        return "empty"
    lower = "" if value.lower is None else str(value.lower)
    upper = "" if value.upper is None else str(value.upper)
    return f"{'[' if value.lower_inc else '('}{lower},{upper}{']' if value.upper_inc else ')'}"


def _default(value: Any) -> Any:
    """orjson's fallback for values it has no form for."""
    if isinstance(value, bytes | bytearray | memoryview):
        return base64.b64encode(value).decode()
    if isinstance(value, asyncpg.Record):
        return dict(value.items())
    if isinstance(value, Range):
        return _range_text(value)
    if isinstance(value, decimal.Decimal):
        return str(value)
    return str(value)


def encode_row(record: asyncpg.Record) -> bytes:
    """One row as a JSON object (a later column of the same name wins, as in postgres-meta)."""
    return orjson.dumps(dict(record.items()), default=_default)


# ---- parameters -------------------------------------------------------------------------------

_TRUE = frozenset({"t", "true", "y", "yes", "on", "1"})
_FALSE = frozenset({"f", "false", "n", "no", "off", "0"})


def _to_int(value: Any) -> int:
    if isinstance(value, bool):
        raise ValueError("a boolean is not an integer")
    if isinstance(value, int):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, str):
        return int(value.strip())
    raise ValueError("an integer is required")


def _to_float(value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        raise ValueError("a number is required")
    return float(value)


def _to_bool(value: Any) -> bool:
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in _TRUE:
        return True
    if text in _FALSE:
        return False
    raise ValueError("a boolean is required")


def _to_bytes(value: Any) -> bytes:
    if not isinstance(value, str):
        raise ValueError("bytea takes a base64 string or \\x-prefixed hex")
    if value.startswith("\\x"):
        return bytes.fromhex(value[2:])
    try:
        return base64.b64decode(value, validate=True)
    except binascii.Error:
        raise ValueError("bytea takes a base64 string or \\x-prefixed hex") from None


def _to_text(value: Any) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return str(value)
    return orjson.dumps(value).decode()


_COERCERS: dict[str, Callable[[Any], Any]] = {
    "int2": _to_int,
    "int4": _to_int,
    "oid": _to_int,
    "float4": _to_float,
    "float8": _to_float,
    "bool": _to_bool,
    "bytea": _to_bytes,
    "text": _to_text,
    "varchar": _to_text,
    "bpchar": _to_text,
    "name": _to_text,
    "char": _to_text,
    "xml": _to_text,
}


def _coerce(value: Any, kind: Type) -> Any:
    if value is None:
        return None
    if kind.kind == "array":
        if not isinstance(value, list):
            raise ValueError("a JSON array is required")
        # asyncpg names array types by their element: "int4[]".
        element = Type(oid=0, name=kind.name.removesuffix("[]"), kind="scalar", schema=kind.schema)
        return [_coerce(item, element) for item in value]
    coercer = _COERCERS.get(kind.name)
    if coercer is not None:
        return coercer(value)
    if kind.name in TEXT_TYPES or kind.name == "int8":
        return _to_text(value)
    if kind.name in ("json", "jsonb"):
        return value
    # Enums, uuid and types without a binary codec are sent as text.
    return _to_text(value)


def coerce_parameters(values: Sequence[Any], types: Sequence[Type]) -> list[Any]:
    """JSON values as the Python values asyncpg binds for the statement's parameter types
    (lenient like node-postgres: ``"5"`` binds to an integer, ``5`` to text)."""
    if len(values) != len(types):
        raise InvalidArgument(
            f"the statement takes {len(types)} parameters but {len(values)} were given",
            details={"field": "parameters"},
        )
    coerced = []
    for position, (value, kind) in enumerate(zip(values, types, strict=True), start=1):
        try:
            coerced.append(_coerce(value, kind))
        except (ValueError, TypeError) as exc:
            raise InvalidArgument(
                f"parameter ${position} ({kind.name}): {exc}", details={"field": "parameters", "position": position}
            ) from None
    return coerced
