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
from collections.abc import Awaitable, Callable, Iterator, Mapping
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

    def pid(self, name: str) -> int:
        """The PID of one process of the stack ("redis-svc", "gateway", "redis", "envoy", ...)."""
        return next(m.pid for m in self.stack.processes if m.name == name)


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
        stack.start_postgres("platform")
        stack.start_postgres()
        stack.start_redis()
        stack.start_ferretdb()
        platform_url = stack.create_database("udb_platform", cluster="platform")
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


_CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


class CpuMeter:
    """CPU seconds (user and system) that named processes spend, read from /proc; "bench" is this
    process (the load generator, whose client work counts as well)."""

    def __init__(self, pids: Mapping[str, int]) -> None:
        self.pids = {"bench": os.getpid(), **pids}

    def sample(self) -> dict[str, float]:
        seconds: dict[str, float] = {}
        for name, pid in self.pids.items():
            try:
                with open(f"/proc/{pid}/stat") as stat:
                    # The fields after the command name (which may hold spaces): utime is the 12th.
                    fields = stat.read().rpartition(")")[2].split()
            except OSError:
                continue
            seconds[name] = (int(fields[11]) + int(fields[12])) / _CLOCK_TICKS
        return seconds


@dataclass
class Result:
    name: str
    concurrency: int
    ops: int
    seconds: float
    latencies_ms: list[float]
    errors: int = 0
    #: CPU seconds each measured process spent in the timed part, by process name.
    cpu_s: dict[str, float] = field(default_factory=dict)

    def __add__(self, other: Result) -> Result:
        """Two rounds of the same path as one."""
        cpu = dict(self.cpu_s)
        for name, seconds in other.cpu_s.items():
            cpu[name] = cpu.get(name, 0.0) + seconds
        return Result(
            self.name,
            self.concurrency,
            self.ops + other.ops,
            self.seconds + other.seconds,
            self.latencies_ms + other.latencies_ms,
            self.errors + other.errors,
            cpu,
        )

    def cpu_us_per_op(self, process: str) -> float:
        """Microseconds of CPU a process spent per operation."""
        if not self.ops or process not in self.cpu_s:
            return float("nan")
        return self.cpu_s[process] / self.ops * 1e6

    @property
    def rate(self) -> float:
        return self.ops / self.seconds if self.seconds else 0.0

    def percentile(self, q: float) -> float:
        if not self.latencies_ms:
            return float("nan")
        ordered = sorted(self.latencies_ms)
        return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


async def measure(
    name: str,
    operation: Callable[[], Awaitable[object]],
    *,
    concurrency: int,
    seconds: float = DURATION_S,
    cpu: CpuMeter | None = None,
) -> Result:
    """Runs ``operation`` from ``concurrency`` callers for ``seconds`` (after a warm-up), reading
    the CPU time of ``cpu``'s processes over the timed part."""

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
    before = cpu.sample() if cpu is not None else {}
    started = time.perf_counter()
    ops, errors, latencies = await run_for(seconds, record=True)
    elapsed = time.perf_counter() - started
    after = cpu.sample() if cpu is not None else {}
    spent = {name: after[name] - before[name] for name in after if name in before}
    return Result(name, concurrency, ops, elapsed, latencies, errors, spent)


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
    processes = list(dict.fromkeys(name for r in results for name in r.cpu_s))
    if processes:
        print(f"\nCPU per request, microseconds, by process ({', '.join(processes)})")
        print(f"{'path':<34} {'conc':>4} " + " ".join(f"{name[:10]:>10}" for name in processes))
        for r in results:
            cells = " ".join(f"{r.cpu_us_per_op(name):>10.1f}" for name in processes)
            print(f"{r.name:<34} {r.concurrency:>4} {cells}")


def median(values: list[float]) -> float:
    return statistics.median(values) if values else float("nan")


class HttpConnection:
    """One keep-alive HTTP/1.1 connection that sends a fixed request (a GET, or a POST of ``body``) and reads
    the reply: the load generator's own cost stays a fraction of the server's (an HTTP client library's is not)."""

    def __init__(self, host: str, port: int, path: str, headers: dict[str, str], body: bytes | None = None) -> None:
        self.host, self.port = host, port
        method = "GET" if body is None else "POST"
        extra = {} if body is None else {"Content-Length": str(len(body))}
        lines = [
            f"{method} {path} HTTP/1.1",
            f"Host: {host}:{port}",
            *(f"{k}: {v}" for k, v in {**headers, **extra}.items()),
        ]
        self.request = ("\r\n".join(lines) + "\r\n\r\n").encode() + (body or b"")
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None

    async def get(self) -> bytes:
        try:
            return await self._get()
        except (OSError, asyncio.IncompleteReadError):
            # The server closed an idle keep-alive connection (between rows): open a new one.
            await self.close()
            raise

    async def _get(self) -> bytes:
        if self.writer is None or self.reader is None:
            self.reader, self.writer = await asyncio.open_connection(self.host, self.port)
        self.writer.write(self.request)
        head = await self.reader.readuntil(b"\r\n\r\n")
        status = head[9:12]
        length = 0
        for line in head.split(b"\r\n"):
            if line[:15].lower() == b"content-length:":
                length = int(line[15:])
        body = await self.reader.readexactly(length)
        if status != b"200":
            raise RuntimeError(f"HTTP {status.decode()}: {body[:200]!r}")
        return body

    async def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
            self.writer = self.reader = None


def http_operation(
    url: str, headers: dict[str, str], connections: list[HttpConnection], body: bytes | None = None
) -> Callable[[], Awaitable[object]]:
    """An operation (a GET, or a POST of ``body``) that takes a free connection of its own (one per
    concurrent caller)."""
    rest = url.split("://", 1)[1]
    authority, _, path = rest.partition("/")
    host, _, port = authority.partition(":")
    free: list[HttpConnection] = []

    async def operation() -> object:
        connection = free.pop() if free else None
        if connection is None:
            connection = HttpConnection(host, int(port), "/" + path, headers, body)
            connections.append(connection)
        try:
            return await connection.get()
        finally:
            free.append(connection)

    return operation
