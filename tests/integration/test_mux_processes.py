"""The multiplexed stream to an engine that dies: redis-svc as a process of its own (python -m redis_svc, on the
session's registry and Redis) is killed with SIGKILL under load, then started again on the same port."""

from __future__ import annotations

import asyncio
import time

import grpc
import pytest
from harness import EngineProcess, Servers, System

from udb.common.v1 import common_pb2
from udb.mux.client import MuxChannel
from udb.redis.v1 import redis_pb2, redis_pb2_grpc

pytestmark = pytest.mark.integration


async def test_killing_the_engine_fails_only_the_calls_in_flight_and_the_next_calls_succeed_once_it_is_back(
    system: System, servers: Servers, engine: EngineProcess
) -> None:
    """Under load through one MuxChannel, SIGKILL of redis-svc fails the calls in flight with UNAVAILABLE and no
    other error; once the engine is started again the next calls succeed on a new stream. (Redis is paused for a
    moment before the kill, so that the calls are surely in flight when it comes.)"""
    ref, owner = await system.new_project()
    await system.add_connection(ref, owner, "redis", {"identifier": "main", "uri": servers.redis_url})
    request = redis_pb2.GetKeyRequest(target=common_pb2.ConnectionTarget(project_ref=ref), key=b"mux:absent")
    metadata = system.metadata(owner)
    #: (started, ended, status code) of every call; OK for a reply (the key is absent: NOT_FOUND is the reply).
    outcomes: list[tuple[float, float, grpc.StatusCode]] = []
    stop = asyncio.Event()
    mux = MuxChannel(grpc.aio.insecure_channel(f"127.0.0.1:{engine.port}"))
    stub = redis_pb2_grpc.RedisServiceStub(mux)

    async def caller() -> None:
        while not stop.is_set():
            started = time.monotonic()
            try:
                await stub.GetKey(request, metadata=metadata, timeout=10)
                code = grpc.StatusCode.OK
            except grpc.aio.AioRpcError as exc:
                code = grpc.StatusCode.OK if exc.code() == grpc.StatusCode.NOT_FOUND else exc.code()
            outcomes.append((started, time.monotonic(), code))
            if code != grpc.StatusCode.OK:
                await asyncio.sleep(0.01)

    callers = [asyncio.create_task(caller()) for _ in range(16)]
    try:
        await asyncio.sleep(0.5)
        assert outcomes
        assert {code for *_, code in outcomes} == {grpc.StatusCode.OK}
        killing_at, restarted_at = await engine.kill_in_flight_and_restart(servers.redis_url)
        deadline = restarted_at + 30
        while time.monotonic() < deadline:
            if any(started > restarted_at and code == grpc.StatusCode.OK for started, _, code in outcomes):
                break
            await asyncio.sleep(0.05)
    finally:
        stop.set()
        await asyncio.gather(*callers)
        await mux.close(1)
    assert {code for *_, code in outcomes} == {grpc.StatusCode.OK, grpc.StatusCode.UNAVAILABLE}
    in_flight = [code for started, ended, code in outcomes if started < killing_at < ended]
    assert len(in_flight) == 16
    assert set(in_flight) == {grpc.StatusCode.UNAVAILABLE}
    # Calls started while the engine was down failed at once: no call waited out its deadline.
    assert all(ended - started < 5 for started, ended, code in outcomes if code != grpc.StatusCode.OK)
    assert any(started > restarted_at and code == grpc.StatusCode.OK for started, _, code in outcomes)
