"""Connection records through the gateway's routes, for each engine, against the real servers:
create (fields and uri), get, list and its paging, partial update, delete, test, and bad input."""

from __future__ import annotations

import urllib.parse
import uuid
from typing import Any

import asyncpg
import devstack
import grpc
import pytest
from harness import Servers, System

from udb.registry.v1 import registry_pb2

pytestmark = pytest.mark.integration

ENGINES = ("redis", "mongodb", "pg-meta")
DATABASE_TYPES = {"redis": "redis", "mongodb": "mongodb", "pg-meta": "postgres"}
CONNECTION_FIELDS = {
    "id",
    "project_ref",
    "database_type",
    "identifier",
    "host",
    "port",
    "username",
    "database",
    "tls",
    "options",
    "is_primary",
    "status",
    "has_password",
    "created_at",
    "updated_at",
}
#: Field bodies of a record per engine (not reachable: only the record is under test here).
FIELDS = {
    "redis": {"host": "cache.internal", "port": 6380, "username": "app", "database": 2},
    "mongodb": {"host": "mongo.internal", "port": 27018, "username": "app", "database": "shop"},
    "pg-meta": {"host": "pg.internal", "port": 5433, "username": "app", "database": "shop"},
}
URIS = {
    "redis": ("redis://app:{pw}@cache.internal:6380/2", {"port": 6380, "database": 2, "tls": False}),
    "mongodb": (
        "mongodb://app:{pw}@m1.internal:27018,m2.internal:27019/shop?replicaSet=rs0&tls=true",
        {
            "port": 27018,
            "database": "shop",
            "tls": True,
            "options": {"replicaSet": "rs0", "hosts": ["m1.internal:27018", "m2.internal:27019"]},
        },
    ),
    "pg-meta": (
        "postgresql://app:{pw}@pg.internal:5433/shop?sslmode=require",
        {"port": 5433, "database": "shop", "tls": True, "options": {"sslmode": "require"}},
    ),
}


def real_uri(servers: Servers, engine: str) -> str:
    return {"redis": servers.redis_url, "mongodb": servers.mongo_url, "pg-meta": servers.pg_url}[engine]


async def platform_rows(system: System, ref: str) -> list[asyncpg.Record]:
    """The project's connection rows, read straight from the platform database."""
    conn = await asyncpg.connect(system.platform_url)
    try:
        return await conn.fetch(
            "SELECT c.* FROM platform.database_connections c JOIN platform.projects p ON p.id = c.project_id "
            "WHERE p.ref = $1 ORDER BY c.identifier",
            ref,
        )
    finally:
        await conn.close()


@pytest.mark.parametrize("engine", ENGINES)
async def test_fields_record_lifecycle(system: System, engine: str) -> None:
    """Create from fields, get, list, partial PUT (only what is sent changes; a move supplies its password
    again), password removal, DELETE."""
    ref, owner = await system.new_project()
    headers = system.headers(owner)
    password = f"pw-{uuid.uuid4().hex}"
    body = {"identifier": "main", **FIELDS[engine], "password": password, "options": {"connectTimeoutMS": 5000}}
    created = await system.http.post(f"/{engine}/{ref}/connections", json=body, headers=headers)
    assert created.status_code == 201, created.text
    record = created.json()
    assert set(record) == CONNECTION_FIELDS
    assert password not in created.text
    expected = {k: v for k, v in FIELDS[engine].items()}
    assert {k: record[k] for k in expected} == expected
    assert record["database_type"] == DATABASE_TYPES[engine]
    assert record["project_ref"] == ref
    assert record["options"] == {"connectTimeoutMS": 5000}
    assert record["has_password"] is True
    assert record["is_primary"] is True  # the first of its engine
    assert record["status"] == "unknown"
    assert record["tls"] is False

    got = await system.http.get(f"/{engine}/{ref}/connections/{record['id']}", headers=headers)
    assert got.status_code == 200
    assert got.json() == record
    listed = await system.http.get(f"/{engine}/{ref}/connections", headers=headers)
    assert listed.status_code == 200
    assert listed.json() == {"data": [record], "next_cursor": None}
    for other in ENGINES:
        if other != engine:
            assert (await system.http.get(f"/{other}/{ref}/connections", headers=headers)).json()["data"] == []
            wrong = await system.http.get(f"/{other}/{ref}/connections/{record['id']}", headers=headers)
            assert wrong.status_code == 404

    changed = await system.http.put(
        f"/{engine}/{ref}/connections/{record['id']}",
        json={"port": 7000, "tls": True, "password": password},
        headers=headers,
    )
    assert changed.status_code == 200, changed.text
    updated = changed.json()
    assert updated["port"] == 7000
    assert updated["tls"] is True
    unchanged = {k: v for k, v in record.items() if k not in ("port", "tls", "updated_at")}
    assert {k: updated[k] for k in unchanged} == unchanged
    assert updated["updated_at"] > record["updated_at"]
    # The password survived the update untouched (the stored ciphertext was not even rewritten).
    before = {r["identifier"]: r for r in await platform_rows(system, ref)}["main"]
    renamed = await system.http.put(
        f"/{engine}/{ref}/connections/{record['id']}", json={"identifier": "primary-db"}, headers=headers
    )
    assert renamed.json()["identifier"] == "primary-db"
    after = {r["identifier"]: r for r in await platform_rows(system, ref)}["primary-db"]
    assert after["secret_encrypted"] == before["secret_encrypted"]

    cleared = await system.http.put(
        f"/{engine}/{ref}/connections/{record['id']}", json={"password": ""}, headers=headers
    )
    assert cleared.json()["has_password"] is False
    assert (await platform_rows(system, ref))[0]["secret_encrypted"] is None

    deleted = await system.http.delete(f"/{engine}/{ref}/connections/{record['id']}", headers=headers)
    assert deleted.status_code == 200
    assert deleted.json()["id"] == record["id"]
    gone = await system.http.get(f"/{engine}/{ref}/connections/{record['id']}", headers=headers)
    assert gone.status_code == 404
    assert gone.json()["error"]["code"] == "not_found"
    again = await system.http.delete(f"/{engine}/{ref}/connections/{record['id']}", headers=headers)
    assert again.status_code == 404
    assert await platform_rows(system, ref) == []


@pytest.mark.parametrize("engine", ENGINES)
async def test_uri_form_is_parsed_and_fields_override_it(system: System, engine: str) -> None:
    """A uri fills the fields (auth, port, db, TLS, options); fields beside it win; a uri in a PUT replaces them
    (and, moving the record, its stored password)."""
    ref, owner = await system.new_project()
    headers = system.headers(owner)
    password = f"pw-{uuid.uuid4().hex}"
    template, expected = URIS[engine]
    created = await system.http.post(
        f"/{engine}/{ref}/connections",
        json={"identifier": "from-uri", "uri": template.format(pw=password)},
        headers=headers,
    )
    assert created.status_code == 201, created.text
    record = created.json()
    assert password not in created.text
    assert record["has_password"] is True
    assert record["username"] == "app"
    for name, value in expected.items():
        assert record[name] == value, name

    override = await system.http.post(
        f"/{engine}/{ref}/connections",
        json={"identifier": "override", "uri": template.format(pw=password), "port": 6000, "username": "other"},
        headers=headers,
    )
    assert override.status_code == 201, override.text
    assert override.json()["port"] == 6000
    assert override.json()["username"] == "other"
    assert override.json()["is_primary"] is False  # the project has a primary of this engine already

    # The uri's fields replace the record's; a uri of another host without a password drops the stored
    # one (a secret follows its target: test_security.py has the rule in full).
    host_only = {
        "redis": "redis://h2.internal:6390",
        "mongodb": "mongodb://h2.internal",
        "pg-meta": "postgres://h2.internal/x",
    }
    put = await system.http.put(
        f"/{engine}/{ref}/connections/{record['id']}", json={"uri": host_only[engine]}, headers=headers
    )
    assert put.status_code == 200, put.text
    assert put.json()["host"] == "h2.internal"
    assert put.json()["username"] is None
    assert put.json()["has_password"] is False


@pytest.mark.parametrize("engine", ENGINES)
async def test_connection_test_reports_and_records_the_outcome(system: System, servers: Servers, engine: str) -> None:
    """POST test reaches the real server (ok, version, latency) and records status; a PUT to a dead port takes
    effect at once (ok: false, unavailable), and so does the PUT back (with the password again: a move drops it)."""
    ref, owner = await system.new_project()
    headers = system.headers(owner)
    uri = real_uri(servers, engine)
    record = await system.add_connection(ref, owner, engine, {"identifier": "real", "uri": uri})
    url = f"/{engine}/{ref}/connections/{record['id']}"
    tested = await system.http.post(f"{url}/test", headers=headers)
    assert tested.status_code == 200
    assert tested.json()["ok"] is True, tested.text
    assert tested.json()["server_version"]
    assert (await system.http.get(url, headers=headers)).json()["status"] == "ok"

    dead = devstack.free_port()
    assert (await system.http.put(url, json={"port": dead}, headers=headers)).json()["status"] == "unknown"
    failed = await system.http.post(f"{url}/test", headers=headers)
    assert failed.status_code == 200
    assert failed.json()["ok"] is False
    assert failed.json()["error"]["code"] == "unavailable"
    assert (await system.http.get(url, headers=headers)).json()["status"] == "error"

    password = urllib.parse.urlsplit(uri).password
    await system.http.put(url, json={"port": record["port"], "password": password}, headers=headers)
    back = await system.http.post(f"{url}/test", headers=headers)
    assert back.json()["ok"] is True, back.text


async def test_primary_rules(system: System) -> None:
    """The first record of an engine is primary; a second primary is 409 on create and on PUT; unsetting the
    primary first lets another take its place."""
    ref, owner = await system.new_project()
    headers = system.headers(owner)
    first = await system.add_connection(ref, owner, "redis", {"identifier": "a", "host": "h1.internal"})
    second = await system.add_connection(ref, owner, "redis", {"identifier": "b", "host": "h2.internal"})
    assert (first["is_primary"], second["is_primary"]) == (True, False)
    other_engine = await system.add_connection(ref, owner, "mongodb", {"identifier": "a", "host": "m.internal"})
    assert other_engine["is_primary"] is True  # one primary per engine

    refused = await system.http.post(
        f"/redis/{ref}/connections",
        json={"identifier": "c", "host": "h3.internal", "is_primary": True},
        headers=headers,
    )
    assert refused.status_code == 409
    assert refused.json()["error"]["code"] == "already_exists"
    assert "primary" in refused.json()["error"]["message"]
    promote = await system.http.put(
        f"/redis/{ref}/connections/{second['id']}", json={"is_primary": True}, headers=headers
    )
    assert promote.status_code == 409
    assert [r["identifier"] for r in await platform_rows(system, ref) if r["is_primary"]] == ["a", "a"]

    await system.http.put(f"/redis/{ref}/connections/{first['id']}", json={"is_primary": False}, headers=headers)
    promoted = await system.http.put(
        f"/redis/{ref}/connections/{second['id']}", json={"is_primary": True}, headers=headers
    )
    assert promoted.status_code == 200
    assert promoted.json()["is_primary"] is True


def _bad_inputs() -> list[tuple[str, str, str, dict[str, Any] | None, int, str]]:
    """(name, method, path under /{engine}/{ref}, body, status, error code)."""
    return [
        ("missing identifier", "POST", "connections", {"host": "h.internal"}, 400, "invalid_argument"),
        ("bad identifier", "POST", "connections", {"identifier": "a b", "host": "h.internal"}, 400, "invalid_argument"),
        (
            "duplicate identifier",
            "POST",
            "connections",
            {"identifier": "taken", "host": "h.internal"},
            409,
            "already_exists",
        ),
        (
            "second primary",
            "POST",
            "connections",
            {"identifier": "p2", "host": "h.internal", "is_primary": True},
            409,
            "already_exists",
        ),
        ("no host", "POST", "connections", {"identifier": "x"}, 400, "invalid_argument"),
        ("bad host", "POST", "connections", {"identifier": "x", "host": "no such host!"}, 400, "invalid_argument"),
        (
            "port too high",
            "POST",
            "connections",
            {"identifier": "x", "host": "h.internal", "port": 65536},
            400,
            "invalid_argument",
        ),
        (
            "port zero",
            "POST",
            "connections",
            {"identifier": "x", "host": "h.internal", "port": 0},
            400,
            "invalid_argument",
        ),
        (
            "port as text",
            "POST",
            "connections",
            {"identifier": "x", "host": "h.internal", "port": "6379"},
            400,
            "invalid_argument",
        ),
        (
            "uri port out of range",
            "POST",
            "connections",
            {"identifier": "x", "uri": "{scheme}://h.internal:70000"},
            400,
            "invalid_argument",
        ),
        ("bad uri", "POST", "connections", {"identifier": "x", "uri": "not a uri"}, 400, "invalid_argument"),
        (
            "uri of another engine",
            "POST",
            "connections",
            {"identifier": "x", "uri": "{other}://h.internal"},
            400,
            "invalid_argument",
        ),
        (
            "unknown field",
            "POST",
            "connections",
            {"identifier": "x", "host": "h.internal", "colour": "red"},
            400,
            "invalid_argument",
        ),
        (
            "options not an object",
            "POST",
            "connections",
            {"identifier": "x", "host": "h.internal", "options": [1]},
            400,
            "invalid_argument",
        ),
        (
            "metadata host",
            "POST",
            "connections",
            {"identifier": "x", "host": "169.254.169.254"},
            400,
            "invalid_argument",
        ),
        (
            "metadata host in uri",
            "POST",
            "connections",
            {"identifier": "x", "uri": "{scheme}://[fd00:ec2::254]:80"},
            400,
            "invalid_argument",
        ),
        ("not json", "POST", "connections", None, 400, "invalid_argument"),
        ("put duplicate identifier", "PUT", "connections/{id}", {"identifier": "taken"}, 409, "already_exists"),
        ("put second primary", "PUT", "connections/{id}", {"is_primary": True}, 409, "already_exists"),
        ("put port out of range", "PUT", "connections/{id}", {"port": 100000}, 400, "invalid_argument"),
        ("put bad uri", "PUT", "connections/{id}", {"uri": "{other}://h.internal"}, 400, "invalid_argument"),
        ("put metadata host", "PUT", "connections/{id}", {"host": "169.254.169.254"}, 400, "invalid_argument"),
        ("put empty host", "PUT", "connections/{id}", {"host": ""}, 400, "invalid_argument"),
        ("put unknown id", "PUT", f"connections/{uuid.uuid4()}", {"port": 1}, 404, "not_found"),
        ("get malformed id", "GET", "connections/not-a-uuid", None, 404, "not_found"),
        ("delete unknown id", "DELETE", f"connections/{uuid.uuid4()}", None, 404, "not_found"),
        ("test unknown id", "POST", f"connections/{uuid.uuid4()}/test", None, 404, "not_found"),
    ]


SCHEMES = {"redis": "redis", "mongodb": "mongodb", "pg-meta": "postgresql"}
OTHER_SCHEMES = {"redis": "mongodb", "mongodb": "postgresql", "pg-meta": "redis"}


@pytest.mark.parametrize("engine", ENGINES)
@pytest.mark.parametrize(
    ("name", "method", "path", "body", "status", "code"), _bad_inputs(), ids=lambda v: v if isinstance(v, str) else None
)
async def test_bad_input_is_a_clear_4xx_and_writes_nothing(
    system: System, engine: str, name: str, method: str, path: str, body: dict[str, Any] | None, status: int, code: str
) -> None:
    """Each bad request gets API.md's status and code with a message, and leaves the records as they were."""
    ref, owner = await system.new_project()
    headers = system.headers(owner)
    await system.add_connection(ref, owner, engine, {"identifier": "taken", "host": "h0.internal"})
    other = await system.add_connection(ref, owner, engine, {"identifier": "other", "host": "h1.internal"})
    rows_before = await platform_rows(system, ref)
    url = f"/{engine}/{ref}/" + path.format(id=other["id"])
    if body is None:
        reply = await system.http.request(
            method, url, content=b"{not json" if name == "not json" else None, headers=headers
        )
    else:
        text = {
            k: v.format(scheme=SCHEMES[engine], other=OTHER_SCHEMES[engine]) if isinstance(v, str) else v
            for k, v in body.items()
        }
        reply = await system.http.request(method, url, json=text, headers=headers)
    assert reply.status_code == status, reply.text
    error = reply.json()["error"]
    assert error["code"] == code
    assert error["message"]
    assert await platform_rows(system, ref) == rows_before


async def test_unknown_project_and_engine(system: System) -> None:
    """An unknown project is 404 on every connection route; an unknown engine segment is 404 naming the
    engines; over gRPC an unknown database type is INVALID_ARGUMENT."""
    _, user = await system.new_project()
    headers = system.headers(user)
    missing = f"nope-{uuid.uuid4().hex[:8]}"
    for method, path, body in [
        ("GET", "connections", None),
        ("POST", "connections", {"identifier": "x", "host": "h.internal"}),
        ("GET", f"connections/{uuid.uuid4()}", None),
        ("PUT", f"connections/{uuid.uuid4()}", {"port": 1}),
        ("DELETE", f"connections/{uuid.uuid4()}", None),
        ("POST", f"connections/{uuid.uuid4()}/test", None),
    ]:
        reply = await system.http.request(method, f"/redis/{missing}/{path}", json=body, headers=headers)
        assert reply.status_code == 404, (method, path)
        assert reply.json()["error"]["code"] == "not_found"
    ref, owner = await system.new_project()
    engine = await system.http.get(f"/cassandra/{ref}/connections", headers=system.headers(owner))
    assert engine.status_code == 404
    assert "redis, mongodb or pg-meta" in engine.json()["error"]["message"]
    bad_ref = await system.http.get("/redis/NOT_A_REF/connections", headers=system.headers(owner))
    assert bad_ref.status_code == 400
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await system.registry.CreateConnection(
            registry_pb2.CreateConnectionRequest(project_ref=ref, identifier="x", host="h.internal", database_type=7),  # type: ignore[arg-type]
            metadata=system.metadata(owner),
        )
    assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await system.registry.CreateConnection(
            registry_pb2.CreateConnectionRequest(project_ref=ref, identifier="x", host="h.internal"),
            metadata=system.metadata(owner),
        )
    assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert await platform_rows(system, ref) == []


@pytest.mark.parametrize("engine", ENGINES)
async def test_list_paging(system: System, engine: str) -> None:
    """limit and cursor walk the whole list once, in identifier order; the last page has no cursor; bad
    limits and forged cursors are 400."""
    ref, owner = await system.new_project()
    headers = system.headers(owner)
    names = [f"c{i:02d}" for i in range(7)]
    for name in reversed(names):
        await system.add_connection(ref, owner, engine, {"identifier": name, "host": "h.internal"})
    await system.add_connection(
        ref, owner, OTHER_SCHEMES[engine].replace("postgresql", "pg-meta"), {"identifier": "zz", "host": "h.internal"}
    )
    seen: list[str] = []
    cursor: str | None = None
    pages = 0
    while True:
        params = {"limit": "3", **({"cursor": cursor} if cursor else {})}
        reply = await system.http.get(f"/{engine}/{ref}/connections", params=params, headers=headers)
        assert reply.status_code == 200
        page = reply.json()
        assert len(page["data"]) <= 3
        seen.extend(item["identifier"] for item in page["data"])
        pages += 1
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert seen == names
    assert pages == 3
    everything = await system.http.get(f"/{engine}/{ref}/connections", headers=headers)
    assert [c["identifier"] for c in everything.json()["data"]] == names
    for params in ({"limit": "0"}, {"limit": "1001"}, {"limit": "x"}, {"cursor": "%%%"}):
        bad = await system.http.get(f"/{engine}/{ref}/connections", params=params, headers=headers)
        assert bad.status_code == 400, params
        assert bad.json()["error"]["code"] == "invalid_argument"


async def test_no_reply_or_log_record_holds_a_password(
    system: System, servers: Servers, caplog: pytest.LogCaptureFixture
) -> None:
    """Create (fields and uri), get, list, update, test (ok and failing) and errors: the password appears in no
    reply and in no log record of any service in this process, even at DEBUG."""
    caplog.set_level("DEBUG")
    ref, owner = await system.new_project()
    headers = system.headers(owner)
    password = f"Pw{uuid.uuid4().hex}"
    pg_password = servers.pg_url.split("://", 1)[1].split("@", 1)[0].split(":", 1)[1]
    replies: list[str] = []

    async def call(method: str, path: str, body: dict[str, Any] | None = None) -> dict[str, Any]:
        reply = await system.http.request(method, path, json=body, headers=headers)
        replies.append(reply.text)
        result: dict[str, Any] = reply.json()
        return result

    redis_port = servers.redis_url.rsplit(":", 1)[1].split("/")[0]
    created = [
        await call(
            "POST",
            f"/redis/{ref}/connections",
            {"identifier": "f", "host": "127.0.0.1", "port": int(redis_port), "password": password},
        ),
        await call(
            "POST",
            f"/redis/{ref}/connections",
            {"identifier": "u", "uri": f"redis://user:{password}@127.0.0.1:{redis_port}/0"},
        ),
        await call(
            "POST",
            f"/mongodb/{ref}/connections",
            {"identifier": "u", "uri": servers.mongo_url.replace("://", f"://app:{password}@")},
        ),
        await call("POST", f"/pg-meta/{ref}/connections", {"identifier": "real", "uri": servers.pg_url}),
        await call(
            "POST",
            f"/pg-meta/{ref}/connections",
            {"identifier": "wrong", "uri": servers.pg_url.replace(pg_password, password)},
        ),
    ]
    engines = ["redis", "redis", "mongodb", "pg-meta", "pg-meta"]
    for engine, record in zip(engines, created, strict=True):
        assert record["has_password"] is True
        await call("GET", f"/{engine}/{ref}/connections/{record['id']}")
        await call("POST", f"/{engine}/{ref}/connections/{record['id']}/test")
        await call("PUT", f"/{engine}/{ref}/connections/{record['id']}", {"password": password + "2"})
        await call("GET", f"/{engine}/{ref}/connections")
    # Refused inputs that carry the password.
    await call("POST", f"/redis/{ref}/connections", {"identifier": "bad", "uri": f"redis://u:{password}/x@h:1"})
    await call("POST", f"/redis/{ref}/connections", {"identifier": "f", "uri": f"redis://u:{password}@h.internal"})
    await call("POST", f"/redis/{ref}/connections", {"identifier": "x", "uri": f"redis://u:{password}@169.254.169.254"})
    tested = await call("POST", f"/pg-meta/{ref}/connections/{created[3]['id']}/test")
    assert tested["ok"] is False  # its password was just changed: the failing path ran too
    # The records under test were captured: the services' own log lines are among them.
    assert any(record.getMessage() == "connection created" for record in caplog.records)
    assert any(getattr(record, "method", "").endswith("/ResolveConnection") for record in caplog.records)
    for secret in (password, pg_password):
        for text in replies:
            assert secret not in text
        for record in caplog.records:
            assert secret not in record.getMessage()
            assert secret not in repr(record.__dict__)
