"""Listings leave nothing behind: paging through a large collection keeps memory flat and visits
each document once, and many listings in a row leave no server cursor open (the fault run of
issue 11 found FerretDB stalled by a hundred of them)."""

from __future__ import annotations

import asyncio
import gc
import statistics
import tracemalloc
from collections.abc import Mapping
from typing import Any

import pytest
from bson import Int64
from harness import Servers, System, own_service
from mongo_svc.cursors import CursorRegistry
from mongo_svc.server import create_server
from mongo_svc.settings import Settings
from pymongo import AsyncMongoClient, monitoring

from udb.common.v1 import common_pb2
from udb.mongo.v1 import mongo_pb2, mongo_pb2_grpc

pytestmark = pytest.mark.integration

RawClient = AsyncMongoClient[dict[str, Any]]
#: 20,000 documents of about 2 KiB: 40 MiB of Extended JSON in 20 pages. (FerretDB sorts every
#: page in full, about a second each here; MongoDB reads an _id index range.)
DOCUMENTS = 20_000
PAGE = 1000
MIB = 1024 * 1024


async def new_project(system: System, servers: Servers) -> tuple[str, str]:
    """A project whose connection record is new, so mongo-svc builds a client for it now (and the
    cursor monitor, registered before, sees its commands); returns (ref, owner)."""
    ref, owner = await system.new_project()
    await system.add_connection(ref, owner, "mongodb", {"identifier": "main", "uri": servers.mongo_url})
    return ref, owner


async def test_paging_through_a_large_collection_keeps_memory_flat(
    system: System, servers: Servers, raw: RawClient, db: str
) -> None:
    """Following next_cursor through 20,000 documents (40 MiB of Extended JSON) visits each once,
    in _id order; the live Python heap of the whole process (gateway, mongo-svc, this client)
    stays within a page of where it was once warm, with no trend from page to page, the peak
    within a few pages, and no cursor is left in mongo-svc."""
    ref, owner = await new_project(system, servers)
    pad = "m" * 1900
    for start in range(0, DOCUMENTS, 2000):
        await raw[db]["big"].insert_many(
            [{"_id": i, "pad": pad, "tags": ["a", "b"], "at": {"k": i}} for i in range(start, start + 2000)]
        )
    url = f"/mongodb/{ref}/databases/{db}/collections/big/documents"
    headers = system.headers(owner)
    seen = bytearray(DOCUMENTS)
    order: list[int] = []
    total_bytes = 0
    heap: list[int] = []
    params: dict[str, Any] = {"limit": PAGE}
    tracemalloc.start()
    try:
        while True:
            reply = await system.http.get(url, params=params, headers=headers)
            assert reply.status_code == 200, reply.text[:300]
            body = reply.json()
            total_bytes += len(reply.content)
            for document in body["data"]:
                assert not seen[document["_id"]], f"document {document['_id']} came twice"
                seen[document["_id"]] = 1
            order.append(body["data"][0]["_id"])
            next_cursor = body["next_cursor"]
            del reply, body
            # What is still referenced: httpx's responses sit in reference cycles that only the
            # full collection frees (gen 2 runs rarely), and garbage is not memory held.
            gc.collect()
            heap.append(tracemalloc.get_traced_memory()[0])
            if next_cursor is None:
                break
            params = {"limit": PAGE, "cursor": next_cursor}
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    print("heap per page (MiB):", [round(h / MIB, 2) for h in heap], "peak", round(peak / MIB, 2))
    assert sum(seen) == DOCUMENTS
    assert order == list(range(0, DOCUMENTS, PAGE))
    assert total_bytes > 35 * MIB
    cursors: CursorRegistry = system.servers_by_name["mongo-svc"].components["cursors"]  # type: ignore[assignment]
    assert len(cursors) == 0
    # A page is 2 MiB of text: holding the collection would take 40 MiB as text alone.
    warm = heap[2]
    assert max(heap[2:]) - warm < 2 * MIB, f"live heap rose {(max(heap[2:]) - warm) / MIB:.1f} MiB over page 3"
    trend = statistics.mean(heap[11:]) - statistics.mean(heap[2:11])
    assert trend < MIB / 2, f"live heap grows from page to page: +{trend / MIB:.2f} MiB between halves"
    assert peak - warm < 16 * MIB, f"heap peaked {(peak - warm) / MIB:.1f} MiB over page 3"


class CursorMonitor(monitoring.CommandListener):
    """The server cursors our clients see opened (a reply's nonzero cursor id), exhausted (a
    getMore answering id 0) and killed, on one database. PyMongo's listeners are process-wide
    and apply to clients made after registration."""

    def __init__(self) -> None:
        self.database = ""
        self.opened: set[int] = set()
        self.closed: set[int] = set()
        self.replies = 0
        self._get_more: dict[int, int] = {}

    def started(self, event: monitoring.CommandStartedEvent) -> None:
        if event.database_name != self.database:
            return
        if event.command_name == "killCursors":
            self.closed.update(int(i) for i in event.command["cursors"])
        elif event.command_name == "getMore":
            self._get_more[event.request_id] = int(event.command["getMore"])

    def succeeded(self, event: monitoring.CommandSucceededEvent) -> None:
        if event.database_name != self.database:
            return
        cursor = event.reply.get("cursor") if isinstance(event.reply, Mapping) else None
        if not isinstance(cursor, Mapping):
            return
        asked = self._get_more.pop(event.request_id, None)
        self.replies += 1
        if cursor.get("id"):
            self.opened.add(int(cursor["id"]))
        elif asked is not None:
            self.closed.add(asked)  # exhausted: the server closed it

    def failed(self, event: monitoring.CommandFailedEvent) -> None:
        self._get_more.pop(event.request_id, None)

    @property
    def open(self) -> set[int]:
        return self.opened - self.closed


MONITOR = CursorMonitor()


@pytest.fixture(scope="module")
def monitor() -> CursorMonitor:
    monitoring.register(MONITOR)
    return MONITOR


async def alive_on_server(raw: RawClient, db: str, collection: str, ids: set[int]) -> set[int]:
    """Which of these cursors the server still had: killCursors answers each as killed (it was
    open) or not found. MongoDB's own count is serverStatus metrics.cursor.open.total."""
    if not ids:
        return set()
    reply = await raw[db].command("killCursors", collection, cursors=[Int64(i) for i in sorted(ids)])
    assert set(map(int, reply["cursorsKilled"])) | set(map(int, reply["cursorsNotFound"])) == ids
    return set(map(int, reply["cursorsKilled"]))


async def listings(system: System, ref: str, owner: str, db: str, count: int) -> None:
    """``count`` document listings in a row, each with more results than its page, half of them
    followed by a second page, and every tenth of large documents whose page ends at the byte
    limit before the server's first batch is read (MongoDB caps a batch at 16 MiB: its cursor is
    still open then)."""
    headers = system.headers(owner)
    for n in range(count):
        collection, limit = ("big", 30) if n % 10 == 0 else ("small", 10)
        url = f"/mongodb/{ref}/databases/{db}/collections/{collection}/documents"
        reply = await system.http.get(url, params={"limit": limit, "sort": '{"n": -1}'}, headers=headers)
        assert reply.status_code == 200, reply.text[:200]
        assert reply.json()["next_cursor"]
        if n % 2:
            more = await system.http.get(url, params={"cursor": reply.json()["next_cursor"]}, headers=headers)
            assert more.status_code == 200, more.text[:200]


async def fill(raw: RawClient, db: str) -> None:
    await raw[db]["small"].insert_many([{"_id": i, "n": i % 7} for i in range(60)])
    # 24 documents of 700 KiB: a batch of 31 would pass the server's 16 MiB, a page stops at 8 MiB.
    pad = "b" * (700 * 1024)
    await raw[db]["big"].insert_many([{"_id": i, "n": i, "pad": pad} for i in range(24)])


async def test_200_listings_leave_no_server_cursor_open(
    system: System, servers: Servers, raw: RawClient, db: str, monitor: CursorMonitor
) -> None:
    """After 200 listings through the gateway, mongo-svc holds no cursor, every server cursor
    its client saw opened (a reply with a nonzero cursor id) was closed (killCursors, or
    exhausted), and the server confirms it: killCursors finds none of them."""
    monitor.database = db
    await fill(raw, db)
    ref, owner = await new_project(system, servers)
    await listings(system, ref, owner, db, 200)
    cursors: CursorRegistry = system.servers_by_name["mongo-svc"].components["cursors"]  # type: ignore[assignment]
    assert len(cursors) == 0
    assert monitor.replies >= 300, "the monitor did not see the listings' queries"
    assert monitor.open == set()
    assert await alive_on_server(raw, db, "big", monitor.opened) == set()


async def test_200_listings_leave_the_servers_cursor_count_unchanged(
    system: System, servers: Servers, raw: RawClient, db: str
) -> None:
    """MongoDB's own count (serverStatus metrics.cursor.open.total) is the same before and after
    200 listings."""
    status = await raw.admin.command("serverStatus")
    if "cursor" not in status.get("metrics", {}):
        pytest.skip(
            "the server does not count open cursors: its serverStatus metrics hold only "
            f"{sorted(status.get('metrics', {}))}; killCursors is the check (test above)"
        )
    await fill(raw, db)
    ref, owner = await new_project(system, servers)
    before = status["metrics"]["cursor"]["open"]["total"]
    await listings(system, ref, owner, db, 200)
    after = (await raw.admin.command("serverStatus"))["metrics"]["cursor"]["open"]["total"]
    assert after <= before


async def test_aggregate_cursors_are_capped_per_connection_and_closed_when_idle(
    system: System, servers: Servers, raw: RawClient, db: str, monitor: CursorMonitor
) -> None:
    """An aggregate keeps its server cursor between pages, but never more than
    MONGO_MAX_CURSORS_PER_CONNECTION per connection (the least recently used is killed), an
    exhausted one is closed at once, and idle ones are closed after the timeout."""
    monitor.database = db
    await fill(raw, db)
    ref, owner = await new_project(system, servers)
    env = {"MONGO_MAX_CURSORS_PER_CONNECTION": "3", "MONGO_CURSOR_IDLE_TIMEOUT_S": "1"}
    async with own_service(system, create_server, Settings, env) as channel:
        stub = mongo_pb2_grpc.MongoServiceStub(channel)
        metadata = system.metadata(owner)
        target = common_pb2.ConnectionTarget(project_ref=ref)
        request = mongo_pb2.AggregateRequest(
            target=target, database=db, collection="small", pipeline='[{"$sort": {"_id": 1}}]', limit=2
        )
        for _ in range(20):
            reply = await stub.Aggregate(request, metadata=metadata)
            assert reply.next_cursor
            assert len(monitor.open) <= 3
        exhausted = await stub.Aggregate(
            mongo_pb2.AggregateRequest(
                target=target, database=db, collection="small", pipeline='[{"$match": {"_id": {"$lt": 5}}}]', limit=10
            ),
            metadata=metadata,
        )
        assert not exhausted.next_cursor
        assert len(monitor.open) == 3
        for _ in range(100):
            if not monitor.open:
                break
            await asyncio.sleep(0.1)
        assert monitor.open == set()
    assert len(monitor.opened) >= 20
    assert await alive_on_server(raw, db, "small", monitor.opened) == set()
