"""Secrets at rest against the real platform database: AES-256-GCM ciphertexts bound to their row,
key rotation with ``python -m registry rotate-keys``, and a clear refusal to start without a key."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import os
import subprocess
import sys
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import asyncpg
import devstack
import grpc
import pytest
from harness import Servers, System
from registry.secrets import credential_aad
from registry.server import create_server as create_registry
from registry.settings import Settings as RegistrySettings

from udb.common.v1 import common_pb2
from udb.config import Env
from udb.crypto import NONCE_BYTES, SecretBox, key_id
from udb.registry.v1 import registry_pb2, registry_pb2_grpc

pytestmark = pytest.mark.integration

REDIS = common_pb2.DATABASE_TYPE_REDIS


def _key(text: str) -> bytes:
    return base64.b64decode(text)


async def _raw(url: str, query: str, *args: object) -> list[asyncpg.Record]:
    conn = await asyncpg.connect(url)
    try:
        return await conn.fetch(query, *args)
    finally:
        await conn.close()


async def _resolve(
    stub: registry_pb2_grpc.RegistryServiceStub, system: System, ref: str, connection_id: str, db_type: int = REDIS
) -> registry_pb2.ResolvedConnection:
    reply: registry_pb2.ResolvedConnection = await stub.ResolveConnection(
        registry_pb2.ResolveConnectionRequest(
            target=common_pb2.ConnectionTarget(project_ref=ref, connection_id=connection_id),
            database_type=db_type,  # type: ignore[arg-type]
        ),
        metadata=system.metadata(),
    )
    return reply


async def test_the_raw_column_holds_no_plaintext(system: System) -> None:
    """The stored secret is nonce || AES-GCM ciphertext under the configured key's id: no column of the row holds
    the password, and the same password gives a different ciphertext each time (a fresh nonce)."""
    ref, owner = await system.new_project()
    password = f"plain-{uuid.uuid4().hex}"
    for name in ("one", "two"):
        await system.add_connection(
            ref, owner, "redis", {"identifier": name, "host": "h.internal", "password": password}
        )
    rows = await _raw(
        system.platform_url,
        "SELECT c.* FROM platform.database_connections c JOIN platform.projects p ON p.id = c.project_id "
        "WHERE p.ref = $1 ORDER BY c.identifier",
        ref,
    )
    assert len(rows) == 2
    box = SecretBox(_key(system.encryption_key))
    for row in rows:
        blob: bytes = row["secret_encrypted"]
        assert password.encode() not in blob
        assert all(password not in str(value) for value in row.values())
        assert row["secret_key_id"] == key_id(_key(system.encryption_key))
        # 96-bit nonce, then the sealed document and its 128-bit tag.
        document = json.dumps({"password": password}).encode()
        assert len(blob) == NONCE_BYTES + len(document) + 16
        opened = box.decrypt(
            blob, key_id=row["secret_key_id"], associated_data=f"platform.database_connections:{row['id']}".encode()
        )
        assert json.loads(opened) == {"password": password}
    assert rows[0]["secret_encrypted"][:NONCE_BYTES] != rows[1]["secret_encrypted"][:NONCE_BYTES]
    assert rows[0]["secret_encrypted"] != rows[1]["secret_encrypted"]

    credentials = await _raw(
        system.platform_url,
        "SELECT c.* FROM platform.credentials c JOIN platform.projects p ON p.id = c.project_id WHERE p.ref = $1",
        ref,
    )
    assert len(credentials) == 1
    project_id = str(credentials[0]["project_id"])
    jwt_secret = box.decrypt(
        credentials[0]["jwt_secret_encrypted"],
        key_id=credentials[0]["key_id"],
        associated_data=credential_aad(project_id, "jwt_secret_encrypted"),
    )
    assert len(jwt_secret) >= 32
    assert jwt_secret.encode() not in credentials[0]["jwt_secret_encrypted"]


async def test_a_ciphertext_moved_to_another_row_does_not_open(system: System) -> None:
    """Copying one record's secret over another's makes the second fail to resolve (INTERNAL, with no secret in
    the message) while the first still resolves; a flipped byte fails the same way."""
    ref, owner = await system.new_project()
    first = await system.add_connection(
        ref, owner, "redis", {"identifier": "a", "host": "h.internal", "password": "pw-a"}
    )
    second = await system.add_connection(
        ref, owner, "redis", {"identifier": "b", "host": "h.internal", "password": "pw-b"}
    )
    assert (await _resolve(system.registry, system, ref, second["id"])).password == "pw-b"
    await _raw(
        system.platform_url,
        "UPDATE platform.database_connections AS b SET secret_encrypted = a.secret_encrypted, "
        "secret_key_id = a.secret_key_id FROM platform.database_connections AS a WHERE a.id = $1 AND b.id = $2",
        uuid.UUID(first["id"]),
        uuid.UUID(second["id"]),
    )
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await _resolve(system.registry, system, ref, second["id"])
    assert caught.value.code() == grpc.StatusCode.INTERNAL
    assert "pw-a" not in str(caught.value.details())
    assert (await _resolve(system.registry, system, ref, first["id"])).password == "pw-a"

    await _raw(
        system.platform_url,
        "UPDATE platform.database_connections SET secret_encrypted = "
        "overlay(secret_encrypted placing decode('ff', 'hex') from 20 for 1) WHERE id = $1",
        uuid.UUID(first["id"]),
    )
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await _resolve(system.registry, system, ref, first["id"])
    assert caught.value.code() == grpc.StatusCode.INTERNAL
    assert "pw-a" not in str(caught.value.details())


async def test_only_service_callers_resolve_secrets(system: System) -> None:
    """ResolveConnection refuses every user token (the project's owner's, an admin's, a stranger's)
    and answers a service's."""
    ref, owner = await system.new_project()
    await system.add_member(ref, owner, "resolver-admin", "admin")
    record = await system.add_connection(
        ref, owner, "redis", {"identifier": "a", "host": "h.internal", "password": "pw"}
    )
    request = registry_pb2.ResolveConnectionRequest(
        target=common_pb2.ConnectionTarget(project_ref=ref, connection_id=record["id"]), database_type=REDIS
    )
    for user in (owner, "resolver-admin", "a-stranger"):
        with pytest.raises(grpc.aio.AioRpcError) as caught:
            await system.registry.ResolveConnection(request, metadata=system.metadata(user))
        assert caught.value.code() == grpc.StatusCode.PERMISSION_DENIED, user
    assert (await system.registry.ResolveConnection(request, metadata=system.metadata())).password == "pw"


@contextlib.asynccontextmanager
async def _registry(
    system: System, platform_url: str, key: str, old_key: str | None = None
) -> AsyncIterator[registry_pb2_grpc.RegistryServiceStub]:
    """A registry of its own on ``platform_url`` with the given keys, in this process."""
    env = {**system.env, "REGISTRY_DATABASE_URL": platform_url, "DATABASE_ENCRYPTION_KEY": key}
    if old_key is not None:
        env["DATABASE_ENCRYPTION_KEY_OLD"] = old_key
    settings = RegistrySettings.from_env(Env(environ=env, env_file=None))
    server, port = await create_registry(settings, "127.0.0.1:0")
    await server.start()
    channel = grpc.aio.insecure_channel(f"127.0.0.1:{port}")
    try:
        yield registry_pb2_grpc.RegistryServiceStub(channel)
    finally:
        await channel.close()
        await server.stop(1)


def _registry_command(
    args: list[str], env: dict[str, str], cwd: Path, timeout: float = 60
) -> subprocess.CompletedProcess[str]:
    """``python -m registry ...`` as its own process, with only the given key settings."""
    base = {k: v for k, v in os.environ.items() if not k.startswith(("DATABASE_ENCRYPTION_KEY", "REGISTRY_"))}
    return subprocess.run(
        [sys.executable, "-m", "registry", *args],
        env={**base, **env},
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


async def test_key_rotation_moves_every_secret_and_the_old_key_can_go(
    system: System, servers: Servers, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """Records sealed with key A need A until `rotate-keys` (with B current and A old) re-encrypts every
    connection and credential; after that a registry with only B resolves every record."""
    platform_url = await servers.create_platform_database(f"udb_rotation_{uuid.uuid4().hex[:8]}")
    key_a, key_b = devstack.new_encryption_key(), devstack.new_encryption_key()
    service = system.metadata()
    passwords: dict[str, tuple[str, int, str]] = {}  # connection id -> (ref, type, password)
    async with _registry(system, platform_url, key_a) as registry:
        await registry.CreateOrganization(
            registry_pb2.CreateOrganizationRequest(name="Rot", slug="rot"), metadata=service
        )
        for ref in ("rot-one", "rot-two"):
            await registry.CreateProject(
                registry_pb2.CreateProjectRequest(organization_slug="rot", name=ref, ref=ref), metadata=service
            )
            for db_type in (REDIS, common_pb2.DATABASE_TYPE_MONGODB, common_pb2.DATABASE_TYPE_POSTGRES):
                password = f"pw-{uuid.uuid4().hex}"
                created = await registry.CreateConnection(
                    registry_pb2.CreateConnectionRequest(
                        project_ref=ref, database_type=db_type, identifier="db", host="h.internal", password=password
                    ),
                    metadata=service,
                )
                passwords[created.id] = (ref, db_type, password)
            await registry.CreateConnection(
                registry_pb2.CreateConnectionRequest(
                    project_ref=ref, database_type=REDIS, identifier="no-password", host="h.internal"
                ),
                metadata=service,
            )
    connection_query = (
        "SELECT id, secret_encrypted, secret_key_id FROM platform.database_connections WHERE secret_key_id IS NOT NULL"
    )
    credential_query = (
        "SELECT project_id, jwt_secret_encrypted, service_role_key_encrypted, key_id FROM platform.credentials"
    )
    before = {row["id"]: row for row in await _raw(platform_url, connection_query)}
    assert len(before) == 6
    assert {row["secret_key_id"] for row in before.values()} == {key_id(_key(key_a))}

    # With only the new key, nothing sealed with A opens, and the registry says so at start.
    caplog.set_level("INFO", logger="registry")
    async with _registry(system, platform_url, key_b) as registry:
        any_id = next(iter(passwords))
        with pytest.raises(grpc.aio.AioRpcError) as caught:
            await _resolve(registry, system, passwords[any_id][0], any_id, passwords[any_id][1])
        assert caught.value.code() == grpc.StatusCode.INTERNAL
    assert any("not configured" in r.getMessage() and r.key_id == key_id(_key(key_a)) for r in caplog.records)  # type: ignore[attr-defined]

    # Rotation without the old key moves nothing and says what is missing.
    common_env = {"JWT_SECRET": system.jwt_secret, "REGISTRY_DATABASE_URL": platform_url, "LOG_JSON": "false"}
    refused = await asyncio.to_thread(
        _registry_command, ["rotate-keys"], {**common_env, "DATABASE_ENCRYPTION_KEY": key_b}, tmp_path
    )
    assert refused.returncode == 1, refused.stderr
    assert "DATABASE_ENCRYPTION_KEY_OLD" in refused.stderr
    assert "10 secrets do not open" in refused.stderr  # 6 connections + 2 projects x 2 credential secrets
    assert {row["secret_key_id"] for row in await _raw(platform_url, connection_query)} == {key_id(_key(key_a))}

    rotated = await asyncio.to_thread(
        _registry_command,
        ["rotate-keys"],
        {**common_env, "DATABASE_ENCRYPTION_KEY": key_b, "DATABASE_ENCRYPTION_KEY_OLD": key_a},
        tmp_path,
    )
    assert rotated.returncode == 0, rotated.stderr
    assert "re-encrypted 10 secrets" in rotated.stdout  # 6 connections + 2 projects x 2 credential secrets
    after = {row["id"]: row for row in await _raw(platform_url, connection_query)}
    assert {row["secret_key_id"] for row in after.values()} == {key_id(_key(key_b))}
    assert all(after[i]["secret_encrypted"] != before[i]["secret_encrypted"] for i in before)
    credentials = await _raw(platform_url, credential_query)
    assert {row["key_id"] for row in credentials} == {key_id(_key(key_b))}
    again = await asyncio.to_thread(
        _registry_command,
        ["rotate-keys"],
        {**common_env, "DATABASE_ENCRYPTION_KEY": key_b, "DATABASE_ENCRYPTION_KEY_OLD": key_a},
        tmp_path,
    )
    assert again.returncode == 0
    assert "re-encrypted 0 secrets" in again.stdout

    # The old key dropped: every record and credential still opens with B alone, and none with A.
    caplog.clear()
    async with _registry(system, platform_url, key_b) as registry:
        for connection_id, (ref, db_type, password) in passwords.items():
            assert (await _resolve(registry, system, ref, connection_id, db_type)).password == password
    assert not any("not configured" in r.getMessage() for r in caplog.records)
    only_b, only_a = SecretBox(_key(key_b)), SecretBox(_key(key_a))
    for row in credentials:
        for column in ("jwt_secret_encrypted", "service_role_key_encrypted"):
            aad = credential_aad(str(row["project_id"]), column)
            assert only_b.decrypt(row[column], key_id=row["key_id"], associated_data=aad)
            with pytest.raises(Exception, match="no configured key"):
                only_a.decrypt(row[column], key_id=row["key_id"], associated_data=aad)


@pytest.mark.parametrize(
    ("key", "old_key", "names"),
    [
        (None, None, "DATABASE_ENCRYPTION_KEY is required"),
        ("not base64 at all!", None, "DATABASE_ENCRYPTION_KEY must be base64 of 32 random bytes"),
        (
            base64.b64encode(b"sixteen byte key").decode(),
            None,
            "DATABASE_ENCRYPTION_KEY must be base64 of 32 random bytes (it decodes to 16 bytes)",
        ),
        ("VALID", "c2hvcnQ=", "DATABASE_ENCRYPTION_KEY_OLD must be base64 of 32 random bytes"),
    ],
)
async def test_the_registry_refuses_to_start_without_a_good_key(
    system: System, tmp_path: Path, key: str | None, old_key: str | None, names: str
) -> None:
    """A missing or malformed key (current or old) stops `python -m registry` at once with exit 2 and a message
    that names the variable, without echoing the value and before it listens."""
    port = devstack.free_port()
    env = {
        "JWT_SECRET": system.jwt_secret,
        "REGISTRY_DATABASE_URL": system.platform_url,
        "REGISTRY_ADDR": f"127.0.0.1:{port}",
    }
    if key is not None:
        env["DATABASE_ENCRYPTION_KEY"] = devstack.new_encryption_key() if key == "VALID" else key
    if old_key is not None:
        env["DATABASE_ENCRYPTION_KEY_OLD"] = old_key
    for command in ([], ["rotate-keys"]):
        result = await asyncio.to_thread(_registry_command, command, env, tmp_path)
        assert result.returncode == 2, result.stderr
        assert names in result.stderr
        for value in (key, old_key):
            if value and value != "VALID":
                assert value not in result.stderr
        assert "Traceback" not in result.stderr
