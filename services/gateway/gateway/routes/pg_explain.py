"""`POST /pg-meta/[ref]/explain`: the JSON plan of one statement (not a postgres-meta route)."""

from __future__ import annotations

from typing import Any

import orjson
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from gateway.backends import Backends
from gateway.http import JSONResponse, field, read_object
from gateway.routes.common import backends, service_stub
from udb.common.v1 import common_pb2
from udb.errors import InvalidArgument
from udb.pg.v1 import explain_pb2, explain_pb2_grpc

_OPTIONS = ("analyze", "verbose", "buffers", "settings")


def _explainer(b: Backends) -> explain_pb2_grpc.PgExplainServiceAsyncStub:
    """The PgExplainService stub on pg-svc's channel."""
    return service_stub(b, "pg-svc", explain_pb2_grpc.PgExplainServiceStub)


async def _call(request: Request, role: int, message: explain_pb2.ExplainRequest) -> explain_pb2.ExplainResponse:
    """This module's one gateway-to-service crossing: the caller authorized for ``role``, then
    Explain with their metadata, a little past the database's own limit (so that its error is
    the one reported)."""
    b = backends(request)
    caller = await b.authorize(request, role)
    message.target.CopyFrom(caller.target)
    reply: explain_pb2.ExplainResponse = await _explainer(b).Explain(
        message, metadata=caller.metadata, timeout=b.settings.write_deadline_s + 5
    )
    return reply


async def explain(request: Request) -> Response:
    """
    post:
      summary: The plan of one SQL statement as JSON (EXPLAIN (FORMAT JSON)); not a postgres-meta route.
      description: >-
        Plain EXPLAIN for viewers (through the read-only viewer login, in a read-only
        transaction); analyze (EXPLAIN ANALYZE, which runs the statement) for developers. The
        statement runs inside a transaction that is always rolled back, with the configured
        statement time limit. verbose, buffers and settings add EXPLAIN's options of those names.
        The plan is Postgres's own JSON: [{"Plan": {...}, "Planning Time", "Execution Time"?}].
      requestBody:
        content:
          application/json:
            example: {query: 'select * from orders where customer_id = 42', analyze: true, buffers: true}
      responses:
        200: {description: '{"plan": [{"Plan": {...}, ...}]}'}
        400: {description: 'a SQL error, in postgres-meta''s body, or more than one statement'}
        403: {description: analyze without the developer role}
    """
    b = backends(request)
    body = await read_object(request, b.settings.max_body_bytes, allowed=frozenset({"query", *_OPTIONS}))
    query = field(body, "query", str, required=True)
    if not query.strip():
        raise InvalidArgument("query is required", details={"field": "query"})
    options: dict[str, Any] = {name: bool(field(body, name, bool)) for name in _OPTIONS}
    role = common_pb2.ROLE_DEVELOPER if options["analyze"] else common_pb2.ROLE_VIEWER
    reply = await _call(request, role, explain_pb2.ExplainRequest(query=query, **options))
    return JSONResponse({"plan": orjson.Fragment(reply.plan)})


routes: list[BaseRoute] = [Route("/pg-meta/{ref}/explain", explain, methods=["POST"])]
