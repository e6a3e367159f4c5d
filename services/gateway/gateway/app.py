"""The gateway's ASGI application."""

from __future__ import annotations

import contextlib
import logging
from collections.abc import AsyncIterator

from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.middleware.gzip import DEFAULT_EXCLUDED_CONTENT_TYPES
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import Mount, Route

from gateway.audit import AuditLog, registry_sink
from gateway.backends import Backends
from gateway.clientaddr import ClientAddress
from gateway.compression import Compression
from gateway.cors import cors_middleware
from gateway.errors import MethodNotAllowed, error_response
from gateway.health import start_health_server
from gateway.middleware import BASE_PATH, EdgeMiddleware, GuardMiddleware
from gateway.ratelimit_sync import limiter_for, syncing
from gateway.routes import (
    audit,
    connections,
    mongo_dataapi,
    mongo_explorer,
    mongodb,
    pg,
    pg_catalog,
    pg_explain,
    platform,
    redis,
    redis_explorer,
    system,
)
from gateway.routes.redis_explorer.crossing import PROGRESS_MEDIA_TYPE
from gateway.routing import PrefixRouter
from gateway.settings import Settings
from gateway.shutdown import Draining, InFlight
from udb.errors import DatabaseError, Internal, NotFound
from udb.metrics import serve_metrics as start_metrics_server
from udb.readiness import peer_serving

log = logging.getLogger("gateway")


async def _database_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, DatabaseError)
    return error_response(exc, request.url.path)


async def _not_found(request: Request, exc: Exception) -> Response:
    return error_response(NotFound("no such route"), request.url.path)


async def _method_not_allowed(request: Request, exc: Exception) -> Response:
    # With the Allow header Starlette's router computed.
    allow = dict(getattr(exc, "headers", None) or {}).get("Allow", "")
    message = f"{request.method} is not allowed here" + (f"; use {allow}" if allow else "")
    return error_response(MethodNotAllowed(message, details={"allow": allow or None}), request.url.path)


async def _unexpected(request: Request, exc: Exception) -> Response:
    log.exception("unhandled error on %s %s", request.method, request.url.path)
    return error_response(Internal(), request.url.path)


async def _alive(request: Request) -> Response:
    """Liveness for Envoy's health checks: the process answers HTTP (the services are not asked,
    so one service down does not take every gateway out of rotation)."""
    return PlainTextResponse("ok")


def create_app(settings: Settings, *, backends: Backends | None = None, serve_metrics: bool = False) -> Starlette:
    """The gateway for ``settings``; ``backends`` may be given to share them (tests).

    gRPC channels belong to the event loop they are made on, so the gateway's own backends are
    made in the lifespan, on the server's loop. With ``serve_metrics`` (``python -m gateway``) the
    lifespan also serves Prometheus metrics on ``settings.metrics_address``.
    """

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        if backends is not None:
            app.state.backends = backends
            async with _audit_log(app, backends), _rate_limit_sync(backends):
                yield
            return
        app.state.backends = owned = Backends(settings)
        await owned.start()
        registry_ready = peer_serving(owned.channels["registry"])
        health = await start_health_server(settings.grpc_address, {"registry": registry_ready})
        app.state.grpc_health_port = health.port
        metrics_server = None
        if serve_metrics and settings.metrics_address:
            metrics_server = await start_metrics_server(settings.metrics_address)
        closed = False

        async def close_ports() -> None:
            """The health and metrics ports, closed as a graceful stop begins (gateway.shutdown)."""
            nonlocal closed
            if closed:
                return
            closed = True
            if metrics_server is not None:
                await metrics_server.close()
            await health.stop()

        app.state.close_ports = close_ports
        try:
            async with _audit_log(app, owned), _rate_limit_sync(owned):
                yield
        finally:
            await close_ports()
            await owned.close()

    @contextlib.asynccontextmanager
    async def _audit_log(app: Starlette, backends: Backends) -> AsyncIterator[None]:
        if not settings.audit_enabled:
            yield
            return
        app.state.audit = writer = AuditLog(
            registry_sink(backends.registry, backends.credentials.metadata),
            batch_size=settings.audit_batch_size,
            flush_interval_s=settings.audit_flush_interval_s,
            max_queue=settings.audit_queue_max,
        )
        await writer.start()
        try:
            yield
        finally:
            await writer.close()
            app.state.audit = None

    def _rate_limit_sync(backends: Backends) -> contextlib.AbstractAsyncContextManager[None]:
        channel = backends.channels["redis-svc"]
        return syncing(limiter, channel, backends.credentials.metadata, settings.rate_limit_sync_interval_s)

    limiter = limiter_for(settings)
    app: Starlette  # made below; the audit hook reads its state at request time
    # Outermost first: request id, trace, access log and metrics see every reply, refusals too.
    in_flight = InFlight()
    middleware = [
        Middleware(
            EdgeMiddleware,
            access_log=settings.access_log,
            client_address=ClientAddress(settings.forwarded_allow_ips),
        ),
        # Inside the edge: a request cut at the end of a graceful stop is logged with its 503.
        Middleware(Draining, in_flight=in_flight),
    ]
    cors = cors_middleware(settings.cors_origins)
    if cors is not None:
        middleware.append(cors)
    if settings.gzip_min_bytes > 0:
        middleware.append(
            Middleware(
                Compression,
                minimum_size=settings.gzip_min_bytes,
                compresslevel=settings.gzip_level,
                # Progress streams (NDJSON) go out line by line: a compressor would hold them.
                exclude_content_types=(*DEFAULT_EXCLUDED_CONTENT_TYPES, PROGRESS_MEDIA_TYPE),
            )
        )
    middleware.append(
        Middleware(
            GuardMiddleware,
            settings=settings,
            audit=lambda: getattr(app.state, "audit", None),
            audited_by_service=[*platform.routes, *connections.routes],
            limiter=limiter,
        )
    )
    app = Starlette(
        routes=[
            Route("/healthz", _alive, methods=["GET"], include_in_schema=False),
            Mount(
                BASE_PATH,
                app=PrefixRouter(
                    [
                        *system.routes,
                        *platform.routes,
                        *audit.routes,
                        *connections.routes,
                        *redis.routes,
                        *redis_explorer.routes,
                        *mongodb.routes,
                        *mongo_explorer.routes,
                        *mongo_dataapi.routes,
                        *pg.routes,
                        *pg_catalog.routes,
                        *pg_explain.routes,
                    ]
                ),
            ),
        ],
        middleware=middleware,
        exception_handlers={
            DatabaseError: _database_error,
            404: _not_found,
            405: _method_not_allowed,
            Exception: _unexpected,
        },
        lifespan=lifespan,
    )
    app.state.settings = settings
    app.state.openapi = None
    app.state.in_flight = in_flight
    return app
