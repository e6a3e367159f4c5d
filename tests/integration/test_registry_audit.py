"""The registry's own changes in the audit log: who changed which member or connection, newest first,
names only (never a value or a secret), readable by admins and owners."""

from __future__ import annotations

import uuid

import asyncpg
import grpc
import pytest
from harness import Servers, System, eventually

from udb.registry.v1 import registry_pb2

pytestmark = pytest.mark.integration


async def test_platform_changes_are_audited_without_secrets(system: System, servers: Servers) -> None:
    """Member and connection changes and tests are recorded with the acting user and the request id; a
    refused change once, as refused (the gateway's row: the registry records only what it did); the
    password is nowhere in the log; viewers may not read it."""
    ref, owner = await system.new_project()
    password = f"pw-{uuid.uuid4().hex}"
    await system.add_member(ref, owner, "auditor", "admin")
    await system.add_member(ref, owner, "watcher", "viewer")
    record = await system.add_connection(ref, owner, "redis", {"identifier": "cache", "uri": servers.redis_url})
    url = f"/redis/{ref}/connections/{record['id']}"
    await system.registry.UpdateConnection(
        registry_pb2.UpdateConnectionRequest(project_ref=ref, id=record["id"], password=password),
        metadata=(*system.metadata(owner), ("x-request-id", "audit-req-1")),
    )
    assert (await system.http.post(f"{url}/test", headers=system.headers(owner))).status_code == 200
    refused = await system.http.post(
        f"/redis/{ref}/connections", json={"identifier": "cache", "host": "h.internal"}, headers=system.headers(owner)
    )
    assert refused.status_code == 409

    async def refusal_written() -> bool:
        # The gateway records a refusal after its reply and writes it in a batch: waited for here,
        # so that its row comes before the delete's.
        await system.app.state.audit.flush()
        listed = await system.registry.ListAuditEvents(
            registry_pb2.ListAuditEventsRequest(project_ref=ref), metadata=system.metadata(owner)
        )
        return any(event.outcome == "already_exists" for event in listed.events)

    await eventually(refusal_written)
    assert (await system.http.delete(url, headers=system.headers("auditor"))).status_code == 200
    assert (
        await system.http.delete(f"/projects/{ref}/members/watcher", headers=system.headers(owner))
    ).status_code == 200

    reply = await system.registry.ListAuditEvents(
        registry_pb2.ListAuditEventsRequest(project_ref=ref), metadata=system.metadata("auditor")
    )
    events = [(e.operation, e.user_id, e.engine, e.target, e.outcome) for e in reply.events]
    assert events == [
        ("member.remove", owner, "platform", "watcher", "ok"),
        ("connection.delete", "auditor", "redis", "cache", "ok"),
        ("connection.create", owner, "redis", "cache", "already_exists"),
        # The test Redis has no password: redis-py lets that AUTH pass.
        ("connection.test", owner, "redis", "cache", "ok"),
        ("connection.update", owner, "redis", "cache", "ok"),
        ("connection.create", owner, "redis", "cache", "ok"),
        ("member.add", owner, "platform", "watcher:viewer", "ok"),
        ("member.add", owner, "platform", "auditor:admin", "ok"),
        ("project.create", owner, "platform", "test project", "ok"),
    ]
    update = next(e for e in reply.events if e.operation == "connection.update")
    assert update.request_id == "audit-req-1"
    assert update.connection_id == record["id"]
    assert password not in str(reply)

    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await system.registry.ListAuditEvents(
            registry_pb2.ListAuditEventsRequest(project_ref=ref), metadata=system.metadata("someone-else")
        )
    assert caught.value.code() == grpc.StatusCode.NOT_FOUND


async def test_organization_changes_are_audited_without_a_project(system: System) -> None:
    """Creating, renaming and deleting an organization each leave one row (operation, acting user,
    slug, request id, empty project ref); a refused change leaves none."""
    owner, slug = f"org-owner-{uuid.uuid4().hex[:8]}", f"org-{uuid.uuid4().hex[:10]}"
    metadata = (*system.metadata(owner), ("x-request-id", f"req-{slug}"))
    await system.registry.CreateOrganization(
        registry_pb2.CreateOrganizationRequest(name="Audited", slug=slug), metadata=metadata
    )
    await system.registry.UpdateOrganization(
        registry_pb2.UpdateOrganizationRequest(slug=slug, name="Renamed"), metadata=metadata
    )
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await system.registry.DeleteOrganization(
            registry_pb2.DeleteOrganizationRequest(slug=slug), metadata=system.metadata("someone-else")
        )
    assert caught.value.code() == grpc.StatusCode.NOT_FOUND
    await system.registry.DeleteOrganization(registry_pb2.DeleteOrganizationRequest(slug=slug), metadata=metadata)

    conn = await asyncpg.connect(system.platform_url)
    try:
        rows = await conn.fetch(
            "SELECT operation, user_id, project_ref, engine, outcome, request_id FROM platform.audit_log "
            "WHERE target = $1 ORDER BY id",
            slug,
        )
    finally:
        await conn.close()
    assert [tuple(row) for row in rows] == [
        (operation, owner, "", "platform", "ok", f"req-{slug}")
        for operation in ("organization.create", "organization.update", "organization.delete")
    ]
