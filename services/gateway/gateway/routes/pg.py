"""Postgres's SQL route in postgres-meta's shape: `/pg-meta/[ref]/query` (the catalogue routes are
:mod:`gateway.routes.pg_catalog`)."""

from __future__ import annotations

import math

import orjson
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from gateway.http import field, raw_json, read_object
from gateway.routes.common import backends
from udb.common.v1 import common_pb2
from udb.errors import InvalidArgument
from udb.pg.v1 import pg_pb2

#: Set on a query reply whose rows were cut at the configured row or byte limit.
TRUNCATED_HEADER = "x-result-truncated"

_QUERY_FIELDS = frozenset({"query", "parameters"})


def _statement_timeout_ms(request: Request) -> int:
    """``?statementTimeoutSecs=`` in milliseconds (0 when absent); it may only lower the limit."""
    text = request.query_params.get("statementTimeoutSecs")
    if not text:
        return 0
    try:
        seconds = float(text)
    except ValueError:
        seconds = math.nan
    if not math.isfinite(seconds) or seconds <= 0:
        raise InvalidArgument(
            "statementTimeoutSecs must be a positive number of seconds", details={"parameter": "statementTimeoutSecs"}
        )
    return max(1, min(int(seconds * 1000), 2**31 - 1))


async def query(request: Request) -> Response:
    """
    post:
      summary: Runs SQL, with optional bind parameters; returns the rows as a JSON array.
      description: >
        postgres-meta's body. A script of several statements (without parameters) runs whole
        and returns the rows of its last row-returning statement. A viewer's SQL runs in a
        read-only transaction. Every statement has a time limit; statementTimeoutSecs lowers it.
        Rows past the configured row or byte limit are cut, and the reply then carries the
        header x-result-truncated: true.
      parameters:
        - {name: statementTimeoutSecs, in: query, schema: {type: number}}
      requestBody: {content: {application/json: {example: {query: 'select * from t where id = $1', parameters: [1]}}}}
      responses:
        200: {description: 'the rows, e.g. [{"id": 1}]'}
        400: {description: 'a SQL error: details hold the sqlstate, position, hint and detail'}
        403: {description: a viewer's SQL that writes}
        404: {description: an unknown table or schema}
        503: {description: the database cannot be reached}
        504: {description: the statement ran past its time limit}
    """
    b = backends(request)
    caller = await b.authorize(request, common_pb2.ROLE_VIEWER)
    body = await read_object(request, b.settings.max_body_bytes, allowed=_QUERY_FIELDS)
    sql: str = field(body, "query", str, required=True)
    if not sql.strip():
        raise InvalidArgument("query must not be empty", details={"field": "query"})
    parameters = field(body, "parameters", list)
    reply = await b.pg.Query(
        pg_pb2.QueryRequest(
            target=caller.target,
            query=sql,
            parameters=orjson.dumps(parameters).decode() if parameters else "",
            statement_timeout_ms=_statement_timeout_ms(request),
        ),
        metadata=caller.metadata,
        # A little past the database's own limit, so that its error is the one reported.
        timeout=b.settings.write_deadline_s + 5,
    )
    headers = {TRUNCATED_HEADER: "true"} if reply.truncated else None
    return raw_json(reply.rows, headers=headers)


routes: list[BaseRoute] = [
    Route("/pg-meta/{ref}/query", query, methods=["POST"]),
]
