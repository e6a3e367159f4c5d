"""The server bootstrap every gRPC service uses: health, reflection, auth, graceful shutdown.

A service's ``create_server(settings, address)`` registers its servicer through
:func:`build_server`; its ``__main__`` hands that factory to :func:`run`. Every server built so
also carries its services' unary methods over the multiplexed stream of :mod:`udb.mux.server`,
through the same guard.
"""

from __future__ import annotations

import asyncio
import logging
import signal
import sys
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar, cast

import grpc
import uvloop
from grpc_health.v1 import health, health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection

from udb import heap
from udb.auth import MAX_TOKEN_BYTES, TokenVerifier
from udb.config import ConfigError, ServiceSettings
from udb.interceptors import ServiceInterceptor
from udb.logs import configure_logging
from udb.metrics import serve_metrics
from udb.mux.server import ENVELOPE_BYTES, MuxLimits, MuxService
from udb.mux.server import SERVICE_NAME as MUX_SERVICE_NAME
from udb.mux.v1 import mux_pb2_grpc
from udb.readiness import Check, Readiness
from udb.tracing import configure_tracing

log = logging.getLogger("udb.server")

#: grpcio-health-checking's asyncio servicer (its type stubs do not know the aio module).
HealthServicer: Any = health.aio.HealthServicer  # type: ignore[attr-defined]


@dataclass(frozen=True)
class Registration:
    """One proto service to serve: the generated ``add_*_to_server`` function and its servicer."""

    add_to_server: Callable[[Any, grpc.aio.Server], None]
    servicer: object
    #: The proto's full service name, from ``DESCRIPTOR.services_by_name[...].full_name``.
    full_name: str


class Server:
    """A built gRPC service: start it, stop it gracefully, and close what it owns on the way out."""

    def __init__(
        self,
        server: grpc.aio.Server,
        health_servicer: Any,
        service_names: Sequence[str],
        on_start: Sequence[Callable[[], Awaitable[None]]] = (),
        on_stop: Sequence[Callable[[], Awaitable[None]]] = (),
        components: Mapping[str, object] | None = None,
        mux: MuxService | None = None,
        readiness: Mapping[str, Check] | None = None,
    ) -> None:
        self.grpc_server = server
        #: The multiplexed stream's service (its open streams, its methods), for tests and probes.
        self.mux = mux
        #: What the service is made of, by name (an engine's "runtime"), for tests and probes.
        self.components: dict[str, object] = dict(components or {})
        self.health = health_servicer
        self._service_names = tuple(service_names)
        #: Readiness ("" and each service name) follows these dependency checks; liveness does not.
        self.readiness = Readiness(health_servicer, self._service_names, readiness or {})
        self._on_start = tuple(on_start)
        self._on_stop = tuple(on_stop)
        self._stopped = False

    async def start(self) -> None:
        """Runs the start hooks (pools, watchers), then serves; reports live, and ready while
        the readiness checks pass (:mod:`udb.readiness`)."""
        for hook in self._on_start:
            await hook()
        await self.grpc_server.start()
        await self.readiness.start()

    async def stop(self, grace: float | None = 10.0, *, drain_s: float = 0.0) -> None:
        """Reports NOT_SERVING, waits ``drain_s`` (for load balancers to notice), stops accepting
        calls, lets in-flight calls finish within ``grace``, then closes pools.

        Multiplexed streams take no new calls from then on (UNAVAILABLE, safe to send again
        elsewhere), tell their clients so, and end once their calls in flight have answered."""
        if self._stopped:
            return
        self._stopped = True
        await self.readiness.close()
        await self.health.enter_graceful_shutdown()
        if drain_s > 0:
            await asyncio.sleep(drain_s)
        if self.mux is not None:
            self.mux.drain()
        await self.grpc_server.stop(grace)
        for hook in reversed(self._on_stop):
            try:
                await hook()
            except Exception:
                log.exception("error while closing")

    async def wait_for_termination(self) -> None:
        await self.grpc_server.wait_for_termination()


#: Channels ping an idle connection this often, so a dead peer (or a NAT that dropped the flow) is
#: noticed before a call is made on it.
KEEPALIVE_TIME_MS = 30_000


#: Metadata a call may carry: a token of MAX_TOKEN_BYTES and the rest (request id, trace context).
MAX_METADATA_BYTES = 2 * MAX_TOKEN_BYTES


def grpc_options(max_message_bytes: int, *, keepalive_time_ms: int = KEEPALIVE_TIME_MS) -> list[tuple[str, Any]]:
    """Channel options of every peer of this system."""
    return [
        ("grpc.max_receive_message_length", max_message_bytes),
        ("grpc.max_send_message_length", max_message_bytes),
        ("grpc.max_metadata_size", MAX_METADATA_BYTES),
        ("grpc.absolute_max_metadata_size", MAX_METADATA_BYTES),
        ("grpc.keepalive_time_ms", keepalive_time_ms),
        ("grpc.keepalive_timeout_ms", 10_000),
        ("grpc.http2.max_pings_without_data", 0),
        ("grpc.keepalive_permit_without_calls", 1),
    ]


def server_options(max_message_bytes: int, *, keepalive_time_ms: int = KEEPALIVE_TIME_MS) -> list[tuple[str, Any]]:
    """Server options: they accept the channels' keepalive pings. By default a server allows one
    ping without data per 5 minutes and answers more with GOAWAY "too_many_pings", which drops
    the peer's connection every few minutes."""
    return [
        ("grpc.max_receive_message_length", max_message_bytes),
        ("grpc.max_send_message_length", max_message_bytes),
        ("grpc.max_metadata_size", MAX_METADATA_BYTES),
        ("grpc.absolute_max_metadata_size", MAX_METADATA_BYTES),
        ("grpc.keepalive_time_ms", keepalive_time_ms),
        ("grpc.keepalive_timeout_ms", 10_000),
        ("grpc.keepalive_permit_without_calls", 1),
        ("grpc.http2.min_recv_ping_interval_without_data_ms", keepalive_time_ms // 2),
        ("grpc.http2.max_ping_strikes", 0),
        ("grpc.so_reuseport", 0),
    ]


def build_server(
    settings: ServiceSettings,
    registrations: Sequence[Registration],
    *,
    address: str,
    verifier: TokenVerifier | None = None,
    on_start: Sequence[Callable[[], Awaitable[None]]] = (),
    on_stop: Sequence[Callable[[], Awaitable[None]]] = (),
    access_log: bool | None = None,
    components: Mapping[str, object] | None = None,
    mux_limits: MuxLimits | None = None,
    readiness: Mapping[str, Check] | None = None,
) -> tuple[Server, int]:
    """A gRPC server with the given services, health, reflection and the auth interceptor, and
    the multiplexed stream that carries the services' unary methods. ``readiness`` names the
    checks of the service's own dependencies (:mod:`udb.readiness`).

    Returns the server (not started) and the port it is bound to (useful with ``:0``).
    """
    guard = ServiceInterceptor(
        verifier or TokenVerifier(settings.auth),
        access_log=settings.access_log if access_log is None else access_log,
        service=settings.name,
    )
    server = grpc.aio.server(options=server_options(settings.max_message_bytes))
    mux = MuxService(
        limits=mux_limits or MuxLimits(max_reply_bytes=settings.max_message_bytes - ENVELOPE_BYTES),
        service=settings.name,
    )
    for registration in registrations:
        # The guard wraps the servicer's methods once, here, rather than intercepting each call;
        # the stream runs the very same wrapped handlers.
        guarded = guard.guard(registration.servicer, registration.full_name)
        registration.add_to_server(guarded, cast(grpc.aio.Server, _Registrar(server, mux)))
    mux_pb2_grpc.add_MuxServiceServicer_to_server(mux, server)
    health_servicer = HealthServicer()
    health_pb2_grpc.add_HealthServicer_to_server(health_servicer, server)
    names = [registration.full_name for registration in registrations]
    reflection.enable_server_reflection(
        [
            *names,
            MUX_SERVICE_NAME,
            health_pb2.DESCRIPTOR.services_by_name["Health"].full_name,
            reflection.SERVICE_NAME,
        ],
        server,
    )
    port = server.add_insecure_port(address)
    if port == 0:
        raise OSError(f"{settings.name}: cannot listen on {address}")
    built = Server(
        server,
        health_servicer,
        names,
        on_start=on_start,
        on_stop=on_stop,
        components=components,
        mux=mux,
        readiness=readiness,
    )
    return built, port


class _Registrar:
    """What a generated ``add_*Servicer_to_server`` registers with: the gRPC server, and the
    multiplexed stream, which takes the same (guarded) method handlers."""

    def __init__(self, server: grpc.aio.Server, mux: MuxService) -> None:
        self._server = server
        self._mux = mux

    def add_generic_rpc_handlers(self, handlers: Sequence[grpc.GenericRpcHandler[Any, Any]]) -> None:
        self._server.add_generic_rpc_handlers(handlers)

    def add_registered_method_handlers(
        self, service_name: str, handlers: Mapping[str, grpc.RpcMethodHandler[Any, Any]]
    ) -> None:
        self._server.add_registered_method_handlers(service_name, handlers)  # type: ignore[attr-defined]
        self._mux.add_methods(service_name, handlers)


SettingsT = TypeVar("SettingsT", bound=ServiceSettings)


def main(
    load_settings: Callable[[], SettingsT],
    create_server: Callable[[SettingsT, str], Awaitable[tuple[Server, int]]],
) -> int:
    """A service's ``__main__``: settings from the environment (exit 2 naming what is wrong),
    then :func:`run`."""
    try:
        settings = load_settings()
        run(create_server, settings)
    except ConfigError as exc:
        print(f"configuration error: {exc}", file=sys.stderr)
        return 2
    return 0


def run(create_server: Callable[[SettingsT, str], Awaitable[tuple[Server, int]]], settings: SettingsT) -> None:
    """Serves until SIGTERM or SIGINT, then shuts down gracefully. The entry point of every service."""
    configure_logging(settings.name, level=settings.log_level, json_lines=settings.log_json)
    configure_tracing(settings.name)
    uvloop.run(_serve(create_server, settings))


async def _serve(create_server: Callable[[SettingsT, str], Awaitable[tuple[Server, int]]], settings: SettingsT) -> None:
    server, port = await create_server(settings, settings.address)
    # Before the port opens: the full collection then holds up no caller.
    heap.settle()
    await server.start()
    host = settings.address.rpartition(":")[0]
    log.info("serving", extra={"address": f"{host}:{port}"})
    metrics_server = await serve_metrics(settings.metrics_address) if settings.metrics_address else None
    if metrics_server is not None:
        log.info("serving metrics", extra={"address": settings.metrics_address, "path": "/metrics"})
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    await stop.wait()
    log.info("shutting down", extra={"grace_s": settings.shutdown_grace_s})
    # Its ports free first, so that a replacement process can start while this one drains.
    if metrics_server is not None:
        await metrics_server.close()
    await server.stop(settings.shutdown_grace_s, drain_s=settings.shutdown_drain_s)
    log.info("stopped")
