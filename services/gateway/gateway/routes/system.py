"""The gateway's own routes: health (no auth) and the OpenAPI document."""

from __future__ import annotations

import orjson
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route
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
    document = request.app.state.openapi
    if document is None:
        document = request.app.state.openapi = schemas.get_schema(routes=request.app.routes)
        # Routes are mounted under /api/platform; the server URL above carries that prefix.
        document["paths"] = {path.removeprefix("/api/platform"): spec for path, spec in document["paths"].items()}
    # The docstrings' YAML has integer status keys: let orjson write them as strings.
    return raw_json(orjson.dumps(document, option=orjson.OPT_NON_STR_KEYS))


routes = [
    Route("/health", health, methods=["GET"]),
    Route("/openapi.json", openapi, methods=["GET"], include_in_schema=False),
]
