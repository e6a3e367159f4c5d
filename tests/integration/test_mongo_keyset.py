"""Keyset paging of finds against the real wire server: pages in the server's own sort order
(every BSON type class, ties, missing fields and nulls, mixed directions, arrays), the caller's
projection kept, and cursors that are signed, bound to their query and continued by any replica.

The oracle is the server itself: a page walk must give exactly what one unpaged find with the
same sort (and ``_id`` last) gives.
"""

from __future__ import annotations

import datetime
import uuid
from typing import Any

import grpc
import pytest
import pytest_asyncio
from bson import Binary, ObjectId, Timestamp, json_util
from harness import Servers, System, own_service
from mongo_svc.ejson import RELAXED
from mongo_svc.server import create_server
from mongo_svc.settings import Settings
from pymongo import AsyncMongoClient

from udb.common.v1 import common_pb2
from udb.errors import from_rpc_error
from udb.mongo.v1 import mongo_pb2, mongo_pb2_grpc

pytestmark = pytest.mark.integration

RawClient = AsyncMongoClient[dict[str, Any]]


@pytest_asyncio.fixture(scope="module")
async def project(system: System, servers: Servers) -> tuple[str, str, str]:
    """(project ref, owner, viewer) with the session's MongoDB as primary connection."""
    ref, owner = await system.new_project()
    viewer = f"viewer-{uuid.uuid4().hex[:8]}"
    await system.add_member(ref, owner, viewer, "viewer")
    await system.add_connection(ref, owner, "mongodb", {"identifier": "main", "uri": servers.mongo_url})
    return ref, owner, viewer


def url(ref: str, db: str, collection: str = "c") -> str:
    return f"/mongodb/{ref}/databases/{db}/collections/{collection}/documents"


async def walk(
    system: System, ref: str, user: str, db: str, limit: int, **params: Any
) -> tuple[list[dict[str, Any]], list[str]]:
    """Every document of a listing, following next_cursor (sending only cursor and limit), and
    the paged_by of each page that had a next one."""
    documents: list[dict[str, Any]] = []
    paged_by: list[str] = []
    query: dict[str, Any] = {**params, "limit": limit}
    for _ in range(1000):
        reply = await system.http.get(url(ref, db), params=query, headers=system.headers(user))
        assert reply.status_code == 200, reply.text
        body = reply.json()
        documents += [json_util.loads(json_util.dumps(d), json_options=RELAXED) for d in body["data"]]
        if body["next_cursor"] is None:
            assert "paged_by" not in body
            return documents, paged_by
        paged_by.append(body["paged_by"])
        query = {"cursor": body["next_cursor"], "limit": limit}
    raise AssertionError("the listing did not end")


def ejson(documents: list[dict[str, Any]]) -> list[str]:
    """Documents as canonical Extended JSON text, to compare exactly (1 and 1.0 differ)."""
    return [json_util.dumps(d, json_options=json_util.CANONICAL_JSON_OPTIONS) for d in documents]


async def oracle(raw: RawClient, db: str, sort: list[tuple[str, int]], **find: Any) -> list[dict[str, Any]]:
    """What the server itself answers for the listing, unpaged."""
    keys = sort if any(path == "_id" for path, _ in sort) else [*sort, ("_id", 1)]
    return [d async for d in raw[db]["c"].find(sort=keys, **find)]


def mixed_documents() -> list[dict[str, Any]]:
    """Values of every type class the wire server stores, with ties, nulls and missing fields."""
    when = datetime.datetime(2024, 5, 1, tzinfo=datetime.UTC)
    values: list[Any] = [
        None,
        False,
        True,
        -3,
        0,
        2.5,
        2,
        10**12,
        "",
        "apple",
        "Banana",
        {"x": 1},
        {"x": 1, "y": 2},
        Binary(b"\x00\x01", 0),
        b"z",
        ObjectId("65f000000000000000000001"),
        when,
        when + datetime.timedelta(days=1),
        Timestamp(1700000000, 1),
    ]
    documents: list[dict[str, Any]] = []
    for i, value in enumerate(values * 2):  # every value twice: ties broken by _id
        documents.append({"_id": i, "v": value, "g": i % 3, "s": f"s{i % 4}"})
    documents += [{"_id": 100 + i, "g": i % 3} for i in range(4)]  # no v at all
    return documents


@pytest.mark.parametrize(
    "sort",
    [
        pytest.param([("v", 1)], id="v-asc"),
        pytest.param([("v", -1)], id="v-desc"),
        pytest.param([("g", 1), ("v", -1)], id="g-asc-v-desc"),
        pytest.param([("s", -1), ("g", 1), ("v", 1)], id="three-keys"),
        pytest.param([("v", -1), ("_id", -1)], id="id-desc-given"),
    ],
)
@pytest.mark.parametrize("limit", [1, 4, 7])
async def test_pages_follow_the_servers_sort_across_every_type(
    system: System, raw: RawClient, project: tuple[str, str, str], db: str, sort: list[tuple[str, int]], limit: int
) -> None:
    """Walking next_cursor (keyset every page) gives exactly the server's own unpaged order, over
    every type class, ties, nulls and missing fields, several keys and mixed directions."""
    ref, _, viewer = project
    await raw[db]["c"].insert_many(mixed_documents())
    spec = "{" + ",".join(f'"{path}": {direction}' for path, direction in sort) + "}"
    documents, paged_by = await walk(system, ref, viewer, db, limit, sort=spec)
    assert ejson(documents) == ejson(await oracle(raw, db, sort))
    assert set(paged_by) == {"keyset"}


async def test_default_order_is_id_and_a_filter_is_kept(
    system: System, raw: RawClient, project: tuple[str, str, str], db: str
) -> None:
    """Without a sort the pages come in _id order; the filter holds on every page."""
    await raw[db]["c"].insert_many([{"_id": 1000 - i, "even": i % 2 == 0} for i in range(60)])
    ref, _, viewer = project
    documents, paged_by = await walk(system, ref, viewer, db, 7, filter='{"even": true}')
    assert [d["_id"] for d in documents] == sorted(1000 - i for i in range(0, 60, 2))
    assert set(paged_by) == {"keyset"}


async def test_an_array_in_a_sort_key_continues_by_skip(
    system: System, raw: RawClient, project: tuple[str, str, str], db: str
) -> None:
    """MongoDB sorts an array by its least element ascending and its greatest descending, which
    no range follows: once a page shows an array the listing continues by position, every
    document exactly once in the server's order."""
    documents = [{"_id": i, "t": i * 10} for i in range(12)]
    documents += [{"_id": 50, "t": [5, 1000]}, {"_id": 51, "t": [95, -1]}, {"_id": 52, "t": []}]
    await raw[db]["c"].insert_many(documents)
    ref, _, viewer = project
    for direction in (1, -1):
        found, paged_by = await walk(system, ref, viewer, db, 3, sort=f'{{"t": {direction}}}')
        assert ejson(found) == ejson(await oracle(raw, db, [("t", direction)]))
        assert paged_by[-1] == "skip"


async def test_projection_hiding_sort_keys_and_id_gives_what_it_asks(
    system: System, raw: RawClient, project: tuple[str, str, str], db: str
) -> None:
    """A projection may leave out the sort keys and _id: pages still follow the sort by keyset and
    each document is exactly what the server's own projection gives."""
    await raw[db]["c"].insert_many([{"_id": i, "a": {"b": i % 5, "c": i}, "n": 20 - i, "pad": "x"} for i in range(20)])
    ref, _, viewer = project
    cases = [
        ('{"pad": 1, "_id": 0}', {"pad": 1, "_id": 0}),
        ('{"a.c": 1}', {"a.c": 1}),
        ('{"a": 0, "n": 0}', {"a": 0, "n": 0}),
        ('{"_id": 0}', {"_id": 0}),
    ]
    for text, projection in cases:
        found, paged_by = await walk(system, ref, viewer, db, 3, sort='{"a.b": -1, "n": 1}', projection=text)
        expected = await oracle(raw, db, [("a.b", -1), ("n", 1)], projection=projection)
        assert ejson(found) == ejson(expected), text
        assert set(paged_by) == {"keyset"}, text


async def test_natural_order_and_a_first_page_with_skip_continue_by_skip(
    system: System, raw: RawClient, project: tuple[str, str, str], db: str
) -> None:
    """A $natural sort has no keys, and a first page with skip passed over documents it never saw:
    both continue by position, every document once."""
    await raw[db]["c"].insert_many([{"_id": i} for i in range(10)])
    ref, _, viewer = project
    skipped, paged_by = await walk(system, ref, viewer, db, 3, skip=2)
    assert [d["_id"] for d in skipped] == list(range(2, 10))
    assert set(paged_by) == {"skip"}
    probe = await system.http.get(url(ref, db), params={"sort": '{"$natural": 1}'}, headers=system.headers(viewer))
    if probe.status_code == 400 and probe.json()["error"]["details"].get("codeName") == "NotImplemented":
        pytest.skip(f"the server lacks the $natural sort: {probe.json()['error']['message']}")
    natural, paged_by = await walk(system, ref, viewer, db, 4, sort='{"$natural": 1}')
    assert sorted(d["_id"] for d in natural) == list(range(10))
    assert set(paged_by) == {"skip"}


async def test_a_cursor_is_bound_to_its_query_caller_and_connection(
    system: System, servers: Servers, raw: RawClient, project: tuple[str, str, str], db: str
) -> None:
    """A cursor sent with another filter, projection or sort, on another collection or
    connection, by another member, with skip, changed by one character, or to aggregate, is 400;
    sent again by its caller (alone or with its own query) it gives the same page."""
    ref, owner, viewer = project
    await raw[db]["c"].insert_many([{"_id": i, "n": i % 3} for i in range(10)])
    await raw[db]["other"].insert_many([{"_id": i} for i in range(10)])
    first = await system.http.get(
        url(ref, db),
        params={"filter": '{"n": {"$gte": 0}}', "sort": '{"n": 1}', "limit": 3},
        headers=system.headers(viewer),
    )
    cursor = first.json()["next_cursor"]
    second = await system.http.get(url(ref, db), params={"cursor": cursor}, headers=system.headers(viewer))
    again = await system.http.get(
        url(ref, db),
        params={"cursor": cursor, "filter": '{"n": {"$gte": 0}}', "sort": '{"n": 1}'},
        headers=system.headers(viewer),
    )
    assert second.status_code == again.status_code == 200
    assert second.json()["data"] == again.json()["data"]
    other = await system.add_connection(ref, owner, "mongodb", {"identifier": "second", "uri": servers.mongo_url})
    refused: list[tuple[str, dict[str, Any], str]] = [
        (viewer, {"filter": '{"n": 1}'}, "c"),
        (viewer, {"sort": '{"n": -1}'}, "c"),
        (viewer, {"projection": '{"n": 1}'}, "c"),
        (viewer, {"skip": 1}, "c"),
        (viewer, {}, "other"),
        (viewer, {"connection": other["id"]}, "c"),
        (owner, {}, "c"),
    ]
    for user, params, collection in refused:
        reply = await system.http.get(
            url(ref, db, collection), params={"cursor": cursor, **params}, headers=system.headers(user)
        )
        assert reply.status_code == 400, (params, collection, reply.text)
        assert reply.json()["error"]["details"]["field"] in ("cursor", "skip")
    flipped = cursor[:10] + ("A" if cursor[10] != "A" else "B") + cursor[11:]
    for bad in (flipped, "nope", "a.b", cursor + "x"):
        reply = await system.http.get(url(ref, db), params={"cursor": bad}, headers=system.headers(viewer))
        assert reply.status_code == 400, bad
    aggregate = await system.http.post(
        f"/mongodb/{ref}/databases/{db}/collections/c/aggregate",
        params={"cursor": cursor},
        headers=system.headers(viewer),
    )
    assert aggregate.status_code == 400


async def test_count_with_a_cursor_counts_the_whole_query(
    system: System, raw: RawClient, project: tuple[str, str, str], db: str
) -> None:
    """count=true on a later page counts every match of the cursor's filter."""
    await raw[db]["c"].insert_many([{"_id": i, "n": i % 2} for i in range(9)])
    ref, _, viewer = project
    first = await system.http.get(
        url(ref, db), params={"filter": '{"n": 1}', "limit": 2, "count": "true"}, headers=system.headers(viewer)
    )
    later = await system.http.get(
        url(ref, db), params={"cursor": first.json()["next_cursor"], "count": "true"}, headers=system.headers(viewer)
    )
    assert first.json()["count"] == later.json()["count"] == 4
    assert [d["_id"] for d in later.json()["data"]] == [5, 7]


async def test_any_replica_continues_a_cursor_and_a_foreign_key_refuses_it(
    system: System, raw: RawClient, project: tuple[str, str, str], db: str
) -> None:
    """A cursor from one mongo-svc is continued by another process with the same shared secret;
    one configured with another MONGO_CURSOR_KEY refuses it (400)."""
    await raw[db]["c"].insert_many([{"_id": i} for i in range(7)])
    ref, _, viewer = project
    target = common_pb2.ConnectionTarget(project_ref=ref)
    metadata = system.metadata(viewer)
    first = await system.mongo.FindDocuments(
        mongo_pb2.FindDocumentsRequest(target=target, database=db, collection="c", limit=3), metadata=metadata
    )
    async with own_service(system, create_server, Settings, {}) as channel:
        replica = mongo_pb2_grpc.MongoServiceStub(channel)
        second = await replica.FindDocuments(
            mongo_pb2.FindDocumentsRequest(
                target=target, database=db, collection="c", cursor=first.next_cursor, limit=3
            ),
            metadata=metadata,
        )
    assert [json_util.loads(d)["_id"] for d in [*first.documents, *second.documents]] == list(range(6))
    assert second.paged_by == "keyset"
    async with own_service(system, create_server, Settings, {"MONGO_CURSOR_KEY": "another key"}) as channel:
        with pytest.raises(grpc.aio.AioRpcError) as caught:
            await mongo_pb2_grpc.MongoServiceStub(channel).FindDocuments(
                mongo_pb2.FindDocumentsRequest(target=target, database=db, collection="c", cursor=first.next_cursor),
                metadata=metadata,
            )
    assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "cursor" in from_rpc_error(caught.value).message
