"""The Redis explorer end to end (gateway, redis-svc, a real Redis): the key tree, key sizes, the
command workbench, streams, bulk delete, keyspace analysis and diagnostics, with their roles."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import time
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import grpc
import pytest
import pytest_asyncio
import redis.asyncio as redis
from grpc_health.v1 import health_pb2, health_pb2_grpc
from harness import OwnRedis, Servers, System, audit_rows, own_gateway
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed

from udb.common.v1 import common_pb2
from udb.mux.client import MuxChannel
from udb.redis.v1 import explorer_pb2, explorer_pb2_grpc

pytestmark = pytest.mark.integration


@dataclass
class Project:
    """A project whose primary Redis is the session's, with a user per role."""

    ref: str
    owner: str
    admin: str
    developer: str
    viewer: str
    direct: redis.Redis

    def url(self, path: str) -> str:
        return f"/redis/{self.ref}/{path}"


@pytest_asyncio.fixture(scope="module")
async def rp(system: System, servers: Servers) -> AsyncIterator[Project]:
    ref, owner = await system.new_project()
    admin, developer, viewer = (f"{role}-{uuid.uuid4().hex[:8]}" for role in ("admin", "dev", "view"))
    await system.add_member(ref, owner, admin, "admin")
    await system.add_member(ref, owner, developer, "developer")
    await system.add_member(ref, owner, viewer, "viewer")
    await system.add_connection(ref, owner, "redis", {"identifier": "main", "uri": servers.redis_url})
    direct = redis.Redis.from_url(servers.redis_url)
    yield Project(ref, owner, admin, developer, viewer, direct)
    await direct.aclose()


@pytest.fixture
def prefix() -> str:
    """A key prefix of this test's own."""
    return f"x{uuid.uuid4().hex[:10]}:"


async def get(system: System, rp: Project, path: str, user: str, **params: Any) -> Any:
    return await system.http.get(rp.url(path), params=params, headers=system.headers(user))


async def send(system: System, rp: Project, method: str, path: str, user: str, body: Any = None, **params: Any) -> Any:
    return await system.http.request(method, rp.url(path), json=body, params=params, headers=system.headers(user))


async def whole_level(system: System, rp: Project, user: str, **params: Any) -> dict[str, Any]:
    """A tree level's namespaces (counts added up) and keys, across every page."""
    counts: dict[str, int] = {}
    keys: dict[str, dict[str, Any]] = {}
    cursor = ""
    for _ in range(1000):
        reply = await get(system, rp, "tree", user, cursor=cursor, **params)
        assert reply.status_code == 200, reply.text
        body = reply.json()
        for item in body["namespaces"]:
            counts[item["prefix"]] = counts.get(item["prefix"], 0) + item["keys"]
        keys.update({row["key"]: row for row in body["keys"]})
        cursor = body["cursor"]
        if cursor == "0":
            return {"namespaces": counts, "keys": keys, "total": body["total"]}
    raise AssertionError("the tree's cursor never ended")


# ---- key tree and sizes -----------------------------------------------------------------------


async def test_tree_groups_keys_one_level_at_a_time(system: System, rp: Project, prefix: str) -> None:
    """A level shows the namespaces right below it with their key counts, and its own keys."""
    for user in range(3):
        await rp.direct.set(f"{prefix}user:{user}:name", "n")
        await rp.direct.set(f"{prefix}user:{user}:mail", "m")
    await rp.direct.set(f"{prefix}user:count", "3")
    await rp.direct.hset(f"{prefix}config", mapping={"a": "1"})
    root = await whole_level(system, rp, rp.viewer, prefix=prefix, scan_limit=5)
    assert root["namespaces"] == {f"{prefix}user:": 7}
    assert set(root["keys"]) == {f"{prefix}config"}
    assert root["keys"][f"{prefix}config"]["type"] == "hash"
    assert root["total"] >= 8
    users = await whole_level(system, rp, rp.viewer, prefix=f"{prefix}user:")
    assert users["namespaces"] == {f"{prefix}user:{n}:": 2 for n in range(3)}
    assert set(users["keys"]) == {f"{prefix}user:count"}


async def test_tree_takes_another_delimiter_and_a_binary_prefix(system: System, rp: Project, prefix: str) -> None:
    """?delimiter=/ splits on '/'; a base64url prefix reaches keys that are not UTF-8."""
    await rp.direct.set(f"{prefix}a/b/c", "1")
    await rp.direct.set(f"{prefix}a/d", "1")
    level = await whole_level(system, rp, rp.viewer, prefix=f"{prefix}a/", delimiter="/")
    assert level["namespaces"] == {f"{prefix}a/b/": 1}
    assert set(level["keys"]) == {f"{prefix}a/d"}
    binary = prefix.encode() + b"\xff\xfe:"
    await rp.direct.set(binary + b"leaf", "v")
    encoded = base64.urlsafe_b64encode(binary).decode()
    reply = await get(system, rp, "tree", rp.viewer, prefix=encoded, encoding="base64")
    assert reply.status_code == 200, reply.text
    rows = reply.json()["keys"]
    assert [(row["encoding"], base64.b64decode(row["key"])) for row in rows] == [("base64", binary + b"leaf")]


async def test_tree_rows_carry_memory_and_length_on_request(system: System, rp: Project, prefix: str) -> None:
    """?with_size=true adds MEMORY USAGE and the element count (bytes of a string) to each key."""
    await rp.direct.rpush(f"{prefix}list", *range(50))
    await rp.direct.set(f"{prefix}text", "hello")
    level = await whole_level(system, rp, rp.viewer, prefix=prefix, with_size="true")
    rows = level["keys"]
    assert rows[f"{prefix}list"]["length"] == 50
    assert rows[f"{prefix}text"]["length"] == 5
    expected = await rp.direct.memory_usage(f"{prefix}list", samples=0)
    assert rows[f"{prefix}list"]["memory"] == expected
    plain = await whole_level(system, rp, rp.viewer, prefix=prefix)
    assert "memory" not in plain["keys"][f"{prefix}list"]


async def test_tree_refuses_bad_input_and_strangers(system: System, rp: Project) -> None:
    """A scan_limit out of range and a made-up cursor are 400; a user outside the project 404/403."""
    assert (await get(system, rp, "tree", rp.viewer, scan_limit=0)).status_code == 400
    assert (await get(system, rp, "tree", rp.viewer, cursor="nope")).status_code == 400
    stranger = await get(system, rp, "tree", f"nobody-{uuid.uuid4().hex[:6]}")
    assert stranger.status_code in (403, 404)


# ---- command workbench ------------------------------------------------------------------------


async def run(system: System, rp: Project, user: str, command: Any, **extra: Any) -> Any:
    return await send(system, rp, "POST", "command", user, {"command": command, **extra})


async def test_workbench_runs_reads_for_viewers_and_writes_for_developers(
    system: System, rp: Project, prefix: str
) -> None:
    """A viewer's read answers with Redis's reply; a developer's write changes the key."""
    written = await run(system, rp, rp.developer, f'SET {prefix}k "a b"')
    assert written.status_code == 200, written.text
    assert written.json() == {"command": "SET", "write": True, "reply": "OK", "encoding": "utf-8"}
    assert await rp.direct.get(f"{prefix}k") == b"a b"
    read = await run(system, rp, rp.viewer, ["GET", f"{prefix}k"])
    assert read.json() == {"command": "GET", "write": False, "reply": "a b", "encoding": "utf-8"}
    await rp.direct.hset(f"{prefix}h", mapping={"f": "1", "g": "2"})
    pairs = (await run(system, rp, rp.viewer, f"HGETALL {prefix}h")).json()["reply"]
    assert dict(zip(pairs[::2], pairs[1::2], strict=True)) == {"f": "1", "g": "2"}
    assert (await run(system, rp, rp.viewer, f"TTL {prefix}k")).json()["reply"] == -1
    assert (await run(system, rp, rp.viewer, f"GET {prefix}missing")).json()["reply"] is None
    sub = await run(system, rp, rp.viewer, f"OBJECT ENCODING {prefix}h")
    assert sub.json()["command"] == "OBJECT ENCODING"


async def test_workbench_stops_reading_a_reply_past_its_bound(system: System, own_redis: OwnRedis) -> None:
    """A reply over the bytes one command may read (the gRPC message limit, 64 MiB) is 413 before
    it is read whole: a viewer's GET of a 150 MB string has Redis send well under the 150 MB, and
    the next command answers."""
    ref, owner = await system.new_project()
    viewer = f"view-{uuid.uuid4().hex[:8]}"
    await system.add_member(ref, owner, viewer, "viewer")
    await system.add_connection(ref, owner, "redis", {"identifier": "own", "host": "127.0.0.1", "port": own_redis.port})
    direct = redis.Redis(port=own_redis.port)
    try:
        await direct.set("huge", b"x" * (150 * 1024 * 1024))
        await direct.set("small", "v")
        sent_before = (await direct.info("stats"))["total_net_output_bytes"]
        url, headers = f"/redis/{ref}/command", system.headers(viewer)
        reply = await system.http.post(url, json={"command": ["GET", "huge"]}, headers=headers)
        assert reply.status_code == 413, reply.text
        assert reply.json()["message"].startswith("the reply is too large to read")
        await asyncio.sleep(0.5)  # Redis has seen the connection close
        sent = (await direct.info("stats"))["total_net_output_bytes"] - sent_before
        assert sent < 120 * 1024 * 1024, sent
        small = await system.http.post(url, json={"command": ["GET", "small"]}, headers=headers)
        assert small.json()["reply"] == "v"
    finally:
        await direct.aclose()


async def test_workbench_refuses_a_viewers_write(system: System, rp: Project, prefix: str) -> None:
    """A viewer's SET is 403 and writes nothing."""
    reply = await run(system, rp, rp.viewer, f"SET {prefix}v x")
    assert reply.status_code == 403, reply.text
    assert await rp.direct.exists(f"{prefix}v") == 0


@pytest.mark.parametrize(
    "command",
    [
        "FLUSHALL",
        "FLUSHDB",
        "CONFIG GET *",
        "DEBUG SLEEP 0",
        "SHUTDOWN",
        "KEYS *",
        "MONITOR",
        "SCRIPT FLUSH",
        "EVAL 'return 1' 0",
        "MODULE LIST",
        "ACL LIST",
        "AUTH x",
        "SELECT 1",
        "BLPOP q 1",
        "MULTI",
        "NOSUCHCMD",
    ],
)
async def test_workbench_denies_a_command_for_every_role(system: System, rp: Project, command: str) -> None:
    """Administration, scripts, KEYS, MONITOR, blocking and connection commands are 403 for every role."""
    await rp.direct.set("canary", "1")
    for user in (rp.viewer, rp.developer, rp.admin, rp.owner):
        reply = await run(system, rp, user, command)
        assert reply.status_code == 403, (user, reply.text)
        assert reply.json()["error"]["code"] == "permission_denied"
    assert await rp.direct.get("canary") == b"1"


async def test_workbench_is_binary_safe_and_audited(system: System, rp: Project, prefix: str) -> None:
    """base64 arguments reach Redis as bytes, a non-UTF-8 reply comes back base64, and the audit log
    names the command but not its arguments."""
    key, value = prefix.encode() + b"\xff", b"\x00\xfe"
    args = [base64.b64encode(part).decode() for part in (b"SET", key, value)]
    assert (await run(system, rp, rp.developer, args, encoding="base64")).status_code == 200
    assert await rp.direct.get(key) == value
    read = await run(system, rp, rp.viewer, [base64.b64encode(b"GET").decode(), args[1]], encoding="base64")
    assert read.json()["encoding"] == "base64"
    assert base64.b64decode(read.json()["reply"]) == value
    rows = await audit_rows(system, rp.ref, rp.owner, until=lambda rows: any(r["operation"] == "command" for r in rows))
    targets = {row["target"] for row in rows if row["operation"] == "command"}
    assert "SET" in targets
    assert not any(prefix in target for target in targets)


async def test_workbench_reports_redis_errors_and_bad_bodies(system: System, rp: Project, prefix: str) -> None:
    """Redis's refusal (wrong type, wrong arity) is 400; a body without a command or with an open quote is 400."""
    await rp.direct.set(f"{prefix}s", "1")
    wrong = await run(system, rp, rp.developer, f"HSET {prefix}s f v")
    assert wrong.status_code == 400
    assert "WRONGTYPE" in wrong.json()["message"]
    assert (await send(system, rp, "POST", "command", rp.viewer, {})).status_code == 400
    assert (await run(system, rp, rp.viewer, 'GET "open')).status_code == 400
    assert (await run(system, rp, rp.viewer, "")).status_code == 400


# ---- streams ----------------------------------------------------------------------------------


async def test_stream_pages_forward_and_backward_by_id(system: System, rp: Project, prefix: str) -> None:
    """XRANGE pages follow `next` to the end; reverse pages start from the newest; fields keep their order."""
    key = f"{prefix}s"
    for n in range(1, 8):
        await rp.direct.xadd(key, {"n": str(n), "dup": "x"}, id=f"{n}-0")
    seen, start = [], ""
    while True:
        body = (await get(system, rp, "streams/entries", rp.viewer, key=key, count=3, start=start)).json()
        seen += [entry["id"] for entry in body["data"]]
        if body["next"] is None:
            break
        start = body["next"]
    assert seen == [f"{n}-0" for n in range(1, 8)]
    assert body["length"] == 7
    newest = (await get(system, rp, "streams/entries", rp.viewer, key=key, count=2, reverse="true")).json()
    assert [entry["id"] for entry in newest["data"]] == ["7-0", "6-0"]
    assert newest["data"][0]["fields"] == [["n", "7"], ["dup", "x"]]
    assert (await get(system, rp, "streams/entries", rp.viewer, key=f"{prefix}none")).status_code == 404
    assert (await get(system, rp, "streams/entries", rp.viewer, key=key, start="bad")).status_code == 400


async def test_stream_writes_for_developers_only(system: System, rp: Project, prefix: str) -> None:
    """XADD, XDEL and XTRIM change the stream for a developer and are 403 for a viewer; each is audited."""
    key = f"{prefix}w"
    added = await send(system, rp, "POST", "streams/entries", rp.developer, {"key": key, "fields": {"a": "1"}})
    assert added.status_code == 201, added.text
    entry_id = added.json()["id"]
    assert [item[0].decode() for item in await rp.direct.xrange(key)] == [entry_id]
    refused = await send(system, rp, "POST", "streams/entries", rp.viewer, {"key": key, "fields": {"a": "2"}})
    assert refused.status_code == 403
    for n in range(10):
        await rp.direct.xadd(key, {"n": str(n)})
    trimmed = await send(system, rp, "POST", "streams/trim", rp.developer, {"key": key, "max_length": 3, "exact": True})
    assert trimmed.json() == {"trimmed": 8}
    last = (await rp.direct.xrange(key))[-1][0].decode()
    deleted = await send(system, rp, "DELETE", "streams/entries", rp.developer, {"key": key, "ids": [last]})
    assert deleted.json() == {"deleted": 1}
    assert await rp.direct.xlen(key) == 2
    both = await send(system, rp, "POST", "streams/trim", rp.developer, {"key": key, "max_length": 1, "min_id": "1-0"})
    assert both.status_code == 400
    rows = await audit_rows(
        system, rp.ref, rp.owner, until=lambda rows: any(r["operation"] == "stream.trim" for r in rows)
    )
    assert {"stream_entry.add", "stream_entry.delete", "stream.trim"} <= {r["operation"] for r in rows}
    assert any(r["operation"] == "stream.trim" and r["target"] == key for r in rows)


async def test_stream_groups_consumers_pending_ack_and_claim(system: System, rp: Project, prefix: str) -> None:
    """Groups, consumers and pending entries read as XINFO/XPENDING say; XACK clears and XCLAIM moves entries."""
    key = f"{prefix}g"
    ids = [(await rp.direct.xadd(key, {"n": str(n)})).decode() for n in range(4)]
    await rp.direct.xgroup_create(key, "workers", id="0")
    await rp.direct.xreadgroup("workers", "alice", {key: ">"}, count=3)
    reply = await get(system, rp, "streams/groups", rp.viewer, key=key)
    assert reply.status_code == 200, reply.text
    groups = reply.json()["data"]
    assert groups[0]["name"] == "workers"
    assert (groups[0]["consumers"], groups[0]["pending"], groups[0]["last_delivered_id"]) == (1, 3, ids[2])
    consumers = (await get(system, rp, "streams/consumers", rp.viewer, key=key, group="workers")).json()["data"]
    assert [(item["name"], item["pending"]) for item in consumers] == [("alice", 3)]
    pending = (await get(system, rp, "streams/pending", rp.viewer, key=key, group="workers", count=2)).json()
    assert (pending["total"], pending["consumers"]) == (3, {"alice": 3})
    assert [entry["id"] for entry in pending["data"]] == ids[:2]
    assert pending["data"][0]["deliveries"] == 1
    assert pending["next"] == f"({ids[1]}"
    acked = await send(
        system, rp, "POST", "streams/ack", rp.developer, {"key": key, "group": "workers", "ids": [ids[0]]}
    )
    assert acked.json() == {"acknowledged": 1}
    claim = {"key": key, "group": "workers", "consumer": "bob", "min_idle_ms": 0, "ids": [ids[1]]}
    assert (await send(system, rp, "POST", "streams/claim", rp.viewer, claim)).status_code == 403
    claimed = await send(system, rp, "POST", "streams/claim", rp.developer, claim)
    assert [entry["id"] for entry in claimed.json()["data"]] == [ids[1]]
    after = (await get(system, rp, "streams/pending", rp.viewer, key=key, group="workers")).json()
    assert after["consumers"] == {"alice": 1, "bob": 1}
    missing = await get(system, rp, "streams/consumers", rp.viewer, key=key, group="nope")
    assert missing.status_code == 400


# ---- bulk delete ------------------------------------------------------------------------------


async def preview_delete(system: System, rp: Project, user: str, pattern: str, **extra: Any) -> Any:
    return await send(system, rp, "POST", "bulk-delete/preview", user, {"pattern": pattern, **extra})


async def test_bulk_delete_previews_then_unlinks_in_batches_with_progress(
    system: System, rp: Project, prefix: str
) -> None:
    """The preview counts and samples the matches; the delete with its token streams NDJSON progress per
    batch, ends with done, and leaves the keys that do not match."""
    async with rp.direct.pipeline(transaction=False) as pipe:
        for n in range(1200):
            pipe.set(f"{prefix}doomed:{n}", "x")
        pipe.set(f"{prefix}kept", "x")
        await pipe.execute()
    shown = await preview_delete(system, rp, rp.developer, f"{prefix}doomed:*", sample_size=5)
    assert shown.status_code == 200, shown.text
    preview = shown.json()
    assert preview["matched"] == 1200
    assert len(preview["sample"]) == 5
    assert all(key.startswith(f"{prefix}doomed:") for key in preview["sample"])
    body = {"pattern": f"{prefix}doomed:*", "token": preview["token"], "batch_size": 500}
    async with system.http.stream(
        "POST", rp.url("bulk-delete"), json=body, headers=system.headers(rp.developer)
    ) as reply:
        assert reply.status_code == 200
        assert reply.headers["content-type"].startswith("application/x-ndjson")
        lines = [json.loads(line) async for line in reply.aiter_lines() if line]
    assert lines[-1] == {"scanned": 1200, "deleted": 1200, "done": True}
    assert [line["deleted"] for line in lines[1:-1]] == [500, 1000, 1200]
    assert await rp.direct.exists(f"{prefix}kept") == 1
    assert await rp.direct.exists(f"{prefix}doomed:7") == 0
    rows = await audit_rows(
        system, rp.ref, rp.owner, until=lambda rows: any(r["operation"] == "bulk-delete" for r in rows)
    )
    assert any(r["operation"] == "bulk-delete" and r["target"] == f"{prefix}doomed:*" for r in rows)


async def test_bulk_delete_refuses_a_missing_or_wrong_token(system: System, rp: Project, prefix: str) -> None:
    """No token is 400; an altered token, another pattern's, another user's or an expired one is 403;
    nothing is deleted."""
    await rp.direct.set(f"{prefix}a:1", "x")
    await rp.direct.set(f"{prefix}b:1", "x")
    token = (await preview_delete(system, rp, rp.developer, f"{prefix}a:*")).json()["token"]
    other_user = (await preview_delete(system, rp, rp.owner, f"{prefix}a:*")).json()["token"]
    expiry, _, mac = token.partition(".")
    cases = [
        (rp.developer, f"{prefix}a:*", None, 400),
        (rp.developer, f"{prefix}a:*", "garbage", 403),
        (rp.developer, f"{prefix}a:*", f"{expiry}.{mac[:-2]}AA", 403),
        (rp.developer, f"{prefix}a:*", f"{int(expiry) + 60}.{mac}", 403),
        (rp.developer, f"{prefix}*", token, 403),
        (rp.developer, f"{prefix}a:*", other_user, 403),
        (rp.viewer, f"{prefix}a:*", token, 403),
    ]
    for user, pattern, candidate, status in cases:
        body = {"pattern": pattern, **({"token": candidate} if candidate is not None else {})}
        reply = await send(system, rp, "POST", "bulk-delete", user, body)
        assert reply.status_code == status, (pattern, candidate, reply.text)
    assert await rp.direct.exists(f"{prefix}a:1", f"{prefix}b:1") == 2
    assert (await preview_delete(system, rp, rp.viewer, f"{prefix}a:*")).status_code == 403
    assert (await send(system, rp, "POST", "bulk-delete/preview", rp.developer, {})).status_code == 400


# ---- keyspace analysis ------------------------------------------------------------------------


async def ndjson(system: System, rp: Project, path: str, user: str, **params: Any) -> list[dict[str, Any]]:
    async with system.http.stream("GET", rp.url(path), params=params, headers=system.headers(user)) as reply:
        assert reply.status_code == 200, await reply.aread()
        return [json.loads(line) async for line in reply.aiter_lines() if line]


async def test_analysis_reports_a_sample_by_type_namespace_ttl_and_top_keys(
    system: System, rp: Project, prefix: str
) -> None:
    """The last NDJSON line holds the report: counts and memory by type, namespace and TTL bucket, the
    largest and longest keys first, and the sample's share of the keyspace."""
    await rp.direct.set(f"{prefix}users/1", "a")
    await rp.direct.set(f"{prefix}users/2", "b", ex=600)
    await rp.direct.set(f"{prefix}users/big", "x" * 50_000)
    await rp.direct.rpush(f"{prefix}queues/long", *range(500))
    await rp.direct.hset(f"{prefix}queues/h", mapping={"a": "1"})
    await rp.direct.expire(f"{prefix}queues/h", 200_000)
    lines = await ndjson(system, rp, "analysis", rp.viewer, pattern=f"{prefix}*", delimiter="/", top=2)
    report = lines[-1]["report"]
    assert report["sampled"] == 5
    assert report["coverage"] == pytest.approx(5 / report["total"])
    types = {item["type"]: item for item in report["by_type"]}
    assert (types["string"]["keys"], types["list"]["keys"], types["hash"]["keys"]) == (3, 1, 1)
    assert types["string"]["memory"] > 50_000
    namespaces = {item["prefix"]: item["keys"] for item in report["by_namespace"]}
    assert namespaces == {f"{prefix}users/": 3, f"{prefix}queues/": 2}
    assert [row["key"] for row in report["top_by_memory"]] == [f"{prefix}users/big", f"{prefix}queues/long"]
    assert [row["key"] for row in report["top_by_length"]] == [f"{prefix}users/big", f"{prefix}queues/long"]
    assert report["top_by_length"][1]["length"] == 500
    ttl = {item["bucket"]: item["keys"] for item in report["ttl"]}
    assert ttl == {"no expiry": 3, "<1h": 1, "1d-1w": 1}
    assert report["memory"] == sum(item["memory"] for item in report["by_type"])


async def test_analysis_streams_progress_and_stops_at_the_sample_size(system: System, rp: Project, prefix: str) -> None:
    """A sample smaller than the keyspace stops at its size, with progress lines before the report."""
    async with rp.direct.pipeline(transaction=False) as pipe:
        for n in range(3000):
            pipe.set(f"{prefix}{n}", "v")
        await pipe.execute()
    lines = await ndjson(system, rp, "analysis", rp.viewer, sample_size=1500)
    assert lines[-1]["report"]["sampled"] == 1500
    assert lines[-1]["report"]["coverage"] < 1
    progress = [line["sampled"] for line in lines[:-1]]
    assert progress
    assert progress == sorted(progress)
    assert all(line["target"] == 1500 for line in lines)
    assert (await get(system, rp, "analysis", rp.viewer, sample_size=100_001)).status_code == 400


# ---- diagnostics ------------------------------------------------------------------------------


async def test_slowlog_reads_for_viewers_and_resets_for_admins(system: System, own_redis: OwnRedis) -> None:
    """With every command logged (on a Redis of the test's own), the slow log shows ours to a viewer;
    a developer cannot reset it, an admin can."""
    ref, owner = await system.new_project()
    viewer, developer = f"view-{uuid.uuid4().hex[:8]}", f"dev-{uuid.uuid4().hex[:8]}"
    await system.add_member(ref, owner, viewer, "viewer")
    await system.add_member(ref, owner, developer, "developer")
    await system.add_connection(ref, owner, "redis", {"identifier": "own", "host": "127.0.0.1", "port": own_redis.port})
    direct = redis.Redis(port=own_redis.port)
    try:
        await direct.config_set("slowlog-log-slower-than", 0)
        await direct.set("slow", "v")
    finally:
        await direct.aclose()
    url = f"/redis/{ref}/slowlog"
    entries = (await system.http.get(url, params={"count": 1000}, headers=system.headers(viewer))).json()["data"]
    assert any(entry["args"][:2] == ["SET", "slow"] for entry in entries)
    assert {"id", "time", "duration_us", "client_address"} <= set(entries[0])
    assert (await system.http.delete(url, headers=system.headers(developer))).status_code == 403
    assert (await system.http.delete(url, headers=system.headers(owner))).json() == {"reset": True}
    after = (await system.http.get(url, params={"count": 1000}, headers=system.headers(viewer))).json()["data"]
    assert not any(entry["args"][:2] == ["SET", "slow"] for entry in after)


async def test_client_list_is_for_admins(system: System, rp: Project) -> None:
    """An admin sees CLIENT LIST's fields, among them redis-svc's named connections; a developer is refused."""
    clients = (await get(system, rp, "clients", rp.admin)).json()["data"]
    assert any(client.get("name") == "udb-redis-svc" for client in clients)
    assert {"id", "addr", "cmd"} <= set(clients[0])
    assert (await get(system, rp, "clients", rp.developer)).status_code == 403


def monitor_url(system: System, rp: Project, user: str, **params: Any) -> str:
    query = "&".join([f"access_token={system.token(user)}", *(f"{name}={value}" for name, value in params.items())])
    return f"ws://127.0.0.1:{system.ports['gateway']}/api/platform/redis/{rp.ref}/monitor?{query}"


async def test_monitor_websocket_streams_commands_and_ends_at_its_event_limit(
    system: System, rp: Project, prefix: str
) -> None:
    """An admin's monitor sends each command (secrets never shown), then an end frame at max_events, then closes."""
    async with connect(monitor_url(system, rp, rp.admin, max_events=3, max_seconds=30), open_timeout=10) as ws:

        async def traffic() -> None:
            while True:
                with contextlib.suppress(redis.RedisError):
                    await rp.direct.execute_command("AUTH", "someone", "hunter2-secret")
                await rp.direct.set(f"{prefix}m", "v")
                await asyncio.sleep(0.05)

        task = asyncio.create_task(traffic())
        try:
            frames = [json.loads(message) async for message in ws]
        finally:
            task.cancel()
        assert ws.close_code == 1000
    assert [frame["type"] for frame in frames] == ["command"] * 3 + ["end"]
    assert frames[-1]["reason"] == "max_events"
    assert all("hunter2-secret" not in json.dumps(frame) for frame in frames)
    assert any(frame.get("args", [None])[0].upper() == "SET" for frame in frames[:3])


async def test_monitor_is_cut_at_its_time_limit_and_refused_below_admin(system: System, rp: Project) -> None:
    """With no event limit reached, the monitor ends after max_seconds; a developer's monitor closes 4403."""
    started = time.monotonic()
    async with connect(monitor_url(system, rp, rp.admin, max_events=10_000, max_seconds=1), open_timeout=10) as ws:
        frames = [json.loads(message) async for message in ws]
    assert frames[-1] == {"type": "end", "reason": "max_seconds", "dropped": 0}
    assert time.monotonic() - started < 10
    async with connect(monitor_url(system, rp, rp.developer), open_timeout=10) as ws:
        refused = json.loads(await ws.recv())
        with pytest.raises(ConnectionClosed):
            await ws.recv()
        assert ws.close_code == 4403
    assert refused["type"] == "error"


async def test_monitor_grpc_stream_is_bounded_and_admin_only(system: System, rp: Project, prefix: str) -> None:
    """gRPC Monitor ends at max_events with an end message; a viewer gets PERMISSION_DENIED."""
    stub = explorer_pb2_grpc.RedisExplorerServiceStub(system.channel("redis-svc"))
    target = common_pb2.ConnectionTarget(project_ref=rp.ref)
    call = stub.Monitor(explorer_pb2.MonitorRequest(target=target, max_events=2), metadata=system.metadata(rp.admin))

    async def traffic() -> None:
        while True:
            await rp.direct.get(f"{prefix}g")
            await asyncio.sleep(0.05)

    task = asyncio.create_task(traffic())
    try:
        events = [event async for event in call]
    finally:
        task.cancel()
    assert [event.ended for event in events] == ["", "", "max_events"]
    assert events[0].args[0].upper() == b"GET"
    refused = stub.Monitor(explorer_pb2.MonitorRequest(target=target), metadata=system.metadata(rp.viewer))
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        _ = [event async for event in refused]
    assert caught.value.code() == grpc.StatusCode.PERMISSION_DENIED


async def test_openapi_documents_every_explorer_route(system: System) -> None:
    """/openapi.json lists each explorer route with its methods (the monitor is a WebSocket, not listed)."""
    paths = (await system.http.get("/openapi.json")).json()["paths"]
    expected = {
        "tree": {"get"},
        "command": {"post"},
        "streams/entries": {"get", "post", "delete"},
        "streams/trim": {"post"},
        "streams/groups": {"get"},
        "streams/consumers": {"get"},
        "streams/pending": {"get"},
        "streams/ack": {"post"},
        "streams/claim": {"post"},
        "bulk-delete/preview": {"post"},
        "bulk-delete": {"post"},
        "analysis": {"get"},
        "slowlog": {"get", "delete"},
        "clients": {"get"},
    }
    for path, methods in expected.items():
        assert set(paths[f"/redis/{{ref}}/{path}"]) == methods, path
        for method in methods:
            # The gateway's docstrings are keyed by method (see gateway.routes.system).
            operation = paths[f"/redis/{{ref}}/{path}"][method]
            assert (operation.get(method) or operation)["summary"], (path, method)


async def seed_many(direct: redis.Redis, prefix: str, count: int) -> None:
    async with direct.pipeline(transaction=False) as pipe:
        for n in range(count):
            pipe.set(f"{prefix}{n}", "x")
        await pipe.execute()


async def test_bulk_delete_outlives_the_request_deadline(system: System, rp: Project, prefix: str) -> None:
    """A progress stream is not cut by the route's deadline once it has begun (the service bounds it)."""
    await seed_many(rp.direct, prefix, 10_000)
    token = (await preview_delete(system, rp, rp.developer, f"{prefix}*")).json()["token"]
    async with own_gateway(system, WRITE_DEADLINE_S="0.3", RATE_LIMIT_ENABLED="false") as (http, _):
        headers = system.headers(rp.developer)
        started = time.monotonic()
        body = {"pattern": f"{prefix}*", "token": token, "batch_size": 1}
        async with http.stream("POST", rp.url("bulk-delete"), json=body, headers=headers) as reply:
            lines = [json.loads(line) async for line in reply.aiter_lines() if line]
        elapsed = time.monotonic() - started
    assert elapsed > 0.3, "the delete ended within the deadline: this test proves nothing"
    assert lines[-1] == {"scanned": 10_000, "deleted": 10_000, "done": True}


async def test_bulk_delete_stops_when_its_client_goes(system: System, rp: Project, prefix: str) -> None:
    """Closing the progress stream stops the delete: keys remain, and no more go afterwards."""
    await seed_many(rp.direct, prefix, 20_000)
    headers = system.headers(rp.developer)
    token = (await preview_delete(system, rp, rp.developer, f"{prefix}*")).json()["token"]
    body = {"pattern": f"{prefix}*", "token": token, "batch_size": 1}
    async with system.http.stream("POST", rp.url("bulk-delete"), json=body, headers=headers) as reply:
        seen = 0
        async for line in reply.aiter_lines():
            seen += bool(line)
            if seen == 3:
                break

    async def remaining() -> int:
        cursor, found = 0, 0
        while True:
            cursor, keys = await rp.direct.scan(cursor, match=f"{prefix}*", count=5000)
            found += len(keys)
            if cursor == 0:
                return found

    await asyncio.sleep(1)
    left = await remaining()
    await asyncio.sleep(1)
    assert 0 < left == await remaining()


async def test_explorer_service_is_listed_healthy_and_rides_the_mux(system: System, rp: Project) -> None:
    """redis-svc reports RedisExplorerService SERVING by name, and its unary RPCs answer over the mux."""
    health = health_pb2_grpc.HealthStub(system.channel("redis-svc"))
    name = "udb.redis.v1.RedisExplorerService"
    reply = await health.Check(health_pb2.HealthCheckRequest(service=name))
    assert reply.status == health_pb2.HealthCheckResponse.SERVING
    mux = MuxChannel(grpc.aio.insecure_channel(f"127.0.0.1:{system.ports['redis-svc']}"))
    try:
        stub = explorer_pb2_grpc.RedisExplorerServiceStub(mux)
        target = common_pb2.ConnectionTarget(project_ref=rp.ref)
        ran = await stub.RunCommand(
            explorer_pb2.RunCommandRequest(target=target, args=[b"PING"]), metadata=system.metadata(rp.viewer)
        )
    finally:
        await mux.close(1)
    assert (ran.command, ran.reply.bulk) == ("PING", b"PONG")
