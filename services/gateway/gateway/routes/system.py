"""The gateway's own routes: health (no auth) and the OpenAPI document."""

from __future__ import annotations

import re
from typing import Any

import orjson
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route
from starlette.schemas import SchemaGenerator

from gateway.http import JSONResponse, raw_json
from gateway.routes.common import backends

schemas = SchemaGenerator(
    {
        "openapi": "3.0.3",
        "info": {
            "title": "Unified Database API",
            "version": "1.0.0",
            "description": "Browse and operate a project's PostgreSQL, Redis and MongoDB databases. "
            "Every route but /health needs `Authorization: Bearer <JWT>`. Errors are "
            '`{"message", "error": {"code", "message", "details"}}`; on the pg-meta routes but '
            "connections, postgres-meta's own body (`error`, `message`, and for a SQL error every field "
            "Postgres sent, with `formattedError`).",
        },
        "servers": [{"url": "/api/platform"}],
        "components": {"securitySchemes": {"bearer": {"type": "http", "scheme": "bearer", "bearerFormat": "JWT"}}},
        "security": [{"bearer": []}],
    }
)

_PATH_PARAMETER = re.compile(r"{(\w+)}")


async def health(request: Request) -> Response:
    """
    get:
      summary: Each service's gRPC health. No auth. 503 when any service is not serving.
      security: []
      responses:
        200: {description: '{"status": "ok", "services": {"registry": "SERVING", ...}}'}
        503: {description: a service is down}
    """
    services = await backends(request).health()
    ok = all(status == "SERVING" for status in services.values())
    return JSONResponse({"status": "ok" if ok else "unavailable", "services": services}, status_code=200 if ok else 503)


async def openapi(request: Request) -> Response:
    """
    get:
      summary: This document.
      security: []
      responses: {200: {description: OpenAPI 3 document}}
    """
    body: bytes | None = request.app.state.openapi
    if body is None:
        # The docstrings' YAML has integer status keys: let orjson write them as strings.
        body = request.app.state.openapi = orjson.dumps(
            openapi_document(request.app.routes), option=orjson.OPT_NON_STR_KEYS
        )
    return raw_json(body)


def openapi_document(routes: list[BaseRoute]) -> dict[str, Any]:
    """The OpenAPI 3 document of ``routes``, from their docstrings.

    A function route serving several methods has one docstring keyed by method, which Starlette
    gives whole to each method: each operation keeps its own part. Path parameters (required, as
    every path parameter is) and a parameter's string schema are implied by the route, so they are
    filled in here rather than repeated in every docstring.
    """
    document = schemas.get_schema(routes=routes)
    paths: dict[str, dict[str, Any]] = {}
    for path, operations in document["paths"].items():
        # Routes are mounted under /api/platform; the server URL above carries that prefix.
        path = path.removeprefix("/api/platform")
        for method, operation in operations.items():
            own = operation.get(method, operation)
            own["parameters"] = _parameters(path, own.get("parameters", []))
            paths.setdefault(path, {})[method] = own
    document["paths"] = paths
    return document


def _parameters(path: str, declared: list[dict[str, Any]]) -> list[dict[str, Any]]:
    in_path = {parameter["name"] for parameter in declared if parameter.get("in") == "path"}
    implied = [{"name": name, "in": "path", "required": True} for name in _PATH_PARAMETER.findall(path)]
    parameters = [*declared, *(parameter for parameter in implied if parameter["name"] not in in_path)]
    for parameter in parameters:
        if "content" not in parameter:
            parameter.setdefault("schema", {"type": "string"})
        if parameter.get("in") == "path":
            parameter["required"] = True  # OpenAPI's rule: a path has every one of its parameters
    return parameters


routes = [
    Route("/health", health, methods=["GET"]),
    Route("/openapi.json", openapi, methods=["GET"], include_in_schema=False),
]
