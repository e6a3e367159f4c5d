"""Health that tells the truth: with the platform database stopped (a real Postgres, fast shutdown)
the registry reports NOT_SERVING for readiness and stays live, the engines and the gateway follow
the registry, and the gateway's /health says so; all of it comes back once the database does."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import devstack
import grpc
import pytest
import pytest_asyncio
from grpc_health.v1 import health_pb2, health_pb2_grpc
from harness import Servers, System, start_system
from process_faults import health_status, start_postgres, stop_postgres, until_status

from udb.readiness import LIVENESS

pytestmark = pytest.mark.integration

REGISTRY_SERVICE = "udb.registry.v1.RegistryService"


@pytest_asyncio.fixture
async def own_platform(
    servers: Servers, jwt_secret: str, tmp_path: Path
) -> AsyncIterator[tuple[System, devstack.Stack]]:
    """The five services in this process on a platform Postgres cluster of the test's own."""
    stack = devstack.Stack.create(tmp_path)
    try:
        await asyncio.to_thread(stack.start_postgres, "platform")
        name = f"udb_health_{uuid.uuid4().hex[:8]}"
        platform_url = await asyncio.to_thread(stack.create_database, name, cluster="platform")
        async with start_system(servers, jwt_secret=jwt_secret, platform_url=platform_url) as system:
            yield system, stack
    finally:
        await asyncio.to_thread(stack.stop)


async def test_readiness_follows_the_platform_database_and_liveness_does_not(
    own_platform: tuple[System, devstack.Stack],
) -> None:
    """Platform database stopped: registry, engines and gateway /health are not ready (503, registry
    NOT_SERVING), the registry stays live; restarted: all ready again."""
    system, stack = own_platform
    registry = system.channel("registry")
    engines = {name: system.channel(name) for name in ("redis-svc", "mongo-svc", "pg-svc")}
    assert await health_status(registry) == "SERVING"
    assert (await system.http.get("/health")).status_code == 200

    argv = await asyncio.to_thread(stop_postgres, stack, "platform")
    try:
        await until_status(registry, "", "NOT_SERVING", limit_s=10)
        assert await health_status(registry, REGISTRY_SERVICE) == "NOT_SERVING"
        assert await health_status(registry, LIVENESS) == "SERVING"
        for channel in engines.values():
            await until_status(channel, "", "NOT_SERVING", limit_s=10)
            assert await health_status(channel, LIVENESS) == "SERVING"
        reply = await system.http.get("/health")
        assert reply.status_code == 503
        assert reply.json()["status"] == "unavailable"
        assert reply.json()["services"]["registry"] == "NOT_SERVING"
        # The gateway itself still answers: its liveness route stays 200.
        assert (await system.http.get(f"{system.base_url.removesuffix('/api/platform')}/healthz")).status_code == 200
    finally:
        await asyncio.to_thread(start_postgres, stack, "platform", argv)

    await until_status(registry, "", "SERVING", limit_s=15)
    for channel in engines.values():
        await until_status(channel, "", "SERVING", limit_s=15)
    reply = await system.http.get("/health")
    assert reply.status_code == 200, reply.text


async def test_a_service_reports_liveness_and_readiness_by_name(system: System) -> None:
    """A service reports readiness on "" and its service names, liveness on "liveness", and an
    unknown name is NOT_FOUND (standard gRPC health)."""
    channel = system.channel("registry")
    for service in ("", REGISTRY_SERVICE, LIVENESS):
        assert await health_status(channel, service) == "SERVING"
    with pytest.raises(grpc.RpcError) as caught:
        await health_pb2_grpc.HealthStub(channel).Check(health_pb2.HealthCheckRequest(service="no.such.Service"))
    assert caught.value.code() == grpc.StatusCode.NOT_FOUND
