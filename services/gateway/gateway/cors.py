"""CORS for a browser console on another origin (Supabase Studio and its peers).

Origins come from ``CORS_ORIGINS``: exact origins (``https://studio.example.com``) or patterns
where ``*`` stands for one host label or a port (``http://localhost:*``,
``https://*.example.com``); none by default, so a production gateway answers no browser of
another origin until the operator names its console. Requests carry credentials (Studio sends
``credentials: 'include'``), so an allowed origin is echoed, never ``*``. A preflight is cached by
the browser for :data:`MAX_AGE_S`. Starlette's middleware does the work; this module says what
Studio needs and answers a refused preflight in the API's error shape.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from starlette.datastructures import Headers
from starlette.middleware import Middleware
from starlette.middleware.cors import CORSMiddleware
from starlette.responses import Response

from gateway.errors import api_body
from gateway.http import JSONResponse
from udb.config import ConfigError
from udb.errors import InvalidArgument

METHODS = ("GET", "POST", "PUT", "PATCH", "DELETE")

#: What Studio's data layer sends (apps/studio/data/fetchers.ts and sql/execute-sql-query.ts), and
#: the trace headers a browser's tracing library adds (W3C trace context, Sentry's).
HEADERS = (
    "authorization",
    "content-type",
    "accept",
    "x-request-id",
    "x-connection-encrypted",
    "x-pg-application-name",
    "traceparent",
    "tracestate",
    "baggage",
    "sentry-trace",
)

#: Reply headers a browser script may read: Studio reads Retry-After and the request id.
EXPOSED = ("x-request-id", "retry-after", "x-result-truncated", "allow")

#: How long a browser keeps a preflight's answer (Chrome keeps at most 2 hours).
MAX_AGE_S = 7200

_ORIGIN = re.compile(r"(?P<scheme>https?)://(?P<host>[A-Za-z0-9.*-]+|\[[0-9A-Fa-f:.]+\])(?::(?P<port>\d{1,5}|\*))?")


def origin_regex(patterns: Sequence[str]) -> str:
    """One regular expression matching every origin that ``patterns`` allows.

    Raises :class:`udb.config.ConfigError` for a pattern that is not an origin.
    """
    alternatives = []
    for pattern in patterns:
        match = _ORIGIN.fullmatch(pattern.strip().rstrip("/"))
        if match is None or "**" in pattern:
            raise ConfigError(f"CORS_ORIGINS: {pattern!r} is not an origin (scheme://host[:port], * for a label)")
        host = r"\.".join("[A-Za-z0-9-]+" if label == "*" else re.escape(label) for label in match["host"].split("."))
        port = match["port"]
        port_regex = "" if port is None else ":[0-9]{1,5}" if port == "*" else re.escape(f":{port}")
        alternatives.append(f"{match['scheme']}://{host}{port_regex}")
    return "|".join(f"(?:{alternative})" for alternative in alternatives)


class _CORS(CORSMiddleware):
    def preflight_response(self, request_headers: Headers) -> Response:
        response = super().preflight_response(request_headers)
        if response.status_code < 400:
            return response
        # Starlette's text ("Disallowed CORS origin"), in the API's error shape.
        error = InvalidArgument(f"CORS preflight refused: {bytes(response.body).decode()}")
        kept = {k: v for k, v in response.headers.items() if k.lower().startswith(("access-control", "vary"))}
        return JSONResponse(api_body(error), status_code=response.status_code, headers=kept)


def cors_middleware(patterns: Sequence[str]) -> Middleware | None:
    """The middleware for ``CORS_ORIGINS``, or None when it names no origin."""
    if not patterns:
        return None
    return Middleware(
        _CORS,
        allow_origin_regex=origin_regex(patterns),
        allow_methods=METHODS,
        allow_headers=HEADERS,
        allow_credentials=True,
        expose_headers=EXPOSED,
        max_age=MAX_AGE_S,
    )
