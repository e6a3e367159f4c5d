"""The gateway's engine calls on the multiplexed stream (gateway.calls.call over udb.mux.client.MuxChannel),
seen from HTTP: the engine's own refusal inside a frame, the route's deadline, a client that goes away, and an
engine killed and started again."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass

import asyncpg
import httpx
import pytest
import pytest_asyncio
from harness import EngineProcess, Servers, System, eventually, own_gateway

pytestmark = pytest.mark.integration


@dataclass
class PgProject:
    ref: str
    owner: str
    viewer: str
    db_url: str


@pytest_asyncio.fixture(scope="module")
async def pg_project(system: System) -> AsyncIterator[PgProject]:
    """A project on a fresh Postgres database, with a viewer (whose SQL runs as a read-only login)."""
    db_url = await system.servers.create_database(f"udb_gwmux_{uuid.uuid4().hex[:8]}")
    ref, owner = await system.new_project()
    await system.add_connection(
        ref, owner, "pg-meta", {"identifier": "main", "uri": db_url, "options": await system.servers.create_reader()}
    )
    viewer = f"viewer-{uuid.uuid4().hex[:6]}"
    await system.add_member(ref, owner, viewer, "viewer")
    yield PgProject(ref, owner, viewer, db_url)


async def _running(db_url: str, marker: str) -> int:
    """How many statements carrying ``marker`` the database is running now."""
    connection = await asyncpg.connect(db_url)
    try:
        count: int = await connection.fetchval(
            "SELECT count(*) FROM pg_stat_activity WHERE query LIKE $1 AND pid <> pg_backend_pid()", f"%{marker}%"
        )
    finally:
        await connection.close()
    return count


async def test_a_viewers_write_is_refused_by_the_engine_inside_a_frame(system: System, pg_project: PgProject) -> None:
    """A viewer's writing SQL reaches pg-svc as an entry of a multiplexed frame and comes back 403 (the engine's
    read-only rule), while the owner's same statement succeeds; no call fell back to unary."""
    mux = system.app.state.backends.channels["pg-svc"]
    frames_before = mux.frames_sent
    table = f"t_{uuid.uuid4().hex[:8]}"
    body = {"query": f"CREATE TABLE {table} (id int)"}
    refused = await system.http.post(
        f"/pg-meta/{pg_project.ref}/query", json=body, headers=system.headers(pg_project.viewer)
    )
    assert refused.status_code == 403, refused.text  # postgres-meta's body: the database's own refusal
    assert refused.json()["code"] == "25006", refused.text  # read_only_sql_transaction
    allowed = await system.http.post(
        f"/pg-meta/{pg_project.ref}/query", json=body, headers=system.headers(pg_project.owner)
    )
    assert allowed.status_code == 200, allowed.text
    assert mux.frames_sent >= frames_before + 2
    assert not mux.unary_only


async def test_a_call_past_the_routes_deadline_answers_504_and_ends_on_the_engine(
    system: System, pg_project: PgProject
) -> None:
    """With a 1 s write deadline, a 10 s statement answers 504 at about 1 s, and the deadline travels in the frame:
    the database stops running the statement soon after (not 10 s later)."""
    marker = f"deadline_{uuid.uuid4().hex[:8]}"
    async with own_gateway(system, WRITE_DEADLINE_S="1", RATE_LIMIT_ENABLED="false") as (http, _):
        started = time.monotonic()
        reply = await http.post(
            f"/pg-meta/{pg_project.ref}/query",
            json={"query": f"SELECT pg_sleep(10) /* {marker} */"},
            headers=system.headers(pg_project.owner),
        )
        answered = time.monotonic() - started
    assert reply.status_code == 504, reply.text
    assert answered < 5

    async def ended() -> bool:
        return await _running(pg_project.db_url, marker) == 0

    await eventually(ended, limit_s=5)
    assert time.monotonic() - started < 8


async def test_a_client_that_goes_away_cancels_its_engine_call(system: System, pg_project: PgProject) -> None:
    """A client that disconnects while its statement runs cancels the gateway's call: the cancel travels in the
    stream and the database stops running the statement long before it would have finished."""
    marker = f"gone_{uuid.uuid4().hex[:8]}"
    started = time.monotonic()
    with pytest.raises(httpx.ReadTimeout):
        await system.http.post(
            f"/pg-meta/{pg_project.ref}/query",
            json={"query": f"SELECT pg_sleep(20) /* {marker} */"},
            headers=system.headers(pg_project.owner),
            timeout=1.0,
        )

    async def ended() -> bool:
        return await _running(pg_project.db_url, marker) == 0

    await eventually(ended, limit_s=8)
    assert time.monotonic() - started < 12


async def test_an_engine_killed_under_load_fails_the_requests_in_flight_as_503_and_the_next_succeed(
    system: System, servers: Servers, engine: EngineProcess
) -> None:
    """Through a gateway whose redis-svc is a process of its own: SIGKILL under load answers 503 (unavailable)
    to the requests in flight and nothing else; once redis-svc is back, the next requests succeed (on a new
    stream), without restarting the gateway."""
    ref, owner = await system.new_project()
    await system.add_connection(ref, owner, "redis", {"identifier": "main", "uri": servers.redis_url})
    headers = system.headers(owner)
    #: (started, ended, status) of every request; 404 is the answer (the key is absent).
    outcomes: list[tuple[float, float, int]] = []
    errors: list[str] = []
    stop = asyncio.Event()
    async with own_gateway(
        system, REDIS_SVC_ADDR=f"127.0.0.1:{engine.port}", RATE_LIMIT_ENABLED="false", READ_DEADLINE_S="20"
    ) as (http, _):

        async def caller() -> None:
            while not stop.is_set():
                started = time.monotonic()
                reply = await http.get(f"/redis/{ref}/keys/mux:absent", headers=headers)
                outcomes.append((started, time.monotonic(), reply.status_code))
                if reply.status_code != 404:
                    errors.append(reply.text)
                    await asyncio.sleep(0.01)

        callers = [asyncio.create_task(caller()) for _ in range(8)]
        try:

            async def answering() -> bool:
                return len(outcomes) >= 16

            await eventually(answering)
            assert {status for *_, status in outcomes} == {404}
            killing_at, restarted_at = await engine.kill_in_flight_and_restart(servers.redis_url)
            deadline = restarted_at + 30
            while time.monotonic() < deadline:
                if any(started > restarted_at and status == 404 for started, _, status in outcomes):
                    break
                await asyncio.sleep(0.05)
        finally:
            stop.set()
            await asyncio.gather(*callers)
    assert {status for *_, status in outcomes} == {404, 503}, errors[:3]
    assert all('"code":"unavailable"' in text for text in errors), errors[:3]
    in_flight = [status for started, ended, status in outcomes if started < killing_at < ended]
    assert in_flight and set(in_flight) == {503}, in_flight
    assert any(started > restarted_at and status == 404 for started, _, status in outcomes)
