"""The Redis engine end to end: every /redis/[ref] route through the real gateway, redis-svc and a
real Redis, for every data type, binary keys and values, paging, pub/sub over a real WebSocket,
roles, bad input, a Redis that restarts and one that is down."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import os
import time
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

import devstack
import pytest
import pytest_asyncio
import redis.asyncio as redis
from harness import OwnRedis, Servers, System, eventually, redis_numsub
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed

from udb.engine import EngineRuntime

pytestmark = pytest.mark.integration


@dataclass
class RedisProject:
    """A project whose primary Redis connection is the session's Redis, with one user per role."""

    ref: str
    owner: str
    developer: str
    viewer: str
    direct: redis.Redis

    def url(self, path: str) -> str:
        return f"/redis/{self.ref}/{path}"


@pytest_asyncio.fixture(scope="module")
async def rp(system: System, servers: Servers) -> AsyncIterator[RedisProject]:
    ref, owner = await system.new_project()
    developer, viewer = f"dev-{uuid.uuid4().hex[:8]}", f"view-{uuid.uuid4().hex[:8]}"
    await system.add_member(ref, owner, developer, "developer")
    await system.add_member(ref, owner, viewer, "viewer")
    await system.add_connection(ref, owner, "redis", {"identifier": "main", "uri": servers.redis_url})
    direct = redis.Redis.from_url(servers.redis_url)
    yield RedisProject(ref, owner, developer, viewer, direct)
    await direct.aclose()


@pytest.fixture
def prefix() -> str:
    """A key prefix of this test's own."""
    return f"t:{uuid.uuid4().hex[:10]}:"


def k(key: str) -> str:
    return quote(key, safe="")


async def get(system: System, rp: RedisProject, path: str, user: str | None = None, **params: Any) -> Any:
    return await system.http.get(rp.url(path), params=params, headers=system.headers(user or rp.owner))


async def call(
    system: System, rp: RedisProject, method: str, path: str, body: Any = None, user: str | None = None
) -> Any:
    return await system.http.request(method, rp.url(path), json=body, headers=system.headers(user or rp.developer))


async def seed_every_type(direct: redis.Redis, prefix: str) -> None:
    await direct.set(f"{prefix}string", "hello")
    await direct.hset(f"{prefix}hash", mapping={"a": "1", "b": "2"})
    await direct.rpush(f"{prefix}list", "x", "y", "z")
    await direct.sadd(f"{prefix}set", "m1", "m2")
    await direct.zadd(f"{prefix}zset", {"low": 1.5, "high": 10, "top": float("inf")})
    await direct.xadd(f"{prefix}stream", {"f": "v"}, id="1-1")
    await direct.xadd(f"{prefix}stream", {"g": "w"}, id="2-0")
    await direct.expire(f"{prefix}string", 1000)


# ---- keys: scan ---------------------------------------------------------------------------


async def test_scan_returns_every_key_with_type_and_ttl_across_pages(
    system: System, rp: RedisProject, prefix: str
) -> None:
    """SCAN with a pattern pages by cursor until "0", each key with its type and TTL."""
    await seed_every_type(rp.direct, prefix)
    seen: dict[str, dict[str, Any]] = {}
    cursor = ""
    for _ in range(10_000):
        reply = await get(system, rp, "keys", pattern=f"{prefix}*", count=3, cursor=cursor)
        assert reply.status_code == 200, reply.text
        body = reply.json()
        for entry in body["data"]:
            seen[entry["key"]] = entry
        cursor = body["cursor"]
        if cursor == "0":
            break
    assert {name.removeprefix(prefix) for name in seen} == {"string", "hash", "list", "set", "zset", "stream"}
    assert {entry["type"] for entry in seen.values()} == {"string", "hash", "list", "set", "zset", "stream"}
    assert 990 <= seen[f"{prefix}string"]["ttl"] <= 1000
    assert seen[f"{prefix}hash"]["ttl"] == -1


async def test_scan_filters_by_type(system: System, rp: RedisProject, prefix: str) -> None:
    """?type=hash returns only hashes."""
    await seed_every_type(rp.direct, prefix)
    found: list[dict[str, Any]] = []
    cursor = ""
    while cursor != "0":
        body = (await get(system, rp, "keys", pattern=f"{prefix}*", type="hash", count=1000, cursor=cursor)).json()
        found += body["data"]
        cursor = body["cursor"]
    assert found == [{"key": f"{prefix}hash", "type": "hash", "ttl": -1}]


async def test_scan_with_size_adds_each_keys_memory_and_length(system: System, rp: RedisProject, prefix: str) -> None:
    """?with_size=true gives each key its MEMORY USAGE and element count, as Redis reports them;
    without it the rows carry neither."""
    await seed_every_type(rp.direct, prefix)
    rows: dict[str, dict[str, Any]] = {}
    cursor = ""
    while cursor != "0":
        body = (await get(system, rp, "keys", pattern=f"{prefix}*", count=1000, cursor=cursor, with_size="true")).json()
        rows.update((entry["key"], entry) for entry in body["data"])
        cursor = body["cursor"]
    lengths = {
        "string": await rp.direct.strlen(f"{prefix}string"),
        "hash": await rp.direct.hlen(f"{prefix}hash"),
        "list": await rp.direct.llen(f"{prefix}list"),
        "set": await rp.direct.scard(f"{prefix}set"),
        "zset": await rp.direct.zcard(f"{prefix}zset"),
        "stream": await rp.direct.xlen(f"{prefix}stream"),
    }
    for name, length in lengths.items():
        entry = rows[f"{prefix}{name}"]
        assert entry["length"] == length, entry
        assert entry["memory"] == await rp.direct.memory_usage(f"{prefix}{name}", samples=0), entry
    plain = (await get(system, rp, "keys", pattern=f"{prefix}hash", count=1000)).json()["data"]
    assert all("memory" not in entry and "length" not in entry for entry in plain)


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"count": "0"}, "count"),
        ({"count": "1001"}, "count"),
        ({"count": "many"}, "count"),
        ({"cursor": "abc"}, "cursor"),
        ({"cursor": "-1"}, "cursor"),
        ({"type": "blob"}, "type"),
        ({"pattern": "user:[abc"}, "pattern"),
        ({"pattern": "user:\\"}, "pattern"),
    ],
)
async def test_scan_bad_parameters_are_400(
    system: System, rp: RedisProject, params: dict[str, str], field: str
) -> None:
    """A bad count, cursor, type or pattern is a 400 that names the parameter."""
    reply = await get(system, rp, "keys", **params)
    assert reply.status_code == 400, reply.text
    error = reply.json()["error"]
    assert error["code"] == "invalid_argument"
    assert field in json.dumps(error)


# ---- keys: get by type --------------------------------------------------------------------


async def test_get_returns_each_type_in_its_shape(system: System, rp: RedisProject, prefix: str) -> None:
    """GET keys/[key] shapes string, hash, list, set, zset and stream values as API.md says."""
    await seed_every_type(rp.direct, prefix)
    expected: dict[str, Any] = {
        "string": "hello",
        "hash": {"a": "1", "b": "2"},
        "list": ["x", "y", "z"],
        "zset": [{"member": "low", "score": 1.5}, {"member": "high", "score": 10}, {"member": "top", "score": "inf"}],
        "stream": [{"id": "1-1", "fields": {"f": "v"}}, {"id": "2-0", "fields": {"g": "w"}}],
    }
    sizes = {"string": 5, "hash": 2, "list": 3, "set": 2, "zset": 3, "stream": 2}
    for name, size in sizes.items():
        reply = await get(system, rp, f"keys/{k(prefix + name)}", user=rp.viewer)
        assert reply.status_code == 200, reply.text
        body = reply.json()
        assert body["key"] == prefix + name
        assert body["type"] == name
        assert body["size"] == size
        assert body["encoding"] == "utf-8"
        assert body["object_encoding"]
        assert body["truncated"] is False
        if name == "set":
            assert sorted(body["value"]) == ["m1", "m2"]
        else:
            assert body["value"] == expected[name], name
    assert (await get(system, rp, f"keys/{k(prefix + 'string')}")).json()["ttl"] > 990


async def test_missing_key_is_404(system: System, rp: RedisProject, prefix: str) -> None:
    """GET, PUT, DELETE and expire of a key that does not exist answer 404 not_found."""
    path = f"keys/{k(prefix + 'nothing')}"
    assert (await get(system, rp, path)).json()["error"]["code"] == "not_found"
    assert (await call(system, rp, "PUT", path, {"type": "string", "value": "v"})).status_code == 404
    assert (await call(system, rp, "DELETE", path)).status_code == 404
    assert (await call(system, rp, "POST", f"{path}/expire", {"ttl": 5})).status_code == 404


async def test_long_string_is_cut_at_max_bytes(system: System, rp: RedisProject, prefix: str) -> None:
    """A string longer than max_bytes comes back cut, with truncated true and its full size."""
    await rp.direct.set(f"{prefix}long", "a" * 5000)
    body = (await get(system, rp, f"keys/{k(prefix + 'long')}", max_bytes=100)).json()
    assert body["value"] == "a" * 100
    assert body["truncated"] is True
    assert body["size"] == 5000
    assert (await get(system, rp, f"keys/{k(prefix + 'long')}", max_bytes=0)).status_code == 400


async def test_hash_of_100k_fields_pages_without_loading_it_whole(
    system: System, rp: RedisProject, prefix: str
) -> None:
    """A 100,000-field hash comes back in HSCAN pages (each a small part) and all pages hold every field."""
    name = f"{prefix}big"
    async with rp.direct.pipeline(transaction=False) as pipe:
        for start in range(0, 100_000, 5000):
            pipe.hset(name, mapping={f"f{i}": str(i) for i in range(start, start + 5000)})
        await pipe.execute()
    fields: dict[str, str] = {}
    cursor = "0"
    pages = 0
    while True:
        reply = await get(system, rp, f"keys/{k(name)}", count=1000, cursor=cursor)
        assert reply.status_code == 200
        body = reply.json()
        assert body["size"] == 100_000
        assert body["truncated"] is True
        assert len(body["value"]) < 5000  # a page, never the whole hash
        assert len(reply.content) < 200_000
        fields.update(body["value"])
        pages += 1
        cursor = body["cursor"]
        if cursor == "0":
            break
    assert len(fields) == 100_000
    assert fields["f99999"] == "99999"
    assert pages >= 50


async def test_set_and_zset_page_by_cursor(system: System, rp: RedisProject, prefix: str) -> None:
    """Large sets and sorted sets page by SSCAN/ZSCAN cursor and count."""
    await rp.direct.sadd(f"{prefix}s", *[f"m{i}" for i in range(500)])
    await rp.direct.zadd(f"{prefix}z", {f"m{i}": i for i in range(500)})
    for name in ("s", "z"):
        members: set[str] = set()
        pages = 0
        cursor = "0"
        while True:
            body = (await get(system, rp, f"keys/{k(prefix + name)}", count=50, cursor=cursor)).json()
            members |= {m if isinstance(m, str) else m["member"] for m in body["value"]}
            pages += 1
            cursor = body["cursor"]
            if cursor == "0":
                break
            assert body["truncated"] is True
        assert len(members) == 500
        assert pages > 1


async def test_list_and_stream_page_by_range(system: System, rp: RedisProject, prefix: str) -> None:
    """Lists take start/stop (negative from the end); streams take start/stop or an id cursor."""
    await rp.direct.rpush(f"{prefix}l", *[str(i) for i in range(300)])
    for i in range(1, 301):
        await rp.direct.xadd(f"{prefix}x", {"n": str(i)}, id=f"{i}-0")
    body = (await get(system, rp, f"keys/{k(prefix + 'l')}", start=10, stop=12)).json()
    assert body["value"] == ["10", "11", "12"]
    assert body["truncated"] is True
    assert (await get(system, rp, f"keys/{k(prefix + 'l')}", start=-2, stop=-1)).json()["value"] == ["298", "299"]
    assert len((await get(system, rp, f"keys/{k(prefix + 'l')}")).json()["value"]) == 100
    body = (await get(system, rp, f"keys/{k(prefix + 'x')}", start=5, stop=6)).json()
    assert [entry["id"] for entry in body["value"]] == ["6-0", "7-0"]
    body = (await get(system, rp, f"keys/{k(prefix + 'x')}", start=-1, stop=-1)).json()
    assert [entry["id"] for entry in body["value"]] == ["300-0"]
    ids: list[str] = []
    cursor = "0"
    while True:
        body = (await get(system, rp, f"keys/{k(prefix + 'x')}", count=70, cursor=cursor)).json()
        ids += [entry["id"] for entry in body["value"]]
        cursor = body["cursor"]
        if cursor == "0":
            break
    assert ids == [f"{i}-0" for i in range(1, 301)]
    assert (await get(system, rp, f"keys/{k(prefix + 'x')}", cursor="not-an-id")).status_code == 400


# ---- keys: binary safety ------------------------------------------------------------------


async def test_binary_keys_and_values_round_trip_in_base64(system: System, rp: RedisProject, prefix: str) -> None:
    """A key and value that are not UTF-8 are written, listed and read back as base64, byte for byte."""
    raw_key = prefix.encode() + b"\xff\x00bin/\x80"
    raw_value = bytes(range(256))
    segment = base64.urlsafe_b64encode(raw_key).decode().rstrip("=")
    reply = await system.http.post(
        rp.url(f"keys/{segment}"),
        params={"encoding": "base64"},
        json={"type": "string", "value": base64.b64encode(raw_value).decode(), "encoding": "base64"},
        headers=system.headers(rp.developer),
    )
    assert reply.status_code == 201, reply.text
    assert await rp.direct.get(raw_key) == raw_value
    body = (await get(system, rp, f"keys/{segment}", encoding="base64")).json()
    assert body["encoding"] == "base64"
    assert base64.b64decode(body["key"]) == raw_key
    assert base64.b64decode(body["value"]) == raw_value
    listed = (await get(system, rp, "keys", pattern=f"{prefix}*", count=1000)).json()["data"]
    assert listed == [{"key": base64.b64encode(raw_key).decode(), "type": "string", "ttl": -1, "encoding": "base64"}]
    await rp.direct.hset(raw_key + b"h", mapping={b"\xfe": b"\x00\x01", b"ok": b"\xff"})
    body = (
        await get(system, rp, f"keys/{base64.urlsafe_b64encode(raw_key + b'h').decode()}", encoding="base64")
    ).json()
    assert body["encoding"] == "base64"
    assert {base64.b64decode(f): base64.b64decode(v) for f, v in body["value"].items()} == {
        b"\xfe": b"\x00\x01",
        b"ok": b"\xff",
    }


async def test_percent_encoded_key_with_slash_and_expire(system: System, rp: RedisProject, prefix: str) -> None:
    """A key holding '/' and spaces is addressed percent-encoded, for reads, expire and even 'x/expire' names."""
    name = f"{prefix}a/b c/expire"
    assert (await call(system, rp, "POST", f"keys/{k(name)}", {"type": "string", "value": "v"})).status_code == 201
    assert await rp.direct.get(name) == b"v"
    assert (await get(system, rp, f"keys/{k(name)}")).json()["key"] == name
    reply = await call(system, rp, "POST", f"keys/{k(name)}/expire", {"ttl": 50})
    assert reply.json() == {"ttl": 50}
    assert 45 <= await rp.direct.ttl(name) <= 50


# ---- keys: writes -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("key_type", "value", "check"),
    [
        ("string", "v1", lambda d, n: d.get(n)),
        ("hash", {"f1": "a", "f2": "b"}, lambda d, n: d.hgetall(n)),
        ("list", ["a", "b", "a"], lambda d, n: d.lrange(n, 0, -1)),
        ("set", ["a", "b"], lambda d, n: d.smembers(n)),
        ("zset", [{"member": "a", "score": 1}, {"member": "b", "score": "-inf"}], lambda d, n: d.zrange(n, 0, -1)),
        ("stream", [{"id": "5-1", "fields": {"k": "v"}}, {"fields": {"k2": "v2"}}], lambda d, n: d.xlen(n)),
    ],
)
async def test_create_writes_each_type_and_refuses_an_existing_key(
    system: System, rp: RedisProject, prefix: str, key_type: str, value: Any, check: Any
) -> None:
    """POST creates a key of each type (201, with its TTL) and answers 409 when the key exists."""
    name = f"{prefix}{key_type}"
    reply = await call(system, rp, "POST", f"keys/{k(name)}", {"type": key_type, "value": value, "ttl": 300})
    assert reply.status_code == 201, reply.text
    assert reply.json()["type"] == key_type
    assert 290 <= reply.json()["ttl"] <= 300
    stored = await check(rp.direct, name)
    expected = {
        "string": b"v1",
        "hash": {b"f1": b"a", b"f2": b"b"},
        "list": [b"a", b"b", b"a"],
        "set": {b"a", b"b"},
        "zset": [b"b", b"a"],
        "stream": 2,
    }
    assert stored == expected[key_type]
    again = await call(system, rp, "POST", f"keys/{k(name)}", {"type": key_type, "value": value})
    assert again.status_code == 409
    assert again.json()["error"]["code"] == "already_exists"


async def test_replace_swaps_the_whole_value_atomically_and_can_change_type(
    system: System, rp: RedisProject, prefix: str
) -> None:
    """PUT replaces the value whole (no old field survives), may change the type, and drops the old TTL."""
    name = f"{prefix}h"
    await rp.direct.hset(name, mapping={f"old{i}": "x" for i in range(100)})
    await rp.direct.expire(name, 500)
    reply = await call(system, rp, "PUT", f"keys/{k(name)}", {"type": "hash", "value": {"new": "1"}})
    assert reply.status_code == 200, reply.text
    assert await rp.direct.hgetall(name) == {b"new": b"1"}
    assert await rp.direct.ttl(name) == -1
    reply = await call(system, rp, "PUT", f"keys/{k(name)}", {"type": "list", "value": ["a"], "ttl": 60})
    assert reply.json()["type"] == "list"
    assert await rp.direct.lrange(name, 0, -1) == [b"a"]
    assert await rp.direct.ttl(name) > 50


async def test_concurrent_readers_never_see_half_a_replaced_hash(system: System, rp: RedisProject, prefix: str) -> None:
    """While PUT replaces a 2,000-field hash, a reader sees the old or the new value, never a mix."""
    name = f"{prefix}atomic"
    old = {f"f{i}": "old" for i in range(2000)}
    new = {f"f{i}": "new" for i in range(2000)}
    await rp.direct.hset(name, mapping=old)
    mixes = 0

    async def reader() -> None:
        nonlocal mixes
        for _ in range(40):
            values = set((await rp.direct.hgetall(name)).values())
            if len(values) > 1 or (values and len(await rp.direct.hgetall(name)) not in (0, 2000)):
                mixes += 1

    async def writer() -> None:
        for i in range(6):
            body = {"type": "hash", "value": new if i % 2 == 0 else old}
            assert (await call(system, rp, "PUT", f"keys/{k(name)}", body)).status_code == 200

    await asyncio.gather(reader(), writer())
    assert mixes == 0


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"type": "hash", "value": ["a"]}, "value"),
        ({"type": "hash", "value": {"a": 1}}, "value"),
        ({"type": "list", "value": "a"}, "value"),
        ({"type": "list", "value": []}, "value"),
        ({"type": "set", "value": [1, 2]}, "value"),
        ({"type": "zset", "value": [{"member": "a"}]}, "value"),
        ({"type": "zset", "value": [{"member": "a", "score": "high"}]}, "score"),
        ({"type": "stream", "value": [{"id": "2-0", "fields": {"a": "b"}}, {"id": "1-0", "fields": {"a": "b"}}]}, "id"),
        ({"type": "stream", "value": [{"id": "bad", "fields": {"a": "b"}}]}, "id"),
        ({"type": "stream", "value": [{"id": "0-0", "fields": {"a": "b"}}]}, "id"),
        ({"type": "string", "value": "v", "ttl": -1}, "ttl"),
        ({"type": "string", "value": "v", "ttl": "soon"}, "ttl"),
        ({"type": "blob", "value": "v"}, "type"),
        ({"type": "string"}, "value"),
        ({"type": "string", "value": "%%%", "encoding": "base64"}, "value"),
        ({"type": "string", "value": "v", "extra": 1}, "extra"),
    ],
)
async def test_bad_values_are_400_and_write_nothing(
    system: System, rp: RedisProject, prefix: str, body: dict[str, Any], field: str
) -> None:
    """A value of the wrong shape for its type, a bad TTL or an unknown field is a 400 naming it."""
    name = f"{prefix}bad"
    reply = await call(system, rp, "POST", f"keys/{k(name)}", body)
    assert reply.status_code == 400, reply.text
    assert reply.json()["error"]["code"] == "invalid_argument"
    assert field in json.dumps(reply.json()["error"])
    assert await rp.direct.exists(name) == 0


async def test_body_that_is_not_json_is_400(system: System, rp: RedisProject, prefix: str) -> None:
    """A body that does not parse as JSON is a 400."""
    reply = await system.http.post(
        rp.url(f"keys/{k(prefix + 'x')}"), content=b"{nope", headers=system.headers(rp.developer)
    )
    assert reply.status_code == 400


async def test_delete_unlinks_and_expire_sets_and_persists(system: System, rp: RedisProject, prefix: str) -> None:
    """DELETE answers {"deleted": 1}; expire sets a TTL, null persists, 0 expires at once, below 0 is 400."""
    name = f"{prefix}e"
    await rp.direct.set(name, "v")
    path = f"keys/{k(name)}/expire"
    assert (await call(system, rp, "POST", path, {"ttl": 120})).json() == {"ttl": 120}
    assert (await call(system, rp, "POST", path, {"ttl": None})).json() == {"ttl": -1}
    assert await rp.direct.ttl(name) == -1
    bad = await call(system, rp, "POST", path, {"ttl": -5})
    assert bad.status_code == 400
    assert bad.json()["error"]["details"] == {"field": "ttl"}
    assert (await call(system, rp, "POST", path, {})).status_code == 400
    assert (await call(system, rp, "DELETE", f"keys/{k(name)}")).json() == {"deleted": 1}
    assert await rp.direct.exists(name) == 0
    await rp.direct.set(name, "v")
    assert (await call(system, rp, "POST", path, {"ttl": 0})).json() == {"ttl": 0}
    assert await rp.direct.exists(name) == 0


async def test_json_keys_need_the_rejson_module(system: System, rp: RedisProject, prefix: str) -> None:
    """Creating a JSON key on a Redis without ReJSON is a clear 400; with the module it round-trips."""
    modules = await rp.direct.execute_command("MODULE", "LIST")
    has_json = any(b"ReJSON" in json.dumps(str(m)).encode() for m in modules)
    reply = await call(system, rp, "POST", f"keys/{k(prefix + 'doc')}", {"type": "json", "value": {"a": [1, 2]}})
    if not has_json:
        assert reply.status_code == 400
        assert "JSON.SET" in reply.json()["error"]["message"]
        return
    assert reply.status_code == 201
    assert (await get(system, rp, f"keys/{k(prefix + 'doc')}")).json()["value"] == [{"a": [1, 2]}]


# ---- pub/sub ------------------------------------------------------------------------------


async def test_channels_and_publish_count_subscribers(system: System, rp: RedisProject, prefix: str) -> None:
    """pubsub/channels lists active channels with subscriber counts; publish returns the receivers."""
    channel = f"{prefix}news"
    pubsub = rp.direct.pubsub()
    await pubsub.subscribe(channel)
    try:
        body = (await get(system, rp, "pubsub/channels", pattern=f"{prefix}*", user=rp.viewer)).json()
        assert body == {"data": [{"channel": channel, "subscribers": 1}]}
        reply = await call(system, rp, "POST", "pubsub/publish", {"channel": channel, "message": "hi"})
        assert reply.json() == {"receivers": 1}
        message = None
        for _ in range(50):
            message = await pubsub.get_message(ignore_subscribe_messages=True, timeout=0.1)
            if message:
                break
        assert message is not None
        assert message["data"] == b"hi"
    finally:
        await pubsub.aclose()
    assert (await call(system, rp, "POST", "pubsub/publish", {"channel": channel})).status_code == 400


def ws_url(system: System, rp: RedisProject, query: str) -> str:
    return f"ws://127.0.0.1:{system.ports['gateway']}/api/platform/redis/{rp.ref}/pubsub/subscribe?{query}"


@contextlib.asynccontextmanager
async def websocket(url: str, **options: Any) -> AsyncIterator[ClientConnection]:
    async with connect(url, compression=None, proxy=None, open_timeout=10, **options) as ws:
        yield ws


async def test_websocket_subscribe_receives_channel_and_pattern_messages(
    system: System, rp: RedisProject, prefix: str
) -> None:
    """A viewer's WebSocket (token in ?access_token=) gets subscribe, then messages of its channels and
    patterns; closing it unsubscribes in Redis."""
    channel = f"{prefix}chat"
    token = system.token(rp.viewer)
    url = ws_url(system, rp, f"channels={quote(channel)}&patterns={quote(prefix + 'ev.*')}&access_token={token}")
    async with websocket(url) as ws:
        first = json.loads(await asyncio.wait_for(ws.recv(), 10))
        assert first == {"type": "subscribe", "channels": [channel], "patterns": [f"{prefix}ev.*"]}
        assert await redis_numsub(rp.direct, channel) == 1
        published = await call(system, rp, "POST", "pubsub/publish", {"channel": channel, "message": "hello"})
        assert published.json() == {"receivers": 1}
        message = json.loads(await asyncio.wait_for(ws.recv(), 10))
        assert message == {"type": "message", "channel": channel, "pattern": None, "data": "hello"}
        await rp.direct.publish(f"{prefix}ev.login", b"\xff\xfe")
        message = json.loads(await asyncio.wait_for(ws.recv(), 10))
        assert message["pattern"] == base64.b64encode(f"{prefix}ev.*".encode()).decode()
        assert message["encoding"] == "base64"
        assert base64.b64decode(message["data"]) == b"\xff\xfe"
    await eventually(lambda: _is_zero(redis_numsub(rp.direct, channel)))


async def drain(ws: ClientConnection) -> None:
    """Reads until the server closes (raising ConnectionClosed)."""
    for _ in range(10_000):
        await asyncio.wait_for(ws.recv(), 10)


async def _is_zero(value: Any) -> bool:
    return await value == 0


@pytest.mark.parametrize(
    ("who", "query", "code"),
    [
        ("nobody", "channels=a", 4401),
        ("stranger", "channels=a", 4404),
        ("viewer", "", 4400),
    ],
)
async def test_websocket_refusals_say_why(system: System, rp: RedisProject, who: str, query: str, code: int) -> None:
    """A WebSocket without a token, of a non-member, or without channels gets an error frame and 4000+status."""
    token = {
        "nobody": "",
        "stranger": system.token("stranger-" + uuid.uuid4().hex[:6]),
        "viewer": system.token(rp.viewer),
    }
    url = ws_url(system, rp, f"{query}&access_token={token[who]}" if token[who] else query)
    async with websocket(url) as ws:
        frame = json.loads(await asyncio.wait_for(ws.recv(), 10))
        assert frame["type"] == "error"
        with pytest.raises(ConnectionClosed) as closed:
            await asyncio.wait_for(ws.recv(), 10)
    assert closed.value.rcvd is not None
    assert closed.value.rcvd.code == code


async def test_slow_websocket_client_is_closed_not_buffered(
    system: System, rp: RedisProject, prefix: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A client that stops reading is closed with 1013 and a reason once its bounded queue overflows,
    and its Redis subscription goes away."""
    from gateway.routes import redis_pubsub

    monkeypatch.setattr(redis_pubsub, "MAX_QUEUED_MESSAGES", 8)
    channel = f"{prefix}flood"
    url = ws_url(system, rp, f"channels={quote(channel)}&access_token={system.token(rp.viewer)}")
    payload = base64.b64encode(os.urandom(192 * 1024)).decode()
    async with websocket(url, max_queue=1, max_size=2**20) as ws:
        assert json.loads(await asyncio.wait_for(ws.recv(), 10))["type"] == "subscribe"
        # Never read: the socket buffers fill, the gateway's send blocks and its queue overflows.
        for _ in range(400):
            await rp.direct.publish(channel, payload)
            if await redis_numsub(rp.direct, channel) == 0:
                break
        with pytest.raises(ConnectionClosed) as closed:
            await drain(ws)
    await eventually(lambda: _is_zero(redis_numsub(rp.direct, channel)), limit_s=20)
    assert closed.value.rcvd is not None
    assert closed.value.rcvd.code == 1013
    assert "too slow" in closed.value.rcvd.reason


# ---- info and stats -----------------------------------------------------------------------


async def test_info_is_parsed_into_sections(system: System, rp: RedisProject) -> None:
    """GET info gives sections of typed fields; ?section= narrows it; an unknown section is 400."""
    body = (await get(system, rp, "info", user=rp.viewer)).json()
    assert {"server", "clients", "memory", "stats"} <= set(body)
    assert isinstance(body["server"]["redis_version"], str)
    assert isinstance(body["server"]["uptime_in_seconds"], int)
    memory = (await get(system, rp, "info", section="memory")).json()
    assert set(memory) == {"memory"}
    assert memory["memory"]["used_memory"] > 0
    assert (await get(system, rp, "info", section="secrets")).status_code == 400


async def test_stats_report_the_dashboard_figures(system: System, rp: RedisProject, prefix: str) -> None:
    """GET stats gives ops/sec, clients, memory, hit rate, keyspace and uptime."""
    await rp.direct.set(f"{prefix}s", "1")
    await rp.direct.get(f"{prefix}s")
    body = (await get(system, rp, "stats", user=rp.viewer)).json()
    assert set(body) == {"ops_per_sec", "connected_clients", "used_memory", "hit_rate", "keyspace", "uptime_s"}
    assert body["connected_clients"] >= 1
    assert body["used_memory"] > 0
    assert 0 < body["hit_rate"] <= 1
    assert body["keyspace"]["db0"]["keys"] >= 1
    assert body["uptime_s"] >= 0


# ---- roles and safety ---------------------------------------------------------------------


async def test_each_role_has_its_rights(system: System, rp: RedisProject, prefix: str) -> None:
    """Viewers read but never write (403); developers write; a non-member gets 404 for everything."""
    name = f"{prefix}r"
    await rp.direct.set(name, "v")
    path = f"keys/{k(name)}"
    stranger = f"stranger-{uuid.uuid4().hex[:6]}"
    for route in ("keys", path, "info", "stats", "pubsub/channels"):
        assert (await get(system, rp, route, user=rp.viewer)).status_code == 200, route
        assert (await get(system, rp, route, user=stranger)).status_code == 404, route
    writes = [
        ("POST", f"keys/{k(prefix + 'n')}", {"type": "string", "value": "v"}),
        ("PUT", path, {"type": "string", "value": "w"}),
        ("POST", f"{path}/expire", {"ttl": 10}),
        ("POST", "pubsub/publish", {"channel": "c", "message": "m"}),
        ("DELETE", path, None),
    ]
    for method, route, body in writes:
        denied = await call(system, rp, method, route, body, user=rp.viewer)
        assert denied.status_code == 403, (method, route)
        assert denied.json()["error"]["code"] == "permission_denied"
        assert (await call(system, rp, method, route, body, user=stranger)).status_code == 404
    assert await rp.direct.get(name) == b"v"
    for method, route, body in writes:
        assert (await call(system, rp, method, route, body)).status_code in (200, 201), (method, route)


async def test_no_raw_command_route_and_no_dangerous_command_is_issued(system: System, rp: RedisProject) -> None:
    """There is no route for raw commands but the explorer's workbench, which refuses FLUSHALL, and
    redis-svc never sent FLUSHDB, FLUSHALL, CONFIG, KEYS, DEBUG or SHUTDOWN to the test Redis."""
    for path in ("commands", "exec", "eval", "cli"):
        assert (await call(system, rp, "POST", path, {"command": "FLUSHALL"})).status_code in (404, 405)
    assert (await call(system, rp, "POST", "command", {"command": "FLUSHALL"})).status_code == 403
    stats = await rp.direct.info("commandstats")
    used = {name.removeprefix("cmdstat_").split("|")[0] for name in stats}
    assert used.isdisjoint({"flushdb", "flushall", "config", "keys", "debug", "shutdown"}), used


# ---- availability -------------------------------------------------------------------------


async def test_redis_restart_is_reconnected_without_restarting_the_service(system: System, own_redis: OwnRedis) -> None:
    """With Redis stopped, calls fail fast with 503; once it is back, the next call works again."""
    ref, owner = await system.new_project()
    await system.add_connection(ref, owner, "redis", {"identifier": "own", "host": "127.0.0.1", "port": own_redis.port})
    headers = system.headers(owner)
    assert (
        await system.http.post(f"/redis/{ref}/keys/a", json={"type": "string", "value": "1"}, headers=headers)
    ).status_code == 201
    assert (await system.http.get(f"/redis/{ref}/keys/a", headers=headers)).status_code == 200
    own_redis.stop()
    started = time.monotonic()
    down = await system.http.get(f"/redis/{ref}/keys/a", headers=headers)
    assert down.status_code == 503
    assert down.json()["error"]["code"] == "unavailable"
    assert time.monotonic() - started < 5
    own_redis.start()
    again = await system.http.post(f"/redis/{ref}/keys/b", json={"type": "string", "value": "2"}, headers=headers)
    assert again.status_code == 201, again.text
    assert (await system.http.get(f"/redis/{ref}/keys/b", headers=headers)).json()["value"] == "2"


async def test_websocket_subscription_survives_a_redis_restart(system: System, own_redis: OwnRedis) -> None:
    """The shared subscription reconnects and subscribes again when Redis comes back; the client
    is told (a "resubscribe" frame: messages published meanwhile were missed) and gets the next."""
    ref, owner = await system.new_project()
    await system.add_connection(ref, owner, "redis", {"identifier": "own", "host": "127.0.0.1", "port": own_redis.port})
    url = f"ws://127.0.0.1:{system.ports['gateway']}/api/platform/redis/{ref}/pubsub/subscribe"
    direct = redis.Redis(port=own_redis.port)
    try:
        async with websocket(f"{url}?channels=c&access_token={system.token(owner)}") as ws:
            assert json.loads(await asyncio.wait_for(ws.recv(), 10))["type"] == "subscribe"
            own_redis.stop()
            await asyncio.sleep(0.3)
            own_redis.start()
            again = json.loads(await asyncio.wait_for(ws.recv(), 15))
            assert again == {"type": "resubscribe", "channels": ["c"], "patterns": []}
            assert await redis_numsub(direct, "c") == 1
            await direct.publish("c", "back")
            assert json.loads(await asyncio.wait_for(ws.recv(), 10))["data"] == "back"
    finally:
        await direct.aclose()


async def test_redis_that_is_down_is_503_promptly(system: System) -> None:
    """A connection to a port nobody listens on answers 503 unavailable within seconds, not a hang."""
    ref, owner = await system.new_project()
    await system.add_connection(
        ref, owner, "redis", {"identifier": "down", "host": "127.0.0.1", "port": devstack.free_port()}
    )
    started = time.monotonic()
    for path in ("keys", "keys/a", "info", "stats"):
        reply = await system.http.get(f"/redis/{ref}/{path}", headers=system.headers(owner))
        assert reply.status_code == 503, reply.text
        assert reply.json()["error"]["code"] == "unavailable"
    assert time.monotonic() - started < 10


# ---- the hot path -------------------------------------------------------------------------


async def test_warm_requests_make_no_registry_call(system: System, rp: RedisProject, prefix: str) -> None:
    """Once warm, GET keys and GET key make exactly one gRPC call (to redis-svc): no registry round trip
    in the gateway or in redis-svc."""
    await rp.direct.set(f"{prefix}hot", "v")
    gateway_calls = system.app.state.backends.access.calls
    runtime = system.servers_by_name["redis-svc"].components["runtime"]
    assert isinstance(runtime, EngineRuntime)
    service_calls = runtime.registry.calls
    for _ in range(2):  # warm up both caches
        await get(system, rp, "keys", pattern=f"{prefix}*")
        await get(system, rp, f"keys/{k(prefix + 'hot')}")
    before = (sum(gateway_calls.values()), sum(service_calls.values()))
    for _ in range(25):
        assert (await get(system, rp, "keys", pattern=f"{prefix}*")).status_code == 200
        assert (await get(system, rp, f"keys/{k(prefix + 'hot')}")).status_code == 200
    assert (sum(gateway_calls.values()), sum(service_calls.values())) == before


async def test_openapi_documents_every_redis_route(system: System) -> None:
    """/openapi.json lists each Redis route with its methods."""
    paths = (await system.http.get("/openapi.json")).json()["paths"]
    assert set(paths["/redis/{ref}/keys/{key}"]) == {"get", "post", "put", "delete"}
    for path in ("keys", "keys/{key}/expire", "pubsub/channels", "pubsub/publish", "info", "stats"):
        assert f"/redis/{{ref}}/{path}" in paths, path
