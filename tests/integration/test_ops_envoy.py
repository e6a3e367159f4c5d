"""Envoy in front of the real system: HTTPS on the edge (HTTP/1.1 and HTTP/2), gRPC by package path
on the internal listener (grpcurl), a WebSocket subscription, health checks of every upstream,
the edge's own rate limit, and nothing but the API reachable from outside."""

from __future__ import annotations

import asyncio
import json
import logging
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import devstack
import grpc
import httpx
import pytest
import pytest_asyncio
import redis.asyncio as redis_client
from grpc_health.v1 import health_pb2, health_pb2_grpc
from harness import (
    UPSTREAMS,
    Servers,
    System,
    cluster_health,
    envoy_for,
    grpcurl,
    tls_context,
    wait_until_healthy,
)

from udb.server import HealthServicer

pytestmark = pytest.mark.integration

REPO = Path(__file__).resolve().parents[2]


@pytest_asyncio.fixture(scope="module")
async def envoy(system: System, tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[devstack.Stack]:
    async with envoy_for(system, tmp_path_factory.mktemp("envoy")) as stack:
        yield stack


async def test_every_upstream_is_health_checked_and_healthy(envoy: devstack.Stack) -> None:
    """Envoy health-checks the gateway (HTTP) and each gRPC service (gRPC health) and finds them healthy."""
    health = await wait_until_healthy(envoy)
    assert {name: health[name] for name in UPSTREAMS} == dict.fromkeys(UPSTREAMS, "healthy")


@pytest.mark.parametrize("http2", [False, True])
async def test_https_through_envoy_reaches_the_gateway(envoy: devstack.Stack, system: System, http2: bool) -> None:
    """The edge terminates TLS with the file-configured pair and serves the API over HTTP/1.1 and
    HTTP/2, keeping the caller's request id."""
    async with httpx.AsyncClient(
        base_url=envoy.urls["envoy-tls"], verify=tls_context(envoy), http2=http2, timeout=10
    ) as client:
        health = await client.get("/health")
        assert health.status_code == 200, health.text
        assert health.json()["status"] == "ok"
        assert health.http_version == ("HTTP/2" if http2 else "HTTP/1.1")
        request_id = f"via-envoy-{uuid.uuid4().hex[:8]}"
        projects = await client.get("/projects", headers={**system.headers("edge-user"), "x-request-id": request_id})
        assert projects.status_code == 200
        assert projects.headers["x-request-id"] == request_id
        refused = await client.get("/projects")
        assert refused.status_code == 401
        assert refused.json()["error"]["code"] == "unauthenticated"


async def test_the_edge_serves_nothing_but_the_api(envoy: devstack.Stack, system: System) -> None:
    """gRPC paths and other paths are not reachable through the edge: a JSON 404."""
    async with httpx.AsyncClient(verify=tls_context(envoy), timeout=10) as client:
        base = envoy.urls["envoy-tls"].removesuffix("/api/platform")
        for path in ("/udb.registry.v1.RegistryService/ListProjects", "/healthz", "/"):
            reply = await client.post(base + path, headers=system.headers("edge-user"))
            assert reply.status_code == 404
            assert reply.json()["error"]["code"] == "not_found"


async def test_grpcurl_through_envoy_reaches_the_service_by_package_path(
    envoy: devstack.Stack, system: System, caplog: pytest.LogCaptureFixture
) -> None:
    """A grpcurl call to Envoy's internal listener is routed to the registry by its package path,
    with the caller's token and request id."""
    caplog.set_level(logging.INFO, logger="udb.access")
    ref, owner = await system.new_project()
    request_id = f"grpcurl-{uuid.uuid4().hex[:8]}"
    process = await asyncio.create_subprocess_exec(
        grpcurl(),
        "-plaintext",
        "-import-path",
        str(REPO / "protos"),
        "-proto",
        "udb/registry/v1/registry.proto",
        "-H",
        f"authorization: Bearer {system.token(owner)}",
        "-H",
        f"x-request-id: {request_id}",
        "-d",
        json.dumps({"project_ref": ref}),
        f"127.0.0.1:{envoy.ports['envoy']}",
        "udb.registry.v1.RegistryService/ListMembers",
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    stdout, stderr = await asyncio.wait_for(process.communicate(), 30)
    assert process.returncode == 0, stderr.decode()
    assert json.loads(stdout)["members"] == [
        {"userId": owner, "role": "ROLE_OWNER", "createdAt": json.loads(stdout)["members"][0]["createdAt"]}
    ]
    lines = [r for r in caplog.records if getattr(r, "request_id", "") == request_id]
    assert [r.method for r in lines] == ["/udb.registry.v1.RegistryService/ListMembers"]  # type: ignore[attr-defined]


async def test_websocket_subscription_through_envoy(envoy: devstack.Stack, system: System, servers: Servers) -> None:
    """A pub/sub subscription over wss through Envoy receives a message published to its channel."""
    import websockets

    ref, owner = await system.new_project()
    await system.add_connection(ref, owner, "redis", {"identifier": "main", "uri": servers.redis_url})
    channel = f"edge-{uuid.uuid4().hex[:8]}"
    base = envoy.urls["envoy-tls"].replace("https://", "wss://")
    url = f"{base}/redis/{ref}/pubsub/subscribe?channels={channel}&access_token={system.token(owner)}"
    publisher = redis_client.from_url(servers.redis_url)
    try:
        async with websockets.connect(url, ssl=tls_context(envoy), open_timeout=10) as socket:
            # The first frame says every subscription holds.
            first = json.loads(await asyncio.wait_for(socket.recv(), 10))
            assert first["type"] == "subscribe"
            assert await publisher.publish(channel, "hello") == 1
            frame = json.loads(await asyncio.wait_for(socket.recv(), 10))
            assert frame["type"] == "message"
            assert frame["channel"] == channel
            assert frame["data"] == "hello"
    finally:
        await publisher.aclose()


async def test_the_edge_rate_limit_answers_429_in_the_api_shape(system: System, tmp_path: Path) -> None:
    """Envoy's own token bucket (the outer guard) refuses the excess with 429, Retry-After and the API's JSON error."""
    async with envoy_for(system, tmp_path, rate_limit_per_s=1, rate_limit_burst=2) as stack:
        async with httpx.AsyncClient(base_url=stack.urls["envoy-tls"], verify=tls_context(stack), timeout=10) as client:
            statuses = [(await client.get("/health")) for _ in range(4)]
        limited = [reply for reply in statuses if reply.status_code == 429]
        assert limited, [reply.status_code for reply in statuses]
        assert limited[0].headers["retry-after"] == "1"
        assert limited[0].json()["error"]["code"] == "rate_limited"
        assert statuses[0].status_code == 200


async def test_a_service_not_ready_at_envoys_start_is_taken_in_once_it_is(system: System, tmp_path: Path) -> None:
    """An engine that reports NOT_SERVING at Envoy's first check (Envoy started beside it, as compose
    and Kubernetes do) is marked healthy within a check or two of turning ready. Envoy's default
    interval for a cluster that has had no traffic yet is 60 s: the engine stayed out a minute."""
    server = grpc.aio.server()
    engine_health = HealthServicer()
    health_pb2_grpc.add_HealthServicer_to_server(engine_health, server)
    stack = devstack.Stack.create(tmp_path)
    stack.ports.update(system.ports)
    stack.ports["redis-svc"] = server.add_insecure_port("127.0.0.1:0")
    await server.start()
    await engine_health.set("", health_pb2.HealthCheckResponse.NOT_SERVING)
    try:
        await asyncio.to_thread(stack.start_envoy)
        await _until_redis_svc_is(stack, "/failed_active_hc", within_s=10)
        await engine_health.set("", health_pb2.HealthCheckResponse.SERVING)
        await _until_redis_svc_is(stack, "healthy", within_s=15)
    finally:
        await asyncio.to_thread(stack.stop)
        await server.stop(None)


async def _until_redis_svc_is(stack: devstack.Stack, flags: str, *, within_s: float) -> None:
    deadline = asyncio.get_running_loop().time() + within_s
    while (seen := (await asyncio.to_thread(cluster_health, stack)).get("redis_svc")) != flags:
        assert asyncio.get_running_loop().time() < deadline, f"redis_svc is {seen}, not {flags}, after {within_s} s"
        await asyncio.sleep(0.2)
