"""The MongoDB explorer routes end to end (explain, index usage, schema of a sample, NDJSON export
and import) through the real gateway, mongo-svc and the wire server (FerretDB 1.24 here, or
MONGO_URL). Where FerretDB lacks a MongoDB feature, the test skips with what FerretDB answered."""

from __future__ import annotations

import asyncio
import json
import subprocess
from collections.abc import AsyncIterator
from typing import Any

import grpc
import httpx
import pytest
import pytest_asyncio
from harness import Servers, System, audit_rows, grpcurl
from mongo_members import mongo_project
from mongo_svc.explorer.schema import lacks_sample
from pymongo import AsyncMongoClient
from pymongo.errors import OperationFailure

from udb.common.v1 import common_pb2
from udb.mongo.v1 import explorer_pb2, explorer_pb2_grpc

pytestmark = pytest.mark.integration

RawClient = AsyncMongoClient[dict[str, Any]]


class Explorer:
    """A project with a MongoDB connection and one member of each role."""

    def __init__(self, system: System, ref: str, users: dict[str, str]) -> None:
        self.system = system
        self.ref = ref
        self.users = users

    def url(self, db: str, collection: str, route: str) -> str:
        return f"/mongodb/{self.ref}/databases/{db}/collections/{collection}/{route}"

    def headers(self, role: str) -> dict[str, str]:
        return self.system.headers(self.users[role])

    async def get(self, role: str, db: str, collection: str, route: str, **params: Any) -> httpx.Response:
        return await self.system.http.get(self.url(db, collection, route), params=params, headers=self.headers(role))

    async def post(self, role: str, db: str, collection: str, route: str, body: Any) -> httpx.Response:
        return await self.system.http.post(self.url(db, collection, route), json=body, headers=self.headers(role))


@pytest_asyncio.fixture(scope="module")
async def explorer(system: System, servers: Servers) -> Explorer:
    return Explorer(system, *await mongo_project(system, servers.mongo_url))


def skip_if_not_implemented(reply: httpx.Response) -> None:
    """Skips when the server said it lacks the feature (FerretDB: code 238, NotImplemented),
    quoting its answer."""
    if reply.status_code == 400 and reply.json()["error"]["details"].get("codeName") == "NotImplemented":
        pytest.skip(f"the server lacks this MongoDB feature: {reply.json()['message']}")


# ---- explain ----------------------------------------------------------------------------------


async def test_explain_of_a_find_and_a_pipeline_answers_the_query_planner(
    explorer: Explorer, db: str, raw: RawClient
) -> None:
    """A viewer's explain of a find and of a pipeline answers the server's queryPlanner."""
    await raw[db]["c"].insert_many([{"status": "a", "n": i} for i in range(5)])
    find = await explorer.post("viewer", db, "c", "explain", {"filter": {"status": "a"}, "sort": {"n": -1}, "limit": 2})
    skip_if_not_implemented(find)
    assert find.status_code == 200, find.text
    assert "queryPlanner" in find.json()
    assert "$clusterTime" not in find.json()
    pipeline = await explorer.post("viewer", db, "c", "explain", {"pipeline": [{"$match": {"status": "a"}}]})
    skip_if_not_implemented(pipeline)
    assert pipeline.status_code == 200, pipeline.text
    plan = pipeline.json()
    # MongoDB answers queryPlanner at the top, or per stage ("stages") when the pipeline is not one find.
    assert "queryPlanner" in plan or "stages" in plan


async def test_explain_with_execution_stats_is_for_developers(explorer: Explorer, db: str, raw: RawClient) -> None:
    """executionStats and allPlansExecution run the query: a viewer is refused (403), a
    developer gets executionStats where the server gives it."""
    await raw[db]["c"].insert_many([{"n": i} for i in range(5)])
    for verbosity in ("executionStats", "allPlansExecution"):
        refused = await explorer.post("viewer", db, "c", "explain", {"filter": {}, "verbosity": verbosity})
        assert refused.status_code == 403, refused.text
    reply = await explorer.post("developer", db, "c", "explain", {"filter": {"n": 1}, "verbosity": "executionStats"})
    skip_if_not_implemented(reply)
    assert reply.status_code == 200, reply.text
    if "executionStats" not in reply.json():
        pytest.skip(f"the server ignores explain's verbosity (it answered only {sorted(reply.json())})")
    assert reply.json()["executionStats"]["nReturned"] == 1


async def test_explain_refuses_bad_input(explorer: Explorer, db: str) -> None:
    """An unknown verbosity, a find and a pipeline together, a JavaScript filter, and a $out
    pipeline explained with execution are 400; a viewer's $out pipeline is 403."""
    cases = [
        ({"filter": {}, "verbosity": "everything"}, 400),
        ({"filter": {}, "pipeline": []}, 400),
        ({"filter": {"$where": "1"}}, 400),
        ({"pipeline": [{"$out": "x"}], "verbosity": "executionStats"}, 400),
    ]
    for body, status in cases:
        reply = await explorer.post("developer", db, "c", "explain", body)
        assert reply.status_code == status, (body, reply.text)
    viewer_out = await explorer.post("viewer", db, "c", "explain", {"pipeline": [{"$out": "x"}]})
    assert viewer_out.status_code == 403, viewer_out.text


# ---- index usage ------------------------------------------------------------------------------


async def test_index_usage_lists_each_index_with_its_use(explorer: Explorer, db: str, raw: RawClient) -> None:
    """index-usage lists every index with its spec and its $indexStats use, counting queries that
    used it."""
    await raw[db]["c"].insert_many([{"email": f"{i}@x"} for i in range(3)])
    await raw[db]["c"].create_index("email", name="email_1")
    reply = await explorer.get("viewer", db, "c", "index-usage")
    skip_if_not_implemented(reply)
    assert reply.status_code == 200, reply.text
    data = reply.json()["data"]
    assert {index["name"] for index in data} == {"_id_", "email_1"}
    email = next(index for index in data if index["name"] == "email_1")
    assert email["spec"]["key"] == {"email": 1}
    before = email["usage"]["ops"]
    await raw[db]["c"].find_one({"email": "1@x"}, hint="email_1")
    after = await explorer.get("viewer", db, "c", "index-usage")
    used = next(index for index in after.json()["data"] if index["name"] == "email_1")
    assert used["usage"]["ops"] == before + 1
    assert used["usage"]["since"]


async def test_index_usage_of_a_missing_collection_is_404(explorer: Explorer, db: str) -> None:
    """index-usage of a collection that does not exist is 404, as the index list is."""
    reply = await explorer.get("viewer", db, "missing", "index-usage")
    assert reply.status_code == 404, reply.text


# ---- schema of a sample -----------------------------------------------------------------------


async def sample_refused(raw: RawClient, db: str) -> str | None:
    """The server's answer refusing $sample as unsupported (FerretDB's NotImplemented), or None
    where the server has it."""
    try:
        await (await raw[db]["probe"].aggregate([{"$sample": {"size": 1}}])).to_list()
    except OperationFailure as exc:
        if lacks_sample(exc):
            return str((exc.details or {}).get("errmsg"))
        raise
    return None


async def test_schema_of_a_sample_shows_fields_types_shares_and_examples(
    explorer: Explorer, db: str, raw: RawClient
) -> None:
    """A viewer's schema of a sample lists each path (nested ones too) with its share, its types
    and their shares, and examples as Extended JSON; method says how the documents were chosen
    (random by $sample, first where the server has no $sample)."""
    documents: list[dict[str, Any]] = [{"name": f"n{i}", "age": i, "address": {"city": "Paris"}} for i in range(6)]
    documents += [{"name": 7, "tags": ["a", "b"]} for _ in range(2)]
    await raw[db]["people"].insert_many(documents)
    reply = await explorer.get("viewer", db, "people", "schema", sample=100)
    assert reply.status_code == 200, reply.text
    body = reply.json()
    assert body["sampled"] == 8
    assert body["method"] == ("first" if await sample_refused(raw, db) else "random")
    assert body["truncated"] is False
    found = {item["path"]: item for item in body["fields"]}
    assert found["age"]["probability"] == 0.75
    assert found["address.city"]["probability"] == 1.0
    assert [(t["name"], t["count"]) for t in found["name"]["types"]] == [("string", 6), ("int", 2)]
    assert found["_id"]["types"][0]["name"] == "objectId"
    assert set(found["_id"]["types"][0]["examples"][0]) == {"$oid"}
    assert found["tags[]"]["types"][0]["examples"] == ["a", "b"]


async def test_schema_sample_size_and_filter_bound_what_is_read(explorer: Explorer, db: str, raw: RawClient) -> None:
    """sample bounds the documents analysed and filter narrows them, by either method."""
    await raw[db]["c"].insert_many([{"kind": "a" if i < 30 else "b", "i": i} for i in range(50)])
    reply = await explorer.get("viewer", db, "c", "schema", sample=10)
    assert reply.status_code == 200, reply.text
    assert reply.json()["sampled"] == 10
    filtered = await explorer.get("viewer", db, "c", "schema", filter='{"kind": "b"}')
    assert filtered.json()["sampled"] == 20
    kind = next(item for item in filtered.json()["fields"] if item["path"] == "kind")
    assert kind["types"][0]["examples"] == ["b"]


async def test_schema_reads_the_first_documents_where_the_server_lacks_sample(
    explorer: Explorer, db: str, raw: RawClient
) -> None:
    """Where the server refuses $sample as unsupported, the schema is of the filter's first
    documents (method "first"), as many as sample asks, matching the filter."""
    await raw[db]["c"].insert_many([{"i": i, "even": i % 2 == 0} for i in range(50)])
    if await sample_refused(raw, db) is None:
        pytest.skip("the server has $sample: the schema never reads the first documents instead")
    reply = await explorer.get("viewer", db, "c", "schema", sample=5, filter='{"even": true, "i": {"$gte": 20}}')
    assert reply.status_code == 200, reply.text
    body = reply.json()
    assert (body["method"], body["sampled"]) == ("first", 5)
    found = {item["path"]: item for item in body["fields"]}
    assert found["even"]["types"][0]["examples"] == [True]
    assert all(value >= 20 and value % 2 == 0 for value in found["i"]["types"][0]["examples"])
    canonical = await explorer.get("viewer", db, "c", "schema", sample=3, ejson="canonical")
    assert (canonical.json()["method"], canonical.json()["sampled"]) == ("first", 3)
    assert set(canonical.json()["fields"][0]["types"][0]["examples"][0]) == {"$oid"}


async def test_schema_draws_a_random_sample_where_the_server_has_sample(
    explorer: Explorer, db: str, raw: RawClient
) -> None:
    """Where the server has $sample, the schema is of a random sample (method "random")."""
    await raw[db]["c"].insert_many([{"i": i} for i in range(50)])
    refused = await sample_refused(raw, db)
    if refused is not None:
        pytest.skip(f"the server lacks $sample: {refused}")
    reply = await explorer.get("viewer", db, "c", "schema", sample=5)
    assert reply.status_code == 200, reply.text
    assert (reply.json()["method"], reply.json()["sampled"]) == ("random", 5)


async def test_schema_answers_the_filters_own_error_not_a_fallback(explorer: Explorer, db: str, raw: RawClient) -> None:
    """A filter the server refuses is 400 with the server's answer about the filter, whichever
    method was tried: an error other than $sample unsupported is never hidden by a fallback."""
    await raw[db]["c"].insert_many([{"i": i} for i in range(3)])
    reply = await explorer.get("viewer", db, "c", "schema", filter='{"i": {"$nosuch": 1}}')
    assert reply.status_code == 400, reply.text
    assert "$nosuch" in reply.json()["message"]
    assert reply.json()["error"]["details"]["codeName"] == "BadValue"


async def test_schema_refuses_a_sample_out_of_bounds_and_javascript(explorer: Explorer, db: str) -> None:
    """A sample of 0 or over 10000, a filter that is not JSON, and a JavaScript filter are 400."""
    for params in ({"sample": 10_001}, {"sample": 0}, {"filter": "{"}, {"filter": '{"$where": "1"}'}):
        reply = await explorer.get("viewer", db, "c", "schema", **params)
        assert reply.status_code == 400, (params, reply.text)


# ---- NDJSON export and import -----------------------------------------------------------------


async def test_export_streams_the_filtered_documents_as_ndjson(explorer: Explorer, db: str, raw: RawClient) -> None:
    """export answers one Extended JSON document per line for the filter, sort, projection and
    limit, in several chunks for a large result; canonical on request."""
    await raw[db]["c"].insert_many([{"_id": i, "even": i % 2 == 0, "pad": "x" * 500} for i in range(2000)])
    url = explorer.url(db, "c", "export")
    params = {"filter": '{"even": true}', "sort": '{"_id": -1}', "projection": '{"pad": 0}'}
    async with explorer.system.http.stream("GET", url, params=params, headers=explorer.headers("viewer")) as reply:
        assert reply.status_code == 200
        assert reply.headers["content-type"].startswith("application/x-ndjson")
        lines = [json.loads(line) async for line in reply.aiter_lines() if line]
    assert len(lines) == 1000
    assert lines[0] == {"_id": 1998, "even": True}
    assert [line["_id"] for line in lines] == list(range(1998, -1, -2))
    canonical = await explorer.get("viewer", db, "c", "export", limit=2, ejson="canonical", sort='{"_id": 1}')
    assert [json.loads(line)["_id"] for line in canonical.text.splitlines()] == [
        {"$numberInt": "0"},
        {"$numberInt": "1"},
    ]


async def test_export_of_a_bad_filter_is_an_error_reply_not_a_stream(explorer: Explorer, db: str) -> None:
    """A filter that is not Extended JSON, or runs JavaScript, is 400 before any line is sent."""
    for bad in ("{", '{"$where": "1"}'):
        reply = await explorer.get("viewer", db, "c", "export", filter=bad)
        assert reply.status_code == 400, reply.text
        assert reply.json()["message"]


async def test_import_inserts_lines_in_batches_and_reports_refused_lines(
    explorer: Explorer, db: str, raw: RawClient
) -> None:
    """import inserts every good line (Extended JSON types kept, past one batch), skips empty
    lines, and reports bad JSON, non-objects and duplicate _ids with their line numbers."""
    good = [json.dumps({"_id": i, "at": {"$date": "2024-01-01T00:00:00Z"}}) for i in range(2500)]
    body_lines = [*good[:3], "{not json", "", "[1, 2]", json.dumps({"_id": 0}), *good[3:]]
    reply = await explorer.system.http.post(
        explorer.url(db, "c", "import"),
        content="\n".join(body_lines).encode(),
        headers={**explorer.headers("developer"), "content-type": "application/x-ndjson"},
    )
    assert reply.status_code == 200, reply.text
    report = reply.json()
    assert report["inserted"] == 2500
    assert report["lines"] == 2503
    assert report["refused_count"] == 3
    assert [refused["line"] for refused in report["refused"]] == [4, 6, 7]
    assert "duplicate key" in report["refused"][2]["reason"].lower() or "E11000" in report["refused"][2]["reason"]
    assert report["stopped"] is False
    assert await raw[db]["c"].count_documents({}) == 2500
    stored = await raw[db]["c"].find_one({"_id": 2499})
    assert stored is not None
    assert stored["at"].year == 2024


async def test_import_with_stop_on_error_stops_at_the_first_refused_line(
    explorer: Explorer, db: str, raw: RawClient
) -> None:
    """With stop_on_error the lines before the first refused one are inserted and none after."""
    body = "\n".join(['{"_id": 1}', '{"_id": 2}', "oops", '{"_id": 3}']) + "\n"
    reply = await explorer.system.http.post(
        explorer.url(db, "c", "import"),
        params={"stop_on_error": "true"},
        content=body.encode(),
        headers=explorer.headers("developer"),
    )
    assert reply.status_code == 200, reply.text
    assert reply.json()["stopped"] is True
    assert reply.json()["refused"][0]["line"] == 3
    assert sorted(d["_id"] for d in await raw[db]["c"].find({}).to_list()) == [1, 2]


async def test_import_is_for_developers_and_audited(explorer: Explorer, db: str, raw: RawClient) -> None:
    """A viewer's import is 403 and writes nothing; a developer's is audited as collection.import
    on db.collection."""
    refused = await explorer.system.http.post(
        explorer.url(db, "c", "import"), content=b'{"a": 1}\n', headers=explorer.headers("viewer")
    )
    assert refused.status_code == 403, refused.text
    assert await raw[db]["c"].count_documents({}) == 0
    done = await explorer.system.http.post(
        explorer.url(db, "c", "import"), content=b'{"a": 1}\n', headers=explorer.headers("developer")
    )
    assert done.status_code == 200, done.text
    rows = await audit_rows(
        explorer.system,
        explorer.ref,
        explorer.users["owner"],
        until=lambda rows: any(r["operation"] == "collection.import" for r in rows),
    )
    assert next(r for r in rows if r["operation"] == "collection.import")["target"] == f"{db}.c"


# ---- gRPC and the service's surface -----------------------------------------------------------


async def test_grpc_import_joins_lines_split_across_chunks(explorer: Explorer, db: str, raw: RawClient) -> None:
    """ImportDocuments over gRPC: lines cut anywhere between chunks are joined, a last line
    without a newline counts, and a stream that does not start with the target is refused."""
    stub = explorer_pb2_grpc.MongoExplorerServiceStub(explorer.system.channel("mongo-svc"))
    metadata = explorer.system.metadata(explorer.users["developer"])
    body = b"".join(json.dumps({"_id": i, "s": "\u00e9" * i}).encode() + b"\n" for i in range(50)) + b'{"_id": 50}'
    start = explorer_pb2.ImportTarget(
        target=common_pb2.ConnectionTarget(project_ref=explorer.ref), database=db, collection="c"
    )

    async def chunks() -> AsyncIterator[explorer_pb2.ImportChunk]:
        yield explorer_pb2.ImportChunk(start=start)
        for offset in range(0, len(body), 7):  # 7 bytes: cuts lines and UTF-8 sequences alike
            yield explorer_pb2.ImportChunk(data=body[offset : offset + 7])

    reply = await stub.ImportDocuments(chunks(), metadata=metadata)
    assert (reply.inserted, reply.lines, reply.refused_count) == (51, 51, 0)
    assert (await raw[db]["c"].find_one({"_id": 49}) or {})["s"] == "\u00e9" * 49

    async def headless() -> AsyncIterator[explorer_pb2.ImportChunk]:
        yield explorer_pb2.ImportChunk(data=b"{}\n")

    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await stub.ImportDocuments(headless(), metadata=metadata)
    assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT


@pytest.mark.parametrize(
    ("name", "service"), [("mongo-svc", "udb.mongo.v1.MongoExplorerService"), ("pg-svc", "udb.pg.v1.PgExplainService")]
)
async def test_the_new_services_are_listed_by_reflection(system: System, name: str, service: str) -> None:
    """grpcurl lists MongoExplorerService on mongo-svc and PgExplainService on pg-svc by reflection."""
    listed = await asyncio.to_thread(
        subprocess.run,
        [grpcurl(), "-plaintext", f"127.0.0.1:{system.ports[name]}", "list"],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert listed.returncode == 0, listed.stderr
    assert service in listed.stdout.split()


async def test_openapi_lists_the_explorer_and_data_api_routes(system: System) -> None:
    """/openapi.json documents every new route."""
    paths = (await system.http.get("/openapi.json")).json()["paths"]
    collection = "/mongodb/{ref}/databases/{db}/collections/{coll}"
    for route in ("explain", "index-usage", "schema", "export", "import"):
        assert f"{collection}/{route}" in paths, route
    for action in ("findOne", "find", "insertOne", "insertMany", "updateOne", "updateMany", "replaceOne"):
        assert f"/mongodb/{{ref}}/action/{action}" in paths, action
    assert "/mongodb/{ref}/action/deleteMany" in paths
    assert "/mongodb/{ref}/action/aggregate" in paths
    assert "/pg-meta/{ref}/explain" in paths
