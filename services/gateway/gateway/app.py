"""The gateway's ASGI application."""

from __future__ import annotations

import contextlib
import logging
from collections.abc import AsyncIterator

import grpc
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.middleware.cors import CORSMiddleware
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Mount

from gateway.backends import Backends
from gateway.health import start_health_server
from gateway.http import error_response
from gateway.routes import connections, mongodb, pg, platform, redis, system
from gateway.settings import Settings
from udb.errors import DatabaseError, Internal, NotFound, from_rpc_error

log = logging.getLogger("gateway")

BASE_PATH = "/api/platform"


async def _database_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, DatabaseError)
    return error_response(exc)


async def _rpc_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, grpc.RpcError)
    return error_response(from_rpc_error(exc))


async def _not_found(request: Request, exc: Exception) -> Response:
    return error_response(NotFound("no such route"))


async def _method_not_allowed(request: Request, exc: Exception) -> Response:
    response = error_response(DatabaseError("method not allowed"))
    response.status_code = 405
    return response


async def _unexpected(request: Request, exc: Exception) -> Response:
    log.exception("unhandled error on %s %s", request.method, request.url.path)
    return error_response(Internal())


def create_app(settings: Settings, *, backends: Backends | None = None) -> Starlette:
    """The gateway for ``settings``; ``backends`` may be given to share them (tests).

    gRPC channels belong to the event loop they are made on, so the gateway's own backends are
    made in the lifespan, on the server's loop.
    """

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        if backends is not None:
            app.state.backends = backends
            yield
            return
        app.state.backends = owned = Backends(settings)
        await owned.start()
        health = await start_health_server(settings.grpc_address)
        app.state.grpc_health_port = health.port
        try:
            yield
        finally:
            await health.stop()
            await owned.close()

    middleware = []
    if settings.cors_origins:
        middleware.append(
            Middleware(
                CORSMiddleware,
                allow_origins=list(settings.cors_origins),
                allow_methods=["GET", "POST", "PUT", "DELETE", "OPTIONS"],
                allow_headers=["authorization", "content-type", "x-request-id"],
                expose_headers=["x-request-id", "retry-after", "x-result-truncated"],
                max_age=600,
            )
        )
    app = Starlette(
        routes=[
            Mount(
                BASE_PATH,
                routes=[
                    *system.routes,
                    *platform.routes,
                    *connections.routes,
                    *redis.routes,
                    *mongodb.routes,
                    *pg.routes,
                ],
            )
        ],
        middleware=middleware,
        exception_handlers={
            DatabaseError: _database_error,
            grpc.RpcError: _rpc_error,
            404: _not_found,
            405: _method_not_allowed,
            Exception: _unexpected,
        },
        lifespan=lifespan,
    )
    app.state.openapi = None
    return app
