"""Secrets follow their target and are write-only (issue 14, findings 3 and 4), replayed: an admin
who moves a connection to a server of their own and tests it gets no stored password there (in
clear-text Postgres authentication or Redis AUTH); ``test`` uses exactly the stored record; and a
password anywhere in a URI or an option named like a secret is sealed, never shown, logged or
audited."""

from __future__ import annotations

import asyncio
import json
import urllib.parse
import uuid
from typing import Any

import asyncpg
import pytest
from harness import System, own_service
from hostile import FakePostgres, RespServer
from registry.server import create_server as create_registry
from registry.settings import Settings as RegistrySettings

from udb.common.v1 import common_pb2
from udb.registry.v1 import registry_pb2, registry_pb2_grpc

pytestmark = pytest.mark.integration


async def connection_test(
    system: System, ref: str, owner: str, engine: str, connection_id: str, **body: Any
) -> dict[str, Any]:
    reply = await system.http.post(
        f"/{engine}/{ref}/connections/{connection_id}/test", json=body or None, headers=system.headers(owner)
    )
    assert reply.status_code == 200, reply.text
    result: dict[str, Any] = reply.json()
    return result


async def put(system: System, ref: str, owner: str, engine: str, connection_id: str, body: dict[str, Any]) -> Any:
    reply = await system.http.put(
        f"/{engine}/{ref}/connections/{connection_id}", json=body, headers=system.headers(owner)
    )
    assert reply.status_code == 200, reply.text
    return reply.json()


async def test_moving_a_postgres_connection_leaves_its_password_behind(system: System) -> None:
    """An admin moves a connection with a stored password to their own server, which asks for it in clear
    text, and tests it: the server gets no password. Supplying one in the same change sends that one (so the
    server would have caught the stored one)."""
    ref, owner = await system.new_project()
    password = f"Stored-{uuid.uuid4().hex}"
    record = await system.add_connection(
        ref, owner, "pg-meta", {"identifier": "db", "host": "db.example.com", "username": "app", "password": password}
    )
    catcher = FakePostgres()
    async with catcher.serve() as port:
        moved = await put(system, ref, owner, "pg-meta", record["id"], {"host": "127.0.0.1", "port": port})
        assert moved["has_password"] is False
        result = await connection_test(system, ref, owner, "pg-meta", record["id"])
        assert result["ok"] is False
        assert catcher.startups >= 1
        assert all(password.encode() not in sent for sent in catcher.passwords)
        await put(system, ref, owner, "pg-meta", record["id"], {"password": "typed-again"})
        await connection_test(system, ref, owner, "pg-meta", record["id"])
        assert b"typed-again" in catcher.passwords


async def test_moving_a_redis_connection_leaves_its_password_behind(system: System) -> None:
    """The same with Redis AUTH: a stored password never reaches the server an admin moved the record to."""
    ref, owner = await system.new_project()
    password = f"Stored-{uuid.uuid4().hex}"
    record = await system.add_connection(
        ref, owner, "redis", {"identifier": "cache", "uri": f"redis://app:{password}@cache.example.com:6379/0"}
    )
    catcher = RespServer(("127.0.0.1", 1))
    async with catcher.serve() as port:
        await put(system, ref, owner, "redis", record["id"], {"host": "127.0.0.1", "port": port})
        await connection_test(system, ref, owner, "redis", record["id"])
        assert catcher.received
        assert all(password.encode() not in word for command in catcher.received for word in command)
        await put(system, ref, owner, "redis", record["id"], {"password": "typed-again"})
        await connection_test(system, ref, owner, "redis", record["id"])
        assert any(b"typed-again" in command for command in catcher.received)


@pytest.mark.parametrize(
    ("change", "kept"),
    [
        ({"host": "elsewhere.example.com"}, False),
        ({"port": 6000}, False),
        ({"tls": True}, False),
        ({"username": "someone"}, False),
        ({"options": {"sslmode": "disable"}}, False),
        ({"uri": "postgresql://app@elsewhere.example.com/shop"}, False),
        ({"database": "other"}, True),
        ({"identifier": "renamed"}, True),
        ({"options": {"application_name": "console"}}, True),
        ({"uri": "postgresql://app@db.example.com:5432/other"}, True),
        ({"host": "elsewhere.example.com", "password": "new"}, True),
    ],
)
async def test_a_secret_follows_its_target(system: System, change: dict[str, Any], kept: bool) -> None:
    """A change of host, port, TLS, user or a server-choosing option drops the stored password unless the
    change supplies one; the database, the name and other options keep it."""
    ref, owner = await system.new_project()
    body = {"identifier": "db", "uri": "postgresql://app:pw@db.example.com:5432/shop"}
    record = await system.add_connection(ref, owner, "pg-meta", body)
    assert record["has_password"] is True
    updated = await put(system, ref, owner, "pg-meta", record["id"], change)
    assert updated["has_password"] is kept


async def test_a_test_uses_exactly_the_stored_record(system: System) -> None:
    """A body sent with POST test (another host, a password) is not used: the stored record is tested."""
    ref, owner = await system.new_project()
    record = await system.add_connection(ref, owner, "redis", {"identifier": "real", "uri": system.servers.redis_url})
    catcher = RespServer(("127.0.0.1", 1))
    async with catcher.serve() as port:
        result = await connection_test(
            system, ref, owner, "redis", record["id"], host="127.0.0.1", port=port, password="x", uri="redis://h"
        )
    assert result["ok"] is True, result
    assert catcher.received == []


SECRETS = {name: f"{name}-{uuid.uuid4().hex}" for name in ("p1", "p2", "p3", "p4", "p5", "p6", "p7")}


async def test_passwords_anywhere_in_a_uri_are_sealed_and_never_shown(
    system: System, caplog: pytest.LogCaptureFixture
) -> None:
    """?password=, sslpassword, authMechanismProperties, tlsCertificateKeyFilePassword and options named like
    secrets are sealed: not in any reply, list, audit entry, log record or the stored options; the engines
    get them (ResolveConnection, service-only)."""
    caplog.set_level("DEBUG")
    ref, owner = await system.new_project()
    s = SECRETS
    bodies = {
        "pg-meta": {
            "uri": f"postgresql://app@db.example.com/shop?password={s['p1']}&sslpassword={s['p2']}&application_name=a",
            "options": {"read_only_role": "reader", "read_only_password": s["p6"]},
        },
        "redis": {"uri": f"redis://cache.example.com/0?password={s['p3']}", "options": {"api_token": s["p7"]}},
        "mongodb": {
            "uri": f"mongodb://app:pw@m.example.com/?authMechanismProperties=AWS_SESSION_TOKEN:{s['p4']}"
            f"&tlsCertificateKeyFilePassword={s['p5']}&appName=console"
        },
    }
    texts: list[str] = []
    records = {}
    for engine, body in bodies.items():
        reply = await system.http.post(
            f"/{engine}/{ref}/connections", json={"identifier": "x", **body}, headers=system.headers(owner)
        )
        assert reply.status_code == 201, reply.text
        records[engine] = reply.json()
        texts.append(reply.text)
        texts.append((await system.http.get(f"/{engine}/{ref}/connections", headers=system.headers(owner))).text)
        texts.append(
            (
                await system.http.put(
                    f"/{engine}/{ref}/connections/{records[engine]['id']}",
                    json={"identifier": "y"},
                    headers=system.headers(owner),
                )
            ).text
        )
    # The options field replaces the uri's options; the uri's secrets stay sealed all the same.
    assert records["pg-meta"]["options"] == {"read_only_role": "reader"}
    assert records["redis"]["has_password"] is True and records["redis"]["options"] == {}
    assert records["mongodb"]["options"] == {"appName": "console"}
    await asyncio.sleep(1.5)  # the gateway's audit batch
    texts.append((await system.http.get(f"/projects/{ref}/audit", headers=system.headers(owner))).text)
    conn = await asyncpg.connect(system.platform_url)
    try:
        stored = [row["options"] for row in await conn.fetch("SELECT options::text FROM platform.database_connections")]
    finally:
        await conn.close()
    texts.extend(stored)
    texts.extend(record.getMessage() + repr(record.__dict__) for record in caplog.records)
    for secret in SECRETS.values():
        assert not any(secret in text for text in texts), secret
    resolved = await system.registry.ResolveConnection(
        registry_pb2.ResolveConnectionRequest(
            target=common_pb2.ConnectionTarget(project_ref=ref, connection_id=records["pg-meta"]["id"]),
            database_type=common_pb2.DATABASE_TYPE_POSTGRES,
        ),
        metadata=system.metadata(),
    )
    assert resolved.password == s["p1"]
    assert dict(resolved.secret_options.items()) == {"sslpassword": s["p2"], "read_only_password": s["p6"]}


async def test_secrets_stored_in_the_clear_before_are_sealed_at_start(system: System) -> None:
    """A record whose options hold a password (written before options were sealed) has it moved into its
    sealed secret when a registry starts; the engines still get it."""
    ref, owner = await system.new_project()
    record = await system.add_connection(ref, owner, "redis", {"identifier": "old", "host": "cache.example.com"})
    secret = f"legacy-{uuid.uuid4().hex}"
    conn = await asyncpg.connect(system.platform_url)
    try:
        await conn.execute(
            "UPDATE platform.database_connections SET options = $2::jsonb WHERE id = $1",
            uuid.UUID(record["id"]),
            json.dumps({"password": secret, "db_label": "x"}),
        )
        async with own_service(system, create_registry, RegistrySettings, {}) as channel:
            stored = await conn.fetchval(
                "SELECT options::text FROM platform.database_connections WHERE id = $1", uuid.UUID(record["id"])
            )
            resolved = await registry_pb2_grpc.RegistryServiceStub(channel).ResolveConnection(
                registry_pb2.ResolveConnectionRequest(
                    target=common_pb2.ConnectionTarget(project_ref=ref, connection_id=record["id"]),
                    database_type=common_pb2.DATABASE_TYPE_REDIS,
                ),
                metadata=system.metadata(),
            )
    finally:
        await conn.close()
    assert json.loads(stored) == {"db_label": "x"}
    assert dict(resolved.secret_options.items()) == {"password": secret}
    shown = await system.http.get(f"/redis/{ref}/connections/{record['id']}", headers=system.headers(owner))
    assert secret not in shown.text
    assert urllib.parse.quote(secret) not in shown.text
