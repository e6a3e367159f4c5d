"""GET of a small string key, six ways against the same Redis, at 1 and 64 concurrent callers:

- redis-py asyncio used directly (the baseline),
- redis-svc's gRPC API (GetKey), as unary calls and as calls multiplexed on one stream
  (``udb.mux.client.MuxChannel``, what the gateway's engine calls use),
- the HTTP gateway (GET /redis/bench/keys/[key]), directly and through Envoy,
- webdis, a C HTTP front for Redis (GET /GET/[key]),
- and, as the floor of the transport itself, a grpc.aio server (own process, uvloop) whose GetKey
  returns a fixed reply without touching Redis: no gRPC path can beat that row.

Every HTTP path is driven by the same lean keep-alive HTTP/1.1 client (one connection per caller),
so the figures compare servers, not clients. The machine is shared and noisy: each path is
measured in several short rounds, interleaved with the others, and the rounds are merged. Beside
each row: the CPU time per request of this process (the client), redis-svc, the gateway, Envoy and
Redis itself, read from /proc.

    python bench/bench_redis.py            # BENCH_SECONDS (per row, default 5) and BENCH_ROUNDS (3)
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import grpc
import redis.asyncio as redis
import uvloop
from common import (
    DURATION_S,
    BenchStack,
    CpuMeter,
    HttpConnection,
    Result,
    bench_stack,
    devstack,
    http_operation,
    measure,
    report,
    rss_kib,
)

from udb.common.v1 import common_pb2
from udb.mux.client import MuxChannel
from udb.redis.v1 import redis_pb2, redis_pb2_grpc

ROUNDS = int(os.environ.get("BENCH_ROUNDS", "3"))
CONCURRENCY = (1, 64)
KEY = "bench:small"
VALUE = "hello, world"

#: The issue's targets, at 64 callers, as a share of the raw redis-py rate; and the added p50 at 1.
#: The gRPC target is the multiplexed client's.
TARGET_GRPC = 0.45
TARGET_HTTP = 0.30
TARGET_ENVOY = 0.25
TARGET_ADDED_P50_MS = 0.8


class _NoopRedisService(redis_pb2_grpc.RedisServiceServicer):
    """GetKey without Redis, auth or anything else: what grpc.aio alone costs."""

    async def GetKey(self, request: redis_pb2.GetKeyRequest, context: Any) -> redis_pb2.Key:
        return redis_pb2.Key(key=request.key, type="string", ttl=-1, size=len(VALUE), encoding="embstr")


async def _serve_noop(port: int) -> None:
    server = grpc.aio.server()
    redis_pb2_grpc.add_RedisServiceServicer_to_server(_NoopRedisService(), server)
    server.add_insecure_port(f"127.0.0.1:{port}")
    await server.start()
    await server.wait_for_termination()


def start_noop_grpc() -> tuple[subprocess.Popen[bytes], int]:
    port = devstack.free_port()
    process = subprocess.Popen([sys.executable, __file__, "--noop-grpc-server", str(port)])
    devstack.wait_for_port(port, process, "no-op gRPC server", Path("/dev/null"))
    return process, port


def start_webdis(redis_port: int, workdir: Path) -> tuple[subprocess.Popen[bytes], int]:
    port = devstack.free_port()
    config = {
        "redis_host": "127.0.0.1",
        "redis_port": redis_port,
        "http_host": "127.0.0.1",
        "http_port": port,
        "threads": 2,
        "pool_size": 64,
        "daemonize": False,
        "websockets": False,
        "database": 0,
        "verbosity": 1,
        "logfile": str(workdir / "webdis.log"),
    }
    path = workdir / "webdis.json"
    path.write_text(json.dumps(config))
    process = subprocess.Popen(
        [devstack.find_binary("webdis"), str(path)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    devstack.wait_for_port(port, process, "webdis", workdir / "webdis.log")
    return process, port


async def run(bench: BenchStack) -> int:
    with tempfile.TemporaryDirectory(prefix="udb-webdis-") as tmp:
        redis_port = bench.stack.ports["redis"]
        raw = redis.Redis(port=redis_port)
        await raw.set(KEY, VALUE)
        webdis, webdis_port = start_webdis(redis_port, Path(tmp))
        noop, noop_port = start_noop_grpc()
        noop_channel = grpc.aio.insecure_channel(f"127.0.0.1:{noop_port}")
        noop_stub = redis_pb2_grpc.RedisServiceStub(noop_channel)
        channel = grpc.aio.insecure_channel(bench.grpc_address("redis-svc"))
        stub = redis_pb2_grpc.RedisServiceStub(channel)
        mux = MuxChannel(grpc.aio.insecure_channel(bench.grpc_address("redis-svc")))
        mux_stub = redis_pb2_grpc.RedisServiceStub(mux)
        cpu = CpuMeter(
            {name: bench.pid(name) for name in ("redis-svc", "gateway", "envoy", "redis")} | {"webdis": webdis.pid}
        )
        metadata = (("authorization", f"Bearer {bench.token}"),)
        request = redis_pb2.GetKeyRequest(target=common_pb2.ConnectionTarget(project_ref="bench"), key=KEY.encode())
        auth = {"authorization": f"Bearer {bench.token}"}
        connections: list[HttpConnection] = []
        paths: dict[str, Callable[[], Awaitable[object]]] = {
            "redis-py asyncio (raw)": lambda: raw.get(KEY),
            "redis-svc gRPC GetKey": lambda: stub.GetKey(request, metadata=metadata, timeout=10),
            "redis-svc gRPC GetKey via mux": lambda: mux_stub.GetKey(request, metadata=metadata, timeout=10),
            "gateway HTTP": http_operation(f"{bench.gateway_url}/redis/bench/keys/{KEY}", auth, connections),
            "gateway HTTP via Envoy": http_operation(f"{bench.envoy_url}/redis/bench/keys/{KEY}", auth, connections),
            "webdis HTTP": http_operation(f"http://127.0.0.1:{webdis_port}/GET/{KEY}", {}, connections),
            "grpc.aio no-op servicer (floor)": lambda: noop_stub.GetKey(request, timeout=10),
        }
        try:
            for name, operation in paths.items():  # each path answers before anything is timed
                reply = await operation()
                assert reply, name
            merged: dict[tuple[str, int], Result] = {}
            for _ in range(ROUNDS):
                for concurrency in CONCURRENCY:
                    for name, operation in paths.items():
                        result = await measure(
                            name, operation, concurrency=concurrency, seconds=DURATION_S / ROUNDS, cpu=cpu
                        )
                        previous = merged.get((name, concurrency))
                        merged[(name, concurrency)] = result if previous is None else previous + result
            results = [merged[(name, c)] for c in CONCURRENCY for name in paths]
            report(
                f"Redis GET of a {len(VALUE)}-byte string ({ROUNDS} interleaved rounds)",
                results,
                baseline="redis-py asyncio (raw)",
            )
            return verdict(merged, bench.pids())
        finally:
            for connection in connections:
                await connection.close()
            await channel.close()
            await mux.close()
            await noop_channel.close()
            await raw.aclose()
            noop.terminate()
            noop.wait(10)
            webdis.terminate()
            webdis.wait(10)


def verdict(merged: dict[tuple[str, int], Result], pids: dict[str, int]) -> int:
    raw64 = merged[("redis-py asyncio (raw)", 64)].rate
    unary = merged[("redis-svc gRPC GetKey", 64)].rate / raw64
    checks = [
        ("gRPC (mux) at 64 callers", merged[("redis-svc gRPC GetKey via mux", 64)].rate / raw64, TARGET_GRPC),
        ("HTTP at 64 callers", merged[("gateway HTTP", 64)].rate / raw64, TARGET_HTTP),
        ("HTTP via Envoy at 64 callers", merged[("gateway HTTP via Envoy", 64)].rate / raw64, TARGET_ENVOY),
    ]
    floor = merged[("grpc.aio no-op servicer (floor)", 64)].rate / raw64
    print(f"\n(the gRPC transport alone, a no-op servicer, reaches {floor:.2f}x raw at 64 callers on this machine;")
    print(f" redis-svc over unary calls {unary:.2f}x)")
    print("\n== targets")
    for label, ratio, target in checks:
        print(f"{label:<34} {ratio:>6.2f}x raw   target >= {target:.2f}x   {'met' if ratio >= target else 'NOT met'}")
    added = merged[("gateway HTTP", 1)].percentile(0.5) - merged[("redis-py asyncio (raw)", 1)].percentile(0.5)
    print(
        f"{'HTTP p50 added at 1 caller':<34} {added:>6.2f} ms    target <= {TARGET_ADDED_P50_MS:.1f} ms  "
        f"{'met' if added <= TARGET_ADDED_P50_MS else 'NOT met'}"
    )
    print("\n== resident memory after the run (current / peak, MiB)")
    for name, pid in sorted(pids.items()):
        try:
            current, peak = rss_kib(pid)
        except OSError:
            continue
        print(f"{name:<12} {current / 1024:>7.1f} / {peak / 1024:>7.1f}")
    return 0


def main() -> int:
    if sys.argv[1:2] == ["--noop-grpc-server"]:
        uvloop.run(_serve_noop(int(sys.argv[2])))
        return 0
    started = time.perf_counter()
    with bench_stack() as bench:  # sync: it runs its own event loop to set up
        code = uvloop.run(run(bench))
    print(f"\n(total {time.perf_counter() - started:.0f}s)")
    return code


if __name__ == "__main__":
    raise SystemExit(main())
