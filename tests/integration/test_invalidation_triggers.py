"""Which platform changes are announced to caches: record changes yes, a test's status no."""

from __future__ import annotations

import asyncio
import json

import asyncpg
import pytest
from harness import System
from registry.invalidations import REPLICA_KINDS

pytestmark = pytest.mark.integration


async def _notifications_during(system: System, statement: str, *args: object) -> list[dict[str, str]]:
    received: list[dict[str, str]] = []
    listener = await asyncpg.connect(system.platform_url)
    writer = await asyncpg.connect(system.platform_url)
    try:
        await listener.add_listener("udb_invalidation", lambda *a: received.append(json.loads(a[3])))
        await writer.execute(statement, *args)
        await asyncio.sleep(0.3)
    finally:
        await listener.close()
        await writer.close()
    # The registry replicas' own traffic on the channel (barriers, acks, heartbeats) is not an
    # announcement of a change.
    return [payload for payload in received if payload.get("kind") not in REPLICA_KINDS]


async def test_a_status_only_update_is_not_announced_but_a_host_change_is(system: System) -> None:
    """Writing a connection's status (what a test does) sends no invalidation; changing its host does."""
    ref, owner = await system.new_project()
    record = await system.add_connection(ref, owner, "redis", {"identifier": "c", "host": "127.0.0.1", "port": 6379})
    assert not await _notifications_during(
        system, "UPDATE platform.database_connections SET status = 'ok' WHERE id = $1::uuid", record["id"]
    )
    changed = await _notifications_during(
        system, "UPDATE platform.database_connections SET host = 'localhost' WHERE id = $1::uuid", record["id"]
    )
    assert [(n["kind"], n["connection_id"]) for n in changed] == [("connection", record["id"])]


async def test_a_role_change_is_announced_and_a_no_op_rewrite_is_not(system: System) -> None:
    """A member's new role invalidates their cached access; rewriting the same role does not."""
    ref, owner = await system.new_project()
    await system.add_member(ref, owner, "viewer-1", "viewer")
    same = await _notifications_during(
        system,
        "UPDATE platform.members m SET role = 'viewer' FROM platform.projects p "
        "WHERE m.project_id = p.id AND p.ref = $1 AND m.user_id = 'viewer-1'",
        ref,
    )
    assert same == []
    changed = await _notifications_during(
        system,
        "UPDATE platform.members m SET role = 'admin' FROM platform.projects p "
        "WHERE m.project_id = p.id AND p.ref = $1 AND m.user_id = 'viewer-1'",
        ref,
    )
    assert [(n["kind"], n["user_id"], n["project_ref"]) for n in changed] == [("membership", "viewer-1", ref)]
