"""Paging through a large collection keeps memory flat: a find never holds more than its page."""

from __future__ import annotations

import tracemalloc
import uuid
from typing import Any

import pytest
from harness import Servers, System, direct_mongo
from pymongo import AsyncMongoClient

pytestmark = pytest.mark.integration

DOCUMENTS = 100_000
PAGE = 1000
MIB = 1024 * 1024


async def test_paging_through_100000_documents_keeps_memory_flat(system: System, servers: Servers) -> None:
    """Following next_cursor through 100,000 documents (about 40 MiB of Extended JSON) visits each
    exactly once, while the Python heap of the whole process (gateway, mongo-svc and this client)
    peaks at a few pages' worth and ends where the first page left it."""
    ref, owner = await system.new_project()
    await system.add_connection(ref, owner, "mongodb", {"identifier": "main", "uri": servers.mongo_url})
    database = f"paging_{uuid.uuid4().hex[:10]}"
    raw: AsyncMongoClient[dict[str, Any]] = direct_mongo(servers.mongo_url)
    pad = "m" * 300
    try:
        for start in range(0, DOCUMENTS, 5000):
            await raw[database]["big"].insert_many(
                [{"n": i, "pad": pad, "tags": ["a", "b"], "at": {"k": i}} for i in range(start, start + 5000)]
            )
        url = f"/mongodb/{ref}/databases/{database}/collections/big/documents"
        headers = system.headers(owner)
        seen = bytearray(DOCUMENTS)  # one byte per document: the check itself stays small
        total_bytes = pages = 0
        after_first_page = 0
        params: dict[str, Any] = {"limit": PAGE}
        tracemalloc.start()
        try:
            while True:
                reply = await system.http.get(url, params=params, headers=headers)
                assert reply.status_code == 200, reply.text[:300]
                body = reply.json()
                total_bytes += len(reply.content)
                for document in body["data"]:
                    assert not seen[document["n"]], f"document {document['n']} came twice"
                    seen[document["n"]] = 1
                next_cursor = body["next_cursor"]
                del reply, body
                pages += 1
                if pages == 1:
                    after_first_page = tracemalloc.get_traced_memory()[0]
                if next_cursor is None:
                    break
                params = {"limit": PAGE, "cursor": next_cursor}
            current, peak = tracemalloc.get_traced_memory()
        finally:
            tracemalloc.stop()
    finally:
        await raw.drop_database(database)
        await raw.close()
    assert sum(seen) == DOCUMENTS
    assert pages == DOCUMENTS // PAGE
    assert total_bytes > 35 * MIB
    # Holding the collection would take over 35 MiB as text and several times that as objects.
    assert peak - after_first_page < 16 * MIB, f"heap peaked {(peak - after_first_page) / MIB:.1f} MiB over page 1"
    assert current - after_first_page < 4 * MIB, f"heap grew {(current - after_first_page) / MIB:.1f} MiB"
