"""Network faults between the services and their databases: Toxiproxy (a real process on free
ports) with one proxy per database server, and the calls that measure how the API answers.

    async with toxiproxy(workdir) as toxi:
        proxy = await toxi.proxy("redis", "127.0.0.1:6379")   # proxy.port listens in front
        await proxy.disable()                                   # the target is down
        await proxy.toxic("latency", latency=1500)             # or slow, reset, cut, ...
        await toxi.reset()                                      # every proxy up, no toxics

Used by tests/integration/test_faults.py and bench/bench_faults.py.
"""

from __future__ import annotations

import asyncio
import contextlib
import subprocess
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import devstack
import httpx


@dataclass
class Proxy:
    """One Toxiproxy proxy: ``port`` on loopback forwards to ``upstream``."""

    name: str
    port: int
    upstream: str
    api: httpx.AsyncClient

    async def disable(self) -> None:
        """Closes the listener and every connection through it (connections are refused)."""
        await self._update(enabled=False)

    async def enable(self) -> None:
        await self._update(enabled=True)

    async def toxic(self, kind: str, *, stream: str = "downstream", **attributes: int) -> str:
        """Adds a toxic (latency, reset_peer, timeout, limit_data, ...) to every connection; returns its name."""
        name = f"{kind}_{uuid.uuid4().hex[:6]}"
        body = {"name": name, "type": kind, "stream": stream, "toxicity": 1.0, "attributes": attributes}
        reply = await self.api.post(f"/proxies/{self.name}/toxics", json=body)
        reply.raise_for_status()
        return name

    async def remove(self, toxic: str) -> None:
        reply = await self.api.delete(f"/proxies/{self.name}/toxics/{toxic}")
        reply.raise_for_status()

    async def _update(self, **fields: Any) -> None:
        reply = await self.api.post(f"/proxies/{self.name}", json=fields)
        reply.raise_for_status()


class Toxiproxy:
    """A running toxiproxy-server and its admin API."""

    def __init__(self, api: httpx.AsyncClient) -> None:
        self.api = api

    async def proxy(self, name: str, upstream: str) -> Proxy:
        """A new proxy in front of ``upstream`` (host:port), listening on a free loopback port."""
        port = devstack.free_port()
        body = {"name": name, "listen": f"127.0.0.1:{port}", "upstream": upstream, "enabled": True}
        reply = await self.api.post("/proxies", json=body)
        reply.raise_for_status()
        return Proxy(name, port, upstream, self.api)

    async def reset(self) -> None:
        """Every proxy enabled, every toxic removed."""
        reply = await self.api.post("/reset")
        reply.raise_for_status()


@contextlib.asynccontextmanager
async def toxiproxy(workdir: Path) -> AsyncIterator[Toxiproxy]:
    """toxiproxy-server (from `make install`) on a free port, stopped at the end."""
    port = devstack.free_port()
    process = await asyncio.to_thread(_start, port, workdir / "toxiproxy.log")
    try:
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=10) as api:
            yield Toxiproxy(api)
    finally:
        process.terminate()
        process.wait(10)


def _start(port: int, log: Path) -> subprocess.Popen[bytes]:
    with log.open("wb") as out:
        process = subprocess.Popen(
            [devstack.find_binary("toxiproxy-server"), "-host", "127.0.0.1", "-port", str(port)],
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    try:
        devstack.wait_for_port(port, process, "toxiproxy", log)
    except BaseException:
        process.kill()
        process.wait()
        raise
    return process


def through(url: str, proxy: Proxy) -> str:
    """``url`` (redis://, mongodb://, postgresql://) with its host and port replaced by the proxy's."""
    parts = urlsplit(url)
    credentials = parts.netloc.rpartition("@")[0]
    netloc = f"{credentials}@127.0.0.1:{proxy.port}" if credentials else f"127.0.0.1:{proxy.port}"
    return urlunsplit(parts._replace(netloc=netloc))


def upstream_of(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.hostname}:{parts.port}"


@dataclass(frozen=True)
class Answer:
    """One call's status, its Retry-After header and how long it took."""

    status: int
    retry_after: str | None
    elapsed_s: float


async def timed(call: Callable[[], Awaitable[httpx.Response]]) -> Answer:
    started = time.perf_counter()
    reply = await call()
    return Answer(reply.status_code, reply.headers.get("retry-after"), time.perf_counter() - started)
