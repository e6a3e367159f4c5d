"""Where the gateway's time goes on the hot read path (GET /redis/[ref]/keys/[key]), and what each change buys.

Runs the stack as `make bench` does, then serves the gateway as a second process in several variants
(bench/gateway_variant.py), each measured against raw redis-py in the same run, at 1 and 64 callers, with the CPU
time per request of the gateway and redis-svc:

- uvicorn gateway      the gateway as shipped (uvicorn, uvloop, httptools; engine calls on the multiplexed stream)
- granian gateway      the same app served by granian (when installed: pip install granian)
- uvicorn bare         one fixed-reply Starlette route: the HTTP server's own floor
- granian bare         the same on granian

With py-spy installed (pip install py-spy) each gateway variant is also sampled for a while at 64 callers, and the
samples are split by layer (HTTP server, Starlette, the gateway's middleware, routes, gRPC client, tracing, metrics,
logging, the event loop), innermost layer first. Not part of `make bench` (it is a diagnosis, not a target):

    python bench/profile_gateway.py     # BENCH_SECONDS per row (default 5); PROFILE_SECONDS (8); PROFILE_DIR
                                        # keeps the samples (py-spy raw, collapsed stacks) and the servers' logs
"""

from __future__ import annotations

import asyncio
import collections
import importlib.util
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import redis.asyncio as redis
import uvloop
from bench_redis import KEY, VALUE
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
)

HERE = Path(__file__).resolve().parent
PROFILE_SECONDS = float(os.environ.get("PROFILE_SECONDS", "8"))
CONCURRENCY = (64, 1)

#: (name, server, GATEWAY_VARIANT); granian rows need the granian package.
VARIANTS = tuple(
    v
    for v in (
        ("uvicorn gateway", "uvicorn", "gateway"),
        ("granian gateway", "granian", "gateway"),
        ("uvicorn bare (floor)", "uvicorn", "bare"),
        ("granian bare (floor)", "granian", "bare"),
    )
    if v[0] in os.environ.get("GATEWAY_VARIANTS", v[0])
)

#: Layers of the gateway process, by source path; a sample goes to the innermost frame that matches one.
LAYERS = (
    ("udb/mux/", "gRPC client (mux stream)"),
    ("grpc/", "gRPC client (grpc.aio)"),
    ("gateway/middleware", "gateway middleware (edge, guard)"),
    ("gateway/routes", "route handlers"),
    ("gateway/http", "JSON replies"),
    ("gateway/backends", "auth and access cache"),
    ("udb/registry_client", "auth and access cache"),
    ("udb/auth", "auth and access cache"),
    ("udb/interceptors", "gRPC client interceptor (deadline, trace)"),
    ("opentelemetry", "tracing (no-op spans, propagation)"),
    ("udb/tracing", "tracing (no-op spans, propagation)"),
    ("prometheus_client", "metrics"),
    ("logging/", "logging"),
    ("udb/logs", "logging"),
    ("starlette/routing", "Starlette routing"),
    ("starlette/middleware", "Starlette middleware (CORS, gzip)"),
    ("starlette/", "Starlette requests and responses"),
    ("uvicorn/", "HTTP server (uvicorn, httptools)"),
    ("httptools", "HTTP server (uvicorn, httptools)"),
    ("granian", "HTTP server (granian)"),
    ("asyncio/", "asyncio (tasks, timeouts)"),
    ("contextlib", "asyncio (tasks, timeouts)"),
)
EVENT_LOOP = "event loop (uvloop C, grpc core callbacks)"


def gateway_env(bench: BenchStack, port: int, variant: str) -> dict[str, str]:
    env = bench.stack.service_env(jwt_secret=bench.jwt_secret, encryption_key="unused", platform_url="unused")
    env.update(
        GATEWAY_ADDR=f"127.0.0.1:{port}",
        GATEWAY_GRPC_ADDR="127.0.0.1:0",
        GATEWAY_METRICS_ADDR="off",
        GATEWAY_VARIANT=variant,
        ACCESS_LOG="false",
        LOG_LEVEL="WARNING",
        RATE_LIMIT_ENABLED="false",
        PYTHONPATH=os.pathsep.join([str(HERE), env.get("PYTHONPATH", "")]),
    )
    return env


def start_variant(bench: BenchStack, server: str, variant: str, log: Path) -> tuple[subprocess.Popen[bytes], int]:
    port = devstack.free_port()
    if server == "uvicorn":
        argv = [sys.executable, str(HERE / "gateway_variant.py")]
    else:
        argv = [sys.executable, "-m", "granian", "--interface", "asgi", "--loop", "uvloop", "--host", "127.0.0.1"]
        argv += ["--port", str(port), "--workers", "1", "--no-ws", "--log-level", "warning"]
        argv += ["--factory", "gateway_variant:build"]
    with log.open("ab") as out:
        process = subprocess.Popen(
            argv, env=gateway_env(bench, port, variant), cwd=HERE, stdout=out, stderr=subprocess.STDOUT
        )
    devstack.wait_for_port(port, process, f"gateway ({server}, {variant})", log)
    return process, port


def serving_pid(process: subprocess.Popen[bytes]) -> int:
    """The process that runs the app: granian's worker is a child of its main process."""
    children = Path(f"/proc/{process.pid}/task/{process.pid}/children")
    try:
        pids = [int(pid) for pid in children.read_text().split()]
    except OSError:
        pids = []
    return pids[0] if pids else process.pid


def thread_cpu(pid: int) -> dict[str, float]:
    """CPU seconds of a process's threads, by thread name (the main thread is named after the process)."""
    seconds: collections.Counter[str] = collections.Counter()
    for task in Path(f"/proc/{pid}/task").iterdir():
        try:
            name = (task / "comm").read_text().strip()
            fields = (task / "stat").read_text().rpartition(")")[2].split()
        except OSError:
            continue
        seconds[name] += (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    return dict(seconds)


def profile(pid: int, seconds: float, out: Path) -> subprocess.Popen[bytes] | None:
    spy = shutil.which("py-spy")
    if spy is None:
        return None
    argv = [spy, "record", "-p", str(pid), "-d", str(int(seconds)), "-r", "250", "-f", "raw", "-o", str(out)]
    return subprocess.Popen([*argv, "--nonblocking"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def layers_of(samples: Path) -> list[tuple[str, float]]:
    """Share of the samples per layer (collapsed stacks, leaf last)."""
    counts: collections.Counter[str] = collections.Counter()
    for line in samples.read_text().splitlines():
        stack, _, number = line.rpartition(" ")
        frames = stack.split(";")
        layer = "other"
        for frame in reversed(frames):
            path = (re.search(r"\(([^:)]*)", frame) or re.search(r"(.*)", frame)).group(1)  # type: ignore[union-attr]
            if "Runner.run" in frame or path.startswith("uvloop"):
                layer = EVENT_LOOP
                break
            found = next((name for prefix, name in LAYERS if prefix in path), None)
            if found is not None:
                layer = found
                break
        counts[layer] += int(number)
    total = sum(counts.values()) or 1
    return [(layer, count / total) for layer, count in counts.most_common()]


async def run(bench: BenchStack, workdir: Path) -> None:
    raw = redis.Redis(port=bench.stack.ports["redis"])
    await raw.set(KEY, VALUE)
    auth = {"authorization": f"Bearer {bench.token}"}
    results = [await measure("redis-py asyncio (raw)", lambda: raw.get(KEY), concurrency=c) for c in CONCURRENCY]
    profiles: dict[str, list[tuple[str, float]]] = {}
    threads: dict[str, dict[str, float]] = {}
    granian = importlib.util.find_spec("granian") is not None
    for name, server, variant in VARIANTS:
        if server == "granian" and not granian:
            print(f"(skipping {name}: granian is not installed)")
            continue
        process, port = start_variant(bench, server, variant, workdir / f"{server}-{variant}.log")
        connections: list[HttpConnection] = []
        try:
            url = f"http://127.0.0.1:{port}/api/platform/redis/bench/keys/{KEY}"
            operation = http_operation(url, auth, connections)
            await operation()
            cpu = CpuMeter({"gateway": serving_pid(process), "redis-svc": bench.pid("redis-svc")})
            results += [await measure(name, operation, concurrency=c, cpu=cpu) for c in CONCURRENCY]
            pid = serving_pid(process)
            before = thread_cpu(pid)
            spy = profile(pid, PROFILE_SECONDS, workdir / f"{server}-{variant}.spy")
            done = await measure(name, operation, concurrency=64, seconds=PROFILE_SECONDS)
            after = thread_cpu(pid)
            threads[name] = {t: (after[t] - before.get(t, 0.0)) / done.ops * 1e6 for t in after if done.ops}
            if spy is not None:
                await asyncio.to_thread(spy.wait)
                samples = workdir / f"{server}-{variant}.spy"
                if samples.exists() and variant != "bare":
                    profiles[name] = layers_of(samples)
        finally:
            for connection in connections:
                await connection.close()
            process.terminate()
            process.wait(10)
    await raw.aclose()
    print_results(results)
    for name, by_thread in threads.items():
        cells = ", ".join(f"{t} {us:.0f}" for t, us in sorted(by_thread.items(), key=lambda i: -i[1]) if us >= 0.5)
        print(f"\n{name}: CPU per request by thread, microseconds: {cells}")
    for name, layers in profiles.items():
        print(f"\n== where the gateway's CPU goes: {name} (py-spy, 64 callers, innermost layer of each sample)")
        for layer, share in layers:
            print(f"{share * 100:6.1f}%  {layer}")


def print_results(results: list[Result]) -> None:
    raw = {r.concurrency: r for r in results if r.name == "redis-py asyncio (raw)"}
    print(f"\n== GET /redis/bench/keys/{KEY} through gateway variants ({DURATION_S:g}s per row)")
    print(f"{'variant':<24} {'conc':>4} {'ops/s':>8} {'x raw':>6} {'p50 ms':>7} {'p99 ms':>7} {'+p50 ms':>8}", end="")
    print(f" {'gw us/req':>9} {'svc us/req':>10} {'errors':>6}")
    for r in results:
        base = raw[r.concurrency]
        print(
            f"{r.name:<24} {r.concurrency:>4} {r.rate:>8.0f} {r.rate / base.rate:>6.2f} {r.percentile(0.5):>7.2f} "
            f"{r.percentile(0.99):>7.2f} {r.percentile(0.5) - base.percentile(0.5):>8.2f} "
            f"{r.cpu_us_per_op('gateway'):>9.1f} {r.cpu_us_per_op('redis-svc'):>10.1f} {r.errors:>6}"
        )


def main() -> int:
    started = time.perf_counter()
    keep = os.environ.get("PROFILE_DIR")
    with tempfile.TemporaryDirectory(prefix="udb-gateway-profile-") as tmp, bench_stack() as bench:
        workdir = Path(keep or tmp)
        workdir.mkdir(parents=True, exist_ok=True)
        uvloop.run(run(bench, workdir))
    print(f"\n(total {time.perf_counter() - started:.0f}s)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
