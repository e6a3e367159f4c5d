"""The client side of the multiplexed stream: a channel whose unary calls share one stream.

:class:`MuxChannel` wraps a ``grpc.aio.Channel``. A generated stub built on it works unchanged
(``RedisServiceStub(mux).GetKey(request, metadata=..., timeout=...)``), and so does
:meth:`MuxChannel.call`; either way a unary call travels as one entry of a frame on a long-lived
``/udb.mux.v1.MuxService/Calls`` stream, opened on first use. Streaming methods, health checks and
reflection use the wrapped channel as they are.

- Batching is natural, with no timer: whatever callers queued while the stream was writing goes
  in the next frame.
- A call carries its metadata (token, request id, trace context) and its deadline: its timeout,
  capped by the time left of the request it serves (:func:`udb.interceptors.outgoing_timeout`),
  enforced here and by the server.
- A caller cancelled while waiting sends a cancel for its call; the server cancels the handler.
- At most ``max_calls_in_flight`` calls wait at once; more callers wait for a free slot.
- A stream that breaks fails its calls in flight with UNAVAILABLE; the next call opens a new one.
  A server that shuts down tells its streams: new calls go to a new stream, calls in flight
  finish, and a call the server refused before starting it is sent once more.
- A server without the stream (an older release, during a rolling upgrade) answers UNIMPLEMENTED
  for it: the channel then makes plain unary calls.
- Failures are ``grpc.aio.AioRpcError``, with the status code, message and trailers
  (``grpc-status-details-bin``) a unary call would have raised, so ``udb.errors.from_rpc_error``
  and everything above it work unchanged.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import itertools
import logging
import time
from collections.abc import Callable, Sequence
from typing import Any, TypeVar, cast

import grpc
from google.protobuf.message import Message

from udb import metrics, tracing
from udb.interceptors import OPEN_METHOD_PREFIXES, outgoing_timeout
from udb.mux.server import ENVELOPE_BYTES, METHOD
from udb.mux.v1 import mux_pb2

log = logging.getLogger("udb.mux")

ReplyT = TypeVar("ReplyT", bound=Message)
MetadataArg = grpc.aio.Metadata | Sequence[tuple[str, str | bytes]] | None

_STATUS_BY_VALUE: dict[int, grpc.StatusCode] = {code.value[0]: code for code in grpc.StatusCode}
_EMPTY_METADATA = grpc.aio.Metadata()
#: What a stream's ``read()`` returns at its end (missing from grpc's type stubs).
_EOF: Any = grpc.aio.EOF  # type: ignore[attr-defined]

#: A call waiting to be written: id, method, request, timeout (µs), authorization, request id,
#: traceparent, tracestate, other metadata.
_Queued = tuple[int, str, bytes, int, str, str, str, str, tuple[tuple[str, bytes], ...]]


def rpc_error(
    code: grpc.StatusCode, details: str, trailing_metadata: grpc.aio.Metadata = _EMPTY_METADATA
) -> grpc.aio.AioRpcError:
    """The exception a grpc.aio unary call raises for this status."""
    return grpc.aio.AioRpcError(code, _EMPTY_METADATA, trailing_metadata, details, None)


def _error_of(reply: mux_pb2.Reply) -> grpc.aio.AioRpcError:
    trailing = _EMPTY_METADATA
    if reply.trailing_metadata:
        trailing = grpc.aio.Metadata(
            *(
                (h.key, h.value if h.key.endswith("-bin") else h.value.decode("latin-1"))
                for h in reply.trailing_metadata
            )
        )
    return rpc_error(_STATUS_BY_VALUE.get(reply.code, grpc.StatusCode.UNKNOWN), reply.message, trailing)


_FRAMES_WRITTEN = metrics.MUX_FRAMES.labels("client")
_CALLS_WRITTEN = metrics.MUX_FRAME_ENTRIES.labels("client")


class _Resend:
    """What a call's future holds when the server never started it: send it again."""


_RESEND = _Resend()


class MuxChannel(grpc.aio.Channel):
    """A ``grpc.aio.Channel`` whose unary-unary calls ride one multiplexed stream (see the module).

    The wrapped channel must accept messages as large as the largest reply, as the channels of
    :func:`udb.clients.insecure_channel` do (a frame too large for it fails the whole stream).
    :func:`udb.clients.multiplexed_channel` makes both.
    """

    def __init__(
        self,
        channel: grpc.aio.Channel,
        *,
        max_calls_in_flight: int = 1024,
        max_message_bytes: int = 64 * 1024 * 1024,
        max_frame_bytes: int = 1024 * 1024,
    ) -> None:
        """Args:
        channel: the channel to the server (its unary and streaming calls stay available).
        max_calls_in_flight: calls waiting for a reply at once; more callers wait for a slot.
        max_message_bytes: the peers' message limit; a larger request fails alone.
        max_frame_bytes: calls go out in frames of about this size (a larger call goes alone).
        """
        self.channel = channel
        self._max_in_flight = max_calls_in_flight
        self._max_request_bytes = max_message_bytes - ENVELOPE_BYTES
        self._max_frame_bytes = max_frame_bytes
        self._open_rpc = channel.stream_stream(
            METHOD,
            request_serializer=mux_pb2.CallFrame.SerializeToString,
            response_deserializer=mux_pb2.ReplyFrame.FromString,
        )
        self._stream: _ClientStream | None = None
        #: Every stream not yet ended (the current one, and draining ones).
        self.streams: set[_ClientStream] = set()
        self._ids = itertools.count(1)
        self._in_flight = 0
        self._slot_waiters: collections.deque[asyncio.Future[None]] = collections.deque()
        self._closed = False
        #: Set when the server does not serve the stream: calls go as plain unary calls.
        self.unary_only = False
        self._unary_calls: dict[str, Any] = {}
        #: Frames written, over the channel's life (calls per frame shows how well calls batch).
        self.frames_sent = 0

    # ---- calls -------------------------------------------------------------------------------

    async def call(
        self,
        method: str,
        request: Message,
        reply_type: type[ReplyT],
        *,
        metadata: MetadataArg = None,
        timeout: float | None = None,  # noqa: ASYNC109 (a gRPC call's own keyword)
    ) -> ReplyT:
        """One unary call over the stream: ``await mux.call("/pkg.Service/Method", request, ReplyType, ...)``.

        Raises ``grpc.aio.AioRpcError`` as the unary call would, and ``udb.errors.DeadlineExceeded``
        when the request it serves has no time left (as on a channel from :mod:`udb.clients`).
        """
        data = await self.invoke(method, request.SerializeToString(), metadata, timeout)
        return reply_type.FromString(data)

    async def invoke(self, method: str, request: bytes, metadata: MetadataArg, timeout_s: float | None) -> bytes:
        """A call with its request serialized; returns the serialized response."""
        if self._closed:
            raise grpc.aio.UsageError("the channel is closed")
        timeout = outgoing_timeout(timeout_s)
        if len(request) > self._max_request_bytes:
            message = f"Sent message larger than max ({len(request)} vs. {self._max_request_bytes})"
            raise rpc_error(grpc.StatusCode.RESOURCE_EXHAUSTED, message)
        loop = asyncio.get_running_loop()
        deadline = None if timeout is None else time.monotonic() + timeout
        if self._in_flight >= self._max_in_flight:
            await self._wait_for_slot(timeout)
        self._in_flight += 1
        try:
            fields = _call_fields(metadata)
            for attempt in range(2):
                if self.unary_only:
                    return await self._unary(method, request, metadata, deadline)
                timeout_us = 0
                if deadline is not None:
                    remaining = deadline - time.monotonic()
                    if remaining <= 0:
                        raise rpc_error(grpc.StatusCode.DEADLINE_EXCEEDED, "Deadline Exceeded")
                    timeout_us = max(int(remaining * 1e6), 1)
                stream = self._stream
                if stream is None or not stream.accepting:
                    stream = self._new_stream()
                call_id = next(self._ids)
                reply = await stream.submit(loop, (call_id, method, request, timeout_us, *fields), timeout_us)
                if reply is _RESEND:
                    if attempt == 0 or self.unary_only:
                        continue
                    raise rpc_error(grpc.StatusCode.UNAVAILABLE, "the server is shutting down")
                assert isinstance(reply, mux_pb2.Reply)
                if reply.code == 0:
                    return reply.response
                if reply.not_started and attempt == 0:
                    continue
                raise _error_of(reply)
            # Only a server found not to serve the stream leaves the loop: the call goes unary.
            return await self._unary(method, request, metadata, deadline)
        finally:
            self._in_flight -= 1
            while self._slot_waiters:
                waiter = self._slot_waiters.popleft()
                if not waiter.done():
                    waiter.set_result(None)
                    break

    async def _unary(self, method: str, request: bytes, metadata: MetadataArg, deadline: float | None) -> bytes:
        call = self._unary_calls.get(method)
        if call is None:
            call = self._unary_calls[method] = self.channel.unary_unary(method, None, None)  # bytes in and out
        timeout = None if deadline is None else max(deadline - time.monotonic(), 0.0)
        reply: bytes = await call(request, metadata=metadata, timeout=timeout)
        return reply

    async def _wait_for_slot(self, timeout_s: float | None) -> None:
        while self._in_flight >= self._max_in_flight:
            waiter = asyncio.get_running_loop().create_future()
            self._slot_waiters.append(waiter)
            try:
                await asyncio.wait_for(waiter, timeout_s)
            except TimeoutError:
                raise rpc_error(grpc.StatusCode.DEADLINE_EXCEEDED, "Deadline Exceeded") from None

    def _new_stream(self) -> _ClientStream:
        stream = _ClientStream(self, cast(Any, self._open_rpc)(), self._max_frame_bytes)
        self._stream = stream
        self.streams.add(stream)
        return stream

    def stream_ended(self, stream: _ClientStream) -> None:
        self.streams.discard(stream)
        if self._stream is stream:
            self._stream = None

    # ---- grpc.aio.Channel --------------------------------------------------------------------

    def unary_unary(
        self,
        method: str,
        request_serializer: Callable[[Any], bytes] | None = None,
        response_deserializer: Callable[[bytes], Any] | None = None,
        _registered_method: bool | None = False,
    ) -> grpc.aio.UnaryUnaryMultiCallable[Any, Any]:
        if method.startswith(OPEN_METHOD_PREFIXES):
            return self.channel.unary_unary(method, request_serializer, response_deserializer)
        return _MuxUnaryUnary(self, method, request_serializer, response_deserializer)

    def unary_stream(self, *args: Any, **kwargs: Any) -> Any:
        return self.channel.unary_stream(*args, **kwargs)

    def stream_unary(self, *args: Any, **kwargs: Any) -> Any:
        return self.channel.stream_unary(*args, **kwargs)

    def stream_stream(self, *args: Any, **kwargs: Any) -> Any:
        return self.channel.stream_stream(*args, **kwargs)

    def get_state(self, try_to_connect: bool = False) -> grpc.ChannelConnectivity:
        return self.channel.get_state(try_to_connect)

    async def wait_for_state_change(self, last_observed_state: grpc.ChannelConnectivity) -> None:
        await self.channel.wait_for_state_change(last_observed_state)

    async def channel_ready(self) -> None:
        await self.channel.channel_ready()

    async def close(self, grace: float | None = None) -> None:
        """Lets the calls in flight finish (within ``grace`` seconds, when given), ends the
        streams, then closes the wrapped channel."""
        self._closed = True
        streams = list(self.streams)
        for stream in streams:
            stream.stop_accepting()
        if streams:
            _, late = await asyncio.wait([s.ended for s in streams], timeout=grace)
            for stream in streams:
                if stream.ended in late:
                    stream.rpc.cancel()
        await self.channel.close(grace)

    async def __aenter__(self) -> MuxChannel:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close(None)


class _MuxUnaryUnary(grpc.aio.UnaryUnaryMultiCallable):  # type: ignore[type-arg]
    """A stub's unary method, over the stream. Awaiting the call gives the response (the
    returned object is a coroutine, not a ``grpc.aio.UnaryUnaryCall``)."""

    def __init__(
        self,
        mux: MuxChannel,
        method: str,
        serializer: Callable[[Any], bytes] | None,
        deserializer: Callable[[bytes], Any] | None,
    ) -> None:
        self._mux = mux
        self._method = method
        self._serialize = serializer
        self._deserialize = deserializer

    def __call__(  # type: ignore[override]
        self,
        request: Any,
        *,
        timeout: float | None = None,
        metadata: MetadataArg = None,
        credentials: grpc.CallCredentials | None = None,
        wait_for_ready: bool | None = None,
        compression: grpc.Compression | None = None,
    ) -> Any:
        if credentials is not None or wait_for_ready is not None or compression is not None:
            # What the stream does not carry goes as a unary call of its own.
            plain = self._mux.channel.unary_unary(self._method, self._serialize, self._deserialize)
            return plain(
                request,
                timeout=timeout,
                metadata=metadata,
                credentials=credentials,
                wait_for_ready=wait_for_ready,
                compression=compression,
            )
        return self._invoke(request, metadata, timeout)

    async def _invoke(self, request: Any, metadata: MetadataArg, timeout_s: float | None) -> Any:
        data = self._serialize(request) if self._serialize is not None else request
        reply = await self._mux.invoke(self._method, data, metadata, timeout_s)
        return self._deserialize(reply) if self._deserialize is not None else reply


def _call_fields(metadata: MetadataArg) -> tuple[str, str, str, str, tuple[tuple[str, bytes], ...]]:
    """(authorization, request id, traceparent, tracestate, other metadata) of a call, with the
    current trace context added as the unary path adds it."""
    authorization = request_id = traceparent = tracestate = ""
    other: list[tuple[str, bytes]] = []
    for pairs in (metadata or (), tracing.trace_metadata()):
        for key, value in pairs:
            if key == "authorization":
                authorization = str(value)
            elif key == "x-request-id":
                request_id = str(value)
            elif key == "traceparent":
                traceparent = str(value)
            elif key == "tracestate":
                tracestate = str(value)
            else:
                other.append((key, value if isinstance(value, bytes) else value.encode("latin-1")))
    return authorization, request_id, traceparent, tracestate, tuple(other)


class _ClientStream:
    """One open ``Calls`` stream: a writer task that sends frames, a reader task that answers."""

    def __init__(self, owner: MuxChannel, rpc: Any, max_frame_bytes: int) -> None:
        self._owner = owner
        self.rpc = rpc
        self._max_frame_bytes = max_frame_bytes
        self._pending: dict[int, asyncio.Future[mux_pb2.Reply | _Resend]] = {}
        self._queue: list[_Queued] = []
        self._cancels: list[int] = []
        self._last_written = 0
        self._wake = asyncio.Event()
        #: Whether new calls may use this stream (not once the server drains it, or it broke).
        self.accepting = True
        loop = asyncio.get_running_loop()
        self.ended: asyncio.Future[None] = loop.create_future()
        self._writer = loop.create_task(self._write())
        self._reader = loop.create_task(self._read())

    async def submit(
        self, loop: asyncio.AbstractEventLoop, queued: _Queued, timeout_us: int
    ) -> mux_pb2.Reply | _Resend:
        call_id = queued[0]
        future: asyncio.Future[mux_pb2.Reply | _Resend] = loop.create_future()
        self._pending[call_id] = future
        self._queue.append(queued)
        self._wake.set()
        timer = loop.call_later(timeout_us / 1e6, self._expire, call_id) if timeout_us else None
        try:
            return await future
        except asyncio.CancelledError:
            if self._pending.pop(call_id, None) is not None and call_id <= self._last_written:
                self._cancels.append(call_id)
            self._wake.set()  # the cancel goes out; a draining stream with no call left closes
            raise
        finally:
            if timer is not None:
                timer.cancel()

    def _expire(self, call_id: int) -> None:
        # The server has the same deadline and cancels the handler itself: no cancel is sent.
        future = self._pending.pop(call_id, None)
        if future is not None and not future.done():
            future.set_exception(rpc_error(grpc.StatusCode.DEADLINE_EXCEEDED, "Deadline Exceeded"))
            self._wake.set()  # a draining stream with no call left closes

    def stop_accepting(self) -> None:
        """New calls go elsewhere; once the calls in flight have answered, the stream is closed."""
        self.accepting = False
        self._wake.set()

    async def _write(self) -> None:
        rpc = self.rpc
        budget = self._max_frame_bytes
        try:
            while True:
                if not self._queue and not self._cancels:
                    if not self.accepting and not self._pending:
                        await rpc.done_writing()
                        return
                    self._wake.clear()
                    await self._wake.wait()
                    continue
                frame = mux_pb2.CallFrame()
                add = frame.calls.add
                pending = self._pending
                queue = self._queue
                size = taken = 0
                for call_id, method, request, timeout_us, auth, request_id, parent, state, other in queue:
                    taken += 1
                    if call_id not in pending:
                        continue  # cancelled or expired before it was sent
                    call = add(
                        id=call_id,
                        method=method,
                        request=request,
                        timeout_us=timeout_us,
                        authorization=auth,
                        request_id=request_id,
                        traceparent=parent,
                        tracestate=state,
                    )
                    for key, value in other:
                        call.metadata.add(key=key, value=value)
                    self._last_written = call_id
                    size += len(request) + len(auth) + 64
                    if size >= budget:
                        break
                del queue[:taken]
                if self._cancels:
                    frame.cancelled.extend(self._cancels)
                    self._cancels = []
                await rpc.write(frame)
                self._owner.frames_sent += 1
                _FRAMES_WRITTEN.inc()
                _CALLS_WRITTEN.inc(len(frame.calls))
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # noqa: BLE001 (the reader sees the stream's status and fails the calls)
            log.debug("mux stream write failed: %r", exc)

    async def _read(self) -> None:
        failure: grpc.StatusCode | None = None
        try:
            while True:
                frame = await self.rpc.read()
                if frame is _EOF:
                    break
                if frame.draining:
                    self.accepting = False  # the next call opens a new stream
                    self._wake.set()
                pending = self._pending
                for reply in frame.replies:
                    future = pending.pop(reply.id, None)
                    if future is not None and not future.done():
                        future.set_result(reply)
                if not self.accepting and not pending:
                    self._wake.set()  # the writer half-closes
        except asyncio.CancelledError:
            failure = grpc.StatusCode.CANCELLED
            raise
        except grpc.RpcError as exc:
            failure = exc.code()
        except Exception:  # anything else breaks the stream too
            log.exception("mux stream failed")
            failure = grpc.StatusCode.UNKNOWN
        finally:
            self._end(failure)

    def _end(self, failure: grpc.StatusCode | None) -> None:
        self.accepting = False
        if failure is grpc.StatusCode.UNIMPLEMENTED and not self._owner.unary_only:
            log.info("the server has no multiplexed stream: plain unary calls from now on")
            self._owner.unary_only = True
        self._owner.stream_ended(self)
        self._writer.cancel()
        pending, self._pending = self._pending, {}
        for future in pending.values():
            if future.done():
                continue
            if failure is None or self._owner.unary_only:
                # A stream that ends with OK has answered every call it started, and one refused as
                # unknown started none: these never ran.
                future.set_result(_RESEND)
            else:
                future.set_exception(
                    rpc_error(grpc.StatusCode.UNAVAILABLE, f"the stream to the server broke ({failure.name})")
                )
        if not self.ended.done():
            self.ended.set_result(None)
        with contextlib.suppress(Exception):
            self.rpc.cancel()
