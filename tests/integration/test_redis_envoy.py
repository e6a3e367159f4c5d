"""The Redis routes through Envoy, as deployed: HTTP with a '/' inside a key, the pub/sub
WebSocket upgrade, and redis-svc's gRPC API routed by package path."""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from urllib.parse import quote

import devstack
import grpc
import httpx
import pytest
import pytest_asyncio
from harness import Servers, System
from websockets.asyncio.client import connect

from udb.common.v1 import common_pb2
from udb.redis.v1 import redis_pb2, redis_pb2_grpc

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def envoy_port(system: System, tmp_path_factory: pytest.TempPathFactory) -> Iterator[int]:
    """Envoy with the deployment's config, in front of this session's gateway and services."""
    stack = devstack.Stack.create(Path(tmp_path_factory.mktemp("envoy")))
    stack.ports.update({name: system.ports[name] for name in ("gateway", *devstack.SERVICES)})
    try:
        stack.start_envoy()
        yield stack.ports["envoy"]
    finally:
        stack.stop()


@pytest_asyncio.fixture(scope="module")
async def project(system: System, servers: Servers) -> AsyncIterator[tuple[str, str]]:
    ref, owner = await system.new_project()
    await system.add_connection(ref, owner, "redis", {"identifier": "main", "uri": servers.redis_url})
    yield ref, owner


async def test_http_through_envoy_keeps_an_encoded_slash_inside_the_key(
    system: System, envoy_port: int, project: tuple[str, str]
) -> None:
    """Envoy passes %2F through unchanged, so a key with '/' is created and read as one key."""
    ref, owner = project
    name = f"envoy/{uuid.uuid4().hex[:6]}"
    async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{envoy_port}/api/platform", timeout=30) as http:
        headers = system.headers(owner)
        created = await http.post(
            f"/redis/{ref}/keys/{quote(name, safe='')}", json={"type": "string", "value": "via envoy"}, headers=headers
        )
        assert created.status_code == 201, created.text
        body = (await http.get(f"/redis/{ref}/keys/{quote(name, safe='')}", headers=headers)).json()
    assert body["key"] == name
    assert body["value"] == "via envoy"


async def test_websocket_through_envoy_receives_messages(
    system: System, envoy_port: int, project: tuple[str, str]
) -> None:
    """The pub/sub WebSocket upgrades through Envoy and carries messages."""
    ref, owner = project
    channel = f"envoy-{uuid.uuid4().hex[:6]}"
    url = (
        f"ws://127.0.0.1:{envoy_port}/api/platform/redis/{ref}/pubsub/subscribe"
        f"?channels={channel}&access_token={system.token(owner)}"
    )
    async with connect(url, compression=None, proxy=None, open_timeout=10) as ws:
        assert json.loads(await asyncio.wait_for(ws.recv(), 10))["type"] == "subscribe"
        reply = await system.http.post(
            f"/redis/{ref}/pubsub/publish", json={"channel": channel, "message": "hi"}, headers=system.headers(owner)
        )
        assert reply.json() == {"receivers": 1}
        assert json.loads(await asyncio.wait_for(ws.recv(), 10))["data"] == "hi"


async def test_grpc_through_envoy_reaches_redis_svc(system: System, envoy_port: int, project: tuple[str, str]) -> None:
    """A gRPC caller reaches RedisService through Envoy's package-path route, with its own token."""
    ref, owner = project
    await system.http.post(
        f"/redis/{ref}/keys/grpc-key", json={"type": "string", "value": "g"}, headers=system.headers(owner)
    )
    async with grpc.aio.insecure_channel(f"127.0.0.1:{envoy_port}") as channel:
        stub = redis_pb2_grpc.RedisServiceStub(channel)
        key = await stub.GetKey(
            redis_pb2.GetKeyRequest(target=common_pb2.ConnectionTarget(project_ref=ref), key=b"grpc-key"),
            metadata=system.metadata(owner),
            timeout=10,
        )
    assert key.value.string_value == b"g"
