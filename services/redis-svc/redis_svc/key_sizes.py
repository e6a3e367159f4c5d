"""The size of keys: MEMORY USAGE and the element count, for the key listing and the explorer's rows."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

#: A key type's length command (a string's is its byte length).
LENGTH_COMMANDS = {
    "string": "STRLEN",
    "hash": "HLEN",
    "list": "LLEN",
    "set": "SCARD",
    "zset": "ZCARD",
    "stream": "XLEN",
}


async def key_sizes(client: Any, keys: Sequence[tuple[bytes, str]]) -> list[tuple[int | None, int | None]]:
    """(memory in bytes, element count) of each (key, type), in one pipeline: MEMORY USAGE with
    SAMPLES 0 (every element of an aggregate: an exact figure); None where the key went away
    meanwhile or its type has no length command."""
    if not keys:
        return []
    async with client.pipeline(transaction=False) as pipe:
        for key, key_type in keys:
            pipe.memory_usage(key, samples=0)
            if key_type in LENGTH_COMMANDS:
                pipe.execute_command(LENGTH_COMMANDS[key_type], key)
        replies = iter(await pipe.execute(raise_on_error=False))
    sizes: list[tuple[int | None, int | None]] = []
    for _, key_type in keys:
        memory = next(replies)
        length = next(replies) if key_type in LENGTH_COMMANDS else None
        sizes.append((memory if isinstance(memory, int) else None, length if isinstance(length, int) else None))
    return sizes
