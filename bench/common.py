"""What every benchmark shares: the real stack as separate processes, a load loop, the report.

The services run as their own processes (as in production), the load comes from this process on
uvloop, and every figure is printed beside the raw driver measured in the same run, as a ratio.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import statistics
import sys
import time
import urllib.request
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(REPO / "deploy" / "local")]

import devstack  # noqa: E402

from udb.auth import mint_token  # noqa: E402

#: Seconds each measurement runs (BENCH_SECONDS overrides, for a quick or a careful run).
DURATION_S = float(os.environ.get("BENCH_SECONDS", "5"))
WARMUP_S = float(os.environ.get("BENCH_WARMUP_SECONDS", "1"))


@dataclass
class BenchStack:
    """Databases, the five services (one process each) and Envoy, with a project to work in."""

    stack: devstack.Stack
    jwt_secret: str
    token: str
    service_token: str
    project_ref: str = "bench"
    connections: dict[str, str] = field(default_factory=dict)

    @property
    def gateway_url(self) -> str:
        return self.stack.urls["gateway"]

    @property
    def envoy_url(self) -> str:
        return self.stack.urls["envoy"]

    def grpc_address(self, service: str) -> str:
        return f"127.0.0.1:{self.stack.ports[service]}"

    def pids(self) -> dict[str, int]:
        """PIDs of the service processes, for RSS readings."""
        return {m.name: m.pid for m in self.stack.processes if m.name in (*devstack.SERVICES, "gateway")}


def rss_kib(pid: int) -> tuple[int, int]:
    """(current, peak) resident set of a process, in KiB."""
    current = peak = 0
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                current = int(line.split()[1])
            elif line.startswith("VmHWM:"):
                peak = int(line.split()[1])
    return current, peak


def _http(method: str, url: str, token: str, body: object | None = None) -> object:
    request = urllib.request.Request(
        url,
        data=None if body is None else json.dumps(body).encode(),
        method=method,
        headers={"authorization": f"Bearer {token}", "content-type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=30) as reply:
        return json.loads(reply.read() or b"null")


@contextlib.contextmanager
def bench_stack(*, access_log: bool = False, extra_env: dict[str, str] | None = None) -> Iterator[BenchStack]:
    """The whole system as separate processes, with project 'bench' and one connection per engine
    (``extra_env`` over the services' environment)."""
    jwt_secret = "bench-secret-" + os.urandom(16).hex()
    stack = devstack.Stack.create()
    try:
        stack.start_postgres()
        stack.start_redis()
        stack.start_ferretdb()
        platform_url = stack.create_database("udb_platform")
        env = stack.service_env(
            jwt_secret=jwt_secret, encryption_key=devstack.new_encryption_key(), platform_url=platform_url
        )
        env["ACCESS_LOG"] = "true" if access_log else "false"
        env["LOG_LEVEL"] = "WARNING"
        # One user drives the whole load: the per-user rate limits would measure themselves.
        env["RATE_LIMIT_ENABLED"] = "false"
        env.update(extra_env or {})
        stack.start_services(env)
        stack.start_envoy()
        stack.wait_healthy(stack.urls["gateway"])
        token = mint_token(jwt_secret, subject="bench-user", ttl_s=24 * 3600)
        bench = BenchStack(
            stack=stack,
            jwt_secret=jwt_secret,
            token=token,
            service_token=mint_token(jwt_secret, subject="bench", role="service_role", ttl_s=24 * 3600),
        )
        base = stack.urls["gateway"]
        _http("POST", f"{base}/organizations", token, {"name": "bench", "slug": "bench"})
        _http("POST", f"{base}/projects", token, {"organization_slug": "bench", "name": "bench", "ref": "bench"})
        for engine, url in (("redis", "redis"), ("mongodb", "mongodb"), ("pg-meta", "postgres")):
            body = {"identifier": "main", "uri": stack.urls[url]}
            record = _http("POST", f"{base}/{engine}/bench/connections", token, body)
            assert isinstance(record, dict)
            bench.connections[engine] = str(record["id"])
        yield bench
    finally:
        stack.stop()


@dataclass
class Result:
    name: str
    concurrency: int
    ops: int
    seconds: float
    latencies_ms: list[float]
    errors: int = 0

    @property
    def rate(self) -> float:
        return self.ops / self.seconds if self.seconds else 0.0

    def percentile(self, q: float) -> float:
        if not self.latencies_ms:
            return float("nan")
        ordered = sorted(self.latencies_ms)
        return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


async def measure(
    name: str, operation: Callable[[], Awaitable[object]], *, concurrency: int, seconds: float = DURATION_S
) -> Result:
    """Runs ``operation`` from ``concurrency`` callers for ``seconds`` (after a warm-up)."""

    async def run_for(duration: float, record: bool) -> tuple[int, int, list[float]]:
        deadline = time.perf_counter() + duration
        done = errors = 0
        latencies: list[float] = []

        async def caller() -> None:
            nonlocal done, errors
            while time.perf_counter() < deadline:
                started = time.perf_counter()
                try:
                    await operation()
                except Exception:  # noqa: BLE001 (counted, and the first is shown below)
                    errors += 1
                    if errors == 1 and record:
                        import traceback

                        traceback.print_exc()
                    continue
                if record:
                    latencies.append((time.perf_counter() - started) * 1000)
                done += 1

        await asyncio.gather(*(caller() for _ in range(concurrency)))
        return done, errors, latencies

    await run_for(WARMUP_S, record=False)
    started = time.perf_counter()
    ops, errors, latencies = await run_for(seconds, record=True)
    return Result(name, concurrency, ops, time.perf_counter() - started, latencies, errors)


def report(title: str, results: list[Result], *, baseline: str) -> None:
    """Prints each result with ops/s, p50, p99 and its ratio to the baseline at the same concurrency."""
    print(f"\n== {title} ({DURATION_S:g}s per row)")
    print(f"{'path':<34} {'conc':>4} {'ops/s':>10} {'p50 ms':>8} {'p99 ms':>8} {'x base':>7} {'errors':>6}")
    base = {r.concurrency: r.rate for r in results if r.name == baseline}
    for r in results:
        ratio = r.rate / base[r.concurrency] if base.get(r.concurrency) else float("nan")
        print(
            f"{r.name:<34} {r.concurrency:>4} {r.rate:>10.0f} {r.percentile(0.5):>8.2f} "
            f"{r.percentile(0.99):>8.2f} {ratio:>7.2f} {r.errors:>6}"
        )


def median(values: list[float]) -> float:
    return statistics.median(values) if values else float("nan")
