"""mongo-svc's limits against the real wire server: maxTimeMS on every command, the runaway
query stopped, the connection cap, and the JavaScript switch. Each test that needs other
settings runs its own mongo-svc beside the session's, on the same registry."""

from __future__ import annotations

import asyncio
import contextlib
import time
import uuid
from collections.abc import AsyncIterator, Mapping
from typing import Any

import grpc
import pytest
import pytest_asyncio
from harness import Servers, System, direct_mongo, own_service
from mongo_svc.server import create_server
from mongo_svc.settings import Settings
from pymongo import AsyncMongoClient, monitoring

from udb.common.v1 import common_pb2
from udb.errors import from_rpc_error
from udb.mongo.v1 import mongo_pb2, mongo_pb2_grpc

pytestmark = pytest.mark.integration


class Recorder(monitoring.CommandListener, monitoring.ConnectionPoolListener):
    """Records the commands and connection checkouts of the clients made while it is active.

    PyMongo's listeners are registered for the whole process, so it records only while a test
    turns it on, and only commands on the test's own database.
    """

    def __init__(self) -> None:
        self.active = False
        self.database = ""
        self.commands: list[tuple[str, Mapping[str, Any]]] = []
        self.checked_out = 0
        self.peak_checked_out = 0

    def started(self, event: monitoring.CommandStartedEvent) -> None:
        if self.active and event.database_name == self.database:
            self.commands.append((event.command_name, dict(event.command)))

    def succeeded(self, event: monitoring.CommandSucceededEvent) -> None:
        pass

    def failed(self, event: monitoring.CommandFailedEvent) -> None:
        pass

    def connection_checked_out(self, event: monitoring.ConnectionCheckedOutEvent) -> None:
        if self.active:
            self.checked_out += 1
            self.peak_checked_out = max(self.peak_checked_out, self.checked_out)

    def connection_checked_in(self, event: monitoring.ConnectionCheckedInEvent) -> None:
        if self.active:
            self.checked_out -= 1

    # The rest of the pool's events are of no interest here.
    def pool_created(self, event: Any) -> None:
        pass

    def pool_ready(self, event: Any) -> None:
        pass

    def pool_cleared(self, event: Any) -> None:
        pass

    def pool_closed(self, event: Any) -> None:
        pass

    def connection_created(self, event: Any) -> None:
        pass

    def connection_ready(self, event: Any) -> None:
        pass

    def connection_closed(self, event: Any) -> None:
        pass

    def connection_check_out_started(self, event: Any) -> None:
        pass

    def connection_check_out_failed(self, event: Any) -> None:
        pass


RECORDER = Recorder()


@pytest.fixture(scope="module")
def recorder() -> Recorder:
    """The recorder, registered once (for the clients made after this)."""
    monitoring.register(RECORDER)
    return RECORDER


@contextlib.asynccontextmanager
async def mongo_service(system: System, **env: str) -> AsyncIterator[mongo_pb2_grpc.MongoServiceStub]:
    """A mongo-svc of its own with extra settings, talking to the session's registry."""
    async with own_service(system, create_server, Settings, env) as channel:
        yield mongo_pb2_grpc.MongoServiceStub(channel)


@pytest_asyncio.fixture(scope="module")
async def project_ref(system: System, servers: Servers) -> str:
    ref, owner = await system.new_project()
    await system.add_connection(ref, owner, "mongodb", {"identifier": "main", "uri": servers.mongo_url})
    return ref


@pytest_asyncio.fixture(scope="module")
async def slow_collection(servers: Servers) -> AsyncIterator[str]:
    """A database whose collection 'big' takes the server a while to sort (20,000 documents)."""
    client: AsyncMongoClient[dict[str, Any]] = direct_mongo(servers.mongo_url)
    name = f"slow_{uuid.uuid4().hex[:10]}"
    pad = "p" * 200
    for start in range(0, 20_000, 2_000):
        await client[name]["big"].insert_many(
            [{"n": i, "key": f"{(i * 7919) % 20_000:05d}", "pad": pad} for i in range(start, start + 2_000)]
        )
    yield name
    await client.drop_database(name)
    await client.close()


async def test_every_command_carries_max_time_ms(system: System, project_ref: str, recorder: Recorder) -> None:
    """Each command mongo-svc sends (find, count, insert, update, delete, aggregate, index and
    collection commands) carries maxTimeMS within the configured limit."""
    database = f"mt_{uuid.uuid4().hex[:10]}"
    target = common_pb2.ConnectionTarget(project_ref=project_ref)
    metadata = system.metadata()
    recorder.database, recorder.commands, recorder.active = database, [], True
    try:
        async with mongo_service(system, MONGO_MAX_TIME_MS="7000") as stub:
            await stub.CreateCollection(
                mongo_pb2.CreateCollectionRequest(target=target, database=database, name="c"), metadata=metadata
            )
            common = {"target": target, "database": database, "collection": "c"}
            await stub.InsertDocuments(
                mongo_pb2.InsertDocumentsRequest(**common, documents=['{"_id": 1}', '{"_id": 2}']), metadata=metadata
            )
            await stub.FindDocuments(mongo_pb2.FindDocumentsRequest(**common, count=True), metadata=metadata)
            await stub.GetDocument(mongo_pb2.GetDocumentRequest(**common, id="1"), metadata=metadata)
            await stub.UpdateDocument(
                mongo_pb2.UpdateDocumentRequest(**common, id="1", update='{"$set": {"a": 1}}'), metadata=metadata
            )
            await stub.ReplaceDocument(
                mongo_pb2.ReplaceDocumentRequest(**common, id="1", document='{"b": 1}'), metadata=metadata
            )
            await stub.DeleteDocument(mongo_pb2.DeleteDocumentRequest(**common, id="2"), metadata=metadata)
            await stub.Aggregate(mongo_pb2.AggregateRequest(**common, pipeline="[]"), metadata=metadata)
            await stub.CreateIndex(mongo_pb2.CreateIndexRequest(**common, keys='{"a": 1}'), metadata=metadata)
            await stub.ListIndexes(mongo_pb2.ListIndexesRequest(**common), metadata=metadata)
            await stub.DropIndex(mongo_pb2.DropIndexRequest(**common, name="a_1"), metadata=metadata)
            await stub.ListCollections(
                mongo_pb2.ListCollectionsRequest(target=target, database=database), metadata=metadata
            )
            await stub.DropCollection(
                mongo_pb2.DropCollectionRequest(target=target, database=database, name="c"), metadata=metadata
            )
    finally:
        recorder.active = False
    names = {name for name, _ in recorder.commands}
    assert {"create", "insert", "find", "aggregate", "findAndModify", "delete", "createIndexes"} <= names
    assert {"listIndexes", "dropIndexes", "listCollections", "drop"} <= names
    for name, command in recorder.commands:
        assert "maxTimeMS" in command, name
        assert 0 < command["maxTimeMS"] <= 7000, (name, command["maxTimeMS"])


async def test_at_most_ten_connections_per_database(system: System, project_ref: str, recorder: Recorder) -> None:
    """Sixty concurrent calls on one connection record never hold more than 10 connections."""
    database = f"pool_{uuid.uuid4().hex[:10]}"
    target = common_pb2.ConnectionTarget(project_ref=project_ref)
    metadata = system.metadata()
    recorder.checked_out = recorder.peak_checked_out = 0
    recorder.active = True
    try:
        async with mongo_service(system) as stub:
            calls = [
                stub.InsertDocuments(
                    mongo_pb2.InsertDocumentsRequest(
                        target=target, database=database, collection="c", documents=[f'{{"_id": {i}}}']
                    ),
                    metadata=metadata,
                )
                for i in range(60)
            ]
            await asyncio.gather(*calls)
    finally:
        recorder.active = False
    assert 1 <= recorder.peak_checked_out <= 10
    client: AsyncMongoClient[dict[str, Any]] = direct_mongo(system.servers.mongo_url)
    assert await client[database]["c"].count_documents({}) == 60
    await client.drop_database(database)
    await client.close()


async def test_a_runaway_query_is_stopped_by_its_time_limit(
    system: System, project_ref: str, slow_collection: str
) -> None:
    """A find that runs past MONGO_MAX_TIME_MS is stopped and answered DEADLINE_EXCEEDED (HTTP 504)
    at about the limit, not when the query would have finished."""
    target = common_pb2.ConnectionTarget(project_ref=project_ref)
    async with mongo_service(system, MONGO_MAX_TIME_MS="300") as stub:
        # A first call that is quick (and connects the client) succeeds within the limit.
        await stub.ListCollections(
            mongo_pb2.ListCollectionsRequest(target=target, database=slow_collection), metadata=system.metadata()
        )
        started = time.monotonic()
        with pytest.raises(grpc.aio.AioRpcError) as caught:
            await stub.FindDocuments(
                mongo_pb2.FindDocumentsRequest(
                    target=target,
                    database=slow_collection,
                    collection="big",
                    filter='{"n": {"$gte": 0}}',
                    sort='{"key": -1, "pad": 1}',
                    count=True,
                ),
                metadata=system.metadata(),
            )
        elapsed = time.monotonic() - started
    assert caught.value.code() == grpc.StatusCode.DEADLINE_EXCEEDED
    assert from_rpc_error(caught.value).http_status == 504
    assert elapsed < 3


async def test_aggregate_max_time_ms_lowers_the_limit(system: System, project_ref: str, slow_collection: str) -> None:
    """The aggregate option maxTimeMS stops a slow pipeline early with 504."""
    reply = await system.http.post(
        f"/mongodb/{project_ref}/databases/{slow_collection}/collections/big/aggregate",
        json={
            "pipeline": [{"$match": {"n": {"$gte": 0}}}, {"$sort": {"key": 1, "pad": -1}}],
            "options": {"maxTimeMS": 50},
        },
        headers={"authorization": f"Bearer {system.service_token}"},
    )
    assert reply.status_code == 504, reply.text
    assert reply.json()["error"]["code"] == "deadline_exceeded"


async def test_javascript_passes_when_the_operator_enables_it(system: System, project_ref: str) -> None:
    """With MONGO_ALLOW_JAVASCRIPT=true a $where filter is not refused by mongo-svc: it reaches the
    server (which runs it, or says itself that it cannot)."""
    database = f"js_{uuid.uuid4().hex[:10]}"
    target = common_pb2.ConnectionTarget(project_ref=project_ref)
    request = mongo_pb2.FindDocumentsRequest(
        target=target, database=database, collection="c", filter='{"$where": "this.a == 1"}'
    )
    async with mongo_service(system, MONGO_ALLOW_JAVASCRIPT="true") as stub:
        try:
            await stub.FindDocuments(request, metadata=system.metadata())
        except grpc.aio.AioRpcError as exc:
            error = from_rpc_error(exc)
            assert error.code == "invalid_argument"
            assert "codeName" in error.details, "refused by the server, not by mongo-svc"
            assert "disabled" not in error.message
    # The session's service (JavaScript off) refuses the same filter itself.
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await system.mongo.FindDocuments(request, metadata=system.metadata())
    assert from_rpc_error(caught.value).details["operator"] == "$where"


async def test_a_call_past_its_grpc_deadline_is_logged_deadline_exceeded(
    system: System, project_ref: str, slow_collection: str, caplog: pytest.LogCaptureFixture
) -> None:
    """When the caller's gRPC deadline runs out before mongo-svc's own time limit, the caller gets
    DEADLINE_EXCEEDED and mongo-svc's access log line says DEADLINE_EXCEEDED, not OK."""
    caplog.set_level("INFO", logger="udb.access")
    target = common_pb2.ConnectionTarget(project_ref=project_ref)
    metadata = (*system.metadata(), ("x-request-id", f"late-{uuid.uuid4().hex[:8]}"))
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await system.mongo.FindDocuments(
            mongo_pb2.FindDocumentsRequest(
                target=target, database=slow_collection, collection="big", sort='{"key": -1, "pad": 1}', count=True
            ),
            metadata=metadata,
            timeout=0.3,
        )
    assert caught.value.code() == grpc.StatusCode.DEADLINE_EXCEEDED
    request_id = metadata[-1][1]
    for _ in range(50):
        lines = [
            r
            for r in caplog.records
            if getattr(r, "request_id", "") == request_id and getattr(r, "method", "").endswith("/FindDocuments")
        ]
        if lines:
            break
        await asyncio.sleep(0.05)
    assert [line.code for line in lines] == ["DEADLINE_EXCEEDED"]  # type: ignore[attr-defined]
