"""Idle channels keep their connection: servers accept the keepalive pings channels send."""

from __future__ import annotations

import asyncio

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc

from udb.server import HealthServicer, grpc_options, server_options

pytestmark = pytest.mark.integration

PING_MS = 200


async def _idle_channel_state_changes(options: list[tuple[str, object]]) -> list[grpc.ChannelConnectivity]:
    server = grpc.aio.server(options=options)
    health_pb2_grpc.add_HealthServicer_to_server(HealthServicer(), server)
    port = server.add_insecure_port("127.0.0.1:0")
    await server.start()
    channel = grpc.aio.insecure_channel(f"127.0.0.1:{port}", options=grpc_options(1 << 20, keepalive_time_ms=PING_MS))
    try:
        await health_pb2_grpc.HealthStub(channel).Check(health_pb2.HealthCheckRequest())
        states = [channel.get_state()]
        for _ in range(20):  # 3 s idle: about 15 pings
            await asyncio.sleep(0.15)
            if channel.get_state() != states[-1]:
                states.append(channel.get_state())
        return states
    finally:
        await channel.close(None)
        await server.stop(None)


async def test_an_idle_channel_stays_connected_to_our_servers() -> None:
    """A channel pinging an idle connection keeps it READY: no GOAWAY "too_many_pings"."""
    states = await _idle_channel_state_changes(server_options(1 << 20, keepalive_time_ms=PING_MS))
    assert states == [grpc.ChannelConnectivity.READY]


async def test_a_server_with_grpc_defaults_would_drop_it() -> None:
    """The same channel against gRPC's default server policy is dropped (what the options fix)."""
    states = await _idle_channel_state_changes([])
    assert states[0] == grpc.ChannelConnectivity.READY
    assert len(states) > 1
