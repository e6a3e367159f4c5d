"""Checks of the caller's input and parsing of Redis replies: pure functions, no I/O."""

from __future__ import annotations

import math
import re
from typing import Any

from udb.errors import InvalidArgument

#: TYPE's names, as SCAN's TYPE filter takes them.
KEY_TYPES = frozenset({"string", "hash", "list", "set", "zset", "stream", "ReJSON-RL"})
#: INFO sections a caller may ask for (Redis 7), plus the groups INFO itself knows.
INFO_SECTIONS = frozenset(
    {
        "server",
        "clients",
        "memory",
        "persistence",
        "stats",
        "replication",
        "cpu",
        "modules",
        "errorstats",
        "cluster",
        "keyspace",
        "commandstats",
        "latencystats",
        "keysizes",
        "all",
        "default",
        "everything",
    }
)
#: Redis refuses keys and string values past this size.
MAX_REDIS_BYTES = 512 * 1024 * 1024
MAX_PATTERN_BYTES = 1024
DEFAULT_COUNT = 100
MAX_COUNT = 1000
#: List and stream pages by index are at most this long.
MAX_RANGE = 10_000

_STREAM_ID_RE = re.compile(r"^(\d{1,20})(?:-(\d{1,20}))?$")
_CURSOR_RE = re.compile(r"^\d{1,20}$")


def check_key(key: bytes) -> bytes:
    if not key:
        raise InvalidArgument("key must not be empty", details={"field": "key"})
    if len(key) > MAX_REDIS_BYTES:
        raise InvalidArgument("key is over Redis's 512 MB limit", details={"field": "key"})
    return key


def check_count(count: int) -> int:
    """SCAN's COUNT hint and page sizes: 1-1000, 100 when unset."""
    if count == 0:
        return DEFAULT_COUNT
    if not 1 <= count <= MAX_COUNT:
        raise InvalidArgument(f"count must be between 1 and {MAX_COUNT}", details={"field": "count"})
    return count


def check_pattern(pattern: bytes) -> bytes:
    """A glob-style MATCH pattern; ``*`` when empty.

    Redis takes any bytes, but an unterminated ``[`` class or a dangling ``\\`` matches nothing a
    user meant, so both are refused with a message that says why.
    """
    if not pattern:
        return b"*"
    if len(pattern) > MAX_PATTERN_BYTES:
        raise InvalidArgument(f"pattern is longer than {MAX_PATTERN_BYTES} bytes", details={"field": "pattern"})
    escaped = in_class = False
    for byte in pattern:
        if escaped:
            escaped = False
        elif byte == 0x5C:  # backslash
            escaped = True
        elif byte == 0x5B and not in_class:  # [
            in_class = True
        elif byte == 0x5D and in_class:  # ]
            in_class = False
    if escaped:
        raise InvalidArgument("pattern ends with a lone backslash", details={"field": "pattern"})
    if in_class:
        raise InvalidArgument("pattern has a '[' without its ']'", details={"field": "pattern"})
    return pattern


def check_type(name: str) -> str:
    if name and name not in KEY_TYPES:
        raise InvalidArgument(
            f"type must be one of {', '.join(sorted(KEY_TYPES))}", details={"field": "type", "value": name[:40]}
        )
    return name


def scan_cursor(cursor: str) -> int:
    """A SCAN-family cursor: empty or digits."""
    if not cursor:
        return 0
    if not _CURSOR_RE.match(cursor):
        raise InvalidArgument("cursor is not one this API gave out", details={"field": "cursor"})
    return int(cursor)


def cluster_cursor(cursor: str, nodes: int) -> tuple[int, int]:
    """A cluster scan cursor ``<node index>:<node cursor>`` (empty or "0" starts over)."""
    if not cursor or cursor == "0":
        return 0, 0
    node, sep, rest = cursor.partition(":")
    if not sep or not node.isdigit() or int(node) >= nodes:
        raise InvalidArgument("cursor is not one this API gave out", details={"field": "cursor"})
    return int(node), scan_cursor(rest)


def check_ttl(ttl: int, *, minimum: int) -> int:
    if ttl < minimum:
        raise InvalidArgument(f"ttl must be at least {minimum}", details={"field": "ttl"})
    return ttl


def stream_id(text: str) -> tuple[int, int] | None:
    """A stream entry id as (ms, seq); None for ``*`` (the server chooses)."""
    if text in ("", "*"):
        return None
    match = _STREAM_ID_RE.match(text)
    if match is None:
        raise InvalidArgument(f"stream id {text[:40]!r} is not <ms>-<seq> or *", details={"field": "id"})
    return int(match.group(1)), int(match.group(2) or 0)


def check_stream_ids(ids: list[str]) -> None:
    """Explicit ids must be above 0-0 and strictly increasing (XADD refuses anything else, and a
    refusal inside MULTI would leave the other entries written)."""
    previous = (0, 0)
    seen_auto = False
    for text in ids:
        parsed = stream_id(text)
        if parsed is None:
            seen_auto = True
            continue
        if seen_auto:
            raise InvalidArgument("explicit stream ids must come before '*' ones", details={"field": "id"})
        if parsed <= previous:
            raise InvalidArgument(
                f"stream id {text} must be greater than {previous[0]}-{previous[1]}", details={"field": "id"}
            )
        previous = parsed


def check_score(score: float) -> float:
    if math.isnan(score):
        raise InvalidArgument("a zset score must be a number", details={"field": "score"})
    return score


def check_section(section: str) -> str:
    lowered = section.lower()
    if lowered and lowered not in INFO_SECTIONS:
        raise InvalidArgument(f"unknown INFO section {section[:40]!r}", details={"field": "section"})
    return lowered


_INT_RE = re.compile(r"^-?\d{1,18}$")
_FLOAT_RE = re.compile(r"^-?\d+\.\d+$")


def _scalar(text: str) -> Any:
    if _INT_RE.match(text):
        return int(text)
    if _FLOAT_RE.match(text):
        return float(text)
    return text


def _info_value(text: str) -> Any:
    # db0:keys=1,expires=0,avg_ttl=0 and cmdstat_get:calls=1,usec=2 are small records.
    if "=" in text:
        pairs = [part.partition("=") for part in text.split(",")]
        if all(sep and name for name, sep, _ in pairs):
            return {name: _scalar(value) for name, _, value in pairs}
    return _scalar(text)


def parse_info(text: str) -> dict[str, dict[str, Any]]:
    """INFO's reply as ``{"server": {"redis_version": "7.2.4", ...}, "keyspace": {"db0": {...}}}``."""
    sections: dict[str, dict[str, Any]] = {}
    current: dict[str, Any] = sections.setdefault("server", {})
    for raw_line in text.splitlines():
        line = raw_line.strip()
        if not line:
            continue
        if line.startswith("#"):
            current = sections.setdefault(line.lstrip("# ").strip().lower(), {})
            continue
        name, sep, value = line.partition(":")
        if sep:
            current[name] = _info_value(value)
    return {name: fields for name, fields in sections.items() if fields or name != "server"}
