"""Prometheus metrics of every process, and the small HTTP server that exposes them.

Every service counts its RPCs (by method and status code) and times them; the gateway counts
and times its routes; the engine services report their pools (clients, borrowers in use, waits)
and their live subscriptions. Metric objects are module globals labelled by ``service``, so the
five services can share one process in the tests without clashing.

The metrics are served on a port of their own (``<SERVICE>_METRICS_ADDR``) by an asyncio server
on the service's own loop: a scrape reads the pools on the loop that changes them, so it never
sees one half-updated.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import weakref
from collections.abc import Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from prometheus_client import REGISTRY, CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.exposition import CONTENT_TYPE_LATEST

if TYPE_CHECKING:
    from udb.breaker import Breakers
    from udb.pool import PoolManager

log = logging.getLogger("udb.metrics")

#: Latency buckets, in seconds: a cached read takes a millisecond, a slow query many seconds.
LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0)

# ---- gRPC servers (every service) --------------------------------------------------------

GRPC_REQUESTS = Counter(
    "udb_grpc_server_requests",
    "RPCs handled, by method and status code (errors are every code but OK).",
    ["service", "method", "code"],
)
GRPC_LATENCY = Histogram(
    "udb_grpc_server_request_duration_seconds",
    "Time from the start of an RPC to its status.",
    ["service", "method"],
    buckets=LATENCY_BUCKETS,
)
GRPC_ACTIVE_STREAMS = Gauge(
    "udb_grpc_server_active_streams",
    "Server-streaming RPCs open now (subscriptions, invalidation watchers).",
    ["service", "method"],
)
MUX_FRAMES = Counter(
    "udb_mux_frames",
    "Frames written on multiplexed streams: by the client (calls) or the server (replies).",
    ["side"],
)
MUX_FRAME_ENTRIES = Counter(
    "udb_mux_frame_entries",
    "Calls (client) or replies (server) carried in those frames: over udb_mux_frames, how well they batch.",
    ["side"],
)
PUBSUB_SUBSCRIBERS = Gauge(
    "udb_pubsub_subscribers",
    "Open pub/sub subscriptions (streams of a Subscribe RPC).",
    ["service"],
)

REGISTRY_WATCH_UP = Gauge(
    "udb_registry_watch_up",
    "1 while the process's stream of the registry's invalidations is open (its registry caches serve), "
    "0 while it is broken (every access check and connection lookup asks the registry).",
    ["service"],
)

# ---- the gateway's HTTP routes -------------------------------------------------------------

HTTP_REQUESTS = Counter(
    "udb_http_requests",
    "HTTP requests answered, by route template, method, status and route class (read, write, admin, "
    "stream for WebSockets, other outside the API).",
    ["route", "method", "status", "route_class"],
)
HTTP_LATENCY = Histogram(
    "udb_http_request_duration_seconds",
    "Time from a request's arrival to the end of its response, by route template, method and route class.",
    ["route", "method", "route_class"],
    buckets=LATENCY_BUCKETS,
)
HTTP_ACTIVE_WEBSOCKETS = Gauge("udb_http_active_websockets", "WebSocket sessions open now.", ["route"])
HTTP_RATE_LIMITED = Counter("udb_http_rate_limited", "Requests refused with 429, by route class.", ["route_class"])
RATE_LIMIT_SYNC_FAILURES = Counter(
    "udb_rate_limit_sync_failures",
    "The gateway's syncs of its rate limits with redis-svc that failed (the limits stay per process meanwhile).",
)
AUDIT_EVENTS = Counter(
    "udb_audit_events",
    "Audit events by what became of them: queued, written, failed (a write that failed and is retried) "
    "or dropped (given up on after the retries, or the queue was full; each is also logged).",
    ["outcome"],
)
AUDIT_QUEUE = Gauge("udb_audit_queue_size", "Audit events waiting to be written.")


# ---- engine pools ---------------------------------------------------------------------------


@dataclass
class _TrackedPool:
    service: str
    pool: weakref.ref[PoolManager[Any]]


class PoolCollector:
    """Reads every tracked pool manager at scrape time: nothing is counted on the hot path."""

    def __init__(self) -> None:
        self._pools: list[_TrackedPool] = []

    def track(self, service: str, pool: PoolManager[Any]) -> None:
        self._pools = [p for p in self._pools if p.pool() is not None]
        self._pools.append(_TrackedPool(service, weakref.ref(pool)))

    def describe(self) -> Iterator[Metric]:
        return iter(self._families())

    def collect(self) -> Iterator[Metric]:
        families = self._families()
        for tracked in self._pools:
            pool = tracked.pool()
            if pool is None:
                continue
            stats = list(pool.stats())
            labels = [tracked.service, pool.db_type]
            families[0].add_metric(labels, len(stats))
            families[1].add_metric(labels, sum(s.in_use for s in stats))
            families[2].add_metric(labels, len(stats) * pool.max_connections)
            families[3].add_metric(labels, pool.total_waits)
        return iter(families)

    @staticmethod
    def _families() -> list[Any]:
        labels = ["service", "engine"]
        return [
            GaugeMetricFamily(
                "udb_pool_clients", "Pooled clients open (one per connection record in use).", labels=labels
            ),
            GaugeMetricFamily("udb_pool_in_use", "Borrowers holding a pooled client now.", labels=labels),
            GaugeMetricFamily("udb_pool_size", "Connections the open clients may hold at most.", labels=labels),
            CounterMetricFamily("udb_pool_waits", "Borrows that had to wait for a free connection.", labels=labels),
        ]


POOLS = PoolCollector()
REGISTRY.register(POOLS)


def track_pools(service: str, pool: PoolManager[Any]) -> None:
    """Reports a pool manager's clients, borrowers and waits (held weakly: a closed service goes)."""
    POOLS.track(service, pool)


# ---- circuit breakers -----------------------------------------------------------------------


class BreakerCollector:
    """Reads every tracked engine's breakers at scrape time: how many targets fail fast now, and
    the transitions into each state (zero series included, so that rules see every state)."""

    def __init__(self) -> None:
        self._tracked: list[tuple[str, weakref.ref[Breakers]]] = []

    def track(self, service: str, breakers: Breakers) -> None:
        self._tracked = [(name, ref) for name, ref in self._tracked if ref() is not None]
        self._tracked.append((service, weakref.ref(breakers)))

    def describe(self) -> Iterator[Metric]:
        return iter(self._families())

    def collect(self) -> Iterator[Metric]:
        opened, transitions = self._families()
        open_counts: dict[tuple[str, str], int] = {}
        transition_counts: dict[tuple[str, str, str], int] = {}
        for service, ref in self._tracked:
            breakers = ref()
            if breakers is None:
                continue
            labels = (service, breakers.engine)
            open_counts[labels] = open_counts.get(labels, 0) + breakers.open_count()
            for state, count in breakers.transitions.items():
                key = (*labels, state.value)
                transition_counts[key] = transition_counts.get(key, 0) + count
        for labels, count in open_counts.items():
            opened.add_metric(list(labels), count)
        for key, count in transition_counts.items():
            transitions.add_metric(list(key), count)
        return iter((opened, transitions))

    @staticmethod
    def _families() -> tuple[GaugeMetricFamily, CounterMetricFamily]:
        return (
            GaugeMetricFamily(
                "udb_breaker_open",
                "Targets whose circuit breaker is open or half-open: their calls fail at once with 503.",
                labels=["service", "engine"],
            ),
            CounterMetricFamily(
                "udb_breaker_transitions",
                "Circuit breaker state changes, by the state entered (open, half_open, closed).",
                labels=["service", "engine", "state"],
            ),
        )


BREAKERS = BreakerCollector()
REGISTRY.register(BREAKERS)


def track_breakers(service: str, breakers: Breakers) -> None:
    """Reports an engine's circuit breakers (held weakly: a closed service goes)."""
    BREAKERS.track(service, breakers)


# ---- the metrics port -----------------------------------------------------------------------


def render(registry: CollectorRegistry = REGISTRY) -> bytes:
    """The Prometheus text exposition of every metric."""
    return generate_latest(registry)


class MetricsServer:
    """``GET /metrics`` on a port of its own, served on the running event loop."""

    def __init__(self, server: asyncio.Server, registry: CollectorRegistry) -> None:
        self._server = server
        self._registry = registry

    @property
    def port(self) -> int:
        port: int = self._server.sockets[0].getsockname()[1]
        return port

    async def close(self) -> None:
        self._server.close()
        with contextlib.suppress(Exception):
            await asyncio.wait_for(self._server.wait_closed(), 2)


async def serve_metrics(address: str, registry: CollectorRegistry = REGISTRY) -> MetricsServer:
    """Starts serving ``/metrics`` on ``host:port`` (port 0 picks a free one)."""
    host, _, port = address.rpartition(":")

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 5)
            method, _, rest = head.decode("latin-1").partition(" ")
            path = rest.partition(" ")[0].partition("?")[0]
            if method not in ("GET", "HEAD"):
                status, body, content_type = "405 Method Not Allowed", b"method not allowed\n", "text/plain"
            elif path in ("/metrics", "/"):
                status, body, content_type = "200 OK", render(registry), CONTENT_TYPE_LATEST
            else:
                status, body, content_type = "404 Not Found", b"not found: try /metrics\n", "text/plain"
            writer.write(
                f"HTTP/1.1 {status}\r\nContent-Type: {content_type}\r\nContent-Length: {len(body)}\r\n"
                "Connection: close\r\n\r\n".encode("latin-1")
            )
            if method != "HEAD":
                writer.write(body)
            await writer.drain()
        except (TimeoutError, asyncio.IncompleteReadError, asyncio.LimitOverrunError, ConnectionError):
            pass
        except Exception:
            log.exception("metrics scrape failed")
        finally:
            writer.close()
            with contextlib.suppress(Exception):
                await writer.wait_closed()

    server = await asyncio.start_server(handle, host or "0.0.0.0", int(port), limit=16 * 1024)
    return MetricsServer(server, registry)
