"""The server side of the multiplexed stream, served by every service that :func:`udb.server.build_server` builds.

A client opens ``/udb.mux.v1.MuxService/Calls`` once and sends frames of unary calls. Each call runs
as its own task through the very handler its unary twin runs, guard included (authentication,
request id, trace context, deadline, metrics, access log, error mapping), with a
:class:`~udb.mux.context.MuxCallContext` for a context; its reply joins the next frame the stream
writes. Replies are batched naturally: whatever finished while the last frame was being written
goes in the next one. Streaming RPCs (Subscribe, WatchInvalidations) are not carried: they keep
their own gRPC streams.

A call fails alone: an unknown method (UNIMPLEMENTED), a request that does not decode
(INVALID_ARGUMENT), a deadline that passes (DEADLINE_EXCEEDED). A client that sends past
``max_calls_in_flight`` is not read until calls finish; one whose unread replies pass
``max_queued_reply_bytes`` is cut off with RESOURCE_EXHAUSTED. On shutdown (:meth:`MuxService.drain`)
a stream answers new calls UNAVAILABLE marked ``not_started`` (safe to send again elsewhere), tells
the client it is draining, finishes the calls in flight and ends with OK.
"""

from __future__ import annotations

import asyncio
import inspect
import logging
import time
from collections.abc import AsyncIterator, Callable, Coroutine, Mapping
from dataclasses import dataclass
from typing import Any, cast

import grpc

from udb import metrics
from udb.errors import DatabaseError, InvalidArgument, Unavailable, trailing_metadata_of
from udb.mux.context import Interruption, MuxCallContext
from udb.mux.v1 import mux_pb2, mux_pb2_grpc

log = logging.getLogger("udb.mux")

METHOD = "/udb.mux.v1.MuxService/Calls"
SERVICE_NAME = mux_pb2.DESCRIPTOR.services_by_name["MuxService"].full_name

UnaryBehavior = Callable[[Any, grpc.aio.ServicerContext[Any, Any]], Coroutine[Any, Any, Any]]
#: A reply waiting to be written: (call id, response bytes) for a success, a Reply for the rest.
QueuedReply = tuple[int, bytes] | mux_pb2.Reply

#: Room for a reply's envelope (id, status, trailers) inside the largest message a peer accepts.
ENVELOPE_BYTES = 16 * 1024

_FRAMES_WRITTEN = metrics.MUX_FRAMES.labels("server")
_REPLIES_WRITTEN = metrics.MUX_FRAME_ENTRIES.labels("server")


@dataclass(frozen=True, slots=True)
class MuxLimits:
    """What one stream may hold. The defaults suit a gateway with up to a thousand callers."""

    #: Calls running at once; past it the stream's next frames wait unread (back-pressure).
    max_calls_in_flight: int = 1024
    #: Reply bytes the client has not taken yet; past it the stream is cut (RESOURCE_EXHAUSTED).
    #: At least one reply is always queued, however large.
    max_queued_reply_bytes: int = 64 * 1024 * 1024
    #: Replies go out in frames of about this size (a larger reply goes alone).
    max_frame_bytes: int = 1024 * 1024
    #: The largest reply a call may have (the peers' message limit less the envelope).
    max_reply_bytes: int = 64 * 1024 * 1024 - ENVELOPE_BYTES


@dataclass(frozen=True, slots=True)
class MuxMethod:
    """A unary method as the stream runs it: its guarded handler and its codecs."""

    behavior: UnaryBehavior
    deserialize: Callable[[bytes], Any]
    serialize: Callable[[Any], bytes]


def error_reply(
    call_id: int,
    code: grpc.StatusCode,
    message: str,
    trailing_metadata: tuple[tuple[str, str | bytes], ...] = (),
    *,
    not_started: bool = False,
) -> mux_pb2.Reply:
    """A failed call's reply, with the trailers its unary twin would carry."""
    reply = mux_pb2.Reply(id=call_id, code=code.value[0], message=message, not_started=not_started)
    for key, value in trailing_metadata:
        reply.trailing_metadata.add(key=key, value=value if isinstance(value, bytes) else value.encode("latin-1"))
    return reply


def api_error_reply(call_id: int, error: DatabaseError, *, not_started: bool = False) -> mux_pb2.Reply:
    """The reply of a call the stream itself refuses, carrying the API error as the guard would."""
    return error_reply(call_id, error.grpc_code, error.message, trailing_metadata_of(error), not_started=not_started)


class MuxService(mux_pb2_grpc.MuxServiceServicer):
    """Serves the unary methods of a server's services over multiplexed streams."""

    def __init__(self, *, limits: MuxLimits | None = None, service: str = "") -> None:
        self.limits = limits or MuxLimits()
        self.methods: dict[str, MuxMethod] = {}
        self.streams: set[ServerStream] = set()
        self.draining = False
        self._active = metrics.GRPC_ACTIVE_STREAMS.labels(service, METHOD)

    def add_methods(self, service_name: str, handlers: Mapping[str, grpc.RpcMethodHandler[Any, Any]]) -> None:
        """Carries a service's implemented unary methods (``handlers`` as the generated
        ``add_*_to_server`` passes them to ``add_registered_method_handlers``)."""
        for name, handler in handlers.items():
            behavior = handler.unary_unary
            # Streaming methods keep their own streams; unimplemented ones (the generated base's
            # synchronous stubs) stay unknown here, UNIMPLEMENTED as over unary.
            if behavior is None or not inspect.iscoroutinefunction(behavior):
                continue
            assert handler.request_deserializer is not None
            assert handler.response_serializer is not None
            self.methods[f"/{service_name}/{name}"] = MuxMethod(
                cast(UnaryBehavior, behavior), handler.request_deserializer, handler.response_serializer
            )

    async def Calls(  # type: ignore[override]  # a reader-writer handler, not a generator
        self, request_iterator: AsyncIterator[mux_pb2.CallFrame], context: grpc.aio.ServicerContext[Any, Any]
    ) -> None:
        if self.draining:
            await context.abort(grpc.StatusCode.UNAVAILABLE, "the server is shutting down")
        stream = ServerStream(self, context)
        self.streams.add(stream)
        self._active.inc()
        try:
            await stream.serve(request_iterator)
        finally:
            self._active.dec()
            self.streams.discard(stream)

    def drain(self) -> None:
        """Shutdown has begun: streams take no new calls, finish theirs and end; no new streams."""
        self.draining = True
        for stream in list(self.streams):
            stream.drain()


class ServerStream:
    """One client's stream: reads frames of calls, runs them, writes frames of replies."""

    def __init__(self, service: MuxService, context: grpc.aio.ServicerContext[Any, Any]) -> None:
        self.context = context
        self._methods = service.methods
        self._limits = service.limits
        self._loop = asyncio.get_running_loop()
        self._calls: dict[int, MuxCallContext] = {}
        self._replies: list[QueuedReply] = []
        self._queued_bytes = 0
        self._wake = asyncio.Event()
        self._slot_free: asyncio.Future[None] | None = None
        #: Resolved when the stream should end: None to end cleanly, or the status of a cut.
        self._end: asyncio.Future[tuple[grpc.StatusCode, str] | None] = self._loop.create_future()
        self._reading_done = False
        self._draining = service.draining
        self._announce_drain = False
        self._closing = False

    async def serve(self, requests: AsyncIterator[mux_pb2.CallFrame]) -> None:
        reader = self._loop.create_task(self._read(requests))
        writer = self._loop.create_task(self._write())
        try:
            cut = await self._end
            if cut is None:
                await writer  # flushes what is queued, then returns
            else:
                log.warning(
                    "mux stream cut", extra={"code": cut[0].name, "reason": cut[1], "peer": self.context.peer()}
                )
                await self.context.abort(*cut)
        finally:
            reader.cancel()
            writer.cancel()
            for call in list(self._calls.values()):
                call.interrupt(Interruption.SHUTDOWN)

    def drain(self) -> None:
        if self._draining:
            return
        self._draining = True
        self._announce_drain = True
        self._wake.set()
        self._maybe_end()

    # ---- reading calls -----------------------------------------------------------------------

    async def _read(self, requests: AsyncIterator[mux_pb2.CallFrame]) -> None:
        cap = self._limits.max_calls_in_flight
        try:
            async for frame in requests:
                for call in frame.calls:
                    if len(self._calls) >= cap:
                        self._slot_free = self._loop.create_future()
                        await self._slot_free
                    self._start(call)
                for call_id in frame.cancelled:
                    running = self._calls.get(call_id)
                    if running is not None:
                        running.interrupt(Interruption.CLIENT)
        except asyncio.CancelledError:
            raise
        except Exception:  # a frame that does not decode ends the stream
            if self._end.done():
                return  # the stream was cut or ended: its reads fail
            log.warning("mux stream unreadable", exc_info=True)
            self._finish((grpc.StatusCode.INVALID_ARGUMENT, "a frame of calls does not decode"))
            return
        self._reading_done = True
        self._maybe_end()

    def _start(self, call: mux_pb2.Call) -> None:
        call_id = call.id
        method = self._methods.get(call.method)
        if method is None:
            self._queue(error_reply(call_id, grpc.StatusCode.UNIMPLEMENTED, "Method not found!"))
            return
        if self._draining:
            refusal = Unavailable("the server is shutting down; send the call again")
            self._queue(api_error_reply(call_id, refusal, not_started=True))
            return
        if call_id in self._calls:
            self._queue(api_error_reply(call_id, InvalidArgument("a call with this id is in flight")))
            return
        try:
            request = method.deserialize(call.request)
        except Exception:  # noqa: BLE001 (any decoding failure is the caller's)
            message = f"the request does not decode as {_message_name(method.deserialize)}"
            self._queue(api_error_reply(call_id, InvalidArgument(message)))
            return
        timeout_us = call.timeout_us
        deadline = time.monotonic() + timeout_us / 1e6 if timeout_us else None
        context = MuxCallContext(self, call, deadline, method.serialize)
        task: asyncio.Task[Any] = self._loop.create_task(method.behavior(request, context))
        context.task = task
        self._calls[call_id] = context
        task.add_done_callback(context.finished)
        if timeout_us:
            context.timer = self._loop.call_later(timeout_us / 1e6, context.interrupt, Interruption.DEADLINE)

    # ---- replies -----------------------------------------------------------------------------

    def call_finished(self, context: MuxCallContext, task: asyncio.Task[Any]) -> None:
        """A call's task is done: queue its reply (none for a call its client cancelled)."""
        self._calls.pop(context.call_id, None)
        if context.timer is not None:
            context.timer.cancel()
        if self._end.done() and self._end.result() is not None:
            if not task.cancelled():
                task.exception()  # retrieved: a cut stream writes nothing more
            return
        reply = self._reply_of(context, task)
        if reply is not None:
            self._queue(reply)
        slot_free = self._slot_free
        if slot_free is not None and not slot_free.done() and len(self._calls) < self._limits.max_calls_in_flight:
            slot_free.set_result(None)
        if not self._calls:
            self._maybe_end()

    def _reply_of(self, context: MuxCallContext, task: asyncio.Task[Any]) -> QueuedReply | None:
        call_id = context.call_id
        if task.cancelled():
            if context.interruption is Interruption.DEADLINE:
                return error_reply(call_id, grpc.StatusCode.DEADLINE_EXCEEDED, "Deadline Exceeded")
            if context.interruption is Interruption.SHUTDOWN:
                return api_error_reply(call_id, Unavailable("the server stopped before the call finished"))
            return None
        error = task.exception()
        if error is None:
            code = context.code()
            if code is not grpc.StatusCode.OK:  # set_code without abort, as grpc allows
                return error_reply(call_id, code, context.details(), context.trailing_metadata())
            try:
                data = context.serialize(task.result())
            except Exception:  # a servicer returned the wrong type: a bug
                log.exception("cannot serialize the response of a mux call")
                return error_reply(call_id, grpc.StatusCode.INTERNAL, "internal error")
            if len(data) > self._limits.max_reply_bytes:
                limit = self._limits.max_reply_bytes
                message = f"Sent message larger than max ({len(data)} vs. {limit})"
                return error_reply(call_id, grpc.StatusCode.RESOURCE_EXHAUSTED, message)
            return (call_id, data)
        if isinstance(error, grpc.aio.AbortError):
            return error_reply(call_id, context.code(), context.details(), context.trailing_metadata())
        # The guard maps every error; this is a handler that bypassed it.
        log.error("unexpected error in a mux call", exc_info=error)
        return error_reply(call_id, grpc.StatusCode.UNKNOWN, "unexpected error")

    def _queue(self, reply: QueuedReply) -> None:
        size = len(reply[1]) + 8 if isinstance(reply, tuple) else reply.ByteSize()
        if self._queued_bytes and self._queued_bytes + size > self._limits.max_queued_reply_bytes:
            self._finish((grpc.StatusCode.RESOURCE_EXHAUSTED, "the client does not read its replies"))
            return
        self._queued_bytes += size
        self._replies.append(reply)
        self._wake.set()

    async def _write(self) -> None:
        write = self.context.write
        while True:
            if not self._replies and not self._announce_drain:
                if self._closing:
                    return
                self._wake.clear()
                await self._wake.wait()
                continue
            frame = self._take_frame()
            try:
                await write(frame)
                _FRAMES_WRITTEN.inc()
                _REPLIES_WRITTEN.inc(len(frame.replies))
            except asyncio.CancelledError:
                raise
            except Exception:  # the RPC is gone: the client left or the server stopped
                log.debug("mux stream write failed", exc_info=True)
                self._finish(None)
                return

    def _take_frame(self) -> mux_pb2.ReplyFrame:
        frame = mux_pb2.ReplyFrame()
        if self._announce_drain:
            frame.draining = True
            self._announce_drain = False
        replies = frame.replies
        add = replies.add
        budget = self._limits.max_frame_bytes
        taken = 0
        size = 0
        queued = self._replies
        for reply in queued:
            if isinstance(reply, tuple):
                add(id=reply[0], response=reply[1])
                size += len(reply[1]) + 8
            else:
                replies.append(reply)
                size += reply.ByteSize()
            taken += 1
            if size >= budget:
                break
        del queued[:taken]
        self._queued_bytes = max(self._queued_bytes - size, 0)
        return frame

    # ---- ending ------------------------------------------------------------------------------

    def _maybe_end(self) -> None:
        """Ends cleanly once no call runs and none can come: the client half-closed, or draining."""
        if (self._reading_done or self._draining) and not self._calls:
            self._closing = True
            self._wake.set()
            self._finish(None)

    def _finish(self, cut: tuple[grpc.StatusCode, str] | None) -> None:
        if not self._end.done():
            self._end.set_result(cut)
            if cut is not None:
                self._replies = []
                self._queued_bytes = 0
                for call in list(self._calls.values()):
                    call.interrupt(Interruption.SHUTDOWN)


def _message_name(deserialize: Callable[[bytes], Any]) -> str:
    """The request type's name, from its ``FromString``."""
    owner = getattr(deserialize, "__self__", None)
    descriptor = getattr(owner, "DESCRIPTOR", None)
    return str(getattr(descriptor, "full_name", "the method's request"))
