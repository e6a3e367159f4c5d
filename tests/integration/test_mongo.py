"""The MongoDB engine end to end: every `/mongodb/[ref]` route through the real gateway, mongo-svc
and the real wire server (FerretDB 1.24 here, or MONGO_URL).

Where FerretDB lacks a MongoDB feature, the test skips with what FerretDB answered; run against
a real MongoDB (MONGO_URL) those tests run in full.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

import grpc
import httpx
import pytest
import pytest_asyncio
from bson import json_util
from harness import Servers, System
from mongo_svc.ejson import RELAXED
from pymongo import AsyncMongoClient

from udb.common.v1 import common_pb2
from udb.mongo.v1 import mongo_pb2

pytestmark = pytest.mark.integration

RawClient = AsyncMongoClient[dict[str, Any]]


@dataclass
class Project:
    """A project with a MongoDB connection and one member of each role."""

    system: System
    ref: str
    users: dict[str, str]

    def headers(self, role: str) -> dict[str, str]:
        return self.system.headers(self.users[role])

    def url(self, *parts: str) -> str:
        return "/".join([f"/mongodb/{self.ref}/databases", *parts])

    async def get(self, role: str, *parts: str, **params: Any) -> httpx.Response:
        return await self.system.http.get(self.url(*parts), params=params, headers=self.headers(role))

    async def post(self, role: str, *parts: str, body: Any = None, **params: Any) -> httpx.Response:
        return await self.system.http.post(self.url(*parts), json=body, params=params, headers=self.headers(role))

    async def put(self, role: str, *parts: str, body: Any = None, **params: Any) -> httpx.Response:
        return await self.system.http.put(self.url(*parts), json=body, params=params, headers=self.headers(role))

    async def delete(self, role: str, *parts: str) -> httpx.Response:
        return await self.system.http.delete(self.url(*parts), headers=self.headers(role))


@pytest_asyncio.fixture(scope="module")
async def project(system: System, servers: Servers) -> Project:
    ref, owner = await system.new_project()
    users = {"owner": owner}
    for role in ("admin", "developer", "viewer"):
        users[role] = f"{role}-{uuid.uuid4().hex[:8]}"
        await system.add_member(ref, owner, users[role], role)
    await system.add_connection(ref, owner, "mongodb", {"identifier": "main", "uri": servers.mongo_url})
    return Project(system, ref, users)


@pytest_asyncio.fixture(scope="module")
async def ferretdb(raw: RawClient) -> bool:
    """Whether the wire server is FerretDB (it says so in buildInfo)."""
    info = await raw.admin.command("buildInfo")
    return "ferretdbVersion" in info


def error_of(reply: httpx.Response) -> dict[str, Any]:
    body: dict[str, Any] = reply.json()
    return body["error"]


def skip_if_not_implemented(reply: httpx.Response) -> None:
    """Skips the test when the server answered that it does not implement the feature (FerretDB
    does so with code 238, NotImplemented), quoting its answer."""
    if reply.status_code == 400 and error_of(reply)["details"].get("codeName") == "NotImplemented":
        pytest.skip(f"the server lacks this MongoDB feature: {error_of(reply)['message']}")


async def insert(project: Project, db: str, collection: str, documents: list[dict[str, Any]]) -> list[Any]:
    reply = await project.post("developer", db, "collections", collection, "documents", body={"documents": documents})
    assert reply.status_code == 201, reply.text
    ids: list[Any] = reply.json()["inserted_ids"]
    return ids


# ---- databases and collections ----------------------------------------------------------------


async def test_databases_lists_each_database_with_size(project: Project, db: str) -> None:
    """GET databases lists a database once it holds a collection, with sizeOnDisk and empty."""
    await insert(project, db, "c", [{"a": 1}])
    reply = await project.get("viewer")
    assert reply.status_code == 200, reply.text
    listed = {d["name"]: d for d in reply.json()["data"]}
    assert db in listed
    assert set(listed[db]) == {"name", "sizeOnDisk", "empty"}
    assert listed[db]["sizeOnDisk"] > 0
    assert listed[db]["empty"] is False


async def test_database_stats_is_dbstats_and_404_for_a_missing_database(project: Project, db: str) -> None:
    """GET stats answers the server's dbStats; a database that does not exist is 404."""
    await insert(project, db, "c", [{"a": 1}, {"a": 2}])
    reply = await project.get("viewer", db, "stats")
    assert reply.status_code == 200, reply.text
    stats = reply.json()
    assert stats["db"] == db
    assert stats["collections"] == 1
    assert stats["objects"] == 2
    assert "$clusterTime" not in stats
    missing = await project.get("viewer", f"nope_{uuid.uuid4().hex[:8]}", "stats")
    assert missing.status_code == 404
    assert error_of(missing)["code"] == "not_found"


async def test_collections_create_list_and_drop(project: Project, db: str) -> None:
    """POST creates a collection (201), GET lists it, a second create is 409, DELETE drops it and
    a second drop is 404."""
    created = await project.post("developer", db, "collections", body={"name": "events"})
    assert created.status_code == 201, created.text
    assert created.json() == {"name": "events", "type": "collection", "options": {}}
    listed = await project.get("viewer", db, "collections")
    assert listed.status_code == 200
    assert listed.json() == {"data": [{"name": "events", "type": "collection", "options": {}}], "next_cursor": None}
    again = await project.post("developer", db, "collections", body={"name": "events"})
    assert again.status_code == 409
    assert error_of(again)["code"] == "already_exists"
    dropped = await project.delete("admin", db, "collections", "events")
    assert dropped.status_code == 200
    assert dropped.json() == {"dropped": True}
    gone = await project.delete("admin", db, "collections", "events")
    assert gone.status_code == 404
    assert error_of(gone)["code"] == "not_found"


async def test_collections_are_paged_by_name(project: Project, db: str) -> None:
    """limit and next_cursor page through the collections in name order, none twice or missed."""
    names = [f"c{i:02d}" for i in range(7)]
    for name in reversed(names):
        assert (await project.post("developer", db, "collections", body={"name": name})).status_code == 201
    seen: list[str] = []
    cursor = None
    pages = 0
    while True:
        params: dict[str, Any] = {"limit": 3}
        if cursor:
            params["cursor"] = cursor
        reply = await project.get("viewer", db, "collections", **params)
        assert reply.status_code == 200, reply.text
        seen += [c["name"] for c in reply.json()["data"]]
        pages += 1
        cursor = reply.json()["next_cursor"]
        if cursor is None:
            break
    assert seen == names
    assert pages == 3


async def test_capped_collection_keeps_its_options(project: Project, db: str) -> None:
    """Create options reach the server: a capped collection lists capped and size."""
    reply = await project.post(
        "developer", db, "collections", body={"name": "log", "options": {"capped": True, "size": 65536, "max": 100}}
    )
    skip_if_not_implemented(reply)
    assert reply.status_code == 201, reply.text
    assert reply.json()["options"]["capped"] is True
    assert reply.json()["options"]["size"] == 65536


@pytest.mark.parametrize(
    "options",
    [
        pytest.param({"validator": {"$jsonSchema": {"required": ["email"]}}}, id="validator"),
        pytest.param({"collation": {"locale": "en", "strength": 2}}, id="collation"),
        pytest.param({"timeseries": {"timeField": "at", "metaField": "sensor"}}, id="timeseries"),
    ],
)
async def test_collection_create_options(project: Project, db: str, options: dict[str, Any]) -> None:
    """validator, collation and timeseries options create the collection with them."""
    reply = await project.post("developer", db, "collections", body={"name": "special", "options": options})
    skip_if_not_implemented(reply)
    assert reply.status_code == 201, reply.text
    created = reply.json()
    key = next(iter(options))
    assert key in created["options"]
    if key == "timeseries":
        assert created["type"] == "timeseries"


async def test_validator_rejects_a_document_that_breaks_it(project: Project, db: str) -> None:
    """A collection's validator is enforced: a document without the required field is 400."""
    reply = await project.post(
        "developer",
        db,
        "collections",
        body={"name": "users", "options": {"validator": {"$jsonSchema": {"required": ["email"]}}}},
    )
    skip_if_not_implemented(reply)
    assert reply.status_code == 201
    bad = await project.post("developer", db, "collections", "users", "documents", body={"name": "x"})
    assert bad.status_code == 400
    assert error_of(bad)["details"]["codeName"] == "DocumentValidationFailure"


async def test_create_collection_refuses_options_that_stand_for_the_command(project: Project, db: str) -> None:
    """Options may not set the command's own name or a $-prefixed field (no other namespace)."""
    for options in ({"create": "other"}, {"$db": "admin"}, {"lsid": {"id": 1}}):
        reply = await project.post("developer", db, "collections", body={"name": "x", "options": options})
        assert reply.status_code == 400, options
        assert error_of(reply)["code"] == "invalid_argument"


# ---- documents ----------------------------------------------------------------------------------


async def test_insert_one_and_get_by_object_id(project: Project, db: str) -> None:
    """POST one document answers 201 with its new ObjectId; GET by that id returns it."""
    reply = await project.post("developer", db, "collections", "people", "documents", body={"name": "Ada"})
    assert reply.status_code == 201, reply.text
    (inserted,) = reply.json()["inserted_ids"]
    oid = inserted["$oid"]
    assert len(oid) == 24
    got = await project.get("viewer", db, "collections", "people", "documents", oid)
    assert got.status_code == 200
    assert got.json() == {"_id": {"$oid": oid}, "name": "Ada"}


async def test_insert_many_keeps_order_of_ids(project: Project, db: str) -> None:
    """{"documents": [...]} inserts all, answering their ids in order (given or generated)."""
    ids = await insert(project, db, "c", [{"_id": "a"}, {"x": 1}, {"_id": 7}])
    assert ids[0] == "a"
    assert "$oid" in ids[1]
    assert ids[2] == 7


async def test_duplicate_id_is_409(project: Project, db: str, raw: RawClient) -> None:
    """Inserting an _id that exists is 409; in a batch the documents before it stay inserted."""
    await insert(project, db, "c", [{"_id": 1}])
    again = await project.post("developer", db, "collections", "c", "documents", body={"_id": 1})
    assert again.status_code == 409
    assert error_of(again)["code"] == "already_exists"
    batch = await project.post(
        "developer", db, "collections", "c", "documents", body={"documents": [{"_id": 2}, {"_id": 1}, {"_id": 3}]}
    )
    assert batch.status_code == 409
    assert error_of(batch)["details"]["index"] == "1"
    assert await raw[db]["c"].count_documents({}) == 2


async def test_find_filter_projection_sort_skip_limit_and_count(project: Project, db: str) -> None:
    """GET documents applies filter, projection, sort, skip and limit, and counts all matches."""
    await insert(project, db, "c", [{"_id": i, "n": i, "even": i % 2 == 0, "pad": "x"} for i in range(20)])
    reply = await project.get(
        "viewer",
        db,
        "collections",
        "c",
        "documents",
        filter='{"even": true}',
        projection='{"n": 1}',
        sort='{"n": -1}',
        skip=1,
        limit=3,
        count="true",
    )
    assert reply.status_code == 200, reply.text
    body = reply.json()
    assert body["data"] == [{"_id": 16, "n": 16}, {"_id": 14, "n": 14}, {"_id": 12, "n": 12}]
    assert body["count"] == 10
    assert body["next_cursor"]


async def test_find_defaults_to_100_and_refuses_over_1000(project: Project, db: str) -> None:
    """Without limit a page holds 100 documents; limit over 1000 or below 1 is 400."""
    await insert(project, db, "c", [{"_id": i} for i in range(150)])
    reply = await project.get("viewer", db, "collections", "c", "documents")
    assert len(reply.json()["data"]) == 100
    assert "count" not in reply.json()
    for limit in (1001, 0, -1):
        bad = await project.get("viewer", db, "collections", "c", "documents", limit=limit)
        assert bad.status_code == 400, limit
        assert error_of(bad)["details"]["parameter"] == "limit"


async def test_next_cursor_pages_through_every_document_once(project: Project, db: str) -> None:
    """Following next_cursor yields every match exactly once, in sort order, and ends with null."""
    await insert(project, db, "c", [{"_id": i, "n": i} for i in range(95)])
    seen: list[int] = []
    reply = await project.get("viewer", db, "collections", "c", "documents", sort='{"n": 1}', limit=20)
    while True:
        assert reply.status_code == 200, reply.text
        seen += [d["n"] for d in reply.json()["data"]]
        cursor = reply.json()["next_cursor"]
        if cursor is None:
            break
        reply = await project.get("viewer", db, "collections", "c", "documents", cursor=cursor, limit=20)
    assert seen == list(range(95))
    # A cursor this API never gave out is 400.
    forged = await project.get("viewer", db, "collections", "c", "documents", cursor="nope")
    assert forged.status_code == 400
    assert error_of(forged)["details"]["field"] == "cursor"


async def test_a_cursor_belongs_to_its_caller(project: Project, db: str) -> None:
    """Another member presenting my next_cursor gets 400, and I can still continue it."""
    await insert(project, db, "c", [{"_id": i} for i in range(10)])
    first = await project.get("developer", db, "collections", "c", "documents", limit=4)
    cursor = first.json()["next_cursor"]
    stolen = await project.get("viewer", db, "collections", "c", "documents", cursor=cursor)
    assert stolen.status_code == 400
    assert "not given to this caller" in error_of(stolen)["message"]
    mine = await project.get("developer", db, "collections", "c", "documents", cursor=cursor, limit=4)
    assert mine.status_code == 200
    assert len(mine.json()["data"]) == 4


async def test_a_page_is_bounded_in_bytes(project: Project, db: str, raw: RawClient) -> None:
    """Large documents end a page before its byte limit (8 MiB): truncated is set and next_cursor
    continues after the last document sent."""
    big = "x" * (1024 * 1024)
    await raw[db]["big"].insert_many([{"_id": i, "s": big} for i in range(12)])
    reply = await project.get("viewer", db, "collections", "big", "documents", sort='{"_id": 1}', limit=12)
    assert reply.status_code == 200
    body = reply.json()
    assert body["truncated"] is True
    first = [d["_id"] for d in body["data"]]
    assert 1 <= len(first) < 12
    assert len(reply.content) <= 8 * 1024 * 1024 + 1024
    rest = await project.get("viewer", db, "collections", "big", "documents", cursor=body["next_cursor"], limit=12)
    second = [d["_id"] for d in rest.json()["data"]]
    assert first + second == list(range(len(first) + len(second)))


async def test_replace_update_and_delete_by_id(project: Project, db: str) -> None:
    """PUT of a whole document replaces; PUT of operators updates; DELETE removes (then 404)."""
    await insert(project, db, "c", [{"_id": "doc", "a": 1, "b": 2}])
    replaced = await project.put("developer", db, "collections", "c", "documents", "doc", body={"c": 3})
    assert replaced.status_code == 200, replaced.text
    assert replaced.json() == {"_id": "doc", "c": 3}
    updated = await project.put(
        "developer", db, "collections", "c", "documents", "doc", body={"$set": {"d": 4}, "$inc": {"c": 1}}
    )
    assert updated.status_code == 200
    assert updated.json() == {"_id": "doc", "c": 4, "d": 4}
    deleted = await project.delete("developer", db, "collections", "c", "documents", "doc")
    assert deleted.json() == {"deleted": 1}
    for reply in (
        await project.get("viewer", db, "collections", "c", "documents", "doc"),
        await project.delete("developer", db, "collections", "c", "documents", "doc"),
        await project.put("developer", db, "collections", "c", "documents", "doc", body={"x": 1}),
        await project.put("developer", db, "collections", "c", "documents", "doc", body={"$set": {"x": 1}}),
    ):
        assert reply.status_code == 404
        assert error_of(reply)["code"] == "not_found"


async def test_replace_and_update_refuse_bad_bodies(project: Project, db: str) -> None:
    """A replacement with another _id, or mixing fields and operators, is 400; so is an unknown
    update operator (the server's error)."""
    await insert(project, db, "c", [{"_id": 1, "a": 1}])
    other_id = await project.put("developer", db, "collections", "c", "documents", "1", body={"_id": 2})
    assert other_id.status_code == 400
    mixed = await project.put("developer", db, "collections", "c", "documents", "1", body={"$set": {"a": 2}, "b": 1})
    assert mixed.status_code == 400
    unknown = await project.put("developer", db, "collections", "c", "documents", "1", body={"$frobnicate": {"a": 1}})
    assert unknown.status_code == 400
    assert error_of(unknown)["code"] == "invalid_argument"


@pytest.mark.parametrize(
    ("segment", "stored_id"),
    [
        pytest.param("plain-string", "plain-string", id="string"),
        pytest.param("42", 42, id="number"),
        pytest.param(quote('"42"'), "42", id="quoted-string"),
        pytest.param(quote('{"$numberLong": "9000000000"}'), 9_000_000_000, id="int64"),
        pytest.param(quote("a/b c", safe=""), "a/b c", id="slash-and-space"),
        pytest.param(quote('{"k": 1}'), {"k": 1}, id="document"),
    ],
)
async def test_id_segment_rules(project: Project, db: str, raw: RawClient, segment: str, stored_id: Any) -> None:
    """[id]: 24 hex digits are an ObjectId, else Extended JSON when it parses, else a string."""
    await raw[db]["c"].insert_one({"_id": stored_id, "found": True})
    reply = await project.system.http.get(
        project.url(db, "collections", "c", "documents", segment), headers=project.headers("viewer")
    )
    assert reply.status_code == 200, reply.text
    assert reply.json()["found"] is True


@pytest.mark.parametrize(
    "segment",
    [quote('{"$gt": ""}'), quote("[1, 2]")],
    ids=["operator", "array"],
)
async def test_an_id_is_never_a_query(project: Project, db: str, segment: str) -> None:
    """An id that would be an operator ({"$gt": ""}) or an array is 400, and deletes nothing."""
    await insert(project, db, "c", [{"_id": "victim"}])
    for method in ("GET", "DELETE"):
        reply = await project.system.http.request(
            method,
            project.url(db, "collections", "c", "documents", segment),
            headers=project.headers("developer"),
        )
        assert reply.status_code == 400, reply.text
    assert (await project.get("viewer", db, "collections", "c", "documents", "victim")).status_code == 200


# ---- Extended JSON ------------------------------------------------------------------------------

# Canonical Extended JSON of each BSON type the issue names, and what FerretDB answers for those
# it lacks (observed with FerretDB 1.24.2).
BSON_VALUES: dict[str, tuple[Any, str | None]] = {
    "objectid": ({"$oid": "65a1b2c3d4e5f60718293a4b"}, None),
    "date": ({"$date": {"$numberLong": "1704164645678"}}, None),
    "date-before-1970": ({"$date": {"$numberLong": "-2208988800000"}}, None),
    "date-past-9999": ({"$date": {"$numberLong": "253402300800000"}}, None),
    "decimal128": (
        {"$numberDecimal": "1234567890.123456789012345678901234"},
        "FerretDB 1.24 has no Decimal128: it closes the connection on one",
    ),
    "int64": ({"$numberLong": "9007199254740993"}, None),
    "int32": ({"$numberInt": "-7"}, None),
    "double": ({"$numberDouble": "1.5"}, None),
    "binary": ({"$binary": {"base64": "AAH/gA==", "subType": "00"}}, None),
    "uuid": ({"$binary": {"base64": "ABEiM0RVZneImaq7zN3u/w==", "subType": "04"}}, None),
    "regex": ({"$regularExpression": {"pattern": "^a.*b$", "options": "im"}}, None),
    "timestamp": ({"$timestamp": {"t": 1700000000, "i": 3}}, None),
    "nested-arrays": (
        [{"$numberInt": "1"}, [{"$numberInt": "2"}, [{"k": [{"$numberInt": "3"}]}]], []],
        "FerretDB 1.24: invalid value (nested arrays are not supported)",
    ),
    "nested-document": ({"a": {"b": {"c": [{"d": {"$numberLong": "1"}}]}}}, None),
    "string": ("héllo \u2603", None),
    "bool-and-null": ([True, None], None),
}


@pytest.mark.parametrize("kind", list(BSON_VALUES))
async def test_extended_json_round_trips_each_bson_type(project: Project, db: str, ferretdb: bool, kind: str) -> None:
    """A value sent as canonical Extended JSON comes back identical with ?ejson=canonical."""
    value, ferretdb_lacks = BSON_VALUES[kind]
    if ferretdb and ferretdb_lacks:
        pytest.skip(ferretdb_lacks)
    document = {"_id": {"$numberInt": "1"}, "v": value}
    reply = await project.post("developer", db, "collections", "types", "documents", body=document)
    assert reply.status_code == 201, reply.text
    got = await project.get("viewer", db, "collections", "types", "documents", "1", ejson="canonical")
    assert got.status_code == 200, got.text
    assert got.json() == document
    # The relaxed form reads back to the same BSON value.
    relaxed = await project.get("viewer", db, "collections", "types", "documents", "1")
    assert json_util.loads(relaxed.text, json_options=RELAXED) == json_util.loads(got.text, json_options=RELAXED)


async def test_relaxed_mode_is_the_default(project: Project, db: str) -> None:
    """Without ?ejson, numbers are plain and dates are ISO strings; canonical wraps them."""
    await project.post(
        "developer",
        db,
        "collections",
        "c",
        "documents",
        body={"_id": 1, "n": {"$numberLong": "5"}, "at": {"$date": "2024-01-02T03:04:05.678Z"}},
    )
    relaxed = await project.get("viewer", db, "collections", "c", "documents", "1")
    assert relaxed.json() == {"_id": 1, "n": 5, "at": {"$date": "2024-01-02T03:04:05.678Z"}}
    found = await project.get("viewer", db, "collections", "c", "documents", ejson="canonical")
    assert found.json()["data"][0]["n"] == {"$numberLong": "5"}
    bad = await project.get("viewer", db, "collections", "c", "documents", ejson="legacy")
    assert bad.status_code == 400


async def test_inserted_ids_follow_the_ejson_mode(project: Project, db: str) -> None:
    """inserted_ids are relaxed by default and canonical with ?ejson=canonical."""
    reply = await project.post("developer", db, "collections", "c", "documents", body={"_id": 5}, ejson="canonical")
    assert reply.json() == {"inserted_ids": [{"$numberInt": "5"}]}
    relaxed = await project.post("developer", db, "collections", "c", "documents", body={"_id": 6})
    assert relaxed.json() == {"inserted_ids": [6]}


# ---- bad input ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"filter": "{not json"}, "filter"),
        ({"filter": '{"_id": {"$oid": "zz"}}'}, "filter"),
        ({"filter": "[1, 2]"}, "filter"),
        ({"projection": '{"a": '}, "projection"),
        ({"sort": '{"a": "up"}'}, "sort"),
    ],
)
async def test_bad_extended_json_is_400_naming_the_parameter(
    project: Project, db: str, params: dict[str, str], field: str
) -> None:
    """A filter, projection or sort that is not a valid Extended JSON object is 400 naming it."""
    reply = await project.get("viewer", db, "collections", "c", "documents", **params)
    assert reply.status_code == 400, reply.text
    assert error_of(reply)["code"] == "invalid_argument"
    assert error_of(reply)["details"]["field"] == field


async def test_unknown_query_operator_is_400_from_the_server(project: Project, db: str) -> None:
    """An operator the server does not know is 400 with the server's message and code."""
    await insert(project, db, "c", [{"a": 1}])
    reply = await project.get("viewer", db, "collections", "c", "documents", filter='{"a": {"$frobnicate": 1}}')
    assert reply.status_code == 400
    error = error_of(reply)
    assert error["code"] == "invalid_argument"
    assert "$frobnicate" in error["message"]
    assert error["details"]["codeName"] == "BadValue"


async def test_a_number_too_large_for_bson_is_400(project: Project, db: str) -> None:
    """JSON allows integers BSON cannot hold (over 64 bits): in a filter or a document they are 400."""
    huge = "123456789012345678901234567890"
    found = await project.get("viewer", db, "collections", "c", "documents", filter=f'{{"a": {huge}}}')
    assert found.status_code == 400
    assert "64-bit" in error_of(found)["message"]
    url = project.url(db, "collections", "c", "documents")
    headers = {**project.headers("developer"), "content-type": "application/json"}
    for body in (f'{{"a": {huge}}}', f'{{"documents": [{{"a": 1}}, {{"a": {huge}}}]}}'):
        inserted = await project.system.http.post(url, content=body.encode(), headers=headers)
        assert inserted.status_code == 400, body
    pipeline = f'{{"pipeline": [{{"$match": {{"a": {huge}}}}}]}}'
    aggregated = await project.system.http.post(
        project.url(db, "collections", "c", "aggregate"), content=pipeline.encode(), headers=headers
    )
    assert aggregated.status_code == 400
    assert (await project.get("viewer", db, "collections", "c", "documents")).json()["data"] == []


async def test_a_document_body_reaches_the_server_as_written(project: Project, db: str) -> None:
    """Numbers keep their exact type and value on the way in: 64-bit integers beyond a double's
    precision stay integers, and 1.0 stays a double. (-0.0 is pinned by the unit tests: FerretDB
    1.24 stores it as 0.0.)"""
    url = project.url(db, "collections", "c", "documents")
    headers = {**project.headers("developer"), "content-type": "application/json"}
    body = b'{"_id": 1, "big": 9007199254740993, "neg": -9223372036854775808, "one": 1.0}'
    assert (await project.system.http.post(url, content=body, headers=headers)).status_code == 201
    got = await project.get("viewer", db, "collections", "c", "documents", "1", ejson="canonical")
    assert got.json() == {
        "_id": {"$numberInt": "1"},
        "big": {"$numberLong": "9007199254740993"},
        "neg": {"$numberLong": "-9223372036854775808"},
        "one": {"$numberDouble": "1.0"},
    }


async def test_bad_bodies_are_400(project: Project, db: str) -> None:
    """A body that is not JSON, not an object, or an empty batch is 400."""
    url = project.url(db, "collections", "c", "documents")
    headers = {**project.headers("developer"), "content-type": "application/json"}
    for content in (b"{oops", b"[1, 2]", b'{"documents": []}', b'"text"'):
        reply = await project.system.http.post(url, content=content, headers=headers)
        assert reply.status_code == 400, content


async def test_a_document_over_16_mib_is_413(project: Project, db: str) -> None:
    """A document whose BSON is over 16 MiB is 413, in a batch too; nothing is written."""
    huge = {"s": "x" * (16 * 1024 * 1024 + 10)}
    reply = await project.post("developer", db, "collections", "c", "documents", body=huge)
    assert reply.status_code == 413, reply.text[:300]
    assert error_of(reply)["code"] == "payload_too_large"
    batch = await project.post("developer", db, "collections", "c", "documents", body={"documents": [{"_id": 1}, huge]})
    assert batch.status_code == 413
    listed = await project.get("viewer", db, "collections", "c", "documents")
    assert listed.json()["data"] == []


async def test_a_body_over_the_gateway_limit_is_413(project: Project, db: str) -> None:
    """A body over the gateway's limit (24 MiB) is 413 before any service sees it."""
    reply = await project.system.http.post(
        project.url(db, "collections", "c", "documents"),
        content=b'{"s": "' + b"x" * (25 * 1024 * 1024) + b'"}',
        headers={**project.headers("developer"), "content-type": "application/json"},
    )
    assert reply.status_code == 413


# ---- server-side JavaScript and write stages ----------------------------------------------------

JAVASCRIPT_FILTERS = {
    "top-level-where": {"$where": "this.a > 1"},
    "where-in-and": {"$and": [{"a": 1}, {"$where": "true"}]},
    "where-in-or-nested": {"$or": [{"a": 1}, {"$and": [{"b": 2}, {"$where": "true"}]}]},
    "function-in-expr": {"$expr": {"$function": {"body": "function() { return true }", "args": [], "lang": "js"}}},
}


@pytest.mark.parametrize("name", list(JAVASCRIPT_FILTERS))
async def test_javascript_in_a_filter_is_refused(project: Project, db: str, name: str) -> None:
    """$where and $function in a find filter, however nested, are 400 naming the operator."""
    reply = await project.get(
        "viewer", db, "collections", "c", "documents", filter=json_util.dumps(JAVASCRIPT_FILTERS[name])
    )
    assert reply.status_code == 400
    error = error_of(reply)
    assert error["code"] == "invalid_argument"
    assert error["details"]["operator"] in ("$where", "$function")
    assert "JavaScript" in error["message"]


JAVASCRIPT_PIPELINES: dict[str, list[dict[str, Any]]] = {
    "match-where-in-or": [{"$match": {"$or": [{"$where": "true"}, {"a": 1}]}}],
    "accumulator-in-group": [
        {
            "$group": {
                "_id": None,
                "x": {
                    "$accumulator": {
                        "init": "function() { return 0 }",
                        "accumulate": "function(s) { return s }",
                        "accumulateArgs": [],
                        "merge": "function(a, b) { return a }",
                        "lang": "js",
                    }
                },
            }
        }
    ],
    "where-in-lookup-subpipeline": [
        {"$lookup": {"from": "other", "pipeline": [{"$match": {"$and": [{"$where": "true"}]}}], "as": "j"}}
    ],
    "function-in-facet": [
        {"$facet": {"f": [{"$project": {"y": {"$function": {"body": "x", "args": [], "lang": "js"}}}}]}}
    ],
    "where-in-unionwith": [{"$unionWith": {"coll": "other", "pipeline": [{"$match": {"$where": "true"}}]}}],
}


@pytest.mark.parametrize("name", list(JAVASCRIPT_PIPELINES))
async def test_javascript_in_a_pipeline_is_refused(project: Project, db: str, name: str) -> None:
    """$where, $function and $accumulator anywhere in a pipeline (sub-pipelines too) are 400."""
    reply = await project.post(
        "owner", db, "collections", "c", "aggregate", body={"pipeline": JAVASCRIPT_PIPELINES[name]}
    )
    assert reply.status_code == 400
    assert error_of(reply)["details"]["operator"] in ("$where", "$function", "$accumulator")


async def test_javascript_in_an_update_is_refused(project: Project, db: str) -> None:
    """An update that would run $function is 400 and changes nothing."""
    await insert(project, db, "c", [{"_id": 1}])
    reply = await project.put(
        "developer",
        db,
        "collections",
        "c",
        "documents",
        "1",
        body={"$set": {"x": {"$function": {"body": "1", "args": [], "lang": "js"}}}},
    )
    assert reply.status_code == 400
    assert error_of(reply)["code"] == "invalid_argument"
    unchanged = await project.get("viewer", db, "collections", "c", "documents", "1")
    assert unchanged.json() == {"_id": 1}


async def test_out_and_merge_need_the_developer_role(project: Project, db: str) -> None:
    """A viewer's aggregate with $out or $merge is 403; a developer's runs (or the server says
    why not)."""
    await insert(project, db, "c", [{"a": 1}])
    for stage in ({"$out": "copy"}, {"$merge": {"into": "copy"}}):
        denied = await project.post("viewer", db, "collections", "c", "aggregate", body={"pipeline": [stage]})
        assert denied.status_code == 403, stage
        assert error_of(denied)["code"] == "permission_denied"
    allowed = await project.post(
        "developer", db, "collections", "c", "aggregate", body={"pipeline": [{"$out": "copy"}]}
    )
    skip_if_not_implemented(allowed)
    assert allowed.status_code == 200, allowed.text
    copied = await project.get("viewer", db, "collections", "copy", "documents")
    assert len(copied.json()["data"]) == 1


# ---- aggregate ----------------------------------------------------------------------------------


async def test_aggregate_runs_a_pipeline_with_options(project: Project, db: str) -> None:
    """POST aggregate answers the pipeline's results; allowDiskUse and maxTimeMS are accepted."""
    await insert(project, db, "c", [{"city": c, "n": i} for i, c in enumerate("abacab")])
    reply = await project.post(
        "viewer",
        db,
        "collections",
        "c",
        "aggregate",
        body={
            "pipeline": [{"$group": {"_id": "$city", "total": {"$sum": "$n"}}}, {"$sort": {"_id": 1}}],
            "options": {"allowDiskUse": True, "maxTimeMS": 5000, "comment": "from a test"},
        },
    )
    assert reply.status_code == 200, reply.text
    assert reply.json() == {
        "data": [{"_id": "a", "total": 0 + 2 + 4}, {"_id": "b", "total": 1 + 5}, {"_id": "c", "total": 3}],
        "next_cursor": None,
    }


async def test_aggregate_pages_with_next_cursor(project: Project, db: str) -> None:
    """An aggregate's results past limit continue with ?cursor= and no body."""
    await insert(project, db, "c", [{"_id": i} for i in range(25)])
    body = {"pipeline": [{"$sort": {"_id": 1}}]}
    first = await project.post("viewer", db, "collections", "c", "aggregate", body=body, limit=10)
    ids = [d["_id"] for d in first.json()["data"]]
    cursor = first.json()["next_cursor"]
    while cursor:
        reply = await project.system.http.post(
            project.url(db, "collections", "c", "aggregate"),
            params={"cursor": cursor, "limit": 10},
            headers=project.headers("viewer"),
        )
        assert reply.status_code == 200, reply.text
        ids += [d["_id"] for d in reply.json()["data"]]
        cursor = reply.json()["next_cursor"]
    assert ids == list(range(25))


async def test_aggregate_refuses_bad_options_and_pipelines(project: Project, db: str) -> None:
    """Unknown options, options of the wrong type, a bad maxTimeMS, and a pipeline that is not an
    array of objects are 400."""
    for body in (
        {"pipeline": [], "options": {"explain": True}},
        {"pipeline": [], "options": {"maxTimeMS": -5}},
        {"pipeline": [1, 2]},
        {"pipeline": {"$match": {}}},
        {"options": {}},
        {"pipeline": [{"$nonsense": {}}]},
        {"pipeline": [], "options": {"let": 5}},
        {"pipeline": [], "options": {"hint": 5}},
        {"pipeline": [], "options": {"hint": {}}},
        {"pipeline": [], "options": {"hint": {"a": "sideways"}}},
        {"pipeline": [], "options": {"allowDiskUse": "yes"}},
        {"pipeline": [], "options": {"maxTimeMS": True}},
    ):
        reply = await project.post("viewer", db, "collections", "c", "aggregate", body=body)
        assert reply.status_code == 400, body


async def test_aggregate_collation(project: Project, db: str) -> None:
    """The collation option reaches the server: a case-insensitive match finds both spellings."""
    await insert(project, db, "c", [{"w": "Apple"}, {"w": "apple"}, {"w": "pear"}])
    reply = await project.post(
        "viewer",
        db,
        "collections",
        "c",
        "aggregate",
        body={"pipeline": [{"$match": {"w": "APPLE"}}], "options": {"collation": {"locale": "en", "strength": 2}}},
    )
    skip_if_not_implemented(reply)
    assert reply.status_code == 200, reply.text
    assert len(reply.json()["data"]) == 2


# ---- indexes ------------------------------------------------------------------------------------


async def test_indexes_create_list_conflict_and_drop(project: Project, db: str) -> None:
    """POST creates an index (201 with its name), GET lists its spec, the same or a same-named one
    is 409, a unique index refuses duplicates, DELETE drops it and a second drop is 404."""
    await insert(project, db, "c", [{"email": "a@x"}])
    created = await project.post(
        "developer", db, "collections", "c", "indexes", body={"keys": {"email": 1}, "options": {"unique": True}}
    )
    assert created.status_code == 201, created.text
    assert created.json() == {"name": "email_1"}
    listed = await project.get("viewer", db, "collections", "c", "indexes")
    specs = {spec["name"]: spec for spec in listed.json()["data"]}
    assert specs["email_1"]["key"] == {"email": 1}
    assert specs["email_1"]["unique"] is True
    assert "_id_" in specs
    same = await project.post(
        "developer", db, "collections", "c", "indexes", body={"keys": {"email": 1}, "options": {"unique": True}}
    )
    assert same.status_code == 409
    clash = await project.post(
        "developer", db, "collections", "c", "indexes", body={"keys": {"other": 1}, "options": {"name": "email_1"}}
    )
    assert clash.status_code == 409
    duplicate = await project.post("developer", db, "collections", "c", "documents", body={"email": "a@x"})
    assert duplicate.status_code == 409
    dropped = await project.delete("admin", db, "collections", "c", "indexes", "email_1")
    assert dropped.json() == {"dropped": True}
    again = await project.delete("admin", db, "collections", "c", "indexes", "email_1")
    assert again.status_code == 404


async def test_compound_index_keeps_key_order_and_name(project: Project, db: str) -> None:
    """Keys keep the caller's order and directions; a given name is used."""
    created = await project.post(
        "developer", db, "collections", "c", "indexes", body={"keys": {"b": -1, "a": 1}, "options": {"name": "by_b_a"}}
    )
    assert created.json() == {"name": "by_b_a"}
    listed = await project.get("viewer", db, "collections", "c", "indexes")
    spec = next(s for s in listed.json()["data"] if s["name"] == "by_b_a")
    assert list(spec["key"].items()) == [("b", -1), ("a", 1)]


@pytest.mark.parametrize(
    ("options", "kept"),
    [
        pytest.param({"sparse": True}, "sparse", id="sparse"),
        pytest.param({"partialFilterExpression": {"n": {"$gt": 1}}}, "partialFilterExpression", id="partial"),
        pytest.param({"expireAfterSeconds": 3600}, "expireAfterSeconds", id="ttl"),
    ],
)
async def test_index_options(project: Project, db: str, options: dict[str, Any], kept: str) -> None:
    """sparse, partialFilterExpression and expireAfterSeconds (TTL) are part of the created index."""
    await insert(project, db, "c", [{"n": 1}])
    created = await project.post(
        "developer", db, "collections", "c", "indexes", body={"keys": {"n": 1}, "options": options}
    )
    skip_if_not_implemented(created)
    assert created.status_code == 201, created.text
    listed = await project.get("viewer", db, "collections", "c", "indexes")
    spec = next(s for s in listed.json()["data"] if s["name"] == created.json()["name"])
    if kept not in spec:
        pytest.skip(f"the server accepted {kept} but does not keep it: its listIndexes shows {spec}")
    assert spec[kept] == options[kept]


async def test_index_errors(project: Project, db: str) -> None:
    """Indexes of a missing collection are 404; bad keys are 400; '*' and _id_ cannot be dropped."""
    missing = await project.get("viewer", db, "collections", "nope", "indexes")
    assert missing.status_code == 404
    await insert(project, db, "c", [{"a": 1}])
    for body in ({"keys": {}}, {"keys": {"a": "sideways"}}, {"keys": {"a": 1}, "options": {"key": {"b": 1}}}):
        reply = await project.post("developer", db, "collections", "c", "indexes", body=body)
        assert reply.status_code == 400, body
    for name in ("*", "_id_"):
        reply = await project.delete("admin", db, "collections", "c", "indexes", name)
        assert reply.status_code == 400, name
    gone = await project.delete("admin", db, "collections", "nope", "indexes", "a_1")
    assert gone.status_code == 404


# ---- roles --------------------------------------------------------------------------------------


async def test_each_role_has_its_rights(project: Project, db: str) -> None:
    """Viewers read; developers also write documents, collections and indexes; only admins drop."""
    await insert(project, db, "c", [{"_id": 1}])
    reads = [
        ("GET", ()),
        ("GET", (db, "stats")),
        ("GET", (db, "collections")),
        ("GET", (db, "collections", "c", "documents")),
        ("GET", (db, "collections", "c", "documents", "1")),
        ("GET", (db, "collections", "c", "indexes")),
    ]
    for role in ("viewer", "developer", "admin", "owner"):
        for method, parts in reads:
            reply = await project.system.http.request(method, project.url(*parts), headers=project.headers(role))
            assert reply.status_code == 200, (role, parts, reply.text)
    viewer_writes = [
        await project.post("viewer", db, "collections", "c", "documents", body={"x": 1}),
        await project.put("viewer", db, "collections", "c", "documents", "1", body={"x": 1}),
        await project.delete("viewer", db, "collections", "c", "documents", "1"),
        await project.post("viewer", db, "collections", body={"name": "v"}),
        await project.post("viewer", db, "collections", "c", "indexes", body={"keys": {"x": 1}}),
    ]
    assert [r.status_code for r in viewer_writes] == [403] * 5
    assert all(error_of(r)["code"] == "permission_denied" for r in viewer_writes)
    assert (await project.post("developer", db, "collections", "c", "documents", body={"_id": 2})).status_code == 201
    assert (await project.post("developer", db, "collections", body={"name": "d"})).status_code == 201
    created = await project.post("developer", db, "collections", "c", "indexes", body={"keys": {"x": 1}})
    assert created.status_code == 201
    developer_drops = [
        await project.delete("developer", db, "collections", "d"),
        await project.delete("developer", db, "collections", "c", "indexes", "x_1"),
    ]
    assert [r.status_code for r in developer_drops] == [403, 403]
    assert (await project.delete("admin", db, "collections", "c", "indexes", "x_1")).status_code == 200
    assert (await project.delete("admin", db, "collections", "d")).status_code == 200


async def test_a_non_member_gets_404_for_the_project(project: Project, db: str) -> None:
    """Someone who is no member of the project learns nothing: 404, not 403."""
    reply = await project.system.http.get(project.url(), headers=project.system.headers("stranger-x"))
    assert reply.status_code == 404
    assert error_of(reply)["code"] == "not_found"


# ---- the gRPC API itself ------------------------------------------------------------------------


async def test_grpc_find_pages_and_checks_roles(project: Project, db: str) -> None:
    """FindDocuments over gRPC pages with next_cursor; a viewer's InsertDocuments is PERMISSION_DENIED."""
    await insert(project, db, "c", [{"_id": i} for i in range(5)])
    target = common_pb2.ConnectionTarget(project_ref=project.ref)
    stub = project.system.mongo
    metadata = project.system.metadata(project.users["viewer"])
    first = await stub.FindDocuments(
        mongo_pb2.FindDocumentsRequest(target=target, database=db, collection="c", limit=3, count=True),
        metadata=metadata,
    )
    assert len(first.documents) == 3
    assert first.count == 5
    rest = await stub.FindDocuments(
        mongo_pb2.FindDocumentsRequest(target=target, database=db, collection="c", cursor=first.next_cursor),
        metadata=metadata,
    )
    assert len(rest.documents) == 2
    assert not rest.next_cursor
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await stub.InsertDocuments(
            mongo_pb2.InsertDocumentsRequest(target=target, database=db, collection="c", documents=["{}"]),
            metadata=metadata,
        )
    assert caught.value.code() == grpc.StatusCode.PERMISSION_DENIED
