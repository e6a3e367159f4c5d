"""Redis Cluster and Redis Sentinel connections, end to end against real servers started here."""

from __future__ import annotations

import asyncio
import json
import subprocess
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import devstack
import pytest
import redis.asyncio as redis
from harness import System
from websockets.asyncio.client import connect

pytestmark = pytest.mark.integration


def _spawn(argv: list[str], workdir: Path, name: str) -> subprocess.Popen[bytes]:
    with (workdir / f"{name}.log").open("ab") as log:
        return subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT, cwd=workdir)


def _free_cluster_port() -> int:
    # A cluster node also listens on port + 10000 (the cluster bus).
    for _ in range(100):
        port = devstack.free_port()
        if port < 55535 and devstack.port_is_free(port + 10000):
            return port
    raise RuntimeError("no port for a cluster node")


def _stop(processes: list[subprocess.Popen[bytes]]) -> None:
    for process in processes:
        process.terminate()
    for process in processes:
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


@pytest.fixture(scope="module")
def cluster_ports(tmp_path_factory: pytest.TempPathFactory) -> Iterator[list[int]]:
    """Three Redis Cluster primaries on loopback, slots spread by redis-cli --cluster create."""
    workdir = tmp_path_factory.mktemp("cluster")
    server = devstack.find_binary("redis-server")
    ports = [_free_cluster_port() for _ in range(3)]
    processes = []
    try:
        for port in ports:
            node_dir = workdir / str(port)
            node_dir.mkdir()
            argv = [server, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"]
            argv += ["--cluster-enabled", "yes", "--cluster-config-file", "nodes.conf", "--dir", str(node_dir)]
            processes.append(_spawn(argv, node_dir, "redis"))
        for port, process in zip(ports, processes, strict=True):
            devstack.wait_for_port(port, process, "cluster node", workdir / str(port) / "redis.log")
        nodes = [f"127.0.0.1:{port}" for port in ports]
        subprocess.run(
            [
                devstack.find_binary("redis-cli"),
                "--cluster",
                "create",
                *nodes,
                "--cluster-replicas",
                "0",
                "--cluster-yes",
            ],
            check=True,
            capture_output=True,
            timeout=60,
        )
        deadline = time.monotonic() + 30
        cli = devstack.find_binary("redis-cli")
        while any(
            b"cluster_state:ok"
            not in subprocess.run([cli, "-p", str(port), "cluster", "info"], capture_output=True).stdout
            for port in ports
        ):
            assert time.monotonic() < deadline, "the cluster did not come up"
            time.sleep(0.2)
        yield ports
    finally:
        _stop(processes)


@pytest.fixture(scope="module")
def sentinel_port(tmp_path_factory: pytest.TempPathFactory, servers: Any) -> Iterator[tuple[int, int]]:
    """A Redis and a Sentinel that monitors it as "mymaster"; yields (sentinel port, redis port)."""
    workdir = tmp_path_factory.mktemp("sentinel")
    server = devstack.find_binary("redis-server")
    redis_port, port = devstack.free_port(), devstack.free_port()
    processes = []
    try:
        processes.append(
            _spawn([server, "--port", str(redis_port), "--bind", "127.0.0.1", "--save", ""], workdir, "redis")
        )
        devstack.wait_for_port(redis_port, processes[0], "redis", workdir / "redis.log")
        config = workdir / "sentinel.conf"
        config.write_text(
            f"port {port}\nbind 127.0.0.1\ndir {workdir}\n"
            f"sentinel monitor mymaster 127.0.0.1 {redis_port} 1\n"
            "sentinel down-after-milliseconds mymaster 5000\n"
        )
        processes.append(_spawn([server, str(config), "--sentinel"], workdir, "sentinel"))
        devstack.wait_for_port(port, processes[1], "sentinel", workdir / "sentinel.log")
        yield port, redis_port
    finally:
        _stop(processes)


async def test_cluster_connection_scans_every_node_and_serves_every_route(
    system: System, cluster_ports: list[int]
) -> None:
    """With options.cluster, keys on every primary are scanned (cursor walks the nodes), read,
    written, expired and deleted; info, stats and publish answer."""
    ref, owner = await system.new_project()
    await system.add_connection(
        ref,
        owner,
        "redis",
        {"identifier": "cl", "host": "127.0.0.1", "port": cluster_ports[0], "options": {"cluster": True}},
    )
    headers = system.headers(owner)
    base = f"/redis/{ref}"
    names = [f"k{i}" for i in range(30)]
    for name in names:
        reply = await system.http.post(
            f"{base}/keys/{name}", json={"type": "hash", "value": {"n": name}}, headers=headers
        )
        assert reply.status_code == 201, reply.text
    direct = redis.RedisCluster(host="127.0.0.1", port=cluster_ports[0])
    try:
        await direct.initialize()
        sizes = [await direct.execute_command("DBSIZE", target_nodes=node) for node in direct.get_primaries()]
        assert sum(sizes) == 30
        assert all(size > 0 for size in sizes)  # the keys really are spread over the nodes
    finally:
        await direct.aclose()
    seen: list[str] = []
    cursor = ""
    for _ in range(1000):
        body = (await system.http.get(f"{base}/keys", params={"count": 5, "cursor": cursor}, headers=headers)).json()
        seen += [entry["key"] for entry in body["data"]]
        cursor = body["cursor"]
        if cursor == "0":
            break
    assert sorted(seen) == sorted(names)
    assert (await system.http.get(f"{base}/keys/k7", headers=headers)).json()["value"] == {"n": "k7"}
    reply = await system.http.put(f"{base}/keys/k7", json={"type": "list", "value": ["a"]}, headers=headers)
    assert reply.status_code == 200, reply.text
    assert (await system.http.post(f"{base}/keys/k7/expire", json={"ttl": 30}, headers=headers)).json() == {"ttl": 30}
    assert (await system.http.delete(f"{base}/keys/k7", headers=headers)).json() == {"deleted": 1}
    assert (await system.http.get(f"{base}/keys", params={"cursor": "9:0"}, headers=headers)).status_code == 400
    for path in ("info", "stats"):
        assert (await system.http.get(f"{base}/{path}", headers=headers)).status_code == 200
    published = await system.http.post(f"{base}/pubsub/publish", json={"channel": "c", "message": "m"}, headers=headers)
    assert published.json() == {"receivers": 0}


async def test_sentinel_connection_finds_the_master(system: System, sentinel_port: tuple[int, int]) -> None:
    """With options.sentinel_master, the record names a sentinel and the calls reach the master it names."""
    port, redis_port = sentinel_port
    ref, owner = await system.new_project()
    await system.add_connection(
        ref,
        owner,
        "redis",
        {"identifier": "sn", "host": "127.0.0.1", "port": port, "options": {"sentinel_master": "mymaster"}},
    )
    headers = system.headers(owner)
    name = f"s-{uuid.uuid4().hex[:6]}"
    reply = await system.http.post(
        f"/redis/{ref}/keys/{name}", json={"type": "string", "value": "via"}, headers=headers
    )
    assert reply.status_code == 201, reply.text
    direct = redis.Redis(port=redis_port)
    try:
        assert await direct.get(name) == b"via"
    finally:
        await direct.aclose()
    assert (await system.http.get(f"/redis/{ref}/keys/{name}", headers=headers)).json()["value"] == "via"
    assert (await system.http.get(f"/redis/{ref}/stats", headers=headers)).status_code == 200


@pytest.mark.parametrize("topology", ["cluster", "sentinel"])
async def test_websocket_subscription_on_a_cluster_or_sentinel_connection(
    system: System, topology: str, request: pytest.FixtureRequest
) -> None:
    """A WebSocket subscribes through a Cluster connection (classic SUBSCRIBE on one node, which
    gets every PUBLISH of the cluster) or a Sentinel one (the master), and receives what the
    publish route sends."""
    if topology == "cluster":
        port = request.getfixturevalue("cluster_ports")[0]
        options: dict[str, Any] = {"cluster": True}
    else:
        port = request.getfixturevalue("sentinel_port")[0]
        options = {"sentinel_master": "mymaster"}
    ref, owner = await system.new_project()
    await system.add_connection(
        ref, owner, "redis", {"identifier": topology, "host": "127.0.0.1", "port": port, "options": options}
    )
    url = (
        f"ws://127.0.0.1:{system.ports['gateway']}/api/platform/redis/{ref}/pubsub/subscribe"
        f"?channels=orders,audit&access_token={system.token(owner)}"
    )
    async with connect(url, compression=None, proxy=None, open_timeout=10) as ws:
        assert json.loads(await asyncio.wait_for(ws.recv(), 10))["type"] == "subscribe"
        for channel in ("orders", "audit"):  # channels of different hash slots
            published = await system.http.post(
                f"/redis/{ref}/pubsub/publish", json={"channel": channel, "message": "m"}, headers=system.headers(owner)
            )
            assert published.json() == {"receivers": 1}
            frame = json.loads(await asyncio.wait_for(ws.recv(), 10))
            assert (frame["channel"], frame["data"]) == (channel, "m")
