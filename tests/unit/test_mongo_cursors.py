"""Pages from a cursor and the registry of open cursors.

The cursor here is a list behind PyMongo's async cursor interface (``next``, ``close``): these
tests pin the page and registry bookkeeping; the integration tests page real server cursors.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from typing import Any

import pytest
from mongo_svc import ejson
from mongo_svc.cursors import CursorRegistry, CursorScope, PagedCursor

from udb.errors import InvalidArgument, NotFound


class ListCursor:
    """Documents handed out one by one, counting how many were read."""

    def __init__(self, documents: list[dict[str, Any]]) -> None:
        self.documents = list(documents)
        self.read = 0
        self.closed = False

    async def next(self) -> dict[str, Any]:
        if self.read >= len(self.documents):
            raise StopAsyncIteration
        self.read += 1
        return self.documents[self.read - 1]

    async def close(self) -> None:
        self.closed = True


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def paged(count: int, size: int = 10) -> tuple[PagedCursor, ListCursor]:
    cursor = ListCursor([{"_id": i, "s": "x" * size} for i in range(count)])
    return PagedCursor(cursor), cursor  # type: ignore[arg-type]


def ids(documents: list[str]) -> list[int]:
    return [ejson.loads(text, "x")["_id"] for text in documents]


async def test_pages_follow_one_another_and_the_last_says_no_more() -> None:
    """Pages of `limit` documents come in order; the one that ends the cursor has more=False,
    even when the count is an exact multiple of the limit."""
    pages, cursor = paged(6)
    first = await pages.page(3, 1 << 20, ejson.RELAXED)
    assert ids(first.documents) == [0, 1, 2]
    assert first.more is True
    second = await pages.page(3, 1 << 20, ejson.RELAXED)
    assert ids(second.documents) == [3, 4, 5]
    assert second.more is False
    assert cursor.read == 6


async def test_a_page_reads_one_document_ahead_only() -> None:
    """Reading a page takes `limit` documents plus one read ahead, never the rest."""
    pages, cursor = paged(1000)
    await pages.page(10, 1 << 20, ejson.RELAXED)
    assert cursor.read == 11


async def test_the_byte_limit_ends_a_page_and_keeps_the_next_document() -> None:
    """A page stops before its byte limit (truncated) and the document that did not fit opens the
    next page; a single document larger than the limit still makes a page of one."""
    pages, _ = paged(5, size=100)
    first = await pages.page(5, 250, ejson.RELAXED)
    assert ids(first.documents) == [0, 1]
    assert first.truncated is True
    assert first.more is True
    rest = await pages.page(5, 10_000, ejson.RELAXED)
    assert ids(rest.documents) == [2, 3, 4]
    assert rest.truncated is False
    big, _ = paged(2, size=1000)
    alone = await big.page(5, 10, ejson.RELAXED)
    assert ids(alone.documents) == [0]


async def test_canonical_pages() -> None:
    """A page is written in the mode asked for."""
    pages, _ = paged(1)
    page = await pages.page(1, 1 << 20, ejson.CANONICAL)
    assert page.documents == ['{"_id":{"$numberInt":"0"},"s":"xxxxxxxxxx"}']


class KeepAlive:
    def __init__(self) -> None:
        self.entered = self.exited = 0

    @contextlib.asynccontextmanager
    async def hold(self) -> AsyncIterator[None]:
        self.entered += 1
        try:
            yield
        finally:
            self.exited += 1


SCOPE = CursorScope(subject="user-1", project_ref="proj", connection_id="c1")


async def test_a_parked_cursor_is_taken_back_by_its_scope_only() -> None:
    """take() returns the entry to the same caller, project and connection; anyone else gets
    NotFound and the entry stays for its owner."""
    registry = CursorRegistry()
    pages, _ = paged(3)
    keep = KeepAlive()
    entry = await registry.open(pages, SCOPE, client="client", keep_alive=keep.hold())
    token = await registry.park(entry)
    for other in (
        CursorScope("user-2", "proj", "c1"),
        CursorScope("user-1", "other", "c1"),
        CursorScope("user-1", "proj", "c2"),
    ):
        with pytest.raises(NotFound):
            registry.take(token, other)
    assert registry.take(token, SCOPE) is entry
    with pytest.raises(NotFound):
        registry.take(token, SCOPE)  # taken: a second page cannot race on it
    with pytest.raises(NotFound):
        registry.take("never-given", SCOPE)


async def test_closing_an_entry_closes_the_cursor_and_releases_its_client() -> None:
    """Closing an entry closes the server cursor and exits what kept its client open."""
    registry = CursorRegistry()
    pages, cursor = paged(3)
    keep = KeepAlive()
    entry = await registry.open(pages, SCOPE, client="client", keep_alive=keep.hold())
    assert keep.entered == 1
    await entry.close()
    assert cursor.closed is True
    assert keep.exited == 1


async def test_the_least_recently_used_cursor_goes_when_the_registry_is_full() -> None:
    """Past max_open the oldest parked cursor is closed to make room."""
    registry = CursorRegistry(max_open=2)
    cursors = []
    tokens = []
    for _ in range(3):
        pages, cursor = paged(3)
        cursors.append(cursor)
        tokens.append(await registry.park(await registry.open(pages, SCOPE, "c", KeepAlive().hold())))
    assert len(registry) == 2
    assert [c.closed for c in cursors] == [True, False, False]
    with pytest.raises(NotFound):
        registry.take(tokens[0], SCOPE)


async def test_a_connection_holds_at_most_its_share_of_cursors() -> None:
    """Past max_per_connection the least recently used cursor of that connection is closed, while
    other connections' cursors stay; a cursor taken and parked again counts as recently used."""
    registry = CursorRegistry(max_open=100, max_per_connection=2)
    other = CursorScope("user-1", "proj", "c2")
    other_pages, other_cursor = paged(3)
    await registry.park(await registry.open(other_pages, other, "c", KeepAlive().hold()))
    cursors, tokens = [], []
    for _ in range(2):
        pages, cursor = paged(3)
        cursors.append(cursor)
        tokens.append(await registry.park(await registry.open(pages, SCOPE, "c", KeepAlive().hold())))
    # The first is used again, so the second is now the least recently used of c1.
    tokens[0] = await registry.park(registry.take(tokens[0], SCOPE))
    pages, cursor = paged(3)
    cursors.append(cursor)
    await registry.park(await registry.open(pages, SCOPE, "c", KeepAlive().hold()))
    assert [c.closed for c in cursors] == [False, True, False]
    assert other_cursor.closed is False
    assert registry.open_on("c1") == 2
    with pytest.raises(NotFound):
        registry.take(tokens[1], SCOPE)


async def test_a_cursor_continues_its_own_collection_only() -> None:
    """take() with another database or collection is InvalidArgument and leaves the cursor parked."""
    registry = CursorRegistry()
    pages, _ = paged(3)
    token = await registry.park(await registry.open(pages, SCOPE, "c", KeepAlive().hold(), ("db", "coll")))
    with pytest.raises(InvalidArgument):
        registry.take(token, SCOPE, ("db", "other"))
    assert registry.take(token, SCOPE, ("db", "coll")).cursor is pages


async def test_idle_cursors_are_closed_after_the_timeout() -> None:
    """close_idle() closes cursors parked longer than idle_timeout_s, and only those."""
    clock = Clock()
    registry = CursorRegistry(idle_timeout_s=60, clock=clock)
    old_pages, old = paged(3)
    await registry.park(await registry.open(old_pages, SCOPE, "c", KeepAlive().hold()))
    clock.now += 50
    new_pages, new = paged(3)
    fresh = await registry.park(await registry.open(new_pages, SCOPE, "c", KeepAlive().hold()))
    clock.now += 20
    assert await registry.close_idle() == 1
    assert old.closed is True
    assert new.closed is False
    assert registry.take(fresh, SCOPE).cursor is new_pages


async def test_close_closes_every_open_cursor() -> None:
    """Shutting down the registry kills every parked cursor."""
    registry = CursorRegistry()
    await registry.start()
    opened = []
    for _ in range(3):
        pages, cursor = paged(3)
        opened.append(cursor)
        await registry.park(await registry.open(pages, SCOPE, "c", KeepAlive().hold()))
    await registry.close()
    assert all(c.closed for c in opened)
    assert len(registry) == 0
