"""Graceful stop of the gateway: listeners first, then the grace, then the API's 503.

On SIGTERM :class:`GatewayServer` (uvicorn's server) closes the HTTP listener and the gateway's
gRPC health and metrics ports at once, so that a replacement process can bind the same ports
while this one finishes. Requests in flight get ``grace_s``; :class:`Draining` (a middleware)
then answers each one whose reply has not begun with the API's JSON 503 ``unavailable`` (with
``Retry-After`` and ``Connection: close``) and cancels its work, backend calls included, rather
than letting uvicorn cut it off with a plain-text 500.
"""

from __future__ import annotations

import asyncio
import logging
import socket
from collections.abc import Awaitable, Callable

import uvicorn
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from gateway.errors import error_response
from udb import heap
from udb.errors import Unavailable

log = logging.getLogger("gateway.shutdown")

#: Seconds uvicorn waits past the grace before it cancels what is left (our 503s are sent by then).
BACKSTOP_S = 2.0


class InFlight:
    """The HTTP requests in flight; :meth:`expire` answers those without a reply 503."""

    def __init__(self) -> None:
        self.requests: dict[asyncio.Task[object], Callable[[], bool]] = {}
        self.expired = False

    def expire(self) -> int:
        """Cancels every request in flight whose reply has not begun (each answers 503);
        returns how many."""
        self.expired = True
        cancelled = 0
        for task, replied in list(self.requests.items()):
            if not replied():
                task.cancel()
                cancelled += 1
        return cancelled


class Draining:
    """The middleware that registers each HTTP request in :class:`InFlight` and turns its
    cancellation past the grace into the API's 503."""

    def __init__(self, app: ASGIApp, *, in_flight: InFlight) -> None:
        self.app = app
        self.in_flight = in_flight

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        task = asyncio.current_task()
        if scope["type"] != "http" or task is None:
            await self.app(scope, receive, send)
            return
        started = False

        async def send_tracked(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        self.in_flight.requests[task] = lambda: started
        try:
            await self.app(scope, receive, send_tracked)
        except asyncio.CancelledError:
            if not self.in_flight.expired or started:
                raise
            task.uncancel()
            error = Unavailable("the gateway is shutting down: send the request again")
            response = error_response(error, scope.get("path", ""))
            response.headers["Retry-After"] = "1"
            response.headers["Connection"] = "close"
            await response(scope, receive, send)
        finally:
            self.in_flight.requests.pop(task, None)


class GatewayServer(uvicorn.Server):
    """uvicorn's server with the gateway's order of shutdown (see the module's docstring)."""

    def __init__(
        self,
        config: uvicorn.Config,
        *,
        grace_s: float,
        in_flight: InFlight,
        close_ports: Callable[[], Awaitable[None]],
    ) -> None:
        config.timeout_graceful_shutdown = int(grace_s + BACKSTOP_S)
        super().__init__(config)
        self._grace = grace_s
        self._in_flight = in_flight
        self._close_ports = close_ports

    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        await super().startup(sockets)
        heap.settle()

    async def shutdown(self, sockets: list[socket.socket] | None = None) -> None:
        for server in self.servers:
            server.close()  # the listener first: a replacement binds the port at once
        try:
            await self._close_ports()
        except Exception:
            log.exception("closing the health and metrics ports failed")
        timer = asyncio.get_running_loop().call_later(self._grace, self._expire)
        try:
            await super().shutdown(sockets)
        finally:
            timer.cancel()

    def _expire(self) -> None:
        if self._in_flight.requests:
            log.warning("grace over: answering requests in flight 503", extra={"requests": self._in_flight.expire()})
