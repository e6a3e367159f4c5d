"""Pub/sub fan-out through the gateway's WebSocket, with the services as their own processes.

N WebSockets subscribe to one channel of the bench project's Redis through the gateway; this
process publishes R messages a second on a fixed schedule, straight to Redis, each carrying its
send time, for BENCH_SECONDS; every subscriber timestamps each frame. Reported per row: the
delay from PUBLISH to the frame (p50, p99, max) over every (subscriber, message), how many of
N x messages arrived, redis-svc's Redis connections in pub/sub mode, and the CPU the gateway
and redis-svc spent (per second, and per thousand frames delivered).

Target (issue 11): 500 subscribers at 20 messages/s per gateway process with p99 under 1 s.
Beside it, the same load with PUBSUB_SHARE_STREAMS=false (one redis-svc stream per WebSocket;
redis-svc still shares its Redis connection). The design before this one, one Redis connection
per WebSocket, was measured by the fault run of issue 11: at 500 subscribers and 50 messages/s
messages arrived 23-41 s late and publishes took 10 s.

    python bench/bench_pubsub.py    # BENCH_SECONDS (per row, default 5), BENCH_PUBSUB_ROWS
                                    # ("100x20,500x20,500x50"), BENCH_PUBSUB_UNSHARED (1: also
                                    # measure 500x20 without the gateway's sharing; 0: skip)
"""

from __future__ import annotations

import asyncio
import multiprocessing
import os
import time
from dataclasses import dataclass
from multiprocessing.connection import Connection

import orjson
import redis.asyncio as redis
import uvloop
from common import DURATION_S, BenchStack, bench_stack
from websockets.asyncio.client import ClientConnection, connect

ROWS = [
    tuple(int(part) for part in row.split("x"))
    for row in os.environ.get("BENCH_PUBSUB_ROWS", "100x20,500x20,500x50").split(",")
]
UNSHARED = os.environ.get("BENCH_PUBSUB_UNSHARED", "1") == "1"
TARGET = (500, 20)
TARGET_P99_S = 1.0
#: Messages before the measured ones (connections warm, queues settled).
WARMUP_S = 1.0
#: How long after the last publish a frame may still arrive before it counts as lost.
DRAIN_S = 15.0
CHANNEL = "bench:fanout"
#: Subscriber processes (the WebSocket clients' own CPU stays out of the publisher's loop).
WORKERS = int(os.environ.get("BENCH_PUBSUB_WORKERS", "2"))
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


@dataclass
class Row:
    subscribers: int
    rate: int
    delays_ms: list[float]
    expected: int
    cpu_s: dict[str, float]
    seconds: float
    connections: int
    publish_ms: list[float]

    def percentile(self, values: list[float], q: float) -> float:
        if not values:
            return float("nan")
        ordered = sorted(values)
        return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def cpu_seconds(pid: int) -> float:
    """User and system CPU a process has used."""
    with open(f"/proc/{pid}/stat") as stat:
        fields = stat.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS


def listen(url: str, count: int, warm: int, total: int, pipe: Connection) -> None:
    """A subscriber process: ``count`` WebSockets; says "ready" once all are subscribed, then
    sends back every delay (ms) of the measured messages."""

    async def main() -> list[float]:
        sockets = [await connect(url, compression=None, proxy=None, open_timeout=60) for _ in range(count)]
        for ws in sockets:
            assert orjson.loads(await ws.recv())["type"] == "subscribe"
        pipe.send("ready")
        delays: list[float] = []

        async def receive(ws: ClientConnection) -> None:
            async for frame in ws:
                sequence, sent = orjson.loads(frame)["data"].split(":")
                if int(sequence) >= warm:
                    delays.append((time.monotonic_ns() - int(sent)) / 1e6)
                if int(sequence) == total - 1:
                    return

        await asyncio.wait(
            [asyncio.create_task(receive(ws)) for ws in sockets], timeout=DURATION_S + WARMUP_S + DRAIN_S
        )
        await asyncio.gather(*(ws.close() for ws in sockets), return_exceptions=True)
        return delays

    pipe.send(uvloop.run(main()))


async def measure(bench: BenchStack, direct: redis.Redis, subscribers: int, rate: int) -> Row:
    base = bench.gateway_url.replace("http://", "ws://")
    url = f"{base}/redis/{bench.project_ref}/pubsub/subscribe?channels={CHANNEL}&access_token={bench.token}"
    warm = int(WARMUP_S * rate)
    total = warm + int(DURATION_S * rate)
    context = multiprocessing.get_context("spawn")
    workers = []
    for index in range(WORKERS):
        share = subscribers // WORKERS + (1 if index < subscribers % WORKERS else 0)
        ours, theirs = context.Pipe()
        process = context.Process(target=listen, args=(url, share, warm, total, theirs), daemon=True)
        process.start()
        workers.append((process, ours))
    try:
        for _, pipe in workers:
            assert await asyncio.to_thread(pipe.recv) == "ready"
        pids = {name: pid for name, pid in bench.pids().items() if name in ("gateway", "redis-svc")}
        publish_ms: list[float] = []
        cpu_before: dict[str, float] = {}
        started = measured_from = time.monotonic()
        for sequence in range(total):
            await asyncio.sleep(max(0.0, started + sequence / rate - time.monotonic()))
            if sequence == warm:
                cpu_before = {name: cpu_seconds(pid) for name, pid in pids.items()}
                measured_from = time.monotonic()
            before = time.monotonic_ns()
            await direct.publish(CHANNEL, f"{sequence}:{before}")
            if sequence >= warm:
                publish_ms.append((time.monotonic_ns() - before) / 1e6)
        connections = len([c for c in await direct.client_list(_type="pubsub") if c.get("name") == "udb-redis-svc"])
        delays: list[float] = []
        for _, pipe in workers:
            delays += await asyncio.to_thread(pipe.recv)
        seconds = time.monotonic() - measured_from
        cpu = {name: cpu_seconds(pid) - cpu_before[name] for name, pid in pids.items()}
        return Row(subscribers, rate, delays, subscribers * (total - warm), cpu, seconds, connections, publish_ms)
    finally:
        for process, _ in workers:
            process.join(5)
            if process.is_alive():
                process.kill()


def report(title: str, rows: list[Row]) -> None:
    print(f"\n== {title} ({DURATION_S:g}s of messages per row, one channel)")
    print(
        f"{'subs':>5} {'msg/s':>6} {'frames/s':>9} {'p50 ms':>8} {'p99 ms':>8} {'max ms':>8} {'arrived':>9} "
        f"{'pubsub conns':>12} {'gateway CPU':>12} {'redis-svc CPU':>14} {'gw CPU ms/1k frames':>19}"
    )
    for row in rows:
        arrived = len(row.delays_ms) / row.expected if row.expected else float("nan")
        frames = len(row.delays_ms) / DURATION_S
        gateway = row.cpu_s.get("gateway", 0.0)
        per_thousand = gateway * 1000 / len(row.delays_ms) * 1000 if row.delays_ms else float("nan")
        print(
            f"{row.subscribers:>5} {row.rate:>6} {frames:>9.0f} {row.percentile(row.delays_ms, 0.5):>8.1f} "
            f"{row.percentile(row.delays_ms, 0.99):>8.1f} {max(row.delays_ms, default=float('nan')):>8.1f} "
            f"{arrived:>8.1%} {row.connections:>12} {gateway / row.seconds:>11.0%} "
            f"{row.cpu_s.get('redis-svc', 0.0) / row.seconds:>13.0%} {per_thousand:>19.1f}"
        )
        print(f"{'':>5} publish (redis-py straight to Redis) p99 {row.percentile(row.publish_ms, 0.99):.2f} ms")


async def run_rows(bench: BenchStack, rows: list[tuple[int, int]]) -> list[Row]:
    direct = redis.Redis.from_url(bench.stack.urls["redis"])
    try:
        return [await measure(bench, direct, subscribers, rate) for subscribers, rate in rows]
    finally:
        await direct.aclose()


def main() -> int:
    with bench_stack() as bench:
        shared = uvloop.run(run_rows(bench, ROWS))
    report("Pub/sub fan-out through the gateway's WebSocket, shared (one stream per target and process)", shared)
    met = True
    for row in shared:
        if (row.subscribers, row.rate) == TARGET:
            p99_s = row.percentile(row.delays_ms, 0.99) / 1000
            complete = len(row.delays_ms) == row.expected
            met = p99_s < TARGET_P99_S and complete
            print(
                f"\ntarget {TARGET[0]} subscribers x {TARGET[1]} messages/s: p99 {p99_s:.3f} s "
                f"(target < {TARGET_P99_S:g} s), {len(row.delays_ms)}/{row.expected} frames: "
                f"{'met' if met else 'NOT met'}"
            )
    if UNSHARED:
        with bench_stack(extra_env={"PUBSUB_SHARE_STREAMS": "false"}) as bench:
            unshared = uvloop.run(run_rows(bench, [TARGET]))
        report("The same without the gateway's sharing (PUBSUB_SHARE_STREAMS=false: a stream per WebSocket)", unshared)
    print(
        "\nbefore (a Redis connection per WebSocket), from issue 11's fault run: 500 subscribers x 50 messages/s "
        "arrived 23-41 s late; publishes took 10 s"
    )
    return 0 if met else 1


if __name__ == "__main__":
    raise SystemExit(main())
