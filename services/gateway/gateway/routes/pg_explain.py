"""`POST /pg-meta/[ref]/explain`: the JSON plan of one statement (not a postgres-meta route)."""

from __future__ import annotations

from typing import Any

import orjson
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from gateway.calls import aimed, backends, call
from gateway.http import JSONResponse, field, read_object
from udb.common.v1 import common_pb2
from udb.errors import InvalidArgument
from udb.pg.v1 import explain_pb2

_OPTIONS = ("analyze", "verbose", "buffers", "settings")


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
    reply = await call(
        request,
        backends(request).pg_explain.Explain,
        aimed(explain_pb2.ExplainRequest(query=query, **options)),
        role=role,
    )
    return JSONResponse({"plan": orjson.Fragment(reply.plan)})


routes: list[BaseRoute] = [Route("/pg-meta/{ref}/explain", explain, methods=["POST"])]
