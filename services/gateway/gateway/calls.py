"""The gateway's one crossing to a service: authorize, build the request, call, translate the error.

Every route reaches a service through :func:`call`::

    reply = await call(
        request,
        backends(request).redis.GetKey,
        lambda target: redis_pb2.GetKeyRequest(target=target, key=key),
        role=common_pb2.ROLE_VIEWER,
    )

What it does, in this order:

1. authenticates the caller (``Authorization: Bearer``, or ``?access_token=`` on a WebSocket);
2. with a ``role``, checks the caller's role on the route's project ``[ref]`` (the registry's
   answer, cached) and builds the target (``[ref]`` and ``?connection=``); without one (the
   registry's own routes), the registry decides who may do what;
3. builds the request (a message, or a function of the target, sync or async: the body is read
   only once the caller is known);
4. calls the service with the caller's token and the request id as metadata. No timeout is passed:
   the deadline is set once, by the route class, in :class:`gateway.middleware.GuardMiddleware`,
   and every outgoing call is capped by the time left (``udb.interceptors.outgoing_timeout``);
5. turns a ``grpc.RpcError`` into the ``udb.errors`` exception the peer raised, which
   :mod:`gateway.errors` renders;
6. cancels the call when the HTTP client disconnects while it runs (the cancel travels in the
   stream and the engine cancels its handler: a statement stops on the database).

Engine stubs ride one multiplexed stream per engine (:class:`udb.mux.client.MuxChannel`), so a
call here costs one frame entry, not one HTTP/2 stream.
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
from collections.abc import Awaitable, Callable, Iterator
from typing import Any, TypeVar

import grpc
from google.protobuf.message import Message
from starlette.requests import HTTPConnection

from gateway.backends import Backends, Caller, project_ref
from udb.clients import bearer_metadata
from udb.common.v1 import common_pb2
from udb.errors import DatabaseError, from_rpc_error

RequestT = TypeVar("RequestT", bound=Message)
ReplyT = TypeVar("ReplyT")


def backends(connection: HTTPConnection) -> Backends:
    """The app's backends."""
    found: Backends = connection.app.state.backends
    return found


async def call(
    connection: HTTPConnection,
    rpc: grpc.aio.UnaryUnaryMultiCallable[RequestT, ReplyT],
    request: RequestT | Callable[[common_pb2.ConnectionTarget], RequestT | Awaitable[RequestT]],
    *,
    role: int | None = None,
    caller: Caller | None = None,
) -> ReplyT:
    """Calls ``rpc`` for the caller of ``connection`` (see the module).

    Args:
        connection: the HTTP request or WebSocket being served.
        rpc: a stub's method, e.g. ``backends(request).redis.GetKey``.
        request: the message, or a function (sync or async) of the ``ConnectionTarget`` that
            returns it, run after the caller is authorized.
        role: the least role the caller needs on ``[ref]``; None on routes whose service checks
            access itself (the registry's).
        caller: the caller from :func:`authorize`, already checked, for the one kind of route
            that must read the body before it knows which RPC to call (nothing is checked again).

    Raises:
        udb.errors.DatabaseError: the caller's refusal (401, 403, 404) or the service's error.
    """
    if caller is None:
        caller = await authorize(connection, role)
    built: Any = request(caller.target) if callable(request) else request
    if inspect.isawaitable(built):
        built = await built
    watcher = _watch_disconnect(connection)
    try:
        return await rpc(built, metadata=caller.metadata)
    except grpc.RpcError as exc:
        raise from_rpc_error(exc) from None
    except asyncio.CancelledError:
        if watcher is None or not watcher.client_gone:
            raise
        # The client went away: the cancel has reached the engine (the call's frame entry was
        # cancelled); nobody reads this reply.
        current = asyncio.current_task()
        if current is not None:
            current.uncancel()
        raise ClientClosedRequest() from None
    finally:
        if watcher is not None:
            watcher.close()


def aimed(message: RequestT) -> Callable[[common_pb2.ConnectionTarget], RequestT]:
    """``message`` (built before the caller is known) aimed at the caller's target: the request
    argument of :func:`call` for a message with a ``target`` field."""

    def build(target: common_pb2.ConnectionTarget) -> RequestT:
        message.target.CopyFrom(target)  # type: ignore[attr-defined]
        return message

    return build


@contextlib.contextmanager
def rpc_errors() -> Iterator[None]:
    """For a streaming call (which :func:`call` does not make): its ``grpc.RpcError`` becomes the
    ``udb.errors`` exception the peer raised, as in :func:`call`."""
    try:
        yield
    except grpc.RpcError as exc:
        raise from_rpc_error(exc) from None


class ClientClosedRequest(DatabaseError):
    """The client closed its connection before the reply (nginx's 499: it is never seen, only logged)."""

    code = "client_closed_request"
    http_status = 499
    default_message = "the client closed the connection"


#: A call still running after this long starts watching for its client's disconnect (most calls
#: end sooner, and then cost no watching task at all).
WATCH_AFTER_S = 0.05


class _DisconnectWatch:
    """Cancels ``task`` when the HTTP client disconnects, watching from ``WATCH_AFTER_S`` on."""

    def __init__(self, receive: Callable[[], Awaitable[Any]], task: asyncio.Task[Any]) -> None:
        self._receive = receive
        self._task = task
        self._watcher: asyncio.Task[None] | None = None
        self._timer = asyncio.get_running_loop().call_later(WATCH_AFTER_S, self._start)
        self.client_gone = False

    def _start(self) -> None:
        self._watcher = asyncio.ensure_future(self._watch())

    async def _watch(self) -> None:
        # The request is built, so its body has been read: what comes next is the disconnect
        # (or nothing, until the reply is complete).
        while (await self._receive())["type"] != "http.disconnect":
            pass
        self.client_gone = True
        self._task.cancel()

    def close(self) -> None:
        self._timer.cancel()
        if self._watcher is not None:
            self._watcher.cancel()


def _watch_disconnect(connection: HTTPConnection) -> _DisconnectWatch | None:
    """The disconnect watch of an HTTP request's call (None on a WebSocket)."""
    task = asyncio.current_task()
    if connection.scope["type"] != "http" or task is None:
        return None
    return _DisconnectWatch(connection.receive, task)  # type: ignore[attr-defined]


async def authorize(connection: HTTPConnection, role: int | None) -> Caller:
    """The caller of ``connection``, with ``role`` checked on its project when given (a WebSocket
    route that opens a stream rather than one call uses this alone)."""
    b = backends(connection)
    if role is not None:
        return await b.authorize(connection, role)
    principal = await b.authenticate(connection)
    ref = project_ref(connection) if "ref" in connection.path_params else ""
    target = common_pb2.ConnectionTarget(project_ref=ref)
    return Caller(principal, None, target, bearer_metadata(principal.token))
