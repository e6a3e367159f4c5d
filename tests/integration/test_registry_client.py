"""The cached registry client (udb.registry_client) against the real registry: what it caches, what an
invalidation drops, and that a slow listener never delays the invalidations behind it."""

from __future__ import annotations

import asyncio
import uuid

import grpc
import pytest
from harness import System
from prometheus_client import REGISTRY
from registry.server import create_server as create_registry
from registry.settings import Settings as RegistrySettings

from udb.auth import Principal, ServiceCredentials
from udb.common.v1 import common_pb2
from udb.config import AuthSettings, Env, Secret
from udb.errors import NotFound
from udb.registry_client import RegistryClient

pytestmark = pytest.mark.integration

REDIS = common_pb2.DATABASE_TYPE_REDIS


async def _client(system: System) -> RegistryClient:
    credentials = ServiceCredentials(AuthSettings(jwt_secret=Secret(system.jwt_secret)), "tests")
    client = RegistryClient(system.channel("registry"), credentials, connection_ttl_s=600, membership_ttl_s=600)
    await client.start()
    await asyncio.wait_for(client.ready.wait(), 10)
    return client


async def test_a_slow_listener_does_not_hold_up_later_invalidations(system: System) -> None:
    """While a listener is still busy with one change (as a pool close may be), the next change's invalidation
    is applied at once: the second resolve after two updates sees the newest record."""
    client = await _client(system)
    release = asyncio.Event()
    heard: list[tuple[str, str]] = []

    async def slow_listener(project_id: str, connection_id: str) -> None:
        heard.append((project_id, connection_id))
        await release.wait()

    client.add_listener(slow_listener)
    try:
        ref, owner = await system.new_project()
        record = await system.add_connection(
            ref, owner, "redis", {"identifier": "a", "host": "h.internal", "port": 1000}
        )
        target = common_pb2.ConnectionTarget(project_ref=ref, connection_id=record["id"])
        assert (await client.resolve(target, REDIS)).connection.port == 1000
        calls = client.calls["ResolveConnection"]
        assert (await client.resolve(target, REDIS)).connection.port == 1000
        assert client.calls["ResolveConnection"] == calls  # cached

        url = f"/redis/{ref}/connections/{record['id']}"
        for port in (1001, 1002):
            reply = await system.http.put(url, json={"port": port}, headers=system.headers(owner))
            assert reply.status_code == 200
            assert (await client.resolve(target, REDIS)).connection.port == port
        assert client.calls["ResolveConnection"] == calls + 2
        # The listener heard the create and both updates, and is still blocked in every one of them.
        assert [connection_id for _, connection_id in heard] == [record["id"]] * 3
        assert not release.is_set()
    finally:
        release.set()
        await client.close()


async def test_membership_answers_are_cached_and_dropped_on_change(system: System) -> None:
    """A member's role and a non-member's NOT_FOUND are served from memory; adding, changing or removing the
    member drops exactly that answer."""
    client = await _client(system)
    try:
        ref, owner = await system.new_project()
        user = Principal(subject=f"u-{uuid.uuid4().hex[:8]}", role="authenticated", token="unused", expires_at=0)
        with pytest.raises(NotFound):
            await client.check_access(user, ref, common_pb2.ROLE_VIEWER)
        with pytest.raises(NotFound):
            await client.check_access(user, ref, common_pb2.ROLE_VIEWER)
        assert client.calls["CheckAccess"] == 1

        await system.add_member(ref, owner, user.subject, "developer")
        assert (await client.check_access(user, ref, common_pb2.ROLE_DEVELOPER)).role == common_pb2.ROLE_DEVELOPER
        assert (await client.check_access(user, ref, common_pb2.ROLE_VIEWER)).role == common_pb2.ROLE_DEVELOPER
        assert client.calls["CheckAccess"] == 2

        # Another project's change leaves this answer alone.
        other_ref, other_owner = await system.new_project()
        await system.add_member(other_ref, other_owner, user.subject, "viewer")
        await client.check_access(user, ref, common_pb2.ROLE_VIEWER)
        assert client.calls["CheckAccess"] == 2

        removed = await system.http.delete(f"/projects/{ref}/members/{user.subject}", headers=system.headers(owner))
        assert removed.status_code == 200
        with pytest.raises(NotFound):
            await client.check_access(user, ref, common_pb2.ROLE_VIEWER)
        assert client.calls["CheckAccess"] == 3
    finally:
        await client.close()


async def test_a_connection_test_does_not_invalidate_the_record(system: System) -> None:
    """Recording a test's outcome (status only) is not announced: cached records and the engines' pooled
    clients stay; a real change right after is."""
    client = await _client(system)
    heard: list[str] = []

    async def listener(project_id: str, connection_id: str) -> None:
        heard.append(connection_id)

    client.add_listener(listener)
    try:
        ref, owner = await system.new_project()
        record = await system.add_connection(ref, owner, "redis", {"identifier": "a", "host": "127.0.0.1", "port": 1})
        target = common_pb2.ConnectionTarget(project_ref=ref, connection_id=record["id"])
        await client.resolve(target, REDIS)
        calls = client.calls["ResolveConnection"]
        tested = await system.http.post(f"/redis/{ref}/connections/{record['id']}/test", headers=system.headers(owner))
        assert tested.json()["ok"] is False
        assert (
            await system.http.get(f"/redis/{ref}/connections/{record['id']}", headers=system.headers(owner))
        ).json()["status"] == "error"
        # A change elsewhere, answered only once its invalidation is out: anything the test sent came before it.
        other_ref, other_owner = await system.new_project()
        await system.add_member(other_ref, other_owner, "someone", "viewer")
        await client.resolve(target, REDIS)
        assert client.calls["ResolveConnection"] == calls
        assert heard.count(record["id"]) == 1  # the create only

        await system.http.put(
            f"/redis/{ref}/connections/{record['id']}", json={"port": 2}, headers=system.headers(owner)
        )
        assert (await client.resolve(target, REDIS)).connection.port == 2
        assert client.calls["ResolveConnection"] == calls + 1
    finally:
        await client.close()


def _watch_up(service: str) -> float | None:
    return REGISTRY.get_sample_value("udb_registry_watch_up", {"service": service})


async def test_the_watch_gauge_follows_the_invalidation_stream(system: System) -> None:
    """udb_registry_watch_up is 0 before the stream opens, 1 while it is open, 0 once the registry
    goes away (and after close)."""
    service = f"watch-{uuid.uuid4().hex[:8]}"
    credentials = ServiceCredentials(AuthSettings(jwt_secret=Secret(system.jwt_secret)), service)
    settings = RegistrySettings.from_env(Env(environ=system.env, env_file=None))
    registry, port = await create_registry(settings, "127.0.0.1:0")
    await registry.start()
    channel = grpc.aio.insecure_channel(f"127.0.0.1:{port}")
    client = RegistryClient(channel, credentials)
    try:
        assert _watch_up(service) == 0
        await client.start()
        await asyncio.wait_for(client.ready.wait(), 10)
        assert _watch_up(service) == 1
        # The registry stops: the stream breaks, and the client keeps retrying.
        await registry.stop(1)
        async with asyncio.timeout(10):
            while _watch_up(service) != 0:  # noqa: ASYNC110 (polls a metric, which has no event)
                await asyncio.sleep(0.05)
        assert not client.live
    finally:
        await client.close()
        await channel.close()
        await registry.stop(1)
    assert _watch_up(service) == 0
