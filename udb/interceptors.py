"""The interceptors of every gRPC server and channel.

The server interceptor does, in this order (outermost first): request id, trace context and
deadline, metrics and access log, caller authentication, exception to status. The steps live in
one wrapper rather than one interceptor each because each grpc.aio interceptor layer costs a
coroutine and a handler rebuild on every call, and the engine services' hot paths are measured
against the raw drivers. For the same reason :meth:`ServiceInterceptor.guard` applies the wrapper
to a servicer's methods once, at registration, so grpc.aio runs no interceptor machinery per call
at all (about a fifth of a no-op call's cost). The calls that arrive in frames of the multiplexed
stream (:mod:`udb.mux.server`) run these same wrapped handlers, with a context of their own that
answers what grpc's does.

The client interceptor, on every channel to a peer, gives each call the time left of the request
it serves (the gateway's per-route deadline, or the deadline of the RPC being served) and carries
the trace context on.
"""

from __future__ import annotations

import asyncio
import contextvars
import inspect
import itertools
import logging
import os
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import grpc
from opentelemetry import context as otel_context
from opentelemetry import trace

from udb import metrics, tracing
from udb.auth import TokenVerifier, bearer_token, principal_var
from udb.errors import DatabaseError, DeadlineExceeded, Internal, trailing_metadata_of
from udb.logs import request_id_var

log = logging.getLogger("udb.access")

#: Request ids made here: a per-process prefix and a counter (unique, and no syscall per call).
_REQUEST_ID_PREFIX = os.urandom(6).hex()
_request_numbers = itertools.count(1)

#: When the request being served must be answered by (``time.monotonic()``), or None. Set by the
#: gateway per route class and by the server interceptor from the caller's gRPC deadline; every
#: outgoing call gets at most the time left.
deadline_var: contextvars.ContextVar[float | None] = contextvars.ContextVar("deadline", default=None)

#: Methods callable without a token: health checks and reflection (for grpcurl and probes).
OPEN_METHOD_PREFIXES = (
    "/grpc.health.v1.Health/",
    "/grpc.reflection.v1alpha.ServerReflection/",
    "/grpc.reflection.v1.ServerReflection/",
)

UnaryBehavior = Callable[[Any, grpc.aio.ServicerContext[Any, Any]], Awaitable[Any]]
StreamBehavior = Callable[[Any, grpc.aio.ServicerContext[Any, Any]], AsyncIterator[Any]]


class _CallScope:
    """The per-call work around a handler: ids, the caller, the outcome and the log line."""

    __slots__ = ("_interceptor", "_otel_token", "code", "method", "request_id", "span", "started", "user")

    def __init__(self, interceptor: ServiceInterceptor, method: str) -> None:
        self._interceptor = interceptor
        self.method = method
        self.code = grpc.StatusCode.OK
        self.started = time.perf_counter()
        self.request_id = ""
        self.user = ""
        self.span: trace.Span = trace.INVALID_SPAN
        self._otel_token: object | None = None

    async def begin(self, context: grpc.aio.ServicerContext[Any, Any]) -> None:
        authorization = None
        trace_headers: list[tuple[str, str | bytes]] = []
        for key, value in context.invocation_metadata() or ():
            if key == "authorization":
                authorization = value
            elif key == "x-request-id":
                self.request_id = str(value)[:128]
            elif key in tracing.TRACE_HEADERS:
                trace_headers.append((key, value))
        if not self.request_id:
            self.request_id = f"{_REQUEST_ID_PREFIX}{next(_request_numbers):x}"
        request_id_var.set(self.request_id)
        remaining = context.time_remaining()
        # Calls this RPC makes to peers get no more than the time its caller gave it.
        deadline_var.set(None if remaining is None else time.monotonic() + remaining)
        parent = tracing.extract(trace_headers) if trace_headers else None
        # With no caller's trace and no exporter, a span would be invalid and carry nothing on.
        if parent is not None or tracing.exporting():
            self.span = tracing.tracer.start_span(self.method, context=parent, kind=trace.SpanKind.SERVER)
            self._otel_token = otel_context.attach(trace.set_span_in_context(self.span, parent))
        token = bearer_token(authorization if isinstance(authorization, str) else None)
        verifier = self._interceptor.verifier
        principal = verifier.cached(token) or await verifier.verify(token)
        self.user = principal.subject
        principal_var.set(principal)

    def cancelled(self, context: grpc.aio.ServicerContext[Any, Any]) -> None:
        """Records why grpc.aio cancelled the handler: the caller's deadline ran out (it has then
        been answered DEADLINE_EXCEEDED already), or the caller went away."""
        remaining = context.time_remaining()
        ran_out = remaining is not None and remaining <= 0
        self.code = grpc.StatusCode.DEADLINE_EXCEEDED if ran_out else grpc.StatusCode.CANCELLED

    async def fail(self, context: grpc.aio.ServicerContext[Any, Any], exc: Exception) -> None:
        error = exc if isinstance(exc, DatabaseError) else Internal()
        if not isinstance(exc, DatabaseError):
            log.exception("unhandled error in %s", self.method)
        self.code = error.grpc_code
        await context.abort(error.grpc_code, error.message, trailing_metadata=trailing_metadata_of(error))

    def end(self) -> None:
        duration = time.perf_counter() - self.started
        self._interceptor.observe(self.method, self.code, duration)
        span_context = self.span.get_span_context()
        if self.span.is_recording():
            self.span.set_attribute("rpc.grpc.status_code", self.code.value[0])
            if self.code is not grpc.StatusCode.OK:
                self.span.set_status(trace.StatusCode.ERROR, self.code.name)
            self.span.end()
        if self._otel_token is not None:
            otel_context.detach(self._otel_token)  # type: ignore[arg-type]
        if self._interceptor.access_log and log.isEnabledFor(logging.INFO):
            extra = {
                "method": self.method,
                "code": self.code.name,
                "duration_ms": round(duration * 1000, 3),
                "user": self.user,
                "request_id": self.request_id,
            }
            if span_context.is_valid:
                extra["trace_id"] = format(span_context.trace_id, "032x")
            log.info("rpc", extra=extra)


class ServiceInterceptor:
    """Request id, access log, authentication and error mapping for every protected RPC, applied
    to a servicer's methods at registration (:meth:`guard`)."""

    def __init__(self, verifier: TokenVerifier, *, access_log: bool = True, service: str = "") -> None:
        self.verifier = verifier
        self.access_log = access_log
        self.service = service
        # Metric children by label values: the label lookup is paid once per method and code.
        self._counters: dict[tuple[str, grpc.StatusCode], Any] = {}
        self._histograms: dict[str, Any] = {}

    def observe(self, method: str, code: grpc.StatusCode, duration_s: float) -> None:
        """Counts an RPC's outcome and times it."""
        counter = self._counters.get((method, code))
        if counter is None:
            counter = self._counters[method, code] = metrics.GRPC_REQUESTS.labels(self.service, method, code.name)
        counter.inc()
        histogram = self._histograms.get(method)
        if histogram is None:
            histogram = self._histograms[method] = metrics.GRPC_LATENCY.labels(self.service, method)
        histogram.observe(duration_s)

    def guard(self, servicer: object, full_name: str) -> object:
        """The servicer with every implemented RPC wrapped, for ``add_*Servicer_to_server``."""
        return _GuardedServicer(self, servicer, full_name)

    def _unary(self, method: str, behavior: UnaryBehavior) -> UnaryBehavior:
        async def unary(request: Any, context: grpc.aio.ServicerContext[Any, Any]) -> Any:
            scope = _CallScope(self, method)
            try:
                await scope.begin(context)
                return await behavior(request, context)
            except asyncio.CancelledError:
                scope.cancelled(context)
                raise
            except grpc.aio.AbortError:
                raise
            except Exception as exc:  # noqa: BLE001 (unknown errors become INTERNAL)
                await scope.fail(context, exc)
            finally:
                scope.end()

        return unary

    def _stream(self, method: str, behavior: StreamBehavior) -> StreamBehavior:
        active = metrics.GRPC_ACTIVE_STREAMS.labels(self.service, method)
        subscribing = method.endswith(("/Subscribe", "/SubscribeShared"))
        subscribers = metrics.PUBSUB_SUBSCRIBERS.labels(self.service) if subscribing else None

        async def stream(request: Any, context: grpc.aio.ServicerContext[Any, Any]) -> AsyncIterator[Any]:
            scope = _CallScope(self, method)
            active.inc()
            if subscribers is not None:
                subscribers.inc()
            try:
                await scope.begin(context)
                async for response in behavior(request, context):
                    yield response
            except asyncio.CancelledError:
                scope.cancelled(context)
                raise
            except grpc.aio.AbortError:
                raise
            except Exception as exc:  # noqa: BLE001 (unknown errors become INTERNAL)
                await scope.fail(context, exc)
            finally:
                active.dec()
                if subscribers is not None:
                    subscribers.dec()
                scope.end()

        return stream


def outgoing_timeout(timeout: float | None) -> float | None:
    """A call's timeout, capped by the time left of the request it serves (``deadline_var``).

    Raises DeadlineExceeded when that request has no time left: the call is not made at all.
    """
    deadline = deadline_var.get()
    if deadline is None:
        return timeout
    remaining = deadline - time.monotonic()
    if remaining <= 0:
        raise DeadlineExceeded("the request ran out of time before this call")
    return remaining if timeout is None else min(timeout, remaining)


def _call_details(details: grpc.aio.ClientCallDetails) -> grpc.aio.ClientCallDetails:
    """The call's details with its timeout capped by the time left and the trace context added."""
    timeout = outgoing_timeout(details.timeout)
    extra = tracing.trace_metadata()
    if not extra and timeout == details.timeout:
        return details
    metadata = details.metadata
    if extra:
        metadata = grpc.aio.Metadata(*(metadata or ()), *extra)
    return grpc.aio.ClientCallDetails(
        method=details.method,
        timeout=timeout,
        metadata=metadata,
        credentials=details.credentials,
        wait_for_ready=details.wait_for_ready,
    )


class OutgoingCallInterceptor(
    grpc.aio.UnaryUnaryClientInterceptor,  # type: ignore[type-arg]
    grpc.aio.UnaryStreamClientInterceptor,  # type: ignore[type-arg]
):
    """Deadline and trace context for every call to a peer (see the module's docstring)."""

    async def intercept_unary_unary(
        self,
        continuation: Callable[[grpc.aio.ClientCallDetails, Any], Any],
        client_call_details: grpc.aio.ClientCallDetails,
        request: Any,
    ) -> Any:
        return await continuation(_call_details(client_call_details), request)

    async def intercept_unary_stream(
        self,
        continuation: Callable[[grpc.aio.ClientCallDetails, Any], Any],
        client_call_details: grpc.aio.ClientCallDetails,
        request: Any,
    ) -> Any:
        return await continuation(_call_details(client_call_details), request)


class _GuardedServicer:
    """A servicer whose coroutine (unary) and async-generator (streaming) methods run inside the
    guard. Methods the servicer does not implement (the generated base's UNIMPLEMENTED stubs) are
    passed through as they are."""

    def __init__(self, interceptor: ServiceInterceptor, servicer: object, full_name: str) -> None:
        self._interceptor = interceptor
        self._servicer = servicer
        self._full_name = full_name

    def __getattr__(self, name: str) -> Any:
        attribute = getattr(self._servicer, name)
        method = f"/{self._full_name}/{name}"
        if inspect.isasyncgenfunction(attribute):
            wrapped: Any = self._interceptor._stream(method, attribute)
        elif inspect.iscoroutinefunction(attribute):
            wrapped = self._interceptor._unary(method, attribute)
        else:
            return attribute
        setattr(self, name, wrapped)  # registration reads each method once; keep it anyway
        return wrapped
