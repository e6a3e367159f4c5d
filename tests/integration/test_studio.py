"""Supabase Studio in front of the gateway, as its data layer really calls it
(apps/studio/data/fetchers.ts and data/sql/execute-sql-query.ts): its exact SQL request and its
way of reading replies, CORS from a console on another origin (directly and through Envoy), and
rate limits that let a console's bursts through."""

from __future__ import annotations

import asyncio
import dataclasses
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import devstack
import httpx
import pytest
import pytest_asyncio
from harness import System, envoy_for, own_gateway, tls_context

pytestmark = pytest.mark.integration

#: The name Studio's SQL editor gives its session (x-pg-application-name).
SQL_EDITOR = "supabase/dashboard-query-editor"
CONSOLE = "http://localhost:8082"


def studio_headers(system: System, user: str, *, application_name: str = SQL_EDITOR) -> dict[str, str]:
    """The headers of one Studio request: its data layer's, and executeSql's."""
    return {
        "Accept": "application/json",
        "Content-Type": "application/json",
        "X-Request-Id": str(uuid.uuid4()),
        "Authorization": f"Bearer {system.token(user)}",
        "x-connection-encrypted": "U2FsdGVkX1+studio-encrypted-connection-string",
        "x-pg-application-name": application_name,
    }


def read_as_studio(reply: httpx.Response) -> tuple[Any, str | None, dict[str, Any]]:
    """What Studio makes of a reply: the data, or the message its handleError throws (the
    top-level ``msg`` or ``message``, nothing else), and the error object its SQL editor keeps
    (after fetchers.ts's onResponse sets ``code`` to the status)."""
    if reply.is_success:
        return reply.json(), None, {}
    body = reply.json()
    body["code"] = reply.status_code
    message = body.get("msg") if isinstance(body.get("msg"), str) else body.get("message")
    return None, message if isinstance(message, str) else None, body


@pytest_asyncio.fixture(scope="module")
async def studio_project(system: System) -> AsyncIterator[tuple[str, str, str]]:
    """A project whose primary Postgres connection is a fresh database; (ref, owner, db url)."""
    db_url = await system.servers.create_database(f"udb_studio_{uuid.uuid4().hex[:8]}")
    ref, owner = await system.new_project()
    await system.add_connection(ref, owner, "pg-meta", {"identifier": "studio", "uri": db_url})
    yield ref, owner, db_url


async def test_studios_exact_sql_request_is_served(system: System, studio_project: tuple[str, str, str]) -> None:
    """Studio's body (query, disable_statement_timeout), query string (?key=) and headers are
    accepted; the session is named after x-pg-application-name while the SQL runs, in
    pg_stat_activity, and the name does not stay on the pooled connection."""
    ref, owner, _ = studio_project
    sql = "select application_name, 1 + 1 as two from pg_stat_activity where pid = pg_backend_pid()"
    reply = await system.http.post(
        f"/pg-meta/{ref}/query",
        params={"key": "sql-editor-query-1"},
        json={"query": sql, "disable_statement_timeout": True},
        headers=studio_headers(system, owner),
    )
    data, message, _ = read_as_studio(reply)
    assert (reply.status_code, message) == (200, None), reply.text
    assert data == [{"application_name": SQL_EDITOR, "two": 2}]
    assert reply.headers["x-request-id"]
    for _ in range(6):
        plain = await system.http.post(f"/pg-meta/{ref}/query", json={"query": sql}, headers=system.headers(owner))
        assert plain.json()[0]["application_name"] == "udb-pg-svc"


async def test_studio_reads_sql_errors_as_its_sql_editor_does(
    system: System, studio_project: tuple[str, str, str]
) -> None:
    """A SQL error reaches handleError with a message and the SQL editor with formattedError."""
    ref, owner, _ = studio_project
    reply = await system.http.post(
        f"/pg-meta/{ref}/query",
        params={"key": ""},
        json={"query": "select *\nfrom nowhere", "disable_statement_timeout": False},
        headers=studio_headers(system, owner, application_name="supabase/dashboard"),
    )
    _, message, error = read_as_studio(reply)
    assert reply.status_code == 400
    assert message == 'relation "nowhere" does not exist'
    assert error["formattedError"] == (
        'ERROR:  42P01: relation "nowhere" does not exist\nLINE 2: from nowhere\n             ^\n'
    )
    assert error["error"] == error["formattedError"]


@pytest.mark.parametrize(
    ("method", "path", "headers", "status"),
    [
        ("POST", "/pg-meta/{ref}/query", {}, 401),
        ("GET", "/pg-meta/{ref}/tables", {"authorization": "Bearer forged"}, 401),
        ("GET", "/pg-meta/nope-{ref}/schemas", None, 404),
        ("GET", "/pg-meta/{ref}/connections/nope", None, 404),
        ("GET", "/redis/{ref}/keys", None, 404),
        ("DELETE", "/projects", None, 405),
        ("GET", "/no/such/route", None, 404),
    ],
)
async def test_every_error_has_the_message_studio_shows(
    system: System,
    studio_project: tuple[str, str, str],
    method: str,
    path: str,
    headers: dict[str, str] | None,
    status: int,
) -> None:
    """Whatever the route and the failure, Studio's handleError finds a message to show."""
    ref, owner, _ = studio_project
    reply = await system.http.request(
        method,
        path.format(ref=ref),
        json={"query": "select 1"} if method == "POST" else None,
        headers=system.headers(owner) if headers is None else headers,
    )
    _, message, _ = read_as_studio(reply)
    assert reply.status_code == status, reply.text
    assert message, reply.text


# ---- CORS --------------------------------------------------------------------------------

PREFLIGHT = {
    "origin": CONSOLE,
    "access-control-request-method": "PATCH",
    "access-control-request-headers": "authorization,content-type,x-request-id,x-connection-encrypted,"
    "x-pg-application-name,traceparent",
}


def _assert_preflight_allowed(reply: httpx.Response) -> None:
    assert reply.status_code == 200, reply.text
    assert reply.headers["access-control-allow-origin"] == CONSOLE
    assert reply.headers["access-control-allow-credentials"] == "true"
    assert set(reply.headers["access-control-allow-methods"].split(", ")) >= {"GET", "POST", "PUT", "PATCH", "DELETE"}
    allowed = {h.strip().lower() for h in reply.headers["access-control-allow-headers"].split(",")}
    assert allowed >= set(PREFLIGHT["access-control-request-headers"].split(","))
    assert int(reply.headers["access-control-max-age"]) >= 600


async def test_cors_lets_a_local_studio_in_with_its_headers_and_credentials(
    system: System, studio_project: tuple[str, str, str]
) -> None:
    """With make dev's origins, a Studio on any localhost port passes the preflight (PATCH, its
    headers, credentials, cached) and reads the reply and its error bodies; another origin
    does not."""
    ref, owner, _ = studio_project
    async with own_gateway(system, CORS_ORIGINS=devstack.DEV_CORS_ORIGINS) as (http, _):
        _assert_preflight_allowed(await http.options(f"/pg-meta/{ref}/tables", headers=PREFLIGHT))
        other_port = await http.options(
            f"/pg-meta/{ref}/query", headers={**PREFLIGHT, "origin": "http://127.0.0.1:3000"}
        )
        assert other_port.headers["access-control-allow-origin"] == "http://127.0.0.1:3000"
        for origin in ("https://localhost:8082", "http://localhost.evil.example", "http://evil.example"):
            refused = await http.options(f"/pg-meta/{ref}/tables", headers={**PREFLIGHT, "origin": origin})
            assert refused.status_code == 400
            assert "access-control-allow-origin" not in refused.headers
            assert refused.json()["message"].startswith("CORS preflight refused")
        reply = await http.post(
            f"/pg-meta/{ref}/query",
            json={"query": "select 1 as one"},
            headers={**studio_headers(system, owner), "origin": CONSOLE},
        )
        assert reply.json() == [{"one": 1}]
        assert reply.headers["access-control-allow-origin"] == CONSOLE
        assert reply.headers["access-control-allow-credentials"] == "true"
        assert "retry-after" in reply.headers["access-control-expose-headers"]
        failed = await http.post(f"/pg-meta/{ref}/query", json={}, headers={"origin": CONSOLE})
        assert failed.status_code == 401
        assert failed.headers["access-control-allow-origin"] == CONSOLE


async def test_cors_through_envoy(system: System, studio_project: tuple[str, str, str], tmp_path: Path) -> None:
    """The preflight and the request pass Envoy's edge (TLS) unchanged."""
    ref, owner, _ = studio_project
    async with own_gateway(system, CORS_ORIGINS="http://localhost:*") as (http, _):
        # Envoy in front of that gateway instead of the session's.
        behind = dataclasses.replace(system, ports={**system.ports, "gateway": http.base_url.port})
        async with (
            envoy_for(behind, tmp_path) as envoy,
            httpx.AsyncClient(base_url=envoy.urls["envoy-tls"], verify=tls_context(envoy), timeout=10) as client,
        ):
            _assert_preflight_allowed(await client.options(f"/pg-meta/{ref}/query", headers=PREFLIGHT))
            reply = await client.post(
                f"/pg-meta/{ref}/query",
                json={"query": "select 2 as two"},
                headers={**studio_headers(system, owner), "origin": CONSOLE},
            )
            assert reply.json() == [{"two": 2}]
            assert reply.headers["access-control-allow-origin"] == CONSOLE


async def test_no_origin_is_allowed_by_default(system: System) -> None:
    """Without CORS_ORIGINS a production gateway answers no preflight of another origin."""
    async with own_gateway(system, CORS_ORIGINS="") as (http, _):
        reply = await http.options("/projects", headers=PREFLIGHT)
        assert "access-control-allow-origin" not in reply.headers


# ---- rate limits ---------------------------------------------------------------------------


async def test_a_consoles_burst_of_writes_is_served(system: System, studio_project: tuple[str, str, str]) -> None:
    """With the default limits, a user's 200 writes fired at once (a paste into the table
    editor) are all served."""
    ref, owner, _ = studio_project
    async with own_gateway(system) as (http, _):
        headers = system.headers(owner)
        semaphore = asyncio.Semaphore(25)

        async def write(n: int) -> int:
            async with semaphore:
                reply = await http.post(f"/pg-meta/{ref}/query", json={"query": f"select {n} as n"}, headers=headers)
                return reply.status_code

        statuses = await asyncio.gather(*(write(n) for n in range(200)))
    assert statuses == [200] * 200


async def test_sustained_abuse_is_limited(system: System) -> None:
    """A user who keeps writing far past the default rate gets 429 with Retry-After."""
    async with own_gateway(system) as (http, _):
        headers = {**system.headers(f"abuser-{uuid.uuid4().hex[:6]}"), "content-type": "application/json"}
        limited = None
        for _ in range(1500):
            reply = await http.post("/organizations", content=b"not json", headers=headers)
            if reply.status_code == 429:
                limited = reply
                break
        assert limited is not None
        assert int(limited.headers["retry-after"]) >= 1
        assert limited.json()["error"]["code"] == "rate_limited"
        assert limited.json()["message"] == limited.json()["error"]["message"]


async def test_the_edge_default_lets_a_burst_through(system: System, tmp_path: Path) -> None:
    """Envoy's edge bucket, at its deployed defaults, passes a burst of 300 requests (as fast as
    25 connections send them) to the gateway, which answers each, here with its own 404."""
    limits = httpx.Limits(max_connections=25)
    async with (
        envoy_for(system, tmp_path) as envoy,
        httpx.AsyncClient(
            base_url=envoy.urls["envoy-tls"], verify=tls_context(envoy), timeout=30, limits=limits
        ) as client,
    ):
        replies = await asyncio.gather(*(client.get("/no-such-route") for _ in range(300)))
    assert {reply.status_code for reply in replies} == {404}
    assert {reply.json()["message"] for reply in replies} == {"no such route"}


async def test_pg_meta_errors_through_envoy_keep_postgres_metas_shape(
    system: System, studio_project: tuple[str, str, str], tmp_path: Path
) -> None:
    """Envoy's own 429 on a postgres-meta route is postgres-meta's {error, message}; elsewhere
    the API's shape with its top-level message."""
    ref, owner, _ = studio_project
    async with (
        envoy_for(system, tmp_path, rate_limit_per_s=1, rate_limit_burst=1) as envoy,
        httpx.AsyncClient(base_url=envoy.urls["envoy-tls"], verify=tls_context(envoy), timeout=10) as client,
    ):
        replies = [await client.get(f"/pg-meta/{ref}/schemas", headers=system.headers(owner)) for _ in range(3)]
        limited = [reply for reply in replies if reply.status_code == 429]
        assert limited
        assert limited[0].json() == {
            "error": "too many requests: try again shortly",
            "message": "too many requests: try again shortly",
        }
        await asyncio.sleep(1.1)
        api = [await client.get("/projects", headers=system.headers(owner)) for _ in range(3)]
        api_limited = [reply for reply in api if reply.status_code == 429]
        assert api_limited
        assert api_limited[0].json()["message"] == api_limited[0].json()["error"]["message"]
