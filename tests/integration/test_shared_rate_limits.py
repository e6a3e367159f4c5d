"""Rate limits shared by two gateways through redis-svc's RateLimitService and a real Redis."""

from __future__ import annotations

import asyncio
import contextlib
import time
import uuid
from collections.abc import AsyncIterator

import grpc
import httpx
import pytest
from gateway.middleware import RouteClass, classify
from harness import System, own_gateway
from redis_svc.server import create_server as create_redis
from redis_svc.settings import Settings as RedisSettings

from udb.config import Env
from udb.redis.v1 import ratelimit_pb2, ratelimit_pb2_grpc

pytestmark = pytest.mark.integration

#: A write (classify says so below) on a project nobody has: answered at once, counted all the same.
WRITE_PATH = "/projects/none-such/redis/keys"
#: Each gateway's own limit; together, shared, they should admit about one gateway's worth.
LIMITS = {"RATE_LIMIT_WRITE_PER_S": "5", "RATE_LIMIT_WRITE_BURST": "5"}


@contextlib.asynccontextmanager
async def shared_redis_svc(system: System) -> AsyncIterator[int]:
    """A redis-svc with RATE_LIMIT_REDIS_URL on the session's Redis (keys under a prefix of this
    test's own); yields its port."""
    env = {
        **system.env,
        "RATE_LIMIT_REDIS_URL": system.servers.redis_url,
        "RATE_LIMIT_KEY_PREFIX": f"udb:rl:test-{uuid.uuid4().hex[:8]}:",
    }
    server, port = await create_redis(RedisSettings.from_env(Env(environ=env, env_file=None)), "127.0.0.1:0")
    await server.start()
    try:
        yield port
    finally:
        await server.stop(1)


async def admitted(clients: list[httpx.AsyncClient], user: str, system: System, seconds: float) -> tuple[int, int]:
    """Writes by ``user`` at about 50 a second, alternating between the gateways, for ``seconds``;
    returns how many were admitted (not 429) and how many were sent."""
    headers = system.headers(user)
    passed = sent = 0
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        reply = await clients[sent % len(clients)].post(WRITE_PATH, json={}, headers=headers)
        sent += 1
        passed += reply.status_code != 429
        await asyncio.sleep(0.02)
    return passed, sent


async def test_a_users_writes_across_two_gateways_are_limited_to_about_one_shared_limit(system: System) -> None:
    """Split across two gateways sharing redis-svc's counters, a user's writes pass at about one
    gateway's limit (well below the two local limits' sum), and another user is not affected."""
    assert classify("POST", WRITE_PATH) is RouteClass.WRITE
    async with shared_redis_svc(system) as port:
        svc = {"REDIS_SVC_ADDR": f"127.0.0.1:{port}", **LIMITS}
        async with own_gateway(system, **svc) as (first, _), own_gateway(system, **svc) as (second, _):
            passed, sent = await admitted([first, second], f"burst-{uuid.uuid4().hex[:6]}", system, 4.0)
            # Per process each gateway would admit its burst and 5/s of its half of the demand:
            # 2 x (5 + 20) = 50 in 4 s (48 measured, 24-25 shared). Shared: about 5 + 20, plus some slack.
            assert sent >= 80, f"too few requests sent ({sent}) to tell"
            assert 15 <= passed <= 40, (passed, sent)
            other = system.headers(f"other-{uuid.uuid4().hex[:6]}")
            statuses = [
                (await client.post(WRITE_PATH, json={}, headers=other)).status_code for client in (first, second)
            ]
            assert 429 not in statuses


async def test_without_the_setting_each_gateway_limits_on_its_own(system: System) -> None:
    """With no RATE_LIMIT_REDIS_URL on redis-svc each gateway keeps its own full bucket, as before."""
    limits = {"RATE_LIMIT_WRITE_PER_S": "0.01", "RATE_LIMIT_WRITE_BURST": "3", "RATE_LIMIT_SYNC_INTERVAL_S": "0.05"}
    async with own_gateway(system, **limits) as (first, _), own_gateway(system, **limits) as (second, _):
        headers = system.headers(f"solo-{uuid.uuid4().hex[:6]}")
        for client in (first, second):
            statuses = [(await client.post(WRITE_PATH, json={}, headers=headers)).status_code for _ in range(3)]
            assert 429 not in statuses
            await asyncio.sleep(0.2)  # syncs happen meanwhile, and change nothing
            assert (await client.post(WRITE_PATH, json={}, headers=headers)).status_code == 429
    stub = ratelimit_pb2_grpc.RateLimitServiceStub(system.channel("redis-svc"))
    reply = await stub.Sync(ratelimit_pb2.SyncRateLimitsRequest(), metadata=system.metadata())
    assert not reply.shared


async def test_sync_adds_every_callers_consumption_and_refuses_users(system: System) -> None:
    """Services' deltas add up per bucket and window; a user's token gets PERMISSION_DENIED; bad keys are refused."""
    async with shared_redis_svc(system) as port, grpc.aio.insecure_channel(f"127.0.0.1:{port}") as channel:
        stub = ratelimit_pb2_grpc.RateLimitServiceStub(channel)
        key = uuid.uuid4().hex

        def request(consumed: int) -> ratelimit_pb2.SyncRateLimitsRequest:
            return ratelimit_pb2.SyncRateLimitsRequest(buckets=[ratelimit_pb2.BucketUsage(key=key, consumed=consumed)])

        first = await stub.Sync(request(3), metadata=system.metadata())
        second = await stub.Sync(request(4), metadata=system.metadata())
        assert first.shared and second.shared
        if first.window == second.window:  # a window boundary between the two is possible
            assert second.buckets[0].window_total == 7
        else:
            assert (second.buckets[0].window_total, second.buckets[0].previous_total) == (4, 3)
        with pytest.raises(grpc.aio.AioRpcError) as denied:
            await stub.Sync(request(1), metadata=system.metadata("a-user"))
        assert denied.value.code() is grpc.StatusCode.PERMISSION_DENIED
        bad = ratelimit_pb2.SyncRateLimitsRequest(buckets=[ratelimit_pb2.BucketUsage(key="k" * 129, consumed=1)])
        with pytest.raises(grpc.aio.AioRpcError) as refused:
            await stub.Sync(bad, metadata=system.metadata())
        assert refused.value.code() is grpc.StatusCode.INVALID_ARGUMENT
