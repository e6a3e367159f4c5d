"""The Redis explorer on a Sentinel record, against a real ``redis-server --sentinel`` and the Redis
it monitors: every route reads and writes the master the sentinel names, as one server."""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import devstack
import pytest
import pytest_asyncio
import redis.asyncio as redis
from harness import System, eventually, monitor_frames
from test_redis_topologies import _spawn, _stop, sentinel_port  # noqa: F401 (the fixture, shared)

pytestmark = pytest.mark.integration


@dataclass
class SentinelProject:
    """A project whose primary Redis connection names a sentinel, and a client of the master."""

    ref: str
    owner: str
    master: redis.Redis

    def url(self, path: str) -> str:
        return f"/redis/{self.ref}/{path}"


async def sentinel_project(system: System, sentinel: int, master: int) -> SentinelProject:
    """A new project whose primary Redis record names the sentinel at ``sentinel`` (watching
    "mymaster"), with a client of the Redis at ``master``."""
    ref, owner = await system.new_project()
    record = {"identifier": "sn", "host": "127.0.0.1", "port": sentinel, "options": {"sentinel_master": "mymaster"}}
    await system.add_connection(ref, owner, "redis", record)
    return SentinelProject(ref, owner, redis.Redis(port=master))


@pytest_asyncio.fixture(scope="module")
async def sp(
    system: System,
    sentinel_port: tuple[int, int],  # noqa: F811
) -> AsyncIterator[SentinelProject]:
    sp = await sentinel_project(system, *sentinel_port)
    yield sp
    await sp.master.aclose()


@pytest.fixture
def prefix() -> str:
    """A key prefix of this test's own."""
    return f"s{uuid.uuid4().hex[:10]}:"


async def get(system: System, sp: SentinelProject, path: str, **params: Any) -> Any:
    reply = await system.http.get(sp.url(path), params=params, headers=system.headers(sp.owner))
    assert reply.status_code == 200, reply.text
    return reply


async def post(system: System, sp: SentinelProject, path: str, body: Any) -> Any:
    reply = await system.http.post(sp.url(path), json=body, headers=system.headers(sp.owner))
    assert reply.status_code == 200, reply.text
    return reply


async def test_sentinel_tree_sizes_and_analysis_read_the_masters_keys(
    system: System, sp: SentinelProject, prefix: str
) -> None:
    """The tree counts the master's keys by namespace (every page), its rows and the key list's
    carry the master's MEMORY USAGE and lengths, and the analysis samples the master's keyspace."""
    async with sp.master.pipeline(transaction=False) as pipe:
        for n in range(45):
            pipe.set(f"{prefix}ns{n % 3}:{n}", "v")
        pipe.rpush(f"{prefix}list", *range(40))
        await pipe.execute()

    counts: dict[str, int] = {}
    keys: dict[str, dict[str, Any]] = {}
    cursor = ""
    for _ in range(1000):
        body = (await get(system, sp, "tree", prefix=prefix, cursor=cursor, scan_limit=10, with_size="true")).json()
        for item in body["namespaces"]:
            counts[item["prefix"]] = counts.get(item["prefix"], 0) + item["keys"]
        keys.update({row["key"]: row for row in body["keys"]})
        cursor = body["cursor"]
        if cursor == "0":
            break
    assert counts == {f"{prefix}ns{n}:": 15 for n in range(3)}
    assert set(keys) == {f"{prefix}list"}
    assert keys[f"{prefix}list"]["length"] == 40
    assert keys[f"{prefix}list"]["memory"] == await sp.master.memory_usage(f"{prefix}list", samples=0)
    assert body["total"] == await sp.master.dbsize()
    rows: dict[str, dict[str, Any]] = {}
    cursor = ""
    while cursor != "0":
        page = (await get(system, sp, "keys", pattern=f"{prefix}*", cursor=cursor, count=1000, with_size="true")).json()
        rows.update((row["key"], row) for row in page["data"])
        cursor = page["cursor"]
    assert len(rows) == 46
    assert (rows[f"{prefix}list"]["length"], rows[f"{prefix}ns1:1"]["length"]) == (40, 1)
    assert rows[f"{prefix}ns1:1"]["memory"] == await sp.master.memory_usage(f"{prefix}ns1:1", samples=0)

    analysis = await get(system, sp, "analysis", pattern=f"{prefix}*")
    report = [json.loads(line) for line in analysis.text.splitlines() if line][-1]["report"]
    assert report["sampled"] == 46
    assert {item["type"]: item["keys"] for item in report["by_type"]} == {"string": 45, "list": 1}
    assert report["top_by_length"][0]["key"] == f"{prefix}list"


async def test_sentinel_workbench_and_bulk_delete_write_on_the_master(
    system: System, sp: SentinelProject, prefix: str
) -> None:
    """A workbench write lands on the master and a read answers its value; a bulk delete with its
    preview's token unlinks the master's matching keys and leaves the others."""
    written = await post(system, sp, "command", {"command": ["SET", f"{prefix}k", "via sentinel"]})
    assert written.json()["reply"] == "OK"
    assert await sp.master.get(f"{prefix}k") == b"via sentinel"
    await sp.master.set(f"{prefix}direct", "on the master")
    read = await post(system, sp, "command", {"command": ["GET", f"{prefix}direct"]})
    assert read.json()["reply"] == "on the master"

    async with sp.master.pipeline(transaction=False) as pipe:
        for n in range(25):
            pipe.set(f"{prefix}doomed:{n}", "x")
        await pipe.execute()
    preview = (await post(system, sp, "bulk-delete/preview", {"pattern": f"{prefix}doomed:*"})).json()
    assert preview["matched"] == 25
    deleted = await post(
        system, sp, "bulk-delete", {"pattern": f"{prefix}doomed:*", "token": preview["token"], "batch_size": 10}
    )
    assert json.loads(deleted.text.splitlines()[-1]) == {"scanned": 25, "deleted": 25, "done": True}
    assert await sp.master.exists(f"{prefix}doomed:0", f"{prefix}doomed:24") == 0
    assert await sp.master.exists(f"{prefix}k", f"{prefix}direct") == 2


async def test_sentinel_slowlog_clients_and_monitor_are_the_masters(
    system: System, sp: SentinelProject, prefix: str
) -> None:
    """The slow log and the client list are the master's (not the sentinel's), and the monitor
    watches the commands the master runs."""
    name = f"probe-{uuid.uuid4().hex[:8]}"
    await sp.master.client_setname(name)
    clients = (await get(system, sp, "clients")).json()["data"]
    assert any(client.get("name") == name for client in clients)
    assert all(client["node"] is None for client in clients)

    await sp.master.config_set("slowlog-log-slower-than", 0)
    try:
        await sp.master.set(f"{prefix}slow", "v")
        entries = (await get(system, sp, "slowlog", count=1000)).json()["data"]
    finally:
        await sp.master.config_set("slowlog-log-slower-than", 10_000)
    assert any(entry["args"][:2] == ["SET", f"{prefix}slow"] for entry in entries)

    url = (
        f"ws://127.0.0.1:{system.ports['gateway']}/api/platform/redis/{sp.ref}/monitor"
        f"?access_token={system.token(sp.owner)}&max_events=20&max_seconds=20"
    )
    frames = await monitor_frames(url, lambda n: sp.master.set(f"{prefix}watched", "v"), interval_s=0.05)
    assert any(frame.get("args") == ["SET", f"{prefix}watched", "v"] for frame in frames)
    assert frames[-1]["type"] == "end"


# ---- after a failover -------------------------------------------------------------------------


@dataclass
class FailoverSet:
    """A master, its replica and a sentinel monitoring them as "mymaster" (ports)."""

    sentinel: int
    master: int
    replica: int


@pytest.fixture
def failover_set(tmp_path: Path) -> Iterator[FailoverSet]:
    server = devstack.find_binary("redis-server")
    ports = FailoverSet(devstack.free_port(), devstack.free_port(), devstack.free_port())
    base = [server, "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"]
    processes = []
    try:
        processes.append(_spawn([*base, "--port", str(ports.master)], tmp_path, "master"))
        devstack.wait_for_port(ports.master, processes[-1], "master", tmp_path / "master.log")
        replica = [*base, "--port", str(ports.replica), "--replicaof", "127.0.0.1", str(ports.master)]
        processes.append(_spawn(replica, tmp_path, "replica"))
        devstack.wait_for_port(ports.replica, processes[-1], "replica", tmp_path / "replica.log")
        config = tmp_path / "sentinel.conf"
        config.write_text(
            f"port {ports.sentinel}\nbind 127.0.0.1\ndir {tmp_path}\n"
            f"sentinel monitor mymaster 127.0.0.1 {ports.master} 1\n"
            "sentinel down-after-milliseconds mymaster 5000\n"
            "sentinel failover-timeout mymaster 20000\n"
        )
        processes.append(_spawn([server, str(config), "--sentinel"], tmp_path, "sentinel"))
        devstack.wait_for_port(ports.sentinel, processes[-1], "sentinel", tmp_path / "sentinel.log")
        yield ports
    finally:
        _stop(processes)


async def role(port: int) -> str:
    client = redis.Redis(port=port)
    try:
        return str((await client.execute_command("ROLE"))[0], "ascii")
    finally:
        await client.aclose()


async def fail_over(ports: FailoverSet) -> None:
    """SENTINEL FAILOVER once the sentinel knows a replica in sync, then waits until the replica is
    the master and the old master (its clients killed by the sentinel) its replica."""
    sentinel = redis.Redis(port=ports.sentinel)
    try:

        async def replica_known() -> bool:
            replicas = await sentinel.sentinel_slaves("mymaster")
            return any(item.get("master-link-status") == "ok" for item in replicas)

        await eventually(replica_known, 30)
        deadline = time.monotonic() + 30
        while True:
            try:
                await sentinel.sentinel_failover("mymaster")
                break
            except redis.ResponseError:  # NOGOODSLAVE until the sentinel has the replica's offset
                assert time.monotonic() < deadline, "the sentinel never started the failover"
                await asyncio.sleep(0.5)

        async def switched() -> bool:
            named = await sentinel.sentinel_get_master_addr_by_name("mymaster")
            return named is not None and int(named[1]) == ports.replica and await role(ports.master) == "slave"

        await eventually(switched, 40)
    finally:
        await sentinel.aclose()


async def test_sentinel_explorer_follows_the_master_after_a_failover(system: System, failover_set: FailoverSet) -> None:
    """After a failover the explorer's workbench writes, tree, analysis and client list reach the
    new master the sentinel names, not the old one."""
    # The client is of the replica: the master once the failover is through.
    sp = await sentinel_project(system, failover_set.sentinel, failover_set.replica)
    try:
        await post(system, sp, "command", {"command": ["SET", "before", "1"]})
        assert (await get(system, sp, "tree")).json()["total"] == 1
        await fail_over(failover_set)
        assert await role(failover_set.replica) == "master"

        written = await post(system, sp, "command", {"command": ["SET", "after", "2"]})
        assert written.json()["reply"] == "OK"
        assert await sp.master.get("after") == b"2"
        tree = (await get(system, sp, "tree")).json()
        assert {row["key"] for row in tree["keys"]} == {"before", "after"}
        analysis = await get(system, sp, "analysis")
        assert [json.loads(line) for line in analysis.text.splitlines() if line][-1]["report"]["sampled"] == 2
        name = f"new-master-{uuid.uuid4().hex[:6]}"
        await sp.master.client_setname(name)
        clients = (await get(system, sp, "clients")).json()["data"]
        assert any(client.get("name") == name for client in clients)
    finally:
        await sp.master.aclose()
