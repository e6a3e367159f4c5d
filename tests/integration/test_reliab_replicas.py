"""Registry replicas: a change made through one replica reaches the caches of processes watching
another before the change's reply (every replica acknowledges each write's barrier), and a
replica that stops stops being waited for."""

from __future__ import annotations

import asyncio
import time
import uuid

import pytest
from harness import System, own_service
from registry.server import create_server as create_registry
from registry.settings import Settings as RegistrySettings

from udb.auth import Principal, ServiceCredentials
from udb.common.v1 import common_pb2
from udb.config import AuthSettings, Secret
from udb.errors import NotFound
from udb.registry_client import RegistryClient

pytestmark = pytest.mark.integration


def _principal(user: str) -> Principal:
    return Principal(subject=user, role="authenticated", token="", expires_at=time.time() + 600)


async def test_a_change_through_one_replica_is_seen_at_once_by_caches_watching_another(system: System) -> None:
    """Ten times: a member removed through replica A (the gateway's) is refused at once by a cache
    fed by replica B's stream, which had the membership warm (no TTL expiry: 600 s)."""
    credentials = ServiceCredentials(AuthSettings(jwt_secret=Secret(system.jwt_secret)), "tests")
    async with own_service(system, create_registry, RegistrySettings, {}) as replica_b:
        client = RegistryClient(replica_b, credentials, membership_ttl_s=600, connection_ttl_s=600)
        await client.start()
        try:
            await asyncio.wait_for(client.ready.wait(), 10)
            ref, owner = await system.new_project()
            for _ in range(10):
                user = f"member-{uuid.uuid4().hex[:8]}"
                await system.add_member(ref, owner, user, "viewer")
                await client.check_access(_principal(user), ref, common_pb2.ROLE_VIEWER)
                warm = client.calls["CheckAccess"]
                await client.check_access(_principal(user), ref, common_pb2.ROLE_VIEWER)
                assert client.calls["CheckAccess"] == warm  # served from the cache
                reply = await system.http.delete(f"/projects/{ref}/members/{user}", headers=system.headers(owner))
                assert reply.status_code in (200, 204), reply.text
                with pytest.raises(NotFound):
                    await client.check_access(_principal(user), ref, common_pb2.ROLE_VIEWER)
        finally:
            await client.close()


async def test_a_write_does_not_wait_long_for_a_replica_that_has_stopped(system: System) -> None:
    """A replica that stops says goodbye: the next write through replica A answers promptly."""
    async with own_service(system, create_registry, RegistrySettings, {}):
        ref, owner = await system.new_project()
    started = time.monotonic()
    await system.add_member(ref, owner, f"member-{uuid.uuid4().hex[:8]}", "viewer")
    # A replica still waited for would hold the write for the whole 2 s barrier timeout.
    assert time.monotonic() - started < 1.9
