"""Pub/sub fan-out against a real Redis: many subscribers share one Redis connection per target
and process (in redis-svc) and one redis-svc stream per target (in the gateway); channels and
patterns are reference-counted; a slow subscriber is cut alone; subscriptions follow Redis
restarts, member removals and connection changes."""

from __future__ import annotations

import asyncio
import contextlib
import json
import uuid
from collections.abc import AsyncIterator
from typing import Any
from urllib.parse import quote

import grpc
import pytest
import redis.asyncio as redis
from harness import OwnRedis, System, eventually, own_service, redis_numsub
from redis_svc.server import create_server
from redis_svc.settings import Settings
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed

from udb.common.v1 import common_pb2
from udb.redis.v1 import redis_pb2, redis_pb2_grpc

pytestmark = pytest.mark.integration

SUBSCRIBERS = 500


async def own_project(system: System, own_redis: OwnRedis) -> tuple[str, str, redis.Redis]:
    """A project whose primary Redis is this test's own; (ref, owner, a direct client)."""
    ref, owner = await system.new_project()
    await system.add_connection(ref, owner, "redis", {"identifier": "own", "host": "127.0.0.1", "port": own_redis.port})
    return ref, owner, redis.Redis(port=own_redis.port)


def ws_url(system: System, ref: str, query: str, token: str) -> str:
    base = f"ws://127.0.0.1:{system.ports['gateway']}/api/platform/redis/{ref}/pubsub/subscribe"
    return f"{base}?{query}&access_token={token}"


@contextlib.asynccontextmanager
async def websocket(url: str, **options: Any) -> AsyncIterator[ClientConnection]:
    async with connect(url, compression=None, proxy=None, open_timeout=30, **options) as ws:
        yield ws


async def subscribed(ws: ClientConnection) -> dict[str, Any]:
    frame: dict[str, Any] = json.loads(await asyncio.wait_for(ws.recv(), 30))
    assert frame["type"] == "subscribe", frame
    return frame


async def pubsub_connections(direct: redis.Redis) -> list[dict[str, Any]]:
    """redis-svc's connections in pub/sub mode (CLIENT LIST TYPE pubsub)."""
    clients = await direct.client_list(_type="pubsub")
    return [c for c in clients if c.get("name") == "udb-redis-svc"]


async def closed_with(ws: ClientConnection) -> tuple[int, str]:
    """Reads until the server closes; the close code and reason."""
    with pytest.raises(ConnectionClosed) as closed:
        await _drain(ws)
    assert closed.value.rcvd is not None
    return closed.value.rcvd.code, closed.value.rcvd.reason


async def _drain(ws: ClientConnection) -> None:
    for _ in range(100_000):
        await asyncio.wait_for(ws.recv(), 30)


async def test_500_websockets_share_one_redis_connection_and_all_get_every_message(
    system: System, own_redis: OwnRedis
) -> None:
    """500 WebSockets on one target (on a channel, a pattern, or both) hold one redis-svc
    connection in pub/sub mode and one stream in the gateway; every message reaches every
    subscriber of its channel or pattern, once per subscription, in order."""
    ref, owner, direct = await own_project(system, own_redis)
    token = system.token(owner)
    hub = system.app.state.backends.pubsub
    async with contextlib.AsyncExitStack() as stack:
        sockets: list[tuple[ClientConnection, int]] = []
        for n in range(SUBSCRIBERS):
            query, copies = [("channels=news", 1), ("patterns=new*", 1), ("channels=news&patterns=n*", 2)][n % 3]
            ws = await stack.enter_async_context(websocket(ws_url(system, ref, query, token)))
            sockets.append((ws, copies))
        await asyncio.gather(*(subscribed(ws) for ws, _ in sockets))
        assert len(await pubsub_connections(direct)) == 1
        assert len(hub) == 1
        assert await redis_numsub(direct, "news") == 1
        assert await direct.pubsub_numpat() == 2
        for i in range(5):
            assert await direct.publish("news", f"m{i}") == 3  # the channel and two patterns, once each

        async def receive(ws: ClientConnection, copies: int) -> list[str]:
            return [json.loads(await asyncio.wait_for(ws.recv(), 30))["data"] for _ in range(5 * copies)]

        received = await asyncio.gather(*(receive(ws, copies) for ws, copies in sockets))
        for (_, copies), data in zip(sockets, received, strict=True):
            assert sorted(data) == sorted([f"m{i}" for i in range(5)] * copies)
            assert [d for d in data if d == "m0"] and data.index("m0") < data.index("m4")
    await eventually(lambda: _zero(pubsub_connections(direct)))
    assert len(hub) == 0
    await direct.aclose()


async def test_grpc_subscribe_streams_share_one_connection_per_record(system: System, own_redis: OwnRedis) -> None:
    """200 Subscribe streams straight to redis-svc, on one record, hold one Redis connection;
    each gets every message; once all are cancelled the connection is closed."""
    ref, owner, direct = await own_project(system, own_redis)
    target = common_pb2.ConnectionTarget(project_ref=ref)
    metadata = system.metadata(owner)
    calls = [
        system.redis.Subscribe(redis_pb2.SubscribeRequest(target=target, channels=[b"grpc"]), metadata=metadata)
        for _ in range(200)
    ]
    try:
        for call in calls:
            assert (await call.read()).type == "subscribe"
        assert len(await pubsub_connections(direct)) == 1
        await direct.publish("grpc", b"\x00\xff")
        for call in calls:
            message = await call.read()
            assert (message.type, message.channel, message.data) == ("message", b"grpc", b"\x00\xff")
    finally:
        for call in calls:
            call.cancel()
    await eventually(lambda: _zero(pubsub_connections(direct)))
    await direct.aclose()


async def test_last_unsubscribe_leaves_no_subscription(system: System, own_redis: OwnRedis) -> None:
    """Channels and patterns are counted: one left by one subscriber stays while another wants
    it; after the last leaves, NUMSUB and NUMPAT are zero and the connection is closed."""
    ref, owner, direct = await own_project(system, own_redis)
    token = system.token(owner)
    async with websocket(ws_url(system, ref, "channels=a,b&patterns=p.*", token)) as first:
        await subscribed(first)
        async with websocket(ws_url(system, ref, "channels=b,c&patterns=p.*", token)) as second:
            await subscribed(second)
            assert [await redis_numsub(direct, c) for c in "abc"] == [1, 1, 1]
            assert await direct.pubsub_numpat() == 1
        await eventually(lambda: _zero(redis_numsub(direct, "c")))
        assert [await redis_numsub(direct, c) for c in "ab"] == [1, 1]
        assert await direct.pubsub_numpat() == 1
        await direct.publish("b", "still")
        assert json.loads(await asyncio.wait_for(first.recv(), 10))["data"] == "still"
    await eventually(lambda: _zero(redis_numsub(direct, "a")))
    assert await redis_numsub(direct, "b") == 0
    assert await direct.pubsub_numpat() == 0
    await eventually(lambda: _zero(pubsub_connections(direct)))
    await direct.aclose()


async def test_a_slow_subscriber_is_cut_without_delaying_the_others(
    system: System, own_redis: OwnRedis, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A WebSocket that stops reading is closed with 1013 once its queue overflows, while the
    subscriber reading beside it on the same channel gets every message, and the shared
    subscription stays."""
    from gateway.routes import redis_pubsub

    monkeypatch.setattr(redis_pubsub, "MAX_QUEUED_MESSAGES", 8)
    ref, owner, direct = await own_project(system, own_redis)
    token = system.token(owner)
    payload = "x" * (128 * 1024)
    count = 300
    async with (
        websocket(ws_url(system, ref, "channels=flood", token), max_queue=1, max_size=2**20) as slow,
        websocket(ws_url(system, ref, "channels=flood", token), max_size=2**20) as fast,
    ):
        await subscribed(slow)
        await subscribed(fast)

        received: list[str] = []
        progress = asyncio.Condition()

        async def read_all() -> None:
            for _ in range(count):
                data = json.loads(await asyncio.wait_for(fast.recv(), 30))["data"]
                async with progress:
                    received.append(data)
                    progress.notify_all()

        reading = asyncio.create_task(read_all())
        for i in range(count):
            await direct.publish("flood", payload)
            # The reader keeps within a few messages (never near its own bound of 8), however
            # busy the machine; the slow socket's queue grows until it is cut.
            async with progress:
                await progress.wait_for(lambda sent=i: len(received) >= sent - 3 or reading.done())
        await reading
        assert received == [payload] * count  # every message, while the slow one was cut
        code, reason = await closed_with(slow)
        assert (code, "too slow" in reason) == (1013, True)
        assert await redis_numsub(direct, "flood") == 1
    await direct.aclose()


async def test_a_removed_member_loses_their_stream_and_others_keep_theirs(system: System, own_redis: OwnRedis) -> None:
    """When a member is removed, their WebSocket closes with 4404; another member's on the same
    channel keeps receiving."""
    ref, owner, direct = await own_project(system, own_redis)
    viewer = f"viewer-{uuid.uuid4().hex[:8]}"
    await system.add_member(ref, owner, viewer, "viewer")
    async with (
        websocket(ws_url(system, ref, "channels=room", system.token(viewer))) as leaving,
        websocket(ws_url(system, ref, "channels=room", system.token(owner))) as staying,
    ):
        await subscribed(leaving)
        await subscribed(staying)
        removed = await system.http.delete(f"/projects/{ref}/members/{viewer}", headers=system.headers(owner))
        assert removed.status_code == 200, removed.text
        code, _ = await closed_with(leaving)
        assert code == 4404
        await direct.publish("room", "after")
        assert json.loads(await asyncio.wait_for(staying.recv(), 10))["data"] == "after"
    await direct.aclose()


async def test_a_changed_connection_ends_its_streams(system: System, own_redis: OwnRedis) -> None:
    """Editing the connection record ends the streams on it (1011, subscribe again); a new
    WebSocket subscribes on the record as it now is."""
    ref, owner, direct = await own_project(system, own_redis)
    token = system.token(owner)
    record = (await system.http.get(f"/redis/{ref}/connections", headers=system.headers(owner))).json()["data"][0]
    async with websocket(ws_url(system, ref, "channels=c1", token)) as ws:
        await subscribed(ws)
        changed = await system.http.put(
            f"/redis/{ref}/connections/{record['id']}", json={"identifier": "renamed"}, headers=system.headers(owner)
        )
        assert changed.status_code == 200, changed.text
        code, reason = await closed_with(ws)
        assert code == 1011 and "subscribe again" in reason
    async with websocket(ws_url(system, ref, "channels=c1", token)) as again:
        await subscribed(again)
        await direct.publish("c1", "new")
        assert json.loads(await asyncio.wait_for(again.recv(), 10))["data"] == "new"
    await direct.aclose()


async def test_every_subscriber_is_told_after_a_redis_restart(system: System, own_redis: OwnRedis) -> None:
    """When Redis restarts mid-stream, the shared connection subscribes every channel and pattern
    again and each WebSocket gets a resubscribe frame with its own names, then messages again."""
    ref, owner, direct = await own_project(system, own_redis)
    token = system.token(owner)
    queries = ["channels=a", "patterns=b.*", f"channels={quote('a')}&patterns=b.*"]
    async with contextlib.AsyncExitStack() as stack:
        sockets = [await stack.enter_async_context(websocket(ws_url(system, ref, q, token))) for q in queries]
        for ws in sockets:
            await subscribed(ws)
        own_redis.stop()
        await asyncio.sleep(0.3)
        own_redis.start()
        frames = [json.loads(await asyncio.wait_for(ws.recv(), 20)) for ws in sockets]
        assert frames == [
            {"type": "resubscribe", "channels": ["a"], "patterns": []},
            {"type": "resubscribe", "channels": [], "patterns": ["b.*"]},
            {"type": "resubscribe", "channels": ["a"], "patterns": ["b.*"]},
        ]
        assert len(await pubsub_connections(direct)) == 1
        await direct.publish("b.x", "back")
        assert json.loads(await asyncio.wait_for(sockets[1].recv(), 10))["data"] == "back"
    await direct.aclose()


async def test_a_redis_that_stays_away_ends_the_streams(system: System, own_redis: OwnRedis) -> None:
    """Past REDIS_SUBSCRIBE_RECONNECT_S without Redis, the stream ends UNAVAILABLE (over gRPC)."""
    ref, owner, direct = await own_project(system, own_redis)
    await direct.aclose()

    async with own_service(system, create_server, Settings, {"REDIS_SUBSCRIBE_RECONNECT_S": "1"}) as channel:
        stub = redis_pb2_grpc.RedisServiceStub(channel)
        call = stub.Subscribe(
            redis_pb2.SubscribeRequest(target=common_pb2.ConnectionTarget(project_ref=ref), channels=[b"gone"]),
            metadata=system.metadata(owner),
        )
        assert (await call.read()).type == "subscribe"
        own_redis.stop()
        with pytest.raises(grpc.aio.AioRpcError) as caught:
            await asyncio.wait_for(call.read(), 30)
        assert caught.value.code() == grpc.StatusCode.UNAVAILABLE


async def _zero(value: Any) -> bool:
    result = await value
    return (len(result) if isinstance(result, list) else result) == 0


async def test_a_subscription_to_a_redis_that_is_down_fails_with_1011(system: System, own_redis: OwnRedis) -> None:
    """Subscribing while the target's Redis is down answers an error frame (unavailable) and
    close code 1011, within the connect timeout, not a hang."""
    ref, owner, direct = await own_project(system, own_redis)
    await direct.aclose()
    own_redis.stop()
    async with websocket(ws_url(system, ref, "channels=x", system.token(owner))) as ws:
        frame = json.loads(await asyncio.wait_for(ws.recv(), 20))
        assert frame["type"] == "error"
        assert frame["error"]["code"] == "unavailable"
        code, _ = await closed_with(ws)
    assert code == 1011


async def test_a_dropped_connection_is_resubscribed_and_subscribers_told(system: System, own_redis: OwnRedis) -> None:
    """When Redis drops the shared connection while staying up (CLIENT KILL), redis-svc
    reconnects at once, subscribes again, and every WebSocket gets a resubscribe frame."""
    ref, owner, direct = await own_project(system, own_redis)
    token = system.token(owner)
    async with (
        websocket(ws_url(system, ref, "channels=k", token)) as first,
        websocket(ws_url(system, ref, "patterns=k.*", token)) as second,
    ):
        await subscribed(first)
        await subscribed(second)
        assert await direct.client_kill_filter(_type="pubsub") == 1
        assert json.loads(await asyncio.wait_for(first.recv(), 15)) == {
            "type": "resubscribe",
            "channels": ["k"],
            "patterns": [],
        }
        assert json.loads(await asyncio.wait_for(second.recv(), 15))["type"] == "resubscribe"
        await direct.publish("k", "again")
        assert json.loads(await asyncio.wait_for(first.recv(), 10))["data"] == "again"
    await direct.aclose()
