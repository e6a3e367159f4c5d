"""The Redis explorer on a real Redis Cluster of three primaries: every primary is scanned, keys
are routed to their slot's node, and per-node diagnostics cover each primary."""

from __future__ import annotations

import json
import uuid
from collections.abc import AsyncIterator

import pytest
import pytest_asyncio
import redis.asyncio as redis
from harness import System, monitor_frames
from test_redis_topologies import cluster_ports  # noqa: F401 (the fixture, shared)

pytestmark = pytest.mark.integration


@pytest_asyncio.fixture(scope="module")
async def cluster_project(
    system: System,
    cluster_ports: list[int],  # noqa: F811
) -> AsyncIterator[tuple[str, str, redis.RedisCluster]]:
    """A project whose primary Redis connection is the cluster; yields (ref, owner, direct client)."""
    ref, owner = await system.new_project()
    await system.add_connection(
        ref,
        owner,
        "redis",
        {"identifier": "cl", "host": "127.0.0.1", "port": cluster_ports[0], "options": {"cluster": True}},
    )
    direct = redis.RedisCluster(host="127.0.0.1", port=cluster_ports[0])
    yield ref, owner, direct
    await direct.aclose()


async def test_cluster_tree_workbench_bulk_delete_and_analysis(
    system: System, cluster_project: tuple[str, str, redis.RedisCluster]
) -> None:
    """The tree counts keys of every primary, the workbench reaches each key's node, a bulk delete
    removes keys spread over every slot, and the analysis samples all primaries."""
    ref, owner, direct = cluster_project
    headers = system.headers(owner)
    prefix = f"c{uuid.uuid4().hex[:8]}:"
    names = [f"{prefix}ns{n % 3}:{n}" for n in range(60)]
    for name in names:
        await direct.set(name, "v")
    nodes = {direct.get_node_from_key(name).name for name in names}
    assert len(nodes) == 3

    counts: dict[str, int] = {}
    cursor = ""
    while True:
        reply = await system.http.get(
            f"/redis/{ref}/tree", params={"prefix": prefix, "cursor": cursor, "scan_limit": 10}, headers=headers
        )
        assert reply.status_code == 200, reply.text
        body = reply.json()
        for item in body["namespaces"]:
            counts[item["prefix"]] = counts.get(item["prefix"], 0) + item["keys"]
        cursor = body["cursor"]
        if cursor == "0":
            break
    assert counts == {f"{prefix}ns{n}:": 20 for n in range(3)}

    for name in names[:6]:
        read = await system.http.post(f"/redis/{ref}/command", json={"command": ["GET", name]}, headers=headers)
        assert read.json()["reply"] == "v", read.text
    keyless = await system.http.post(f"/redis/{ref}/command", json={"command": "PING"}, headers=headers)
    assert keyless.json().get("reply") == "PONG", keyless.text
    cross = await system.http.post(f"/redis/{ref}/command", json={"command": ["MGET", *names[:6]]}, headers=headers)
    assert cross.status_code == 400

    analysis = await system.http.get(f"/redis/{ref}/analysis", params={"pattern": f"{prefix}*"}, headers=headers)
    report = [json.loads(line) for line in analysis.text.splitlines() if line][-1]["report"]
    assert report["sampled"] == 60

    preview = await system.http.post(
        f"/redis/{ref}/bulk-delete/preview", json={"pattern": f"{prefix}ns1:*"}, headers=headers
    )
    assert preview.json()["matched"] == 20
    deleted = await system.http.post(
        f"/redis/{ref}/bulk-delete",
        json={"pattern": f"{prefix}ns1:*", "token": preview.json()["token"], "batch_size": 7},
        headers=headers,
    )
    assert json.loads(deleted.text.splitlines()[-1]) == {"scanned": 20, "deleted": 20, "done": True}
    remaining = [name for name in names if await direct.exists(name)]
    assert remaining == [name for name in names if ":ns1:" not in name]


async def test_cluster_slowlog_clients_and_monitor_cover_each_primary(
    system: System, cluster_project: tuple[str, str, redis.RedisCluster]
) -> None:
    """The client list and the slow log name each primary; the monitor watches every primary."""
    ref, owner, direct = cluster_project
    headers = system.headers(owner)
    clients = (await system.http.get(f"/redis/{ref}/clients", headers=headers)).json()["data"]
    assert len({client["node"] for client in clients}) == 3
    assert (await system.http.get(f"/redis/{ref}/slowlog", headers=headers)).status_code == 200
    prefix = f"m{uuid.uuid4().hex[:8]}:"
    url = (
        f"ws://127.0.0.1:{system.ports['gateway']}/api/platform/redis/{ref}/monitor"
        f"?access_token={system.token(owner)}&max_events=30&max_seconds=20"
    )
    frames = await monitor_frames(url, lambda n: direct.set(f"{prefix}{n}", "v"), interval_s=0.02)
    commands = [frame for frame in frames if frame["type"] == "command" and frame["args"][0] == "SET"]
    assert len({frame["node"] for frame in commands}) >= 2
    assert frames[-1]["type"] == "end"
