"""A bound on the bytes pg-svc reads from a server for one statement of a caller's SQL.

The query path cuts a result at its configured rows and bytes, but asyncpg reads each batch of
rows (500 at a time) whole before the first reaches that cut: with rows of megabytes each,
pg-svc held hundreds of them. One `SELECT repeat('x', 4 * 1024 * 1024) FROM generate_series(1,
500)` took its resident set from 64 MiB to 2.1 GiB, and any member may send such SQL. So every
connection's bytes are counted as they arrive while a statement of a caller's runs; past the
bound the connection is cut (no more of the reply is read), and the statement fails as
:class:`udb.errors.PayloadTooLarge`. (redis-svc's bound, :mod:`redis_svc.reply_limit`, counts in
the reading task instead: redis-py reads in the caller's task, asyncpg in its protocol's callback,
where no task's context is at hand.)
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Iterator
from typing import Any

from udb.errors import PayloadTooLarge


class ReadCounter(asyncio.Protocol):
    """asyncpg's protocol behind a count of the bytes received, cut past ``limit`` (None: no limit)."""

    def __init__(self, inner: Any, transport: asyncio.Transport) -> None:
        self._inner = inner
        self._transport = transport
        self.limit: int | None = None
        self.received = 0
        self.exceeded = False

    def data_received(self, data: bytes) -> None:
        if self.limit is not None:
            self.received += len(data)
            if self.received > self.limit:
                self.exceeded = True
                self._transport.abort()  # asyncpg's waiter fails as the connection is lost
                return
        self._inner.data_received(data)

    def eof_received(self) -> bool | None:
        return self._inner.eof_received()  # type: ignore[no-any-return]

    def connection_lost(self, exc: Exception | None) -> None:
        self._inner.connection_lost(exc)

    def pause_writing(self) -> None:
        self._inner.pause_writing()

    def resume_writing(self) -> None:
        self._inner.resume_writing()

    def check(self, max_bytes: int) -> None:
        """PayloadTooLarge when this connection was cut for reading past ``max_bytes``: whatever
        failed after that (the statement, a rollback on the cut connection) failed for it."""
        if self.exceeded:
            raise PayloadTooLarge(
                f"the statement's rows are over the {max_bytes} bytes read for one statement: "
                "select fewer rows (LIMIT) or smaller columns"
            ) from None


def attach(protocol: Any, transport: asyncio.Transport) -> ReadCounter:
    """Puts a counter between ``transport`` and asyncpg's ``protocol`` (a new connection's)."""
    counter = ReadCounter(protocol, transport)
    transport.set_protocol(counter)
    return counter


def counter_of(connection: Any) -> ReadCounter:
    """The counter of a :class:`pg_svc.codecs.TextConnection`, or of the one a pool's proxy holds."""
    counter: ReadCounter = connection.read_counter
    return counter


@contextlib.contextmanager
def bounded(counter: ReadCounter, max_bytes: int) -> Iterator[None]:
    """What the counter's connection receives inside the block is counted; past ``max_bytes`` the
    connection is cut (the caller turns the failure into PayloadTooLarge with :meth:`ReadCounter.check`)."""
    counter.limit, counter.received = max_bytes, 0
    try:
        yield
    finally:
        counter.limit = None
