"""Postgres values to JSON, and JSON values to bind parameters, as postgres-meta has them.

postgres-meta runs SQL through node-postgres, which exchanges every value as Postgres text and
parses a result column by its type OID with a fixed table (pg-types 2.2, plus postgres-meta's own
overrides); a type outside the table stays Postgres's text. Studio is built on what that gives,
so the same table is followed here, type by type:

- int2, int4, oid: numbers; int8: a number when it is a safe JavaScript integer, else a string;
  float4, float8: numbers (Infinity and NaN are JSON null); bool: true or false;
- json, jsonb: embedded as they are; bytea: ``{"type": "Buffer", "data": [bytes]}``;
- circle: ``{"x", "y", "radius"}``;
- arrays of those types (and of text, varchar, bpchar, regproc, inet, cidr, macaddr, uuid, money,
  time, timetz, numrange, date, timestamp, timestamptz): JSON arrays, where int8 elements are
  strings, numeric elements numbers and interval elements objects such as ``{"days": 1}``;
- everything else, numeric, dates, times, intervals, ranges, records and composites, enums,
  geometric types, arrays of other types: Postgres's own text (``2024-05-01 10:00:00+00``,
  ``(1,"a b")``, ``{sad,ok}``).

Numbers that are whole are written without a fraction, as JavaScript writes them. json and jsonb
are embedded without being parsed again: a reader's JSON.parse sees the same values as from
postgres-meta, and no digit is lost on the way.

Parameters are sent as text too, converted as node-postgres converts a JSON value: null is NULL,
booleans ``true``/``false``, numbers as JavaScript prints them, arrays as Postgres array literals,
objects as JSON; Postgres then reads the text as the type the statement gives the parameter.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Mapping
from typing import Any

import orjson

#: Largest integer a JavaScript client reads without loss (Number.MAX_SAFE_INTEGER).
MAX_SAFE_INTEGER = 2**53 - 1

Decoder = Callable[[str], Any]

# ---- scalars ----------------------------------------------------------------------------------

_TRUE = frozenset({"TRUE", "t", "true", "y", "yes", "on", "1"})


def js_number(value: float) -> int | float:
    """A float as JavaScript writes it in JSON: whole numbers without a fraction (``-0`` is 0);
    past 2**63, where a JSON integer is no longer read the same everywhere, still a float."""
    if value.is_integer() and abs(value) < 2**63:
        return int(value)
    return value


def _float(text: str) -> int | float:
    return js_number(float(text))


def _int8(text: str) -> int | str:
    number = int(text)
    return number if -MAX_SAFE_INTEGER <= number <= MAX_SAFE_INTEGER else text


def _bool(text: str) -> bool:
    return text in _TRUE


def _json(text: str) -> orjson.Fragment:
    return orjson.Fragment(text)


def buffer(data: bytes) -> dict[str, Any]:
    """Bytes as node's Buffer serializes them."""
    return {"type": "Buffer", "data": list(data)}


_OCTAL = re.compile(r"[0-7]{3}")


def parse_bytea(text: str) -> bytes:
    """bytea's text form: hex (``\\x0102``), or the older escape form (``\\001a``)."""
    if text.startswith("\\x"):
        return bytes.fromhex(text[2:])
    out = bytearray()
    position = 0
    while position < len(text):
        char = text[position]
        if char != "\\":
            out.append(ord(char) & 0xFF)
            position += 1
        elif _OCTAL.fullmatch(text, position + 1, position + 4):
            out.append(int(text[position + 1 : position + 4], 8))
            position += 4
        else:
            # A run of backslashes stands for half as many.
            run = len(text) - position - len(text[position:].lstrip("\\"))
            out += b"\\" * (run // 2)
            position += max(1, run - run % 2)
    return bytes(out)


def _bytea(text: str) -> dict[str, Any]:
    return buffer(parse_bytea(text))


def _point(text: str) -> dict[str, int | float]:
    x, _, y = text[1:-1].partition(",")
    return {"x": _float(x), "y": _float(y)}


def _circle(text: str) -> dict[str, int | float] | None:
    # "<(x,y),r>"
    center, _, radius = text[1:-1].rpartition(",")
    if not center.startswith("("):
        return None
    return {**_point(center), "radius": _float(radius)}


_INTERVAL = re.compile(
    r"(([+-]?\d+)\s+years?)?\s*(([+-]?\d+)\s+mons?)?\s*(([+-]?\d+)\s+days?)?\s*"
    r"(([+-])?(\d*):(\d\d):(\d\d)\.?(\d{1,6})?)?",
    re.ASCII,
)
_INTERVAL_PARTS = (("years", 2), ("months", 4), ("days", 6), ("hours", 9), ("minutes", 10), ("seconds", 11))


def interval_object(text: str) -> dict[str, int | float]:
    """An interval (IntervalStyle postgres) as its non-zero parts, ``{"days": 1, "hours": 2}``."""
    match = _INTERVAL.match(text)
    parts: dict[str, int | float] = {}
    if match is None:
        return parts
    negative_time = match.group(8) == "-"
    for name, group in _INTERVAL_PARTS:
        found = match.group(group)
        number = int(found) if found else 0
        if number:
            parts[name] = -number if negative_time and group >= 9 else number
    fraction = match.group(12)
    if fraction:
        milliseconds = js_number(int(fraction.ljust(6, "0")) / 1000)
        if milliseconds:
            parts["milliseconds"] = -milliseconds if negative_time else milliseconds
    return parts


# ---- arrays -----------------------------------------------------------------------------------


def parse_array(text: str, element: Decoder | None = None) -> list[Any]:
    """Postgres's array text as nested lists; an unquoted NULL is None, anything else goes
    through ``element`` (the element's text as-is without one)."""
    start = text.index("=") + 1 if text.startswith("[") else 0
    items, _ = _array_at(text, start, element)
    return items


def _array_at(text: str, position: int, element: Decoder | None) -> tuple[list[Any], int]:
    """The array whose "{" is at ``position``, and the position after its "}"."""
    items: list[Any] = []
    position += 1
    if text[position] == "}":
        return items, position + 1
    while True:
        char = text[position]
        if char == "{":
            nested, position = _array_at(text, position, element)
            items.append(nested)
        elif char == '"':
            chunks: list[str] = []
            position += 1
            while True:
                stop = min(_find(text, '"', position), _find(text, "\\", position))
                chunks.append(text[position:stop])
                if text[stop] == '"':
                    position = stop + 1
                    break
                chunks.append(text[stop + 1])
                position = stop + 2
            value = "".join(chunks)
            items.append(element(value) if element else value)
        else:
            stop = min(_find(text, ",", position), _find(text, "}", position))
            raw = text[position:stop]
            position = stop
            items.append(None if raw == "NULL" else element(raw) if element else raw)
        if text[position] == "}":
            return items, position + 1
        position += 1  # the delimiter


def _find(text: str, char: str, start: int) -> int:
    found = text.find(char, start)
    return len(text) if found < 0 else found


def _array_of(element: Decoder | None) -> Decoder:
    def decode(text: str) -> list[Any]:
        return parse_array(text, element)

    return decode


# ---- the table --------------------------------------------------------------------------------

#: Result decoders by type OID; a type missing here is read as its text.
DECODERS: Mapping[int, Decoder] = {
    16: _bool,
    17: _bytea,
    20: _int8,
    21: int,
    23: int,
    26: int,
    114: _json,
    700: _float,
    701: _float,
    718: _circle,
    3802: _json,
    # Arrays.
    199: _array_of(_json),
    651: _array_of(None),  # cidr
    1000: _array_of(_bool),
    1001: _array_of(_bytea),
    1005: _array_of(int),
    1007: _array_of(int),
    1008: _array_of(None),  # regproc
    1009: _array_of(None),  # text
    1014: _array_of(None),  # bpchar
    1015: _array_of(None),  # varchar
    1016: _array_of(str.strip),  # int8: strings
    1021: _array_of(_float),
    1022: _array_of(_float),
    1028: _array_of(int),
    1040: _array_of(None),  # macaddr
    1041: _array_of(None),  # inet
    1115: _array_of(None),  # timestamp
    1182: _array_of(None),  # date
    1183: _array_of(None),  # time
    1185: _array_of(None),  # timestamptz
    1187: _array_of(interval_object),
    1231: _array_of(_float),  # numeric: numbers
    1270: _array_of(None),  # timetz
    2951: _array_of(None),  # uuid
    3807: _array_of(_json),
    3907: _array_of(None),  # numrange
    791: _array_of(None),  # money
}


def decoder_for(oid: int) -> Decoder:
    """How a value of type ``oid`` is read from its text."""
    return DECODERS.get(oid, str)


# ---- parameters -------------------------------------------------------------------------------


def js_number_text(value: float) -> str:
    """A float as JavaScript's Number#toString writes it (``1e+21``, ``1e-7``, ``100``)."""
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "Infinity" if value > 0 else "-Infinity"
    if value == 0:
        return "0"
    text = repr(value)
    sign = ""
    if text.startswith("-"):
        sign, text = "-", text[1:]
    mantissa, _, exponent = text.partition("e")
    whole, _, fraction = mantissa.partition(".")
    digits = whole + fraction
    point = len(whole) + (int(exponent) if exponent else 0)
    stripped = digits.lstrip("0")
    point -= len(digits) - len(stripped)
    digits = stripped.rstrip("0") or "0"
    count = len(digits)
    if count <= point <= 21:
        body = digits + "0" * (point - count)
    elif 0 < point <= 21:
        body = f"{digits[:point]}.{digits[point:]}"
    elif -6 < point <= 0:
        body = "0." + "0" * -point + digits
    else:
        power = point - 1
        body = digits[0] + ("." + digits[1:] if count > 1 else "") + f"e{'+' if power > 0 else '-'}{abs(power)}"
    return sign + body


def _json_ready(value: Any) -> Any:
    """Whole floats as integers, as JSON.stringify writes them."""
    if isinstance(value, float):
        return js_number(value) if math.isfinite(value) else None
    if isinstance(value, list):
        return [_json_ready(item) for item in value]
    if isinstance(value, dict):
        return {key: _json_ready(item) for key, item in value.items()}
    return value


def to_text(value: Any) -> str:
    """A parameter's text, as node-postgres makes it from the same JSON value (never None here:
    the driver sends NULL for None itself)."""
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return js_number_text(value)
    if isinstance(value, list | tuple):
        return _array_literal(value)
    if isinstance(value, bytes | bytearray | memoryview):
        return "\\x" + bytes(value).hex()
    if isinstance(value, dict):
        return orjson.dumps(_json_ready(value)).decode()
    return str(value)


def _array_literal(values: list[Any] | tuple[Any, ...]) -> str:
    parts = []
    for value in values:
        if value is None:
            parts.append("NULL")
        elif isinstance(value, list | tuple):
            parts.append(_array_literal(value))
        else:
            text = to_text(value)
            parts.append('"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"')
    return "{" + ",".join(parts) + "}"


def encode_row(record: Any) -> bytes:
    """One row as a JSON object (a later column of the same name wins, as in postgres-meta)."""
    return orjson.dumps(dict(record.items()), default=str)
