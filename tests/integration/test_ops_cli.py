"""``udbctl`` against the real system: migrations, tenants, tokens, key rotation and health."""

from __future__ import annotations

import asyncio
import json
import os
import sys
import uuid
from collections.abc import Mapping
from dataclasses import dataclass

import asyncpg
import devstack
import grpc
import pytest
from harness import Servers, System
from registry.server import create_server as create_registry
from registry.settings import Settings as RegistrySettings

from udb.common.v1 import common_pb2
from udb.config import Env
from udb.registry.v1 import registry_pb2, registry_pb2_grpc
from udb.server import Server

pytestmark = pytest.mark.integration


@dataclass
class Run:
    code: int
    out: str
    err: str


async def udbctl(env: Mapping[str, str], *args: str) -> Run:
    """``python -m udb.cli ARGS`` in a process of its own, with ``env`` over this one's environment."""
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "udb.cli",
        *args,
        env={**os.environ, **env},
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(process.communicate(), 60)
    assert process.returncode is not None
    return Run(process.returncode, out.decode(), err.decode())


async def test_token_org_project_and_member_commands_bootstrap_a_tenant(system: System) -> None:
    """A minted token works at the gateway, and org/project/member create a tenant its users can use."""
    suffix = uuid.uuid4().hex[:8]
    owner, developer = f"cli-owner-{suffix}", f"cli-dev-{suffix}"
    token = await udbctl(system.env, "token", "--user", owner, "--ttl", "600")
    assert token.code == 0, token.err
    token_value = token.out.strip()
    org = await udbctl(system.env, "org", "create", "--name", "CLI org", "--slug", f"cli-{suffix}")
    assert org.code == 0, org.err
    assert json.loads(org.out)["slug"] == f"cli-{suffix}"
    project = await udbctl(
        system.env, "project", "create", "--org", f"cli-{suffix}", "--name", "CLI", "--ref", f"cli-{suffix}",
        "--owner", owner,
    )  # fmt: skip
    assert project.code == 0, project.err
    assert json.loads(project.out)["ref"] == f"cli-{suffix}"
    member = await udbctl(
        system.env, "member", "add", "--project", f"cli-{suffix}", "--user", developer, "--role", "developer"
    )
    assert member.code == 0, member.err

    mine = await system.http.get("/projects", headers={"authorization": f"Bearer {token_value}"})
    assert mine.status_code == 200
    assert [(p["ref"], p["role"]) for p in mine.json()["data"]] == [(f"cli-{suffix}", "owner")]
    members = await system.http.get(f"/projects/cli-{suffix}/members", headers=system.headers(owner))
    assert {(m["user_id"], m["role"]) for m in members.json()["data"]} == {(owner, "owner"), (developer, "developer")}

    again = await udbctl(system.env, "org", "create", "--name", "CLI org", "--slug", f"cli-{suffix}")
    assert again.code == 1
    assert "already_exists" in again.err


async def test_a_service_role_token_acts_as_owner_everywhere(system: System) -> None:
    """``token --service-role`` mints a service-role token the registry accepts as such."""
    minted = await udbctl(system.env, "token", "--user", "operator", "--service-role")
    assert minted.code == 0
    metadata = (("authorization", f"Bearer {minted.out.strip()}"),)
    reply = await system.registry.ListOrganizations(registry_pb2.ListOrganizationsRequest(limit=1), metadata=metadata)
    assert len(reply.organizations) == 1


async def test_configuration_errors_exit_2_and_name_the_variable(system: System) -> None:
    """Without JWT_SECRET a token cannot be minted: exit status 2 and a message naming it."""
    env = {**system.env, "JWT_SECRET": "", "JWT_JWKS_URL": ""}
    result = await udbctl(env, "token", "--user", "x")
    assert result.code == 2
    assert "JWT_SECRET" in result.err


async def test_health_checks_every_service(system: System) -> None:
    """``health`` reports each service SERVING (exit 0); an address nobody serves is UNREACHABLE (exit 1)."""
    env = {**system.env, "GATEWAY_GRPC_ADDR": f"127.0.0.1:{system.app.state.grpc_health_port}"}
    healthy = await udbctl(env, "health", "--json")
    assert healthy.code == 0, healthy.out + healthy.err
    assert json.loads(healthy.out) == {
        "healthy": True,
        "services": dict.fromkeys(("registry", "redis-svc", "mongo-svc", "pg-svc", "gateway"), "SERVING"),
    }
    table = await udbctl(env, "health")
    assert table.code == 0
    assert len(table.out.strip().splitlines()) == 5
    down = await udbctl(env, "health", "--address", f"127.0.0.1:{devstack.free_port()}", "--service", "gone")
    assert down.code == 1
    assert "gone" in down.out
    assert "UNREACHABLE" in down.out


async def test_migrate_then_key_rotation_keeps_every_secret_readable(system: System, servers: Servers) -> None:
    """``migrate`` builds the schema of an empty database (twice is harmless); after ``key rotate``
    a registry holding only the new key still opens a secret sealed with the old one."""
    url = await servers.create_platform_database(f"udb_cli_{uuid.uuid4().hex[:8]}")
    old_key = (await udbctl({}, "key", "generate")).out.strip()
    env = {**system.env, "REGISTRY_DATABASE_URL": url, "DATABASE_ENCRYPTION_KEY": old_key}
    for _ in range(2):
        migrated = await udbctl(env, "migrate")
        assert migrated.code == 0, migrated.err
    conn = await asyncpg.connect(url)
    try:
        versions = [row["version"] for row in await conn.fetch("SELECT version FROM platform.schema_migrations")]
    finally:
        await conn.close()
    assert versions and versions == sorted(versions)

    async def registry_with(
        key: str, old: str = ""
    ) -> tuple[Server, registry_pb2_grpc.RegistryServiceAsyncStub, grpc.aio.Channel]:
        settings_env = {**env, "DATABASE_ENCRYPTION_KEY": key, "DATABASE_ENCRYPTION_KEY_OLD": old}
        settings = RegistrySettings.from_env(Env(environ=settings_env, env_file=None))
        server, port = await create_registry(settings, "127.0.0.1:0")
        await server.start()
        channel = grpc.aio.insecure_channel(f"127.0.0.1:{port}")
        return server, registry_pb2_grpc.RegistryServiceStub(channel), channel

    server, stub, channel = await registry_with(old_key)
    metadata = system.metadata()
    try:
        await stub.CreateOrganization(registry_pb2.CreateOrganizationRequest(name="k", slug="keys"), metadata=metadata)
        await stub.CreateProject(
            registry_pb2.CreateProjectRequest(organization_slug="keys", name="k", ref="keys"), metadata=metadata
        )
        await stub.CreateConnection(
            registry_pb2.CreateConnectionRequest(
                project_ref="keys",
                database_type=common_pb2.DATABASE_TYPE_REDIS,
                identifier="main",
                host="127.0.0.1",
                port=6379,
                password="s3cret-before-rotation",
            ),
            metadata=metadata,
        )
    finally:
        await channel.close()
        await server.stop(1)

    new_key = (await udbctl({}, "key", "generate")).out.strip()
    assert new_key != old_key
    rotated = await udbctl(
        {**env, "DATABASE_ENCRYPTION_KEY": new_key, "DATABASE_ENCRYPTION_KEY_OLD": old_key}, "key", "rotate"
    )
    assert rotated.code == 0, rotated.err
    assert "re-encrypted" in rotated.out

    server, stub, channel = await registry_with(new_key)
    try:
        resolved = await stub.ResolveConnection(
            registry_pb2.ResolveConnectionRequest(
                target=common_pb2.ConnectionTarget(project_ref="keys"), database_type=common_pb2.DATABASE_TYPE_REDIS
            ),
            metadata=metadata,
        )
        assert resolved.password == "s3cret-before-rotation"
    finally:
        await channel.close()
        await server.stop(1)
