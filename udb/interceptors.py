"""The per-call guard every gRPC service runs.

It does, in this order (outermost first): request id, access log, caller authentication,
exception to status. The four steps live in one wrapper rather than four interceptors because
each grpc.aio interceptor layer costs a coroutine and a handler rebuild on every call, and the
engine services' hot paths are measured against the raw drivers. For the same reason
:meth:`ServiceInterceptor.guard` applies the wrapper to a servicer's methods once, at
registration, so grpc.aio runs no interceptor machinery per call at all (about a fifth of a
no-op call's cost); used as a grpc.aio interceptor the class does the same work per call.
"""

from __future__ import annotations

import inspect
import itertools
import logging
import os
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any, cast

import grpc

from udb.auth import TokenVerifier, bearer_token, principal_var
from udb.errors import DatabaseError, Internal, trailing_metadata_of
from udb.logs import request_id_var

log = logging.getLogger("udb.access")

#: Methods callable without a token: health checks and reflection (for grpcurl and probes).
OPEN_METHOD_PREFIXES = (
    "/grpc.health.v1.Health/",
    "/grpc.reflection.v1alpha.ServerReflection/",
    "/grpc.reflection.v1.ServerReflection/",
)

#: Request ids made here: a per-process prefix and a counter (unique, and no syscall per call).
_REQUEST_ID_PREFIX = os.urandom(6).hex()
_request_numbers = itertools.count(1)

UnaryBehavior = Callable[[Any, grpc.aio.ServicerContext[Any, Any]], Awaitable[Any]]
StreamBehavior = Callable[[Any, grpc.aio.ServicerContext[Any, Any]], AsyncIterator[Any]]


class _CallScope:
    """The per-call work around a handler: ids, the caller, the outcome and the log line."""

    __slots__ = ("_interceptor", "code", "method", "request_id", "started", "user")

    def __init__(self, interceptor: ServiceInterceptor, method: str) -> None:
        self._interceptor = interceptor
        self.method = method
        self.code = grpc.StatusCode.OK
        self.started = time.perf_counter()
        self.request_id = ""
        self.user = ""

    async def begin(self, context: grpc.aio.ServicerContext[Any, Any]) -> None:
        authorization = None
        for key, value in context.invocation_metadata() or ():
            if key == "authorization":
                authorization = value
            elif key == "x-request-id":
                self.request_id = str(value)[:128]
        if not self.request_id:
            self.request_id = f"{_REQUEST_ID_PREFIX}{next(_request_numbers):x}"
        request_id_var.set(self.request_id)
        token = bearer_token(authorization if isinstance(authorization, str) else None)
        verifier = self._interceptor.verifier
        principal = verifier.cached(token) or await verifier.verify(token)
        self.user = principal.subject
        principal_var.set(principal)

    async def fail(self, context: grpc.aio.ServicerContext[Any, Any], exc: Exception) -> None:
        error = exc if isinstance(exc, DatabaseError) else Internal()
        if not isinstance(exc, DatabaseError):
            log.exception("unhandled error in %s", self.method)
        self.code = error.grpc_code
        await context.abort(error.grpc_code, error.message, trailing_metadata=trailing_metadata_of(error))

    def end(self) -> None:
        if self._interceptor.access_log and log.isEnabledFor(logging.INFO):
            log.info(
                "rpc",
                extra={
                    "method": self.method,
                    "code": self.code.name,
                    "duration_ms": round((time.perf_counter() - self.started) * 1000, 3),
                    "user": self.user,
                    "request_id": self.request_id,
                },
            )


class ServiceInterceptor(grpc.aio.ServerInterceptor):  # type: ignore[type-arg]
    """Request id, access log, authentication and error mapping for every protected RPC."""

    def __init__(self, verifier: TokenVerifier, *, access_log: bool = True) -> None:
        self.verifier = verifier
        self.access_log = access_log
        self._handlers: dict[str, grpc.RpcMethodHandler[Any, Any]] = {}

    async def intercept_service(
        self,
        continuation: Callable[[grpc.HandlerCallDetails], Awaitable[grpc.RpcMethodHandler[Any, Any]]],
        handler_call_details: grpc.HandlerCallDetails,
    ) -> grpc.RpcMethodHandler[Any, Any]:
        method: str = handler_call_details.method
        wrapped = self._handlers.get(method)
        if wrapped is not None:
            return wrapped
        handler = await continuation(handler_call_details)
        if handler is None or method.startswith(OPEN_METHOD_PREFIXES):
            return handler
        wrapped = self._wrap(method, handler)
        # A method's handler never changes after start, so it is wrapped once.
        self._handlers[method] = wrapped
        return wrapped

    def guard(self, servicer: object, full_name: str) -> object:
        """The servicer with every implemented RPC wrapped, for ``add_*Servicer_to_server``."""
        return _GuardedServicer(self, servicer, full_name)

    def _wrap(self, method: str, handler: grpc.RpcMethodHandler[Any, Any]) -> grpc.RpcMethodHandler[Any, Any]:
        if handler.unary_unary is not None:
            return grpc.unary_unary_rpc_method_handler(
                self._unary(method, cast(UnaryBehavior, handler.unary_unary)),
                request_deserializer=handler.request_deserializer,
                response_serializer=handler.response_serializer,
            )
        if handler.unary_stream is not None:
            return grpc.unary_stream_rpc_method_handler(
                self._stream(method, cast(StreamBehavior, handler.unary_stream)),
                request_deserializer=handler.request_deserializer,
                response_serializer=handler.response_serializer,
            )
        raise TypeError(f"{method}: client-streaming RPCs are not part of this API")

    def _unary(self, method: str, behavior: UnaryBehavior) -> UnaryBehavior:
        async def unary(request: Any, context: grpc.aio.ServicerContext[Any, Any]) -> Any:
            scope = _CallScope(self, method)
            try:
                await scope.begin(context)
                return await behavior(request, context)
            except grpc.aio.AbortError:
                raise
            except Exception as exc:  # noqa: BLE001 (unknown errors become INTERNAL)
                await scope.fail(context, exc)
            finally:
                scope.end()

        return unary

    def _stream(self, method: str, behavior: StreamBehavior) -> StreamBehavior:
        async def stream(request: Any, context: grpc.aio.ServicerContext[Any, Any]) -> AsyncIterator[Any]:
            scope = _CallScope(self, method)
            try:
                await scope.begin(context)
                async for response in behavior(request, context):
                    yield response
            except grpc.aio.AbortError:
                raise
            except Exception as exc:  # noqa: BLE001 (unknown errors become INTERNAL)
                await scope.fail(context, exc)
            finally:
                scope.end()

        return stream


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
