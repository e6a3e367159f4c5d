"""One level of the key tree, from a bounded stretch of SCAN.

A level is the keys under a prefix: those with the delimiter further on are counted under their
next namespace, the others are the level's own keys. A call does a bounded amount of SCAN work
(``scan_limit`` entries examined); its counts cover what it examined, and a console adds the
counts of the calls of one cursor chain (RedisInsight's tree grows the same way, page by page).
"""

from __future__ import annotations

from collections import Counter

from redis_svc.clients import RedisHandle
from redis_svc.explorer.nodes import Nodes
from redis_svc.explorer.rows import key_rows
from redis_svc.inputs import MAX_PATTERN_BYTES
from udb.errors import InvalidArgument
from udb.redis.v1 import explorer_pb2

DEFAULT_SCAN_LIMIT = 10_000
MAX_SCAN_LIMIT = 100_000
#: SCAN's COUNT per step.
STEP = 1000
#: A level's own keys per reply: the scan pauses (cursor given) once it has this many.
MAX_LEVEL_KEYS = 1000
MAX_DELIMITER_BYTES = 16
_GLOB_SPECIAL = frozenset(b"*?[]\\")


def glob_escape(literal: bytes) -> bytes:
    """``literal`` as a MATCH pattern that matches only itself."""
    return b"".join(b"\\" + bytes([byte]) if byte in _GLOB_SPECIAL else bytes([byte]) for byte in literal)


def check_delimiter(delimiter: bytes) -> bytes:
    if not delimiter:
        return b":"
    if len(delimiter) > MAX_DELIMITER_BYTES:
        raise InvalidArgument(f"delimiter is longer than {MAX_DELIMITER_BYTES} bytes", details={"field": "delimiter"})
    return delimiter


def check_limit(value: int, *, default: int, maximum: int, field: str) -> int:
    if value == 0:
        return default
    if not 1 <= value <= maximum:
        raise InvalidArgument(f"{field} must be between 1 and {maximum}", details={"field": field})
    return value


def namespace_of(key: bytes, prefix: bytes, delimiter: bytes) -> bytes | None:
    """The namespace right below ``prefix`` that holds ``key`` (delimiter included), or None
    when ``key`` sits at the level itself."""
    position = key.find(delimiter, len(prefix))
    if position < 0:
        return None
    return key[: position + len(delimiter)]


async def list_level(handle: RedisHandle, request: explorer_pb2.ListKeyTreeRequest) -> explorer_pb2.ListKeyTreeResponse:
    delimiter = check_delimiter(request.delimiter)
    prefix = request.prefix
    if len(prefix) > MAX_PATTERN_BYTES:
        raise InvalidArgument(f"prefix is longer than {MAX_PATTERN_BYTES} bytes", details={"field": "prefix"})
    limit = check_limit(request.scan_limit, default=DEFAULT_SCAN_LIMIT, maximum=MAX_SCAN_LIMIT, field="scan_limit")
    pattern = glob_escape(prefix) + b"*"
    nodes = await Nodes.of(handle)
    counts: Counter[bytes] = Counter()
    level: list[bytes] = []
    cursor, examined, scanned = request.cursor, 0, 0
    while True:
        step = min(STEP, limit - examined)
        keys, cursor = await nodes.scan(cursor, pattern, step)
        examined += step
        scanned += len(keys)
        for key in keys:
            namespace = namespace_of(key, prefix, delimiter)
            if namespace is None:
                level.append(key)
            else:
                counts[namespace] += 1
        if cursor == "0" or examined >= limit or len(level) >= MAX_LEVEL_KEYS:
            break
    rows = await key_rows(handle.ops, sorted(level), with_size=request.with_size)
    return explorer_pb2.ListKeyTreeResponse(
        namespaces=[explorer_pb2.Namespace(prefix=name, keys=count) for name, count in sorted(counts.items())],
        keys=rows,
        cursor=cursor,
        scanned=scanned,
        total=await nodes.dbsize(),
    )
