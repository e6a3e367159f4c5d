"""How the Go, Swift and Python generators turn Postgres names into type and member names, and
quote them, as postgres-meta's templates do."""

from __future__ import annotations

import json
import re
from typing import Any

_NON_ALNUM = re.compile(r"[^a-zA-Z0-9]")
_NON_ALNUM_RUN = re.compile(r"[^a-zA-Z0-9]+")


def pascal(name: str, *, runs: bool = False) -> str:
    """``pokemon_center`` -> ``PokemonCenter``: each ASCII word capitalised, the rest dropped."""
    words = (_NON_ALNUM_RUN if runs else _NON_ALNUM).split(name)
    return "".join(word[0].upper() + word[1:] for word in words if word)


def quoted(value: str) -> str:
    """JSON's double-quoted string (JavaScript's JSON.stringify, which does not escape non-ASCII)."""
    return json.dumps(value, ensure_ascii=False)


def utf16_length(text: str) -> int:
    """A string's length as JavaScript counts it (characters past U+FFFF count two)."""
    return len(text) + sum(1 for char in text if ord(char) > 0xFFFF)


def pad_end(text: str, width: int) -> str:
    """JavaScript's padEnd: spaces up to ``width`` UTF-16 units."""
    return text + " " * max(0, width - utf16_length(text))


#: The range and multirange types, which the Go and Python generators type as strings.
RANGE_TYPES = (
    "int4range", "int4multirange", "int8range", "int8multirange", "numrange", "nummultirange", "tsrange",
    "tsmultirange", "tstzrange", "tstzmultirange", "daterange", "datemultirange",
)  # fmt: skip


def optional_in(operation: str, column: Any) -> bool:
    """Whether a column's field may be left out (or null) in a Select, Insert or Update struct:
    an insert may leave out nullable, identity, generated and defaulted columns."""
    if operation == "Insert":
        return bool(column["is_nullable"] or column["is_identity"] or column["is_generated"] or column["default_value"])
    return operation == "Update" or bool(column["is_nullable"])
