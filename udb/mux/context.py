"""The servicer context of one call carried by a multiplexed stream.

The guard (:mod:`udb.interceptors`) and the servicers see a call through grpc.aio's
``ServicerContext``; this class is that interface for a call that arrived in a frame of
``udb.mux.v1.MuxService/Calls`` rather than as an RPC of its own. It answers what a unary call's
context answers (metadata, time remaining, abort, trailing metadata, status, cancellation), so the
same guarded handler runs unchanged on either path.
"""

from __future__ import annotations

import asyncio
import enum
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any, NoReturn

import grpc

from udb.mux.v1 import mux_pb2

if TYPE_CHECKING:
    from udb.mux.server import ServerStream

#: Metadata as grpc.aio takes it.
MetadataArg = grpc.aio.Metadata | Sequence[tuple[str, str | bytes]]
#: Metadata as grpc.aio's own server context returns it (its type stubs say Metadata).
MetadataTuple = tuple[tuple[str, str | bytes], ...]


class Interruption(enum.Enum):
    """Why a call's handler was cancelled before it answered."""

    CLIENT = "client"  # the client sent a cancel (or its stream went away): no reply
    DEADLINE = "deadline"  # its deadline passed: DEADLINE_EXCEEDED
    SHUTDOWN = "shutdown"  # the server stopped before it finished: UNAVAILABLE


class MuxCallContext(grpc.aio.ServicerContext[Any, Any]):
    """One call of a multiplexed stream, seen as a unary call's context."""

    __slots__ = (
        "_call",
        "_callbacks",
        "_code",
        "_details",
        "_trailing_metadata",
        "call_id",
        "deadline",
        "interruption",
        "serialize",
        "stream",
        "task",
        "timer",
    )

    def __init__(
        self,
        stream: ServerStream,
        call: mux_pb2.Call,
        deadline: float | None,
        serialize: Callable[[Any], bytes],
    ) -> None:
        self.stream = stream
        self._call = call
        self.call_id: int = call.id
        #: ``time.monotonic()`` by which the call must answer, or None.
        self.deadline = deadline
        self.serialize = serialize
        self.task: asyncio.Task[Any] | None = None
        self.timer: asyncio.TimerHandle | None = None
        self.interruption: Interruption | None = None
        self._code: grpc.StatusCode | None = None
        self._details = ""
        self._trailing_metadata: MetadataTuple = ()
        self._callbacks: list[Callable[[Any], None]] | None = None

    # ---- what the guard and servicers read ---------------------------------------------------

    def invocation_metadata(self) -> MetadataTuple:  # type: ignore[override]
        call = self._call
        metadata: list[tuple[str, str | bytes]] = []
        if call.authorization:
            metadata.append(("authorization", call.authorization))
        if call.request_id:
            metadata.append(("x-request-id", call.request_id))
        if call.traceparent:
            metadata.append(("traceparent", call.traceparent))
            if call.tracestate:
                metadata.append(("tracestate", call.tracestate))
        for header in call.metadata:
            key = header.key
            metadata.append((key, header.value if key.endswith("-bin") else header.value.decode("latin-1")))
        return tuple(metadata)

    def time_remaining(self) -> float | None:  # type: ignore[override]  # None without a deadline, as grpc's
        if self.deadline is None:
            return None
        if self.interruption is Interruption.DEADLINE:
            return 0.0  # the timer may fire a hair before the clock reads the deadline
        return max(self.deadline - time.monotonic(), 0.0)

    def peer(self) -> str:
        return self.stream.context.peer()

    def peer_identities(self) -> Iterable[bytes] | None:
        return self.stream.context.peer_identities()

    def peer_identity_key(self) -> str | None:
        return self.stream.context.peer_identity_key()

    def auth_context(self) -> Mapping[str, Iterable[bytes]]:
        return self.stream.context.auth_context()

    def cancelled(self) -> bool:
        return self.interruption is not None

    def done(self) -> bool:
        return self.task is not None and self.task.done()

    # ---- the call's status -------------------------------------------------------------------

    async def abort(self, code: grpc.StatusCode, details: str = "", trailing_metadata: MetadataArg = ()) -> NoReturn:
        """Ends the call with a status, as grpc's ``abort``: raises AbortError, which the stream
        turns into the call's reply."""
        self._code = code
        if details or not self._details:
            self._details = details
        if trailing_metadata:
            self._trailing_metadata = tuple(trailing_metadata)
        raise grpc.aio.AbortError("Locally aborted.")

    async def abort_with_status(self, status: grpc.Status) -> NoReturn:
        await self.abort(status.code, status.details, status.trailing_metadata)

    def set_code(self, code: grpc.StatusCode) -> None:
        self._code = code

    def code(self) -> grpc.StatusCode:
        return self._code or grpc.StatusCode.OK

    def set_details(self, details: str) -> None:
        self._details = details

    def details(self) -> str:
        return self._details

    def set_trailing_metadata(self, trailing_metadata: MetadataArg) -> None:
        self._trailing_metadata = tuple(trailing_metadata)

    def trailing_metadata(self) -> MetadataTuple:  # type: ignore[override]
        return self._trailing_metadata

    def add_done_callback(self, callback: Callable[[Any], None]) -> None:
        if self._callbacks is None:
            self._callbacks = []
        self._callbacks.append(callback)

    # ---- the stream's side -------------------------------------------------------------------

    def interrupt(self, why: Interruption) -> None:
        """Cancels the call's handler (the guard records why, from :meth:`time_remaining`)."""
        task = self.task
        if task is not None and not task.done() and self.interruption is None:
            self.interruption = why
            task.cancel()

    def finished(self, task: asyncio.Task[Any]) -> None:
        """The handler's task is done (its done callback)."""
        if self._callbacks:
            for callback in self._callbacks:
                callback(self)
        self.stream.call_finished(self, task)

    # ---- what a unary call has no use for ----------------------------------------------------

    async def read(self) -> Any:
        raise grpc.aio.UsageError("a unary call has no request stream to read")

    async def write(self, message: Any) -> None:
        raise grpc.aio.UsageError("a unary call answers by returning its response")

    async def send_initial_metadata(self, initial_metadata: MetadataArg) -> None:
        """Accepted and dropped: a reply in a stream carries no initial metadata."""

    def set_compression(self, compression: grpc.Compression) -> None:
        """Accepted and ignored: the stream's frames are compressed (or not) as a whole."""

    def disable_next_message_compression(self) -> None:
        """Accepted and ignored, as :meth:`set_compression`."""
