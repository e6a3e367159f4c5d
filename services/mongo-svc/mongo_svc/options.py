"""Checks of the options a caller may pass to commands: create options, aggregate options and
index keys. Nothing here talks to a server."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from udb.errors import InvalidArgument

Document = dict[str, Any]

#: Aggregate options a caller may set, with the JSON types each takes (maxTimeMS only lowers
#: the configured limit; comment may be any value).
AGGREGATE_OPTIONS: dict[str, tuple[type, ...]] = {
    "allowDiskUse": (bool,),
    "maxTimeMS": (int,),
    "collation": (dict,),
    "let": (dict,),
    "hint": (str, dict),
    "comment": (object,),
    "bypassDocumentValidation": (bool,),
}
#: Index types besides the directions 1 and -1.
INDEX_TYPES = frozenset({"text", "2d", "2dsphere", "hashed"})
#: Keys of a command document that the driver owns: a caller's options may not set them.
RESERVED_OPTION_KEYS = frozenset({"lsid", "txnNumber", "autocommit", "startTransaction", "readConcern"})


def command_options(options: Document, what: str, command_key: str) -> Document:
    """A caller's options for a command document: none may stand for the command itself or a
    field the driver owns."""
    for key in options:
        if key.startswith("$") or key == command_key or key in RESERVED_OPTION_KEYS:
            raise InvalidArgument(f"{what} may not set {key!r}", details={"field": what})
    return options


def check_aggregate_options(options: Mapping[str, Any]) -> None:
    for key, value in options.items():
        kinds = AGGREGATE_OPTIONS.get(key)
        if kinds is None:
            raise InvalidArgument(
                f"unknown aggregate option {key!r}; known: {', '.join(sorted(AGGREGATE_OPTIONS))}",
                details={"field": "options"},
            )
        if (isinstance(value, bool) and bool not in kinds and object not in kinds) or not isinstance(value, kinds):
            names = " or ".join(kind.__name__ for kind in kinds)
            raise InvalidArgument(f"aggregate option {key} must be a {names}", details={"field": f"options.{key}"})
    hint = options.get("hint")
    if hint is not None and not (
        (isinstance(hint, str) and hint) or (isinstance(hint, dict) and hint and all(map(index_kind_ok, hint.values())))
    ):
        raise InvalidArgument(
            "hint must be an index name or an index's keys ({field: 1 or -1, ...})", details={"field": "options.hint"}
        )


def index_kind_ok(kind: Any) -> bool:
    if isinstance(kind, bool):
        return False
    if isinstance(kind, int | float):
        return kind != 0
    return kind in INDEX_TYPES
