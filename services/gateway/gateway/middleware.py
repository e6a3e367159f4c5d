"""What every request to the gateway goes through, before and after its route.

Outermost first:

- :class:`EdgeMiddleware`: the request id (``x-request-id`` taken or made, set for logs and gRPC
  metadata, echoed in the reply), the trace context, the access log line and the HTTP metrics.
- CORS for the console's origin (Starlette's middleware), and gzip for large replies
  (:mod:`gateway.compression`).
- :class:`GuardMiddleware`: the route class (read, write or admin: :data:`ROUTE_CLASSES`), the
  per-user token-bucket rate limit (429 with ``Retry-After``), the body size limit (413), the
  deadline of the route class (504, and every gRPC call gets at most the time left), and the audit
  event of every write and admin action, recorded after the route has answered.

They are plain ASGI middleware (no ``BaseHTTPMiddleware``): nothing is buffered and no task is
spawned, so WebSockets and streamed replies pass through untouched.
"""

from __future__ import annotations

import asyncio
import enum
import logging
import math
import os
import re
import time
from collections import OrderedDict
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qs

import orjson
from opentelemetry import context as otel_context
from opentelemetry import trace
from starlette.routing import BaseRoute
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from gateway.audit import BODY_TARGETS, AuditLog, describe, outcome_of, timestamp_ns
from gateway.backends import PRINCIPAL_KEY
from gateway.clientaddr import CLIENT_KEY, ClientAddress
from gateway.errors import error_response
from gateway.settings import RateLimit, Settings
from udb import metrics, tracing
from udb.auth import Principal, bearer_token
from udb.errors import DatabaseError, DeadlineExceeded, PayloadTooLarge, RateLimited
from udb.interceptors import deadline_var
from udb.logs import request_id_var
from udb.registry.v1 import registry_pb2

log = logging.getLogger("gateway.access")

BASE_PATH = "/api/platform"

#: Where GuardMiddleware leaves the request's class for the HTTP metrics (``other`` when unset).
ROUTE_CLASS_KEY = "udb.route_class"
#: The metrics' class of a WebSocket session (its rate limit and deadline are a read's).
STREAM_CLASS = "stream"

_REQUEST_ID = re.compile(r"[A-Za-z0-9._:/+=@-]{1,128}")


class RouteClass(enum.StrEnum):
    """What a request does, for its rate limit, its deadline and whether it is audited."""

    READ = "read"
    WRITE = "write"
    ADMIN = "admin"


@dataclass(frozen=True, slots=True)
class RouteRule:
    methods: frozenset[str]
    pattern: re.Pattern[str]
    route_class: RouteClass


def rule(methods: str, path: str, route_class: RouteClass) -> RouteRule:
    """A rule for ``methods`` (space-separated) on a path in API.md's notation (``[ref]`` is one segment)."""
    regex = re.sub(r"\\\[[a-z_]+\\\]", "[^/]+", re.escape(path))
    return RouteRule(frozenset(methods.split()), re.compile(f"^{regex}$"), route_class)


#: The routes whose class is not what their method says (API.md's admin and owner actions, and
#: reads sent as POST). Every other GET (and HEAD, and WebSocket) is a read and every other
#: method a write. Writes and admin actions are audited.
ROUTE_CLASSES: tuple[RouteRule, ...] = (
    rule("POST", "/organizations", RouteClass.ADMIN),
    rule("POST", "/projects", RouteClass.ADMIN),
    rule("POST PUT DELETE", "/projects/[ref]/members", RouteClass.ADMIN),
    rule("POST PUT DELETE", "/projects/[ref]/members/[user_id]", RouteClass.ADMIN),
    rule("GET", "/projects/[ref]/audit", RouteClass.ADMIN),
    rule("POST", "/[engine]/[ref]/connections", RouteClass.ADMIN),
    rule("PUT DELETE", "/[engine]/[ref]/connections/[id]", RouteClass.ADMIN),
    rule("POST", "/[engine]/[ref]/connections/[id]/test", RouteClass.ADMIN),
    rule("DELETE", "/mongodb/[ref]/databases/[db]/collections/[coll]", RouteClass.ADMIN),
    rule("DELETE", "/mongodb/[ref]/databases/[db]/collections/[coll]/indexes/[name]", RouteClass.ADMIN),
    rule("GET", "/redis/[ref]/clients", RouteClass.ADMIN),
    rule("DELETE", "/redis/[ref]/slowlog", RouteClass.ADMIN),
    # Reads sent as POST (their query is a body): never a write, so not audited and limited as reads.
    rule("POST", "/mongodb/[ref]/action/findOne", RouteClass.READ),
    rule("POST", "/mongodb/[ref]/action/find", RouteClass.READ),
    rule("POST", "/mongodb/[ref]/databases/[db]/collections/[coll]/explain", RouteClass.READ),
)

_READ_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})

#: The rules of each method, in their order (a GET tries one pattern, not all of them).
_RULES_BY_METHOD: dict[str, tuple[RouteRule, ...]] = {
    method: tuple(rule for rule in ROUTE_CLASSES if method in rule.methods)
    for method in {method for rule in ROUTE_CLASSES for method in rule.methods}
}


def classify(method: str, path: str) -> RouteClass:
    """The class of a request to ``path`` (relative to the API's base path)."""
    for candidate in _RULES_BY_METHOD.get(method, ()):
        if candidate.pattern.match(path):
            return candidate.route_class
    return RouteClass.READ if method in _READ_METHODS else RouteClass.WRITE


def route_template(scope: Scope) -> str:
    """The matched route's path template (``/api/platform/redis/{ref}/keys``), or ``unmatched``."""
    route = scope.get("route")
    path = getattr(route, "path", None)
    if path is None:
        return "unmatched"
    return str(scope.get("root_path", "")) + str(path)


def clean_request_id(raw: bytes | str) -> str:
    """A caller's request id when it is a sane token (at most 128 safe characters), else ""."""
    text = raw.decode("latin-1") if isinstance(raw, bytes) else raw
    return text if _REQUEST_ID.fullmatch(text) else ""


class RateLimiter:
    """Token buckets per (route class, caller). ``take`` answers how long to wait, 0 when allowed."""

    def __init__(
        self,
        limits: Mapping[RouteClass, RateLimit],
        *,
        max_callers: int = 100_000,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._limits = dict(limits)
        self._max_callers = max_callers
        self._clock = clock
        # (tokens, when counted), least recently used first: a forgotten caller starts full again.
        self._buckets: OrderedDict[tuple[RouteClass, str], tuple[float, float]] = OrderedDict()

    def take(self, route_class: RouteClass, caller: str) -> float:
        limit = self._limits.get(route_class)
        if limit is None or limit.per_s <= 0:
            return 0.0
        key = (route_class, caller)
        now = self._clock()
        tokens, counted = self._buckets.pop(key, (limit.burst, now))
        tokens = min(limit.burst, tokens + (now - counted) * limit.per_s)
        allowed = tokens >= 1.0
        self._buckets[key] = (tokens - 1.0 if allowed else tokens, now)
        if len(self._buckets) > self._max_callers:
            self._buckets.popitem(last=False)
        return 0.0 if allowed else (1.0 - tokens) / limit.per_s


def rate_limits(settings: Settings) -> dict[RouteClass, RateLimit]:
    """The token buckets' limits by route class (none when rate limits are off)."""
    if not settings.rate_limits_enabled:
        return {}
    return {
        RouteClass.READ: settings.read_rate_limit,
        RouteClass.WRITE: settings.write_rate_limit,
        RouteClass.ADMIN: settings.admin_rate_limit,
    }


async def _deny(scope: Scope, receive: Receive, send: Send, error: DatabaseError) -> None:
    """Answers with the API's error, on HTTP and on a WebSocket handshake alike."""
    if scope["type"] == "websocket" and "websocket.http.response" not in scope.get("extensions", {}):
        # A server without the denial-response extension can only refuse the handshake, with a
        # reason of at most 123 bytes: the message, as the error bodies' top-level one.
        reason = error.message.encode()[:123].decode(errors="ignore")
        await send({"type": "websocket.close", "code": 1008, "reason": reason})
        return
    await error_response(error, scope.get("path", ""))(scope, receive, send)


class EdgeMiddleware:
    """Request id, trace context, access log and HTTP metrics (see the module's docstring)."""

    def __init__(self, app: ASGIApp, *, access_log: bool = True, client_address: ClientAddress | None = None) -> None:
        self.app = app
        self.access_log = access_log
        self._exporting = tracing.exporting()
        # The metrics' children by their labels: labels() takes a lock and builds a key each time.
        self._counters: dict[tuple[str, str, str, str], Any] = {}
        self._histograms: dict[tuple[str, str, str], Any] = {}
        self.client_address = client_address or ClientAddress(("127.0.0.1", "::1"))

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        request_id = ""
        trace_headers: list[tuple[str, bytes]] = []
        for key, value in scope["headers"]:
            if key == b"x-request-id":
                request_id = clean_request_id(value)
            elif key in (b"traceparent", b"tracestate"):
                trace_headers.append((key.decode("latin-1"), value))
        request_id = request_id or os.urandom(16).hex()
        # The real client (behind Envoy: the address it appended to X-Forwarded-For), for the
        # access log and the per-address rate limit.
        client = scope[CLIENT_KEY] = self.client_address(scope)
        request_id_token = request_id_var.set(request_id)
        method = scope.get("method", "GET") if scope["type"] == "http" else "WEBSOCKET"
        # Without an exporter and without a caller's trace there is no trace to carry on: no span.
        span: trace.Span = trace.INVALID_SPAN
        otel_token = None
        if self._exporting or trace_headers:
            parent = tracing.extract(trace_headers) if trace_headers else None
            span = tracing.tracer.start_span(f"HTTP {method}", context=parent, kind=trace.SpanKind.SERVER)
            otel_token = otel_context.attach(trace.set_span_in_context(span, parent))
        status = 0
        websocket_gauge: Any = None
        encoded_id = request_id.encode("latin-1")

        async def send_with_id(message: Message) -> None:
            nonlocal status, websocket_gauge
            kind = message["type"]
            if kind in ("http.response.start", "websocket.http.response.start"):
                status = message["status"]
                headers = message.get("headers")
                if isinstance(headers, list):
                    headers.append((b"x-request-id", encoded_id))
                else:
                    message["headers"] = [*(headers or ()), (b"x-request-id", encoded_id)]
            elif kind == "websocket.accept":
                status = 101
                message["headers"] = [*message.get("headers", ()), (b"x-request-id", encoded_id)]
                websocket_gauge = metrics.HTTP_ACTIVE_WEBSOCKETS.labels(route_template(scope))
                websocket_gauge.inc()
            elif kind == "websocket.close" and not status:
                status = 403
            await send(message)

        started = time.perf_counter()
        try:
            await self.app(scope, receive, send_with_id)
        except BaseException:
            status = status or 500
            raise
        finally:
            duration = time.perf_counter() - started
            if websocket_gauge is not None:
                websocket_gauge.dec()
            template = route_template(scope)
            self._record(template, method, status, scope.get(ROUTE_CLASS_KEY, "other"), duration)
            span_context = span.get_span_context()
            if span.is_recording():
                span.update_name(f"{method} {template}")
                span.set_attribute("http.route", template)
                span.set_attribute("http.response.status_code", status)
                span.end()
            if self.access_log:
                principal: Principal | None = scope.get(PRINCIPAL_KEY)
                extra: dict[str, Any] = {
                    "method": method,
                    # The path only: a WebSocket's query string may hold its access token.
                    "path": scope["path"],
                    "route": template,
                    "status": status,
                    "duration_ms": round(duration * 1000, 3),
                    "user": principal.subject if principal is not None else "",
                    "client": client,
                    "request_id": request_id,
                }
                if span_context.is_valid:
                    extra["trace_id"] = format(span_context.trace_id, "032x")
                log.info("http", extra=extra)
            if otel_token is not None:
                otel_context.detach(otel_token)
            request_id_var.reset(request_id_token)

    def _record(self, template: str, method: str, status: int, route_class: str, duration: float) -> None:
        """Counts the request and its duration (``udb_http_requests``, ``udb_http_request_duration_seconds``)."""
        counter_key = (template, method, str(status), route_class)
        counter = self._counters.get(counter_key)
        if counter is None:
            counter = self._counters[counter_key] = metrics.HTTP_REQUESTS.labels(*counter_key)
        counter.inc()
        histogram_key = (template, method, route_class)
        histogram = self._histograms.get(histogram_key)
        if histogram is None:
            histogram = self._histograms[histogram_key] = metrics.HTTP_LATENCY.labels(*histogram_key)
        histogram.observe(duration)


class GuardMiddleware:
    """Route class, rate limit, body limit, deadline and audit (see the module's docstring)."""

    def __init__(
        self,
        app: ASGIApp,
        *,
        settings: Settings,
        audit: Callable[[], AuditLog | None] = lambda: None,
        audited_by_service: Collection[BaseRoute] = (),
        clock: Callable[[], float] = time.monotonic,
        limiter: RateLimiter | None = None,
    ) -> None:
        self.app = app
        self.settings = settings
        self._audit = audit
        # Routes whose service records its own changes, in the change's transaction (the registry's
        # platform and connection routes): the gateway adds only the attempts that were refused or
        # failed, so each attempt has exactly one row, and direct gRPC callers' changes are covered.
        self._audited_by_service = frozenset(id(route) for route in audited_by_service)
        # The app's limiter when its buckets are shared with other gateways (gateway.ratelimit_sync).
        self.limiter = limiter or RateLimiter(rate_limits(settings), clock=clock)
        self.deadlines = {
            RouteClass.READ: settings.read_deadline_s,
            RouteClass.WRITE: settings.write_deadline_s,
            RouteClass.ADMIN: settings.admin_deadline_s,
        }

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path: str = scope.get("path", "")
        if scope["type"] not in ("http", "websocket") or not path.startswith(BASE_PATH + "/"):
            await self.app(scope, receive, send)
            return
        method = scope["method"] if scope["type"] == "http" else "GET"
        route_class = classify(method, path[len(BASE_PATH) :])
        scope[ROUTE_CLASS_KEY] = route_class.value if scope["type"] == "http" else STREAM_CLASS
        principal = await self._principal(scope)
        if principal is not None:
            scope[PRINCIPAL_KEY] = principal
        caller = principal.subject if principal is not None else f"ip:{scope.get(CLIENT_KEY) or '-'}"
        wait_s = self.limiter.take(route_class, caller)
        if wait_s > 0:
            metrics.HTTP_RATE_LIMITED.labels(route_class.value).inc()
            retry_after = max(1, math.ceil(wait_s))
            await _deny(
                scope,
                receive,
                send,
                RateLimited(
                    f"too many {route_class.value} requests: try again in {retry_after}s",
                    details={"retry_after": retry_after, "route_class": route_class.value},
                ),
            )
            return
        if scope["type"] == "websocket":
            await self.app(scope, receive, send)
            return
        max_body = self.settings.max_body_bytes
        for key, value in scope["headers"]:
            if key == b"content-length" and value.isdigit() and int(value) > max_body:
                await _deny(scope, receive, send, PayloadTooLarge(f"the body is over {max_body} bytes"))
                return
        audited = principal is not None and route_class is not RouteClass.READ
        body = _BodyLimit(receive, max_body, keep=audited)
        status = 0

        async def send_status(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                # The reply has begun: the deadline no longer applies to streaming it out.
                deadline.reschedule(None)
            await send(message)

        started_ns = time.time_ns()
        budget = self.deadlines[route_class]
        deadline = asyncio.timeout(budget)
        deadline_token = deadline_var.set(time.monotonic() + budget)
        try:
            async with deadline:
                await self.app(scope, body.receive, send_status)
        except TimeoutError:
            if not deadline.expired() or status:
                raise
            status = 504
            await _deny(
                scope,
                receive,
                send,
                DeadlineExceeded(f"the {route_class.value} did not finish within {budget:g}s"),
            )
        except BaseException:
            status = status or 500
            raise
        finally:
            deadline_var.reset(deadline_token)
            if audited and principal is not None and status not in (0, 405) and "route" in scope:
                self._record(scope, method, principal, status, started_ns, body)

    async def _principal(self, scope: Scope) -> Principal | None:
        """The caller, when the request carries a good token (the route itself answers 401)."""
        backends = getattr(scope["app"].state, "backends", None)
        if backends is None:
            return None
        header = None
        for key, value in scope["headers"]:
            if key == b"authorization":
                header = value.decode("latin-1")
                break
        try:
            if header is None and scope["type"] == "websocket":
                token = parse_qs(scope.get("query_string", b"").decode("latin-1")).get("access_token", [""])[0]
            else:
                token = bearer_token(header)
            if not token:
                return None
            principal: Principal = backends.verifier.cached(token) or await backends.verifier.verify(token)
        except DatabaseError:
            return None
        return principal

    def _record(
        self, scope: Scope, method: str, principal: Principal, status: int, started_ns: int, body: _BodyLimit
    ) -> None:
        audit = self._audit()
        if audit is None or (status < 400 and id(scope["route"]) in self._audited_by_service):
            return
        template = str(getattr(scope["route"], "path", ""))
        params: Mapping[str, Any] = scope.get("path_params", {})
        engine, operation, target = describe(method, template, params)
        project_ref = str(params.get("ref", ""))
        target_of = BODY_TARGETS.get(operation)
        if target_of is not None:
            named = target_of(body.json_document())
            if named:
                target = named
                if operation == "project.create":
                    project_ref = named
        query_string: bytes = scope.get("query_string", b"")
        connection_id = parse_qs(query_string.decode("latin-1")).get("connection", [""])[0] if query_string else ""
        if not connection_id and "/connections/{" in template:
            connection_id = str(params.get("id", ""))
        audit.record(
            registry_pb2.AuditEvent(
                user_id=principal.subject,
                project_ref=project_ref,
                engine=engine,
                connection_id=connection_id,
                operation=operation,
                target=target,
                outcome=outcome_of(status),
                request_id=request_id_var.get(),
                time=timestamp_ns(started_ns),
            )
        )


class _BodyLimit:
    """The request's ``receive``, refusing a body past the limit (413) and keeping the first bytes
    of an audited one, for the name of what it creates."""

    KEEP_BYTES = 64 * 1024

    def __init__(self, receive: Receive, max_bytes: int, *, keep: bool) -> None:
        self._receive = receive
        self._max = max_bytes
        self._keep = keep
        self._size = 0
        self._chunks: list[bytes] = []
        self._complete = False

    async def receive(self) -> Message:
        message = await self._receive()
        if message["type"] == "http.request":
            chunk: bytes = message.get("body", b"")
            self._size += len(chunk)
            if self._size > self._max:
                raise PayloadTooLarge(f"the body is over {self._max} bytes")
            if self._keep and self._size <= self.KEEP_BYTES:
                self._chunks.append(chunk)
                self._complete = not message.get("more_body", False)
        return message

    def json_document(self) -> Any:
        """The JSON body, when it was read whole and small (None otherwise)."""
        if not self._complete:
            return None
        try:
            return orjson.loads(b"".join(self._chunks))
        except orjson.JSONDecodeError:
            return None
