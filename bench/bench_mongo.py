"""MongoDB: find-by-id and insert three ways against the same server, at 1 and 64 callers, and
paging through a large collection with the services' memory watched.

- PyMongo's AsyncMongoClient used directly (the baseline), with its default pool, and for
  reference with maxPoolSize=10 (mongo-svc's cap per database, which FerretDB prefers at 64),
- mongo-svc's gRPC API (GetDocument, InsertDocuments),
- the HTTP gateway (GET and POST /mongodb/bench/databases/bench/collections/docs/documents[/id]).

The services run as their own processes (bench/common.py). The machine is shared and noisy: each
path is measured in several short rounds, interleaved with the others, and the rounds are merged.
Then BENCH_MONGO_PAGING_DOCS documents (default 110,000) are inserted, the first pages are
walked through the gateway 1000 at a time by next_cursor (keyset), reading the resident set of
mongo-svc and the gateway, and page 100 is timed by keyset against skip.

    python bench/bench_mongo.py     # BENCH_SECONDS (per row, default 5), BENCH_ROUNDS (3),
                                    # BENCH_MONGO_PAGING_DOCS (110000; 0 skips the paging run),
                                    # BENCH_MONGO_WALK_PAGES (10)
"""

from __future__ import annotations

import datetime
import os
import statistics
import time
from collections.abc import Awaitable, Callable
from typing import Any

import aiohttp
import grpc
import uvloop
from bson import ObjectId
from common import DURATION_S, BenchStack, Result, bench_stack, measure, report, rss_kib
from mongo_svc.find_cursor import CursorSigner, FindCursor, FindQuery, signing_key
from mongo_svc.settings import Settings as MongoSettings
from pymongo import AsyncMongoClient
from pymongo.asynchronous.collection import AsyncCollection

from udb.common.v1 import common_pb2
from udb.config import Env
from udb.mongo.v1 import mongo_pb2, mongo_pb2_grpc

ROUNDS = int(os.environ.get("BENCH_ROUNDS", "3"))
PAGING_DOCS = int(os.environ.get("BENCH_MONGO_PAGING_DOCS", "110000"))
#: Pages walked by next_cursor with the services' memory watched (each is a fresh sorted find).
WALK_PAGES = int(os.environ.get("BENCH_MONGO_WALK_PAGES", "10"))
DEEP_PAGE = 100
#: The user bench/common.py's token is minted for.
BENCH_SUBJECT = "bench-user"
CONCURRENCY = (1, 64)
DATABASE, COLLECTION = "bench", "docs"
PAGE = 1000

#: The issue's targets at 64 callers, as a share of the raw driver's rate in the same run.
TARGET_GRPC = 0.45
TARGET_HTTP = 0.30

Operation = Callable[[], Awaitable[object]]


def sample_document(n: int) -> dict[str, Any]:
    return {
        "name": f"user {n}",
        "n": n,
        "active": n % 2 == 0,
        "tags": ["a", "b", "c"],
        "address": {"city": "Lisbon", "zip": f"{n % 10000:04d}"},
        "created": datetime.datetime(2024, 1, 1, tzinfo=datetime.UTC) + datetime.timedelta(seconds=n),
    }


def merge(rounds: list[Result]) -> Result:
    first = rounds[0]
    return Result(
        first.name,
        first.concurrency,
        sum(r.ops for r in rounds),
        sum(r.seconds for r in rounds),
        [latency for r in rounds for latency in r.latencies_ms],
        sum(r.errors for r in rounds),
    )


async def measure_paths(paths: dict[str, Operation]) -> list[Result]:
    """Every path at each concurrency, ROUNDS short rounds each, interleaved, merged."""
    for operation in paths.values():  # each path answers before anything is timed
        await operation()
    results: list[Result] = []
    for concurrency in CONCURRENCY:
        rounds: dict[str, list[Result]] = {name: [] for name in paths}
        for _ in range(ROUNDS):
            for name, operation in paths.items():
                rounds[name].append(
                    await measure(name, operation, concurrency=concurrency, seconds=DURATION_S / ROUNDS)
                )
        results += [merge(rounds[name]) for name in paths]
    return results


def check_targets(title: str, results: list[Result], baseline: str, grpc_path: str, http_path: str) -> bool:
    rate = {r.name: r.rate for r in results if r.concurrency == 64}
    grpc_ratio, http_ratio = rate[grpc_path] / rate[baseline], rate[http_path] / rate[baseline]
    ok = bool(grpc_ratio >= TARGET_GRPC and http_ratio >= TARGET_HTTP)
    print(
        f"{title} at 64 callers: gRPC {grpc_ratio:.2f}x (target {TARGET_GRPC}x), "
        f"HTTP {http_ratio:.2f}x (target {TARGET_HTTP}x): {'met' if ok else 'NOT met'}"
    )
    return ok


async def run(bench: BenchStack) -> int:
    raw: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(bench.stack.urls["mongodb"], tz_aware=True)
    collection = raw[DATABASE][COLLECTION]
    capped: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(
        bench.stack.urls["mongodb"], tz_aware=True, maxPoolSize=10
    )
    capped_collection = capped[DATABASE][COLLECTION]
    await collection.drop()
    ids = (await collection.insert_many([sample_document(n) for n in range(1000)])).inserted_ids
    oid: ObjectId = ids[500]
    channel = grpc.aio.insecure_channel(bench.grpc_address("mongo-svc"))
    stub = mongo_pb2_grpc.MongoServiceStub(channel)
    metadata = (("authorization", f"Bearer {bench.token}"),)
    target = common_pb2.ConnectionTarget(project_ref=bench.project_ref)
    get_request = mongo_pb2.GetDocumentRequest(target=target, database=DATABASE, collection=COLLECTION, id=str(oid))
    insert_request = mongo_pb2.InsertDocumentsRequest(
        target=target,
        database=DATABASE,
        collection=COLLECTION,
        documents=['{"name": "new", "n": 1, "tags": ["x"], "created": {"$date": "2024-05-01T00:00:00Z"}}'],
    )
    base = f"{bench.gateway_url}/mongodb/{bench.project_ref}/databases/{DATABASE}/collections/{COLLECTION}/documents"
    auth = {"authorization": f"Bearer {bench.token}"}
    insert_body = insert_request.documents[0].encode()
    session = aiohttp.ClientSession(
        connector=aiohttp.TCPConnector(limit=0),
        headers=auth,
        timeout=aiohttp.ClientTimeout(total=30),
    )

    async def http(method: str, url: str, body: bytes | None = None) -> bytes:
        headers = {"content-type": "application/json"} if body is not None else None
        async with session.request(method, url, data=body, headers=headers) as reply:
            content = await reply.read()
            if reply.status not in (200, 201):
                raise RuntimeError(f"HTTP {reply.status}: {content[:200]!r}")
            return content

    finds: dict[str, Operation] = {
        "pymongo async find_one (raw)": lambda: collection.find_one({"_id": oid}),
        "pymongo async, maxPoolSize=10": lambda: capped_collection.find_one({"_id": oid}),
        "mongo-svc gRPC GetDocument": lambda: stub.GetDocument(get_request, metadata=metadata, timeout=10),
        "gateway HTTP GET document": lambda: http("GET", f"{base}/{oid}"),
    }
    inserts: dict[str, Operation] = {
        "pymongo async insert_one (raw)": lambda: collection.insert_one(sample_document(1)),
        "pymongo async, maxPoolSize=10": lambda: capped_collection.insert_one(sample_document(1)),
        "mongo-svc gRPC InsertDocuments": lambda: stub.InsertDocuments(insert_request, metadata=metadata, timeout=10),
        "gateway HTTP POST document": lambda: http("POST", base, insert_body),
    }
    try:
        find_results = await measure_paths(finds)
        report("MongoDB find by _id", find_results, baseline="pymongo async find_one (raw)")
        insert_results = await measure_paths(inserts)
        report("MongoDB insert one document", insert_results, baseline="pymongo async insert_one (raw)")
        print()
        met = check_targets(
            "find by _id",
            find_results,
            "pymongo async find_one (raw)",
            "mongo-svc gRPC GetDocument",
            "gateway HTTP GET document",
        )
        met &= check_targets(
            "insert",
            insert_results,
            "pymongo async insert_one (raw)",
            "mongo-svc gRPC InsertDocuments",
            "gateway HTTP POST document",
        )
        if PAGING_DOCS > 0:
            await paging(bench, raw, http)
    finally:
        await session.close()
        await channel.close(None)
        await raw.drop_database(DATABASE)
        await raw.close()
        await capped.close()
    return 0 if met else 1


async def paging(
    bench: BenchStack, raw: AsyncMongoClient[dict[str, Any]], http: Callable[[str, str], Awaitable[bytes]]
) -> None:
    """Inserts PAGING_DOCS documents; pages through the first WALK_PAGES by next_cursor through the
    gateway with the resident set of mongo-svc and the gateway watched; then times page 100 of
    1000-document pages by keyset (the cursor page 99 gives) against the same page by skip."""
    import orjson

    collection = raw[DATABASE]["paging"]
    await collection.drop()
    started = time.perf_counter()
    pad = "p" * 200
    batch = 10_000
    for start in range(0, PAGING_DOCS, batch):
        count = min(batch, PAGING_DOCS - start)
        await collection.insert_many(
            [{"_id": n, "n": n, "name": f"user {n}", "pad": pad} for n in range(start, start + count)], ordered=False
        )
    inserted_s = time.perf_counter() - started
    pids = {name: pid for name, pid in bench.pids().items() if name in ("mongo-svc", "gateway")}
    before = {name: rss_kib(pid) for name, pid in pids.items()}
    highest = {name: current for name, (current, _) in before.items()}
    url = f"{bench.gateway_url}/mongodb/{bench.project_ref}/databases/{DATABASE}/collections/paging/documents"
    seen = pages = 0
    total_bytes = 0
    started = time.perf_counter()
    next_url = f"{url}?limit={PAGE}"
    while pages < WALK_PAGES:
        body = await http("GET", next_url)
        total_bytes += len(body)
        reply = orjson.loads(body)
        assert [d["_id"] for d in reply["data"]] == list(range(seen, seen + len(reply["data"])))
        seen += len(reply["data"])
        pages += 1
        for name, pid in pids.items():
            highest[name] = max(highest[name], rss_kib(pid)[0])
        if reply["next_cursor"] is None:
            break
        next_url = f"{url}?limit={PAGE}&cursor={reply['next_cursor']}"
    paged_s = time.perf_counter() - started
    after = {name: rss_kib(pid) for name, pid in pids.items()}
    print(
        f"\n== Paging {PAGING_DOCS:,} documents through the gateway, {PAGE} a page by next_cursor (keyset on _id)"
        f"\ninserted in {inserted_s:.0f} s; paged {seen:,} documents ({total_bytes / 2**20:.0f} MiB of Extended JSON) "
        f"in {pages} pages, {paged_s:.0f} s ({seen / paged_s:,.0f} documents/s)"
    )
    print(f"{'process':<10} {'RSS before':>11} {'RSS max during':>15} {'RSS after':>10} {'peak RSS (VmHWM)':>17}")
    for name in pids:
        print(
            f"{name:<10} {before[name][0] / 1024:>8.1f} MiB {highest[name] / 1024:>11.1f} MiB "
            f"{after[name][0] / 1024:>6.1f} MiB {after[name][1] / 1024:>13.1f} MiB"
        )
    if PAGING_DOCS >= DEEP_PAGE * PAGE:
        await deep_page(bench, collection, url, http)
    await collection.drop()


async def deep_page(
    bench: BenchStack,
    collection: AsyncCollection[dict[str, Any]],
    url: str,
    http: Callable[[str, str], Awaitable[bytes]],
) -> None:
    """Page DEEP_PAGE of PAGE-document pages, ROUNDS times each way, interleaved: by keyset (the
    next_cursor page DEEP_PAGE - 1 gives, signed here with the key every mongo-svc derives from
    the shared JWT secret) and by skip, through the gateway and with PyMongo directly."""
    import orjson

    settings = MongoSettings.from_env(Env(environ={"JWT_SECRET": bench.jwt_secret}, env_file=None))
    signer = CursorSigner(signing_key(settings))
    boundary = (DEEP_PAGE - 1) * PAGE - 1  # the last _id of the page before
    query = FindQuery(database=DATABASE, collection="paging", filter={}, projection=None, sort=None)
    cursor = signer.encode(
        FindCursor(bench.connections["mongodb"], query, position=boundary + 1, after=[boundary]),
        subject=BENCH_SUBJECT,
        project_ref=bench.project_ref,
    )
    skip = (DEEP_PAGE - 1) * PAGE
    expected = list(range(skip, skip + PAGE))

    async def gateway(query_string: str) -> None:
        ids = [d["_id"] for d in orjson.loads(await http("GET", f"{url}?limit={PAGE}&{query_string}"))["data"]]
        assert ids == expected, (ids[:3], expected[:3])

    async def driver(keyset: bool) -> None:
        if keyset:
            found = collection.find({"_id": {"$gt": boundary}}, sort=[("_id", 1)], limit=PAGE + 1)
        else:
            found = collection.find({}, sort=[("_id", 1)], skip=skip, limit=PAGE + 1)
        ids = [d["_id"] async for d in found][:PAGE]
        assert ids == expected

    ways: dict[str, Callable[[], Awaitable[None]]] = {
        "gateway, keyset (next_cursor)": lambda: gateway(f"cursor={cursor}"),
        f"gateway, skip={skip}": lambda: gateway(f"skip={skip}"),
        "pymongo, _id > boundary": lambda: driver(True),
        f"pymongo, skip={skip}": lambda: driver(False),
    }
    times: dict[str, list[float]] = {name: [] for name in ways}
    for _ in range(ROUNDS):
        for name, way in ways.items():
            started = time.perf_counter()
            await way()
            times[name].append((time.perf_counter() - started) * 1000)
    print(f"\n== Page {DEEP_PAGE} of {PAGE}-document pages of {PAGING_DOCS:,} (sorted by _id), {ROUNDS} rounds each")
    print(f"{'way':<34} {'median ms':>10} {'min ms':>8}")
    for name, values in times.items():
        print(f"{name:<34} {statistics.median(values):>10.0f} {min(values):>8.0f}")
    keyset_ms, skip_ms = (
        statistics.median(times["gateway, keyset (next_cursor)"]),
        statistics.median(times[f"gateway, skip={skip}"]),
    )
    print(
        f"keyset/skip through the gateway: {keyset_ms / skip_ms:.2f}x the time. A keyset page reads one range of the "
        "_id index on MongoDB whatever its depth, where skip walks the whole prefix; FerretDB (SQLite) sorts the "
        "collection for every page either way, so here both cost about a full scan."
    )


def main() -> int:
    with bench_stack() as bench:
        return uvloop.run(run(bench))


if __name__ == "__main__":
    raise SystemExit(main())
