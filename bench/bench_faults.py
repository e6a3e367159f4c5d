"""The time to 503 and back: steady reads of each engine through the gateway while Toxiproxy
(between the services and the databases) takes the database away or breaks its connections.

For each engine and fault, 8 callers read in a loop; the fault starts, lasts, and is removed:

- ``down``: the database's port refuses, its connections are closed (BENCH_OUTAGE_SECONDS_DOWN,
  default 60: the issue's "a 60 s backend outage answers 503 within 1 s throughout");
- ``reset_peer``, ``timeout`` (no data, closed after 500 ms), ``limit_data`` (cut after 1 kB),
  and ``latency`` (6 s a reply, past the 5 s deadline this run sets: 504 expected), each for
  BENCH_OUTAGE_SECONDS (default 10).

Printed per row: the first non-200 after the fault started, the answers during the fault by
status, the share of 503s carrying Retry-After, the slowest answer and p99 during it, the share
answered within 1 s, and the time from the fault's removal to the first 200.

    python bench/bench_faults.py [redis|mongodb|postgres ...]
"""

from __future__ import annotations

import asyncio
import collections
import os
import sys
import tempfile
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import uvloop
from common import REPO, BenchStack, bench_stack

sys.path.insert(0, str(REPO / "tests"))

from network_faults import Proxy, Toxiproxy, through, toxiproxy, upstream_of

CALLERS = 8
OUTAGE_S = float(os.environ.get("BENCH_OUTAGE_SECONDS", "10"))
DOWN_S = float(os.environ.get("BENCH_OUTAGE_SECONDS_DOWN", "60"))
#: The gateway's deadline in this run: short, so that the latency rows end soon, and still above
#: the 2 s connect and server-selection timeouts (a deadline under them turns a down database's
#: 503 into a 504: the caller gives up before the driver does).
DEADLINE_S = 5.0
#: The issue's target: every call during an outage answered (503) within this.
TARGET_ANSWER_S = 1.0

FAULTS: dict[str, Callable[[Proxy], Awaitable[object]]] = {
    "down": lambda proxy: proxy.disable(),
    "reset_peer": lambda proxy: proxy.toxic("reset_peer", timeout=0),
    "timeout": lambda proxy: proxy.toxic("timeout", timeout=500),
    "limit_data": lambda proxy: proxy.toxic("limit_data", bytes=1024),
    "latency": lambda proxy: proxy.toxic("latency", latency=6000),
}


@dataclass
class Call:
    started: float
    ended: float
    status: int
    retry_after: bool


@dataclass
class Run:
    engine: str
    fault: str
    fault_at: float = 0.0
    cleared_at: float = 0.0
    calls: list[Call] = field(default_factory=list)

    def during(self) -> list[Call]:
        return [c for c in self.calls if c.started >= self.fault_at and c.ended <= self.cleared_at]

    def first_failure_s(self) -> float:
        failed = [c.ended for c in self.calls if c.ended >= self.fault_at and c.status != 200]
        return min(failed) - self.fault_at if failed else float("nan")

    def recovery_s(self) -> float:
        ok = [c.ended for c in self.calls if c.started >= self.cleared_at and c.status == 200]
        return min(ok) - self.cleared_at if ok else float("nan")


async def reads(
    http: httpx.AsyncClient, engine: str, ref: str, headers: dict[str, str]
) -> Callable[[], Awaitable[httpx.Response]]:
    """A small read of the engine's target, with its data in place."""
    if engine == "redis":
        key = f"faults-{uuid.uuid4().hex[:8]}"
        await http.post(f"/redis/{ref}/keys/{key}", json={"type": "string", "value": "hello"}, headers=headers)
        return lambda: http.get(f"/redis/{ref}/keys/{key}", headers=headers)
    if engine == "mongodb":
        path = f"/mongodb/{ref}/databases/faults/collections/things/documents"
        await http.post(path, json={"name": "a"}, headers=headers)
        return lambda: http.get(f"{path}?limit=1", headers=headers)
    return lambda: http.post(f"/pg-meta/{ref}/query", json={"query": "select 1 as one"}, headers=headers)


async def run_fault(
    http: httpx.AsyncClient, read: Callable[[], Awaitable[httpx.Response]], proxy: Proxy, toxi: Toxiproxy, run: Run
) -> None:
    stop, recovered = asyncio.Event(), asyncio.Event()

    async def caller() -> None:
        while not stop.is_set():
            started = time.monotonic()
            try:
                reply = await read()
                status, retry_after = reply.status_code, "retry-after" in reply.headers
            except httpx.HTTPError:
                status, retry_after = 0, False
            run.calls.append(Call(started, time.monotonic(), status, retry_after))
            if status == 200 and run.cleared_at and started >= run.cleared_at:
                recovered.set()
            if status != 200:
                await asyncio.sleep(0.01)  # a client that backs off a little, not a tight loop

    callers = [asyncio.create_task(caller()) for _ in range(CALLERS)]
    await asyncio.sleep(1.0)
    run.fault_at = time.monotonic()
    await FAULTS[run.fault](proxy)
    await asyncio.sleep(DOWN_S if run.fault == "down" else OUTAGE_S)
    run.cleared_at = time.monotonic()
    await toxi.reset()
    try:
        await asyncio.wait_for(recovered.wait(), 30)
    except TimeoutError:
        print(f"{run.engine} {run.fault}: no success within 30 s of the fault's removal", file=sys.stderr)
    await asyncio.sleep(0.5)
    stop.set()
    await asyncio.gather(*callers)


def print_run(run: Run) -> None:
    during = run.during()
    statuses = collections.Counter(c.status for c in during)
    unavailable = [c for c in during if c.status == 503]
    with_hint = sum(c.retry_after for c in unavailable) / len(unavailable) if unavailable else float("nan")
    latencies = sorted(c.ended - c.started for c in during) or [float("nan")]
    p99 = latencies[min(len(latencies) - 1, int(0.99 * len(latencies)))]
    within = sum(1 for value in latencies if value <= TARGET_ANSWER_S) / len(latencies) if during else float("nan")
    shown = " ".join(f"{status}:{count}" for status, count in sorted(statuses.items()))
    print(
        f"{run.engine:<9} {run.fault:<11} {run.cleared_at - run.fault_at:>6.0f} {run.first_failure_s():>9.3f} "
        f"{shown:<22} {with_hint:>7.0%} {latencies[-1]:>8.3f} {p99:>8.3f} {within:>7.1%} {run.recovery_s():>9.2f}"
    )


def main(engines: list[str]) -> None:
    env = {"READ_DEADLINE_S": str(DEADLINE_S), "WRITE_DEADLINE_S": str(DEADLINE_S)}
    with bench_stack(extra_env=env) as bench, tempfile.TemporaryDirectory() as workdir:
        uvloop.run(run_all(bench, Path(workdir), engines))


async def run_all(bench: BenchStack, workdir: Path, engines: list[str]) -> None:
    headers = {"authorization": f"Bearer {bench.token}"}
    urls = bench.stack.urls
    limits = httpx.Limits(max_connections=CALLERS * 2)
    async with (
        toxiproxy(workdir) as toxi,
        httpx.AsyncClient(base_url=bench.gateway_url, timeout=60, limits=limits) as http,
    ):
        print(
            f"\n== faults: {CALLERS} callers reading through the gateway (deadline {DEADLINE_S:g} s); "
            f"breaker and timeouts at their defaults"
        )
        print(
            f"{'engine':<9} {'fault':<11} {'secs':>6} {'to 1st err':>9} {'answers during fault':<22} "
            f"{'R-After':>7} {'max s':>8} {'p99 s':>8} {'<= 1 s':>7} {'back in s':>9}"
        )
        for engine, url_name, kind in (
            ("redis", "redis", "redis"),
            ("mongodb", "mongodb", "mongodb"),
            ("postgres", "postgres", "pg-meta"),
        ):
            if engines and engine not in engines:
                continue
            proxy = await toxi.proxy(engine, upstream_of(urls[url_name]))
            for fault in FAULTS:
                # A project of its own per fault: a fresh breaker, as a first outage meets it.
                ref = f"f{uuid.uuid4().hex[:10]}"
                slug = f"o{uuid.uuid4().hex[:10]}"
                await http.post("/organizations", json={"name": slug, "slug": slug}, headers=headers)
                await http.post("/projects", json={"organization_slug": slug, "name": ref, "ref": ref}, headers=headers)
                body = {"identifier": "main", "uri": through(urls[url_name], proxy)}
                created = await http.post(f"/{kind}/{ref}/connections", json=body, headers=headers)
                assert created.status_code == 201, created.text
                read = await reads(http, engine, ref, headers)
                assert (await read()).status_code == 200
                run = Run(engine, fault)
                await run_fault(http, read, proxy, toxi, run)
                print_run(run)
        print(
            f"target: during a {DOWN_S:g} s outage every call answers 503 within {TARGET_ANSWER_S:g} s "
            "(the 'down' rows: '<= 1 s' 100%, 'max s' under 1)"
        )


if __name__ == "__main__":
    main(sys.argv[1:])
