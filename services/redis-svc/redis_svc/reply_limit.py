"""A bound on the bytes redis-svc reads for one command of the workbench.

redis-py reads a reply whole before anyone can look at its size, and a viewer may send any read:
``GET`` of a 512 MB string, ``LRANGE`` or ``HGETALL`` of millions of items, each held in memory
(and again as the reply's message) before the workbench refused it as too large. So every
connection reads through a :class:`CountedReader`; inside :func:`bounded`, what the task's
commands read is counted as it arrives, and past the bound the read fails: redis-py closes that
connection (it never reuses one a read failed on), and the command fails as PayloadTooLarge.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Iterator
from contextvars import ContextVar
from typing import Any

from udb.errors import PayloadTooLarge

#: The bytes the running command may still read (a list, so tasks it starts count against it too).
_left: ContextVar[list[int] | None] = ContextVar("redis_reply_bytes_left", default=None)


class CountedReader:
    """A connection's StreamReader whose reads count against the running command's bound."""

    def __init__(self, reader: asyncio.StreamReader) -> None:
        self._reader = reader

    def __getattr__(self, name: str) -> Any:
        return getattr(self._reader, name)  # at_eof, the parsers' look at its buffer...

    async def read(self, n: int = -1) -> bytes:
        return _counted(await self._reader.read(n))

    async def readline(self) -> bytes:
        return _counted(await self._reader.readline())

    async def readexactly(self, n: int) -> bytes:
        # Charged before the read: redis-py's pure-Python parser reads a whole bulk string so
        # (hiredis reads in chunks), and its length is known before any of it arrives.
        _charge(n)
        return await self._reader.readexactly(n)


def _counted(data: bytes) -> bytes:
    _charge(len(data))
    return data


def _charge(size: int) -> None:
    left = _left.get()
    if left is not None:
        left[0] -= size
        if left[0] < 0:
            raise PayloadTooLarge("the reply is too large to read: page through it (the SCAN family, LRANGE, GETRANGE)")


@contextlib.contextmanager
def bounded(max_bytes: int) -> Iterator[None]:
    """Commands run inside the block (by this task, or tasks it starts) read at most ``max_bytes``."""
    token = _left.set([max_bytes])
    try:
        yield
    finally:
        _left.reset(token)
