"""Error replies: the one place where an error becomes a body, for every route and middleware.

Two families, chosen by the request's path:

- the API's shape (API.md): ``{"message", "error": {"code", "message", "details"}}``, where the
  top-level ``message`` is what Studio's data layer shows (``handleError`` reads ``msg`` or
  ``message`` and nothing else);
- postgres-meta's, on its routes (``/pg-meta/[ref]/...`` except the API's own ``connections``):
  a SQL error is postgres-meta's body with every field Postgres sent (``error`` is the formatted
  text, then ``length``, ``name``, ``severity``, ``code``, ... ``message``, ``formattedError``,
  as its query route spreads node-postgres's error), and anything else is its
  ``{"error": "..."}``, with the top-level ``message`` beside it.
"""

from __future__ import annotations

import re
from typing import Any

from gateway.http import JSONResponse
from udb.errors import DatabaseError
from udb.pg.v1 import pg_pb2

#: The routes that answer as postgres-meta does (their paths, with the API's base path).
_POSTGRES_META = re.compile(r"^/api/platform/pg-meta/[^/]+/(?!connections(?:/|$))")

#: PostgresError's optional fields, as node-postgres names them, in the order it sets them.
_NODE_FIELDS = (
    ("detail", "detail"),
    ("hint", "hint"),
    ("position", "position"),
    ("internal_position", "internalPosition"),
    ("internal_query", "internalQuery"),
    ("where", "where"),
    ("schema", "schema"),
    ("table", "table"),
    ("column", "column"),
    ("data_type", "dataType"),
    ("constraint", "constraint"),
    ("file", "file"),
    ("line", "line"),
    ("routine", "routine"),
)


class MethodNotAllowed(DatabaseError):
    """HTTP's own 405, raised by the router alone (no service has it, so it is in no gRPC table);
    details carry the methods the route allows."""

    code = "method_not_allowed"
    http_status = 405
    default_message = "method not allowed"


def speaks_postgres_meta(path: str) -> bool:
    """Whether the route at ``path`` answers errors in postgres-meta's shape."""
    return _POSTGRES_META.match(path) is not None


def error_response(error: DatabaseError, path: str) -> JSONResponse:
    """The reply for ``error`` on a request to ``path``, with the status of the error's class
    (and ``Retry-After`` on a 429 or a 503 that says when to retry, ``Allow`` on a 405)."""
    headers = None
    if error.http_status in (429, 503) and "retry_after" in error.details:
        headers = {"Retry-After": error.details["retry_after"]}
    elif isinstance(error, MethodNotAllowed) and error.details.get("allow"):
        headers = {"Allow": error.details["allow"]}
    body = postgres_meta_body(error) if speaks_postgres_meta(path) else api_body(error)
    return JSONResponse(body, status_code=error.http_status, headers=headers)


def api_body(error: DatabaseError) -> dict[str, Any]:
    """The API's error shape."""
    return {
        "message": error.message,
        "error": {"code": error.code, "message": error.message, "details": error.details},
    }


def postgres_meta_body(error: DatabaseError) -> dict[str, Any]:
    """postgres-meta's error body: a database error's every field, or ``{"error", "message"}``."""
    refused = error.attachment(pg_pb2.PostgresError)
    if refused is None:
        return {"error": error.message, "message": error.message}
    body: dict[str, Any] = {
        "error": refused.formatted,
        "length": refused.length,
        "name": "error",
        "severity": refused.severity,
        "code": refused.code,
    }
    for field, name in _NODE_FIELDS:
        if refused.HasField(field):
            body[name] = getattr(refused, field)
    body["message"] = refused.message
    body["formattedError"] = refused.formatted
    return body
