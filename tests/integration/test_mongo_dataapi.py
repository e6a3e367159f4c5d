"""The Atlas Data API-compatible actions (`POST /mongodb/[ref]/action/...`) end to end, through
the real gateway, mongo-svc and the wire server (FerretDB 1.24 here, or MONGO_URL): the request
and reply shapes of the Data API's documentation, and a client's request as it was sent."""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest
import pytest_asyncio
from bson import ObjectId
from harness import Servers, System, audit_rows
from mongo_members import mongo_project
from pymongo import AsyncMongoClient

pytestmark = pytest.mark.integration

RawClient = AsyncMongoClient[dict[str, Any]]


class DataApi:
    """A project with a MongoDB connection, one member of each role, and the Data API's base URL."""

    def __init__(self, system: System, ref: str, users: dict[str, str]) -> None:
        self.system = system
        self.ref = ref
        self.users = users

    async def action(
        self, role: str, name: str, body: Any, *, accept: str = "application/json", **headers: str
    ) -> httpx.Response:
        return await self.system.http.post(
            f"/mongodb/{self.ref}/action/{name}",
            content=json.dumps(body),
            headers={
                **self.system.headers(self.users[role]),
                "content-type": "application/json",
                "accept": accept,
                **headers,
            },
        )


@pytest_asyncio.fixture(scope="module")
async def api(system: System, servers: Servers) -> DataApi:
    return DataApi(system, *await mongo_project(system, servers.mongo_url))


def body(db: str, **fields: Any) -> dict[str, Any]:
    return {"dataSource": "mongodb-atlas", "database": db, "collection": "tasks", **fields}


async def test_a_data_api_clients_insert_one_as_sent_works_unchanged(api: DataApi, db: str, raw: RawClient) -> None:
    """The docs' insertOne request, with the headers a Data API client sent (Access-Control-Request-Headers,
    Content-Type application/json), answers 201 {"insertedId"} and writes the document."""
    reply = await api.system.http.post(
        f"/mongodb/{api.ref}/action/insertOne",
        # As the mongodb-data-api client and the docs' curl sent it: JSON text, these headers.
        content=(
            '{"dataSource":"mongodb-atlas","database":"DB","collection":"tasks",'
            '"document":{"status":"open","text":"Do the dishes","due":{"$date":"2024-05-01T00:00:00Z"}}}'
        ).replace("DB", db),
        headers={
            **api.system.headers(api.users["developer"]),
            "Content-Type": "application/json",
            "Access-Control-Request-Headers": "*",
        },
    )
    assert reply.status_code == 201, reply.text
    inserted = reply.json()["insertedId"]
    assert set(inserted) == {"$oid"}
    stored = await raw[db]["tasks"].find_one({"_id": ObjectId(inserted["$oid"])})
    assert stored is not None
    assert stored["text"] == "Do the dishes"
    assert stored["due"].year == 2024  # $date arrived as a BSON date, not a sub-document


async def test_find_one_answers_document_or_null_relaxed_or_canonical_by_accept(
    api: DataApi, db: str, raw: RawClient
) -> None:
    """findOne answers {"document": doc} in relaxed EJSON, canonical for Accept application/ejson
    (with that content type), and {"document": null} when nothing matches."""
    await raw[db]["tasks"].insert_one({"_id": 7, "status": "open", "n": 3})
    relaxed = await api.action("viewer", "findOne", body(db, filter={"_id": 7}, projection={"n": 1}))
    assert relaxed.status_code == 200, relaxed.text
    assert relaxed.json() == {"document": {"_id": 7, "n": 3}}
    canonical = await api.action("viewer", "findOne", body(db, filter={"_id": 7}), accept="application/ejson")
    assert canonical.headers["content-type"].startswith("application/ejson")
    assert canonical.json()["document"]["n"] == {"$numberInt": "3"}
    none = await api.action("viewer", "findOne", body(db, filter={"status": "missing"}))
    assert none.json() == {"document": None}
    # A body sent as application/ejson, in canonical Extended JSON.
    ejson_body = await api.action(
        "viewer",
        "findOne",
        body(db, filter={"_id": {"$numberInt": "7"}}),
        **{"content-type": "application/ejson"},
    )
    assert ejson_body.json()["document"]["status"] == "open"


async def test_insert_many_then_find_with_filter_sort_skip_limit_projection(api: DataApi, db: str) -> None:
    """insertMany answers {"insertedIds"} in order; find applies filter, projection, sort, skip and
    limit and answers {"documents"}."""
    documents = [{"_id": i, "status": "open" if i % 2 else "done", "i": i} for i in range(10)]
    inserted = await api.action("developer", "insertMany", body(db, documents=documents))
    assert inserted.status_code == 201, inserted.text
    assert inserted.json() == {"insertedIds": list(range(10))}
    found = await api.action(
        "viewer",
        "find",
        body(db, filter={"status": "open"}, projection={"_id": 0, "i": 1}, sort={"i": -1}, skip=1, limit=3),
    )
    assert found.status_code == 200, found.text
    assert found.json() == {"documents": [{"i": 7}, {"i": 5}, {"i": 3}]}


async def test_find_gathers_more_than_one_service_page_into_one_reply(api: DataApi, db: str, raw: RawClient) -> None:
    """find's reply holds every match up to its limit even past the 1000 documents of one page."""
    await raw[db]["tasks"].insert_many([{"_id": i} for i in range(1500)])
    found = await api.action("viewer", "find", body(db, sort={"_id": 1}, limit=1200))
    assert found.status_code == 200, found.text
    ids = [document["_id"] for document in found.json()["documents"]]
    assert ids == list(range(1200))
    everything = await api.action("viewer", "find", body(db))
    assert len(everything.json()["documents"]) == 1500


async def test_update_one_many_and_replace_one_answer_counts_and_upserted_id(
    api: DataApi, db: str, raw: RawClient
) -> None:
    """updateOne, updateMany and replaceOne answer matchedCount and modifiedCount, and upsertedId
    only when upsert inserted a document."""
    await raw[db]["tasks"].insert_many([{"_id": i, "status": "open"} for i in range(3)])
    one = await api.action("developer", "updateOne", body(db, filter={"_id": 0}, update={"$set": {"status": "done"}}))
    assert one.status_code == 200, one.text
    assert one.json() == {"matchedCount": 1, "modifiedCount": 1}
    many = await api.action(
        "developer", "updateMany", body(db, filter={"status": "open"}, update={"$set": {"status": "stale"}})
    )
    assert many.json() == {"matchedCount": 2, "modifiedCount": 2}
    upserted = await api.action(
        "developer",
        "updateOne",
        body(db, filter={"_id": {"$numberLong": "99"}}, update={"$set": {"status": "new"}}, upsert=True),
        accept="application/ejson",
    )
    assert upserted.json() == {"matchedCount": 0, "modifiedCount": 0, "upsertedId": {"$numberLong": "99"}}
    replaced = await api.action(
        "developer", "replaceOne", body(db, filter={"_id": 1}, replacement={"text": "Clean the kitchen"})
    )
    assert replaced.json() == {"matchedCount": 1, "modifiedCount": 1}
    assert await raw[db]["tasks"].find_one({"_id": 1}) == {"_id": 1, "text": "Clean the kitchen"}


async def test_delete_one_and_delete_many_answer_deleted_count(api: DataApi, db: str, raw: RawClient) -> None:
    """deleteOne deletes the first match, deleteMany every match; each answers {"deletedCount"}."""
    await raw[db]["tasks"].insert_many([{"_id": i, "status": "done"} for i in range(4)])
    one = await api.action("developer", "deleteOne", body(db, filter={"status": "done"}))
    assert one.json() == {"deletedCount": 1}
    many = await api.action("developer", "deleteMany", body(db, filter={"status": "done"}))
    assert many.json() == {"deletedCount": 3}
    assert await raw[db]["tasks"].count_documents({}) == 0


async def test_aggregate_answers_every_result(api: DataApi, db: str, raw: RawClient) -> None:
    """aggregate runs the pipeline and answers {"documents"} with every result."""
    await raw[db]["tasks"].insert_many([{"user": u, "n": 1} for u in ("ada", "ada", "bob")])
    reply = await api.action(
        "viewer",
        "aggregate",
        body(db, pipeline=[{"$group": {"_id": "$user", "n": {"$sum": "$n"}}}, {"$sort": {"_id": 1}}]),
    )
    assert reply.status_code == 200, reply.text
    assert reply.json() == {"documents": [{"_id": "ada", "n": 2}, {"_id": "bob", "n": 1}]}


async def test_viewers_read_but_every_write_action_needs_a_developer(api: DataApi, db: str, raw: RawClient) -> None:
    """A viewer's writes are 403 with the API's error shape and change nothing; reads are allowed."""
    await raw[db]["tasks"].insert_one({"_id": 1, "status": "open"})
    writes = {
        "insertOne": {"document": {"a": 1}},
        "insertMany": {"documents": [{"a": 1}]},
        "updateOne": {"filter": {}, "update": {"$set": {"a": 1}}},
        "updateMany": {"filter": {}, "update": {"$set": {"a": 1}}},
        "replaceOne": {"filter": {}, "replacement": {"a": 1}},
        "deleteOne": {"filter": {}},
        "deleteMany": {"filter": {}},
        "aggregate": {"pipeline": [{"$out": "copy"}]},
    }
    for name, fields in writes.items():
        reply = await api.action("viewer", name, body(db, **fields))
        assert reply.status_code == 403, (name, reply.text)
        assert reply.json()["message"] == reply.json()["error"]["message"]
    assert await raw[db]["tasks"].find_one({}) == {"_id": 1, "status": "open"}
    assert (await api.action("viewer", "find", body(db))).status_code == 200


async def test_bad_requests_are_400_with_a_message(api: DataApi, db: str) -> None:
    """A missing dataSource, an unknown field, a filter that is not an object, an update without
    operators and server-side JavaScript are 400 with a top-level message."""
    cases = [
        ("findOne", {"database": db, "collection": "tasks"}, "dataSource"),
        ("find", body(db, filters={}), "unknown fields: filters"),
        ("find", body(db, filter=[1]), "filter"),
        ("updateOne", body(db, filter={}, update={"status": "x"}), "update operators"),
        ("updateOne", body(db, update={"$set": {"a": 1}}), "filter is required"),
        ("find", body(db, filter={"$where": "sleep(1000)"}), "$where"),
    ]
    for name, fields, expected in cases:
        reply = await api.action("developer", name, fields)
        assert reply.status_code == 400, (name, reply.text)
        assert expected in reply.json()["message"], reply.text


async def test_write_actions_are_audited_with_their_namespace(api: DataApi, db: str) -> None:
    """A write action is audited as action.<name> on database.collection, never with a value; a read
    sent as POST (findOne) is not audited."""
    reply = await api.action("developer", "insertOne", body(db, document={"secret": "s3cr3t"}))
    assert reply.status_code == 201
    rows = await audit_rows(
        api.system,
        api.ref,
        api.users["owner"],
        until=lambda rows: any(r["operation"] == "action.insertOne" for r in rows),
    )
    read = await api.action("developer", "findOne", body(db, filter={"secret": "s3cr3t"}))
    assert read.status_code == 200
    row = next(r for r in rows if r["operation"] == "action.insertOne")
    assert row["target"] == f"{db}.tasks"
    assert row["engine"] == "mongodb"
    assert "s3cr3t" not in json.dumps(rows)
    # A read sent as POST is not audited.
    after = await audit_rows(api.system, api.ref, api.users["owner"], until=lambda rows: True)
    assert not any(r["operation"] == "action.findOne" for r in after)
