"""Resident memory of each process over a long run: BENCH_MEMORY_REQUESTS (default 1,000,000)
Redis GETs over HTTP at 64 callers, through the gateway and redis-svc's multiplexed stream.

The resident set of the gateway, redis-svc and the registry is read from /proc every tenth of
the run. After the first tenth (pools, caches and the interpreter's arenas are warm by then) a
process that does not leak stays flat: the target is that none grows by more than
``FLAT_MIB`` from that point to the end.

    python bench/bench_memory.py           # BENCH_MEMORY_REQUESTS (1000000); about 14 minutes on 2 cores
"""

from __future__ import annotations

import asyncio
import os
import sys
import time

import redis.asyncio as redis
import uvloop
from bench_redis import KEY, VALUE
from common import BenchStack, HttpConnection, bench_stack, http_operation, rss_kib

REQUESTS = int(os.environ.get("BENCH_MEMORY_REQUESTS", "1000000"))
CALLERS = 64
SAMPLES = 10
#: The most a process may grow after the first tenth of the run and still count as flat.
FLAT_MIB = 8.0
PROCESSES = ("gateway", "redis-svc", "registry")


async def run(bench: BenchStack) -> dict[str, list[int]]:
    """Sends REQUESTS GETs; returns each process's resident KiB at each tenth (and at the start)."""
    raw = redis.Redis(port=bench.stack.ports["redis"])
    await raw.set(KEY, VALUE)
    await raw.aclose()
    url = f"{bench.gateway_url}/redis/bench/keys/{KEY}?connection={bench.connections['redis']}"
    connections: list[HttpConnection] = []
    operation = http_operation(url, {"authorization": f"Bearer {bench.token}"}, connections)
    pids = {name: bench.pid(name) for name in PROCESSES}
    samples = {name: [rss_kib(pid)[0]] for name, pid in pids.items()}
    step = max(1, REQUESTS // SAMPLES)
    sent = 0
    errors = 0
    started = time.monotonic()

    async def caller() -> None:
        nonlocal sent, errors
        while sent < REQUESTS:
            sent += 1
            if sent % step == 0:
                for name, pid in pids.items():
                    samples[name].append(rss_kib(pid)[0])
                rate = sent / (time.monotonic() - started)
                print(f"  {sent:>9,} requests, {rate:,.0f}/s", flush=True)
            try:
                body = await operation()
            except (OSError, RuntimeError, asyncio.IncompleteReadError):
                errors += 1
                continue
            assert VALUE.encode() in body

    await asyncio.gather(*(caller() for _ in range(CALLERS)))
    for connection in connections:
        await connection.close()
    print(f"  {REQUESTS:,} requests in {time.monotonic() - started:.0f}s, {errors} errors")
    return samples


def report(samples: dict[str, list[int]]) -> bool:
    print(f"\n== resident memory (MiB) at each tenth of {REQUESTS:,} Redis GETs over HTTP, {CALLERS} callers")
    print("process      " + " ".join(f"{i * 10:>6}%" for i in range(len(next(iter(samples.values()))))))
    flat = True
    for name, values in samples.items():
        print(f"{name:<12} " + " ".join(f"{value / 1024:>7.1f}" for value in values))
    print(f"\n== target: no process grows by more than {FLAT_MIB:g} MiB after the first tenth")
    for name, values in samples.items():
        growth = (values[-1] - values[1]) / 1024
        met = growth <= FLAT_MIB
        flat = flat and met
        print(f"{name:<12} {growth:+6.1f} MiB   {'met' if met else 'NOT met'}")
    return flat


def main() -> int:
    with bench_stack() as bench:
        samples = uvloop.run(run(bench))
    return 0 if report(samples) else 1


if __name__ == "__main__":
    sys.exit(main())
