"""The audit log of a project: ``GET /projects/[ref]/audit`` (owners and admins)."""

from __future__ import annotations

from google.protobuf import timestamp_pb2
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from gateway.audit import ENGINE_NAMES, PLATFORM, event_json
from gateway.backends import project_ref
from gateway.http import JSONResponse, query_int
from gateway.routes.common import backends, page
from udb.clients import bearer_metadata
from udb.errors import InvalidArgument
from udb.registry.v1 import registry_pb2

_ENGINES = {*ENGINE_NAMES.values(), PLATFORM}


def _time(request: Request, name: str) -> timestamp_pb2.Timestamp | None:
    text = request.query_params.get(name)
    if not text:
        return None
    stamp = timestamp_pb2.Timestamp()
    try:
        stamp.FromJsonString(text)
    except ValueError:
        raise InvalidArgument(
            f"{name} must be an RFC 3339 time such as 2024-05-01T12:00:00Z", details={"parameter": name}
        ) from None
    return stamp


def _engine(request: Request) -> str:
    engine = request.query_params.get("engine", "")
    engine = ENGINE_NAMES.get(engine, engine)
    if engine and engine not in _ENGINES:
        raise InvalidArgument(
            "engine must be redis, mongodb, postgres (or pg-meta) or platform", details={"parameter": "engine"}
        )
    return engine


async def audit_events(request: Request) -> Response:
    """
    get:
      summary: The project's audit log, newest first (owners and admins). Writes and admin actions,
        with who, what, the outcome and the request id; never values or secrets.
      parameters:
        - {name: limit, in: query, description: 'page size, default 100, at most 1000'}
        - {name: cursor, in: query, description: "a previous reply's next_cursor"}
        - {name: user_id, in: query}
        - {name: operation, in: query, description: 'for example key.create, connection.update, member.add'}
        - {name: engine, in: query, description: 'redis, mongodb, postgres or platform'}
        - {name: since, in: query, description: 'RFC 3339, inclusive'}
        - {name: until, in: query, description: 'RFC 3339, exclusive'}
      responses:
        200: {description: '{"data": [{"id", "time", "user_id", "project_ref", "engine", "connection_id",
          "operation", "target", "outcome", "request_id"}], "next_cursor"}'}
        403: {description: the caller is a viewer or developer}
        404: {description: 'no such project, or the caller is no member'}
    """
    b = backends(request)
    principal = await b.authenticate(request)
    reply = await b.registry.ListAuditEvents(
        registry_pb2.ListAuditEventsRequest(
            project_ref=project_ref(request),
            limit=query_int(request, "limit", 0, minimum=1, maximum=1000),
            cursor=request.query_params.get("cursor", ""),
            user_id=request.query_params.get("user_id", ""),
            operation=request.query_params.get("operation", ""),
            engine=_engine(request),
            since=_time(request, "since"),
            until=_time(request, "until"),
        ),
        metadata=bearer_metadata(principal.token),
        timeout=b.settings.admin_deadline_s,
    )
    return JSONResponse(page([event_json(event) for event in reply.events], reply.next_cursor))


routes: list[BaseRoute] = [Route("/projects/{ref}/audit", audit_events, methods=["GET"])]
