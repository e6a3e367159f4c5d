"""The edge's pure logic: route classes, token buckets, audit descriptions and the audit writer,
request ids, deadline capping, and the guard middleware on a tiny in-memory app (no sockets)."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Sequence

import grpc
import httpx
import pytest
from gateway.audit import BODY_TARGETS, AuditLog, describe, outcome_of
from gateway.errors import error_response
from gateway.middleware import GuardMiddleware, RateLimiter, RouteClass, classify, clean_request_id
from gateway.settings import DEFAULT_READ_LIMIT, RateLimit, Settings
from prometheus_client import REGISTRY
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from udb.config import AuthSettings, Env, Secret
from udb.errors import DatabaseError, DeadlineExceeded
from udb.interceptors import _call_details, deadline_var
from udb.pool import PoolManager
from udb.registry.v1 import registry_pb2


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


# ---- route classes -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("method", "path", "expected"),
    [
        ("GET", "/redis/shop/keys", RouteClass.READ),
        ("GET", "/projects", RouteClass.READ),
        ("POST", "/redis/shop/keys/a", RouteClass.WRITE),
        ("POST", "/pg-meta/shop/query", RouteClass.WRITE),
        ("DELETE", "/mongodb/shop/databases/db/collections/c/documents/1", RouteClass.WRITE),
        ("POST", "/mongodb/shop/databases/db/collections", RouteClass.WRITE),
        ("DELETE", "/mongodb/shop/databases/db/collections/c", RouteClass.ADMIN),
        ("DELETE", "/mongodb/shop/databases/db/collections/c/indexes/i", RouteClass.ADMIN),
        ("POST", "/redis/shop/connections", RouteClass.ADMIN),
        ("GET", "/redis/shop/connections", RouteClass.READ),
        ("PUT", "/pg-meta/shop/connections/abc", RouteClass.ADMIN),
        ("POST", "/mongodb/shop/connections/abc/test", RouteClass.ADMIN),
        ("POST", "/projects/shop/members", RouteClass.ADMIN),
        ("GET", "/projects/shop/members", RouteClass.READ),
        ("DELETE", "/projects/shop/members/u1", RouteClass.ADMIN),
        ("GET", "/projects/shop/audit", RouteClass.ADMIN),
        ("POST", "/organizations", RouteClass.ADMIN),
        ("POST", "/mongodb/shop/action/find", RouteClass.READ),
        ("POST", "/mongodb/shop/action/findOne", RouteClass.READ),
        ("POST", "/mongodb/shop/action/aggregate", RouteClass.WRITE),
        ("POST", "/mongodb/shop/action/insertOne", RouteClass.WRITE),
        ("POST", "/mongodb/shop/databases/db/collections/c/explain", RouteClass.READ),
    ],
)
def test_route_classes_follow_the_table(method: str, path: str, expected: RouteClass) -> None:
    """Reads by method, writes by method, and API.md's admin and owner actions as admin."""
    assert classify(method, path) is expected


# ---- token buckets -------------------------------------------------------------------------


def test_token_bucket_allows_the_burst_then_refills_at_the_rate() -> None:
    """A caller spends the burst at once, then gets one request per 1/rate seconds; the wait is exact."""
    clock = Clock()
    limiter = RateLimiter({RouteClass.READ: RateLimit(per_s=2.0, burst=3.0)}, clock=clock)
    assert [limiter.take(RouteClass.READ, "u") for _ in range(3)] == [0.0, 0.0, 0.0]
    assert limiter.take(RouteClass.READ, "u") == pytest.approx(0.5)
    clock.now += 0.5
    assert limiter.take(RouteClass.READ, "u") == 0.0
    assert limiter.take(RouteClass.READ, "u") == pytest.approx(0.5)
    clock.now += 100
    assert [limiter.take(RouteClass.READ, "u") for _ in range(3)] == [0.0, 0.0, 0.0]


def test_token_buckets_are_per_caller_and_class_and_unlimited_classes_pass() -> None:
    """Another caller, or a class without a limit, is not affected by a spent bucket."""
    limiter = RateLimiter({RouteClass.READ: RateLimit(per_s=1.0, burst=1.0)}, clock=Clock())
    assert limiter.take(RouteClass.READ, "a") == 0.0
    assert limiter.take(RouteClass.READ, "a") > 0
    assert limiter.take(RouteClass.READ, "b") == 0.0
    assert all(limiter.take(RouteClass.WRITE, "a") == 0.0 for _ in range(100))


def test_token_buckets_forget_the_least_recent_callers_past_the_cap() -> None:
    """Memory is bounded: past max_callers the oldest bucket goes (and that caller starts full)."""
    limiter = RateLimiter({RouteClass.READ: RateLimit(per_s=0.001, burst=1.0)}, max_callers=2, clock=Clock())
    for caller in ("a", "b", "c"):
        assert limiter.take(RouteClass.READ, caller) == 0.0
    assert limiter.take(RouteClass.READ, "c") > 0
    assert limiter.take(RouteClass.READ, "a") == 0.0


def test_rate_limit_settings_are_read_per_class() -> None:
    """RATE_LIMIT_<CLASS>_PER_S and _BURST configure each class; a bad value names the variable."""
    env = {"JWT_SECRET": "s", "RATE_LIMIT_WRITE_PER_S": "3", "RATE_LIMIT_WRITE_BURST": "9"}
    settings = Settings.from_env(Env(environ=env, env_file=None))
    assert settings.write_rate_limit == RateLimit(3.0, 9.0)
    assert settings.read_rate_limit == DEFAULT_READ_LIMIT
    from udb.config import ConfigError

    with pytest.raises(ConfigError, match="RATE_LIMIT_ADMIN"):
        Settings.from_env(Env(environ={**env, "RATE_LIMIT_ADMIN_BURST": "0"}, env_file=None))


# ---- audit descriptions ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("method", "template", "params", "expected"),
    [
        ("POST", "/redis/{ref}/keys/{key}", {"ref": "r", "key": "user:1"}, ("redis", "key.create", "user:1")),
        ("PUT", "/redis/{ref}/keys/{key}", {"ref": "r", "key": "k"}, ("redis", "key.update", "k")),
        ("DELETE", "/redis/{ref}/keys/{key}", {"ref": "r", "key": "k"}, ("redis", "key.delete", "k")),
        ("POST", "/redis/{ref}/keys/{key}/expire", {"ref": "r", "key": "k"}, ("redis", "key.expire", "k")),
        ("POST", "/redis/{ref}/pubsub/publish", {"ref": "r"}, ("redis", "pubsub.publish", "")),
        (
            "POST",
            "/mongodb/{ref}/databases/{db}/collections/{coll}/documents",
            {"ref": "r", "db": "shop", "coll": "orders"},
            ("mongodb", "document.create", "shop.orders"),
        ),
        (
            "PUT",
            "/mongodb/{ref}/databases/{db}/collections/{coll}/documents/{id}",
            {"ref": "r", "db": "d", "coll": "c", "id": "1"},
            ("mongodb", "document.update", "d.c.1"),
        ),
        (
            "DELETE",
            "/mongodb/{ref}/databases/{db}/collections/{coll}",
            {"ref": "r", "db": "d", "coll": "c"},
            ("mongodb", "collection.delete", "d.c"),
        ),
        (
            "POST",
            "/mongodb/{ref}/databases/{db}/collections/{coll}/indexes",
            {"ref": "r", "db": "d", "coll": "c"},
            ("mongodb", "index.create", "d.c"),
        ),
        (
            "DELETE",
            "/mongodb/{ref}/databases/{db}/collections/{coll}/indexes/{name}",
            {"ref": "r", "db": "d", "coll": "c", "name": "a_1"},
            ("mongodb", "index.delete", "d.c.a_1"),
        ),
        (
            "POST",
            "/mongodb/{ref}/databases/{db}/collections/{coll}/aggregate",
            {"ref": "r", "db": "d", "coll": "c"},
            ("mongodb", "collection.aggregate", "d.c"),
        ),
        ("POST", "/pg-meta/{ref}/query", {"ref": "r"}, ("postgres", "sql.query", "")),
        (
            "POST",
            "/{engine}/{ref}/connections",
            {"engine": "pg-meta", "ref": "r"},
            ("postgres", "connection.create", ""),
        ),
        (
            "POST",
            "/{engine}/{ref}/connections/{id}/test",
            {"engine": "redis", "ref": "r", "id": "c1"},
            ("redis", "connection.test", "c1"),
        ),
        ("POST", "/projects/{ref}/members", {"ref": "r"}, ("platform", "member.add", "")),
        (
            "DELETE",
            "/projects/{ref}/members/{user_id}",
            {"ref": "r", "user_id": "u"},
            ("platform", "member.remove", "u"),
        ),
        ("POST", "/organizations", {}, ("platform", "organization.create", "")),
        ("GET", "/projects/{ref}/audit", {"ref": "r"}, ("platform", "audit.read", "")),
        ("POST", "/pg-meta/{ref}/tables", {"ref": "r"}, ("postgres", "table.create", "")),
        ("PATCH", "/pg-meta/{ref}/columns/{key}", {"ref": "r", "key": "1.2"}, ("postgres", "column.update", "1.2")),
        ("DELETE", "/pg-meta/{ref}/policies/{key}", {"ref": "r", "key": "7"}, ("postgres", "policy.delete", "7")),
        ("DELETE", "/pg-meta/{ref}/extensions/{key}", {"ref": "r", "key": "x"}, ("postgres", "extension.delete", "x")),
        ("POST", "/pg-meta/{ref}/column-privileges", {"ref": "r"}, ("postgres", "column_privilege.grant", "")),
        ("DELETE", "/pg-meta/{ref}/table-privileges", {"ref": "r"}, ("postgres", "table_privilege.revoke", "")),
    ],
)
def test_audit_events_are_described_from_the_route(
    method: str, template: str, params: dict[str, str], expected: tuple[str, str, str]
) -> None:
    """Engine, operation and target come from the route template and its parameters, for any route."""
    assert describe(method, template, params) == expected


def test_audit_targets_are_named_from_the_body_never_its_values() -> None:
    """A create's target is the name it makes (a table's schema.name, postgres-meta's default
    schema public), a grant's the relations or columns and grantees; a role's password is never
    read."""
    assert BODY_TARGETS["table.create"]({"name": "t", "comment": "c"}) == "public.t"
    assert BODY_TARGETS["policy.create"]({"schema": "s", "table": "t", "name": "p"}) == "s.t.p"
    assert BODY_TARGETS["column.create"]({"table_id": 5, "name": "c", "type": "int"}) == "5.c"
    assert BODY_TARGETS["role.create"]({"name": "r", "password": "secret"}) == "r"
    grants = [{"relation_id": 5, "grantee": "a"}, {"relation_id": 6, "grantee": "b"}]
    assert BODY_TARGETS["table_privilege.grant"](grants) == "5:a,6:b"
    assert BODY_TARGETS["table.create"]([1]) == BODY_TARGETS["table.create"]({"schema": "s"}) == ""
    assert BODY_TARGETS["member.add"]({"user_id": "u"}) == "u"


def test_outcomes_are_api_error_codes() -> None:
    """Success is "ok"; a failure is its API code by status."""
    assert [outcome_of(s) for s in (200, 201, 400, 403, 404, 409, 413, 429, 503, 504, 405)] == [
        "ok",
        "ok",
        "invalid_argument",
        "permission_denied",
        "not_found",
        "already_exists",
        "payload_too_large",
        "rate_limited",
        "unavailable",
        "deadline_exceeded",
        "http_405",
    ]


@pytest.mark.parametrize(
    ("raw", "expected"),
    [(b"abc-123", "abc-123"), (b"x" * 129, ""), (b"two words", ""), (b"a\nb", ""), (b"req:1/2+3=4@z", "req:1/2+3=4@z")],
)
def test_only_sane_request_ids_are_taken(raw: bytes, expected: str) -> None:
    """A caller's id is kept when short and plain (it lands in every log line), else replaced."""
    assert clean_request_id(raw) == expected


# ---- the audit writer ------------------------------------------------------------------------


def _counter(outcome: str) -> float:
    value = REGISTRY.get_sample_value("udb_audit_events_total", {"outcome": outcome})
    return value or 0.0


def _event(number: int) -> registry_pb2.AuditEvent:
    return registry_pb2.AuditEvent(user_id="u", project_ref="p", operation="key.create", target=str(number))


class Sink:
    def __init__(self) -> None:
        self.batches: list[list[str]] = []
        self.failing = False

    async def __call__(self, events: Sequence[registry_pb2.AuditEvent]) -> None:
        if self.failing:
            raise ConnectionError("registry down")
        self.batches.append([event.target for event in events])


async def test_audit_writer_writes_in_batches_in_order() -> None:
    """Queued events go out in batches of at most batch_size, oldest first, and are counted."""
    sink = Sink()
    audit = AuditLog(sink, batch_size=2, flush_interval_s=60)
    written = _counter("written")
    for number in range(5):
        audit.record(_event(number))
    assert await audit.flush()
    assert sink.batches == [["0", "1"], ["2", "3"], ["4"]]
    assert _counter("written") - written == 5
    assert len(audit) == 0


async def test_audit_writer_wakes_when_a_batch_fills_up() -> None:
    """A full batch is written without waiting for the interval."""
    sink = Sink()
    audit = AuditLog(sink, batch_size=3, flush_interval_s=60)
    await audit.start()
    try:
        for number in range(3):
            audit.record(_event(number))
        for _ in range(100):
            if sink.batches:
                break
            await asyncio.sleep(0.01)
        assert sink.batches == [["0", "1", "2"]]
    finally:
        await audit.close()


async def test_a_failed_write_is_logged_counted_and_retried(caplog: pytest.LogCaptureFixture) -> None:
    """When the registry fails the batch stays queued, the failure is logged and counted, and the
    next flush writes it."""
    sink = Sink()
    sink.failing = True
    audit = AuditLog(sink, batch_size=10, flush_interval_s=60)
    failed = _counter("failed")
    audit.record(_event(1))
    with caplog.at_level(logging.ERROR, logger="gateway.audit"):
        assert not await audit.flush()
    assert _counter("failed") - failed == 1
    assert any("not written" in r.getMessage() and r.error == "ConnectionError" for r in caplog.records)  # type: ignore[attr-defined]
    assert len(audit) == 1
    sink.failing = False
    assert await audit.flush()
    assert sink.batches == [["1"]]


async def test_events_given_up_on_are_logged_whole_and_counted(caplog: pytest.LogCaptureFixture) -> None:
    """A full queue drops its oldest event and a close that cannot write logs what is left: each one
    as an error line carrying the event, and counted as dropped."""
    sink = Sink()
    sink.failing = True
    audit = AuditLog(sink, batch_size=10, flush_interval_s=60, max_queue=2)
    dropped = _counter("dropped")
    with caplog.at_level(logging.ERROR, logger="gateway.audit"):
        for number in range(3):
            audit.record(_event(number))
        await audit.close(timeout_s=0.2)
    lost = [r.audit["target"] for r in caplog.records if r.getMessage().startswith("audit event dropped")]  # type: ignore[attr-defined]
    assert lost == ["0", "1", "2"]
    assert _counter("dropped") - dropped == 3


# ---- deadlines -------------------------------------------------------------------------------


def _details(timeout: float | None) -> grpc.aio.ClientCallDetails:
    return grpc.aio.ClientCallDetails(
        method="/x.Y/Z", timeout=timeout, metadata=None, credentials=None, wait_for_ready=None
    )


def test_outgoing_calls_get_at_most_the_time_left() -> None:
    """A call's timeout is capped by the request's deadline, set when it had none, and refused when
    the time is up; without a deadline it is left alone."""
    assert _call_details(_details(5.0)).timeout == 5.0
    token = deadline_var.set(time.monotonic() + 1.0)
    try:
        capped = _call_details(_details(5.0)).timeout
        assert capped is not None and 0.9 < capped <= 1.0
        given = _call_details(_details(None)).timeout
        assert given is not None and 0.9 < given <= 1.0
        assert _call_details(_details(0.2)).timeout == 0.2
    finally:
        deadline_var.reset(token)
    token = deadline_var.set(time.monotonic() - 1)
    try:
        with pytest.raises(DeadlineExceeded):
            _call_details(_details(5.0))
    finally:
        deadline_var.reset(token)


def _guarded(**settings: float | int) -> Starlette:
    async def hang(request: Request) -> Response:
        await asyncio.sleep(30)
        return JSONResponse({})

    async def echo(request: Request) -> Response:
        body = await request.body()
        return JSONResponse({"bytes": len(body), "deadline": deadline_var.get() is not None})

    async def stream(request: Request) -> Response:
        from starlette.responses import StreamingResponse

        async def slow_chunks():  # type: ignore[no-untyped-def]
            for _ in range(3):
                await asyncio.sleep(0.1)
                yield b"x"

        return StreamingResponse(slow_chunks())

    options = Settings(auth=AuthSettings(jwt_secret=Secret("s")), **settings)  # type: ignore[arg-type]
    return Starlette(
        routes=[
            Route("/api/platform/hang", hang),
            Route("/api/platform/echo", echo, methods=["POST"]),
            Route("/api/platform/stream", stream),
        ],
        middleware=[Middleware(GuardMiddleware, settings=options)],
        exception_handlers={DatabaseError: _render},
    )


async def _render(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, DatabaseError)
    return error_response(exc, request.url.path)


async def test_a_route_that_hangs_is_answered_504_at_its_class_deadline() -> None:
    """Whatever a route waits on, the guard answers 504 deadline_exceeded when the class's time is up."""
    app = _guarded(read_deadline_s=0.2)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as client:
        started = time.monotonic()
        reply = await client.get("/api/platform/hang")
        assert reply.status_code == 504
        assert reply.json()["error"]["code"] == "deadline_exceeded"
        assert time.monotonic() - started < 2


async def test_a_reply_that_has_begun_is_not_cut_by_the_deadline() -> None:
    """Once a route starts its reply, streaming the rest is not bound by the deadline."""
    app = _guarded(read_deadline_s=0.15)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as client:
        reply = await client.get("/api/platform/stream")
        assert reply.status_code == 200
        assert reply.content == b"xxx"


async def test_the_guard_sets_the_deadline_and_refuses_large_streamed_bodies() -> None:
    """Routes run with the request's deadline set; a body streamed past the limit is 413."""
    app = _guarded(max_body_bytes=100)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as client:
        small = await client.post("/api/platform/echo", content=b"x" * 50)
        assert small.json() == {"bytes": 50, "deadline": True}

        async def chunks():  # type: ignore[no-untyped-def]
            for _ in range(5):
                yield b"x" * 40

        large = await client.post("/api/platform/echo", content=chunks())
        assert large.status_code == 413
        assert large.json()["error"]["code"] == "payload_too_large"
        assert deadline_var.get() is None


# ---- pool metrics --------------------------------------------------------------------------


async def test_pool_metrics_report_clients_in_use_and_waits() -> None:
    """A tracked pool manager's clients, borrowers and waits appear in the scrape, per engine."""
    from udb import metrics

    async def build(resolved: registry_pb2.ResolvedConnection, size: int) -> object:
        return object()

    async def close(client: object) -> None:
        return None

    pools: PoolManager[object] = PoolManager("redis", build, close, max_connections=1)
    metrics.track_pools("unit-svc", pools)
    resolved = registry_pb2.ResolvedConnection()
    resolved.connection.id, resolved.connection.project_id = "c1", "p1"
    labels = {"service": "unit-svc", "engine": "redis"}
    async with pools.acquire(resolved):
        assert REGISTRY.get_sample_value("udb_pool_clients", labels) == 1
        assert REGISTRY.get_sample_value("udb_pool_in_use", labels) == 1
        assert REGISTRY.get_sample_value("udb_pool_size", labels) == 1
        waiter = asyncio.ensure_future(pools.acquire(resolved).__aenter__())
        await asyncio.sleep(0.01)
    await waiter
    assert REGISTRY.get_sample_value("udb_pool_waits_total", labels) == 1
    await pools.close()


# ---- tracing ---------------------------------------------------------------------------------


def test_tracing_exports_nothing_by_default_and_refuses_unknown_exporters() -> None:
    """Without OTEL_TRACES_EXPORTER no provider is installed; an unknown exporter name is a config error."""
    from udb.config import ConfigError
    from udb.tracing import configure_tracing

    assert configure_tracing("unit", Env(environ={}, env_file=None)) is False
    with pytest.raises(ConfigError, match="OTEL_TRACES_EXPORTER"):
        configure_tracing("unit", Env(environ={"OTEL_TRACES_EXPORTER": "carrier-pigeon"}, env_file=None))


def test_trace_context_is_carried_into_outgoing_call_metadata() -> None:
    """With a caller's traceparent current, each outgoing call's metadata carries the same trace."""
    from opentelemetry import context as otel_context

    from udb import tracing

    trace_id = "4bf92f3577b34da6a3ce929d0e0e4736"
    parent = tracing.extract([("traceparent", f"00-{trace_id}-00f067aa0ba902b7-01")])
    assert parent is not None
    token = otel_context.attach(parent)
    try:
        details = _call_details(_details(1.0))
    finally:
        otel_context.detach(token)
    assert details.metadata is not None
    carried = dict(details.metadata)
    assert carried["traceparent"].split("-")[1] == trace_id
    assert tracing.extract([]) is None
