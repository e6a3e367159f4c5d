"""redis-svc's batched reads (redis_svc.batching): the GetKey calls of one frame share one pipeline round trip to
Redis, each still authorized on its own; a flushed script is loaded again; a Redis that refuses scripts is read
the unbatched way. Against the session's real redis-svc and Redis."""

from __future__ import annotations

import asyncio
import hashlib
import uuid
from collections.abc import AsyncIterator
from typing import Any
from urllib.parse import urlsplit

import grpc
import pytest
import pytest_asyncio
import redis.asyncio as redis
from harness import Servers, System
from redis_svc.batching import BatchedReads
from redis_svc.key_reads import META_SCRIPT

from udb.common.v1 import common_pb2
from udb.mux.client import MuxChannel
from udb.redis.v1 import redis_pb2, redis_pb2_grpc

pytestmark = pytest.mark.integration


@pytest_asyncio.fixture
async def mux(system: System) -> AsyncIterator[redis_pb2_grpc.RedisServiceAsyncStub]:
    channel = MuxChannel(grpc.aio.insecure_channel(f"127.0.0.1:{system.ports['redis-svc']}"))
    yield redis_pb2_grpc.RedisServiceStub(channel)
    await channel.close(1)


@pytest_asyncio.fixture
async def direct(servers: Servers) -> AsyncIterator[redis.Redis]:
    client = redis.Redis.from_url(servers.redis_url)
    yield client
    await client.aclose()


def get(ref: str, key: str, connection_id: str = "") -> redis_pb2.GetKeyRequest:
    target = common_pb2.ConnectionTarget(project_ref=ref, connection_id=connection_id)
    return redis_pb2.GetKeyRequest(target=target, key=key.encode())


async def test_the_reads_of_one_frame_share_a_round_trip_and_each_is_authorized(
    system: System, servers: Servers, mux: Any, direct: redis.Redis, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Reads by a viewer, the owner and a stranger in one frame make one pipeline: the members get their values,
    the stranger NOT_FOUND (not a member), as each would alone."""
    pipelines: list[int] = []
    real = BatchedReads._pipeline

    async def counted(self: BatchedReads, handle: Any, reads: list[Any]) -> Any:
        pipelines.append(len(reads))
        return await real(self, handle, reads)

    monkeypatch.setattr(BatchedReads, "_pipeline", counted)
    ref, owner = await system.new_project()
    viewer, stranger = f"view-{uuid.uuid4().hex[:8]}", f"who-{uuid.uuid4().hex[:8]}"
    await system.add_member(ref, owner, viewer, "viewer")
    await system.add_connection(ref, owner, "redis", {"identifier": "main", "uri": servers.redis_url})
    key = f"batch:{uuid.uuid4().hex[:8]}"
    await direct.set(key, "shared")
    # Warm the caches, so that no call of the frame below waits on the registry.
    for user in (viewer, owner):
        await mux.GetKey(get(ref, key), metadata=system.metadata(user))
    with pytest.raises(grpc.aio.AioRpcError):
        await mux.GetKey(get(ref, key), metadata=system.metadata(stranger))
    pipelines.clear()
    outcomes = await asyncio.gather(
        *(mux.GetKey(get(ref, key), metadata=system.metadata(user)) for user in (viewer, owner, stranger)),
        return_exceptions=True,
    )
    assert [outcome.value.string_value for outcome in outcomes[:2]] == [b"shared", b"shared"]
    assert isinstance(outcomes[2], grpc.aio.AioRpcError)
    assert outcomes[2].code() == grpc.StatusCode.NOT_FOUND
    assert pipelines == [2]


async def test_a_flushed_script_is_loaded_again(
    system: System, servers: Servers, mux: Any, direct: redis.Redis
) -> None:
    """After SCRIPT FLUSH, a batch of reads loads the meta script once more and every read answers."""
    ref, owner = await system.new_project()
    await system.add_connection(ref, owner, "redis", {"identifier": "main", "uri": servers.redis_url})
    keys = [f"flush:{uuid.uuid4().hex[:8]}:{n}" for n in range(4)]
    for key in keys:
        await direct.set(key, key)
    await direct.script_flush()
    replies = await asyncio.gather(*(mux.GetKey(get(ref, key), metadata=system.metadata(owner)) for key in keys))
    assert [reply.value.string_value.decode() for reply in replies] == keys
    sha = hashlib.sha1(META_SCRIPT.encode(), usedforsecurity=False).hexdigest()
    assert await direct.script_exists(sha) == [True]


async def test_a_redis_that_refuses_scripts_is_read_the_unbatched_way(
    system: System, servers: Servers, mux: Any, direct: redis.Redis
) -> None:
    """A connection whose ACL user may not run scripts still reads keys (pipelined TYPE, TTL, ... instead)."""
    user, password = f"noscript-{uuid.uuid4().hex[:6]}", uuid.uuid4().hex
    await direct.execute_command("ACL", "SETUSER", user, "on", f">{password}", "~*", "+@all", "-@scripting")
    try:
        ref, owner = await system.new_project()
        parts = urlsplit(servers.redis_url)
        uri = f"redis://{user}:{password}@{parts.hostname}:{parts.port}/0"
        await system.add_connection(ref, owner, "redis", {"identifier": "main", "uri": uri})
        key = f"noscript:{uuid.uuid4().hex[:8]}"
        await direct.set(key, "plain")
        replies = await asyncio.gather(*(mux.GetKey(get(ref, key), metadata=system.metadata(owner)) for _ in range(3)))
        assert [reply.value.string_value for reply in replies] == [b"plain"] * 3
        assert (await mux.GetKey(get(ref, key), metadata=system.metadata(owner))).encoding == "embstr"
    finally:
        await direct.execute_command("ACL", "DELUSER", user)
