"""postgres-meta's catalogue routes under `/pg-meta/[ref]/...`: lists, objects by key, writes.

pg-svc writes each reply's JSON itself (postgres-meta's shapes); these routes read postgres-meta's
parameters, call PgCatalogService once and pass the JSON through untouched. Reads need any member
of the project; for writes pg-svc itself asks for the role API.md names (developer for schema
changes, admin for roles and privileges), so that the rule lives in one place.
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from google.protobuf.message import Message
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from gateway.http import query_bool, query_int, query_list, raw_json, read_body
from gateway.routes.common import backends
from udb.common.v1 import common_pb2
from udb.pg.v1 import catalog_pb2, pg_pb2

Kind = catalog_pb2.CatalogKind
Action = catalog_pb2.WriteAction

#: Query parameters of postgres-meta's lists: the schema filter, the page, and flags.
FILTER = ("include_system_schemas", "included_schemas", "excluded_schemas")
PAGE = ("limit", "offset")


@dataclass(frozen=True, slots=True)
class CatalogRoute:
    """One of postgres-meta's route families: what it lists, its key, its writes."""

    path: str
    kind: catalog_pb2.CatalogKind
    noun: str
    #: The list's query parameters, with the default of each boolean flag.
    params: tuple[str, ...]
    flags: tuple[tuple[str, bool], ...] = ()
    #: The name of the `/[key]` segment (id, name), or "" when there is no such form.
    key: str = ""
    #: create, update and delete (with cascade when ``cascade``), or grant and revoke.
    writes: tuple[catalog_pb2.WriteAction, ...] = ()
    cascade: bool = False


_CRUD = (Action.WRITE_ACTION_CREATE, Action.WRITE_ACTION_UPDATE, Action.WRITE_ACTION_DELETE)
_GRANTS = (Action.WRITE_ACTION_GRANT, Action.WRITE_ACTION_REVOKE)
_COLUMNS_FLAG = (("include_columns", True),)

ROUTES = (
    CatalogRoute("tables", Kind.CATALOG_KIND_TABLES, "tables", (*FILTER, *PAGE), _COLUMNS_FLAG, "id", _CRUD, True),
    CatalogRoute("views", Kind.CATALOG_KIND_VIEWS, "views", (*FILTER, *PAGE), _COLUMNS_FLAG, "id"),
    CatalogRoute(
        "materialized-views",
        Kind.CATALOG_KIND_MATERIALIZED_VIEWS,
        "materialized views",
        ("included_schemas", "excluded_schemas", *PAGE),
        (("include_columns", False),),
        "id",
    ),
    CatalogRoute("foreign-tables", Kind.CATALOG_KIND_FOREIGN_TABLES, "foreign tables", PAGE, _COLUMNS_FLAG, "id"),
    CatalogRoute("columns", Kind.CATALOG_KIND_COLUMNS, "columns", (*FILTER, *PAGE), (), "id", _CRUD, True),
    CatalogRoute(
        "schemas", Kind.CATALOG_KIND_SCHEMAS, "schemas", ("include_system_schemas", *PAGE), (), "id", _CRUD, True
    ),
    CatalogRoute("functions", Kind.CATALOG_KIND_FUNCTIONS, "functions", (*FILTER, *PAGE), (), "id", _CRUD),
    CatalogRoute("types", Kind.CATALOG_KIND_TYPES, "types", (*FILTER, *PAGE), (("include_array_types", False),)),
    CatalogRoute(
        "policies", Kind.CATALOG_KIND_POLICIES, "row-level security policies", (*FILTER, *PAGE), (), "id", _CRUD
    ),
    CatalogRoute("triggers", Kind.CATALOG_KIND_TRIGGERS, "triggers", (*FILTER, *PAGE), (), "id", _CRUD, True),
    CatalogRoute("extensions", Kind.CATALOG_KIND_EXTENSIONS, "extensions", PAGE, (), "name", _CRUD, True),
    CatalogRoute("publications", Kind.CATALOG_KIND_PUBLICATIONS, "publications", PAGE, (), "id", _CRUD),
    CatalogRoute("roles", Kind.CATALOG_KIND_ROLES, "roles", PAGE, (("include_default_roles", False),), "id", _CRUD),
    CatalogRoute("indexes", Kind.CATALOG_KIND_INDEXES, "indexes", (*FILTER, *PAGE), (), "id"),
    CatalogRoute(
        "column-privileges", Kind.CATALOG_KIND_COLUMN_PRIVILEGES, "column privileges", (*FILTER, *PAGE), (), "", _GRANTS
    ),
    CatalogRoute(
        "table-privileges", Kind.CATALOG_KIND_TABLE_PRIVILEGES, "table privileges", (*FILTER, *PAGE), (), "", _GRANTS
    ),
    CatalogRoute("config", Kind.CATALOG_KIND_CONFIG, "server settings, by category and name", PAGE),
)


def catalog_filter(request: Request) -> pg_pb2.CatalogFilter:
    """postgres-meta's list parameters: comma-separated schema lists, a limit and an offset."""
    catalog_filter = pg_pb2.CatalogFilter(
        include_system_schemas=query_bool(request, "include_system_schemas", False),
        included_schemas=query_list(request, "included_schemas"),
        excluded_schemas=query_list(request, "excluded_schemas"),
    )
    if request.query_params.get("limit"):
        catalog_filter.limit = query_int(request, "limit", 0, minimum=0)
    if request.query_params.get("offset"):
        catalog_filter.offset = query_int(request, "offset", 0, minimum=0)
    return catalog_filter


Build = Callable[[], Awaitable[Message]]


async def _call(request: Request, call: str, build: Build, *, write: bool = False) -> Response:
    """One PgCatalogService call for any member of the project: the caller is checked first, then
    ``build`` reads the request into the message; its JSON is the reply."""
    b = backends(request)
    caller = await b.authorize(request, common_pb2.ROLE_VIEWER)
    message = await build()
    message.target.CopyFrom(caller.target)  # type: ignore[attr-defined]
    timeout = b.settings.write_deadline_s if write else b.settings.read_deadline_s
    reply = await getattr(b.pg_catalog, call)(message, metadata=caller.metadata, timeout=timeout)
    return raw_json(reply.json)


Endpoint = Callable[[Request], Awaitable[Response]]


def _list(route: CatalogRoute) -> Endpoint:
    async def endpoint(request: Request) -> Response:
        async def build() -> Message:
            message = catalog_pb2.ListObjectsRequest(kind=route.kind, filter=catalog_filter(request))
            for flag, default in route.flags:
                setattr(message, flag, query_bool(request, flag, default))
            return message

        return await _call(request, "ListObjects", build)

    return endpoint


_TABLE_ID = re.compile(r"\d{1,10}")


def _get(route: CatalogRoute) -> Endpoint:
    async def endpoint(request: Request) -> Response:
        key = str(request.path_params["key"])
        # postgres-meta's /columns/[tableId]: the first column of the table's page.
        first_column = route.kind == Kind.CATALOG_KIND_COLUMNS and _TABLE_ID.fullmatch(key) is not None

        async def build() -> Message:
            if first_column:
                return catalog_pb2.ListObjectsRequest(
                    kind=route.kind, filter=catalog_filter(request), table_id=int(key), first=True
                )
            return catalog_pb2.GetObjectRequest(kind=route.kind, key=key)

        return await _call(request, "ListObjects" if first_column else "GetObject", build)

    return endpoint


def _write(route: CatalogRoute, action: catalog_pb2.WriteAction) -> Endpoint:
    async def endpoint(request: Request) -> Response:
        async def build() -> Message:
            message = catalog_pb2.WriteObjectRequest(
                kind=route.kind, action=action, key=str(request.path_params.get("key", ""))
            )
            if action != Action.WRITE_ACTION_DELETE:
                message.body = await read_body(request, backends(request).settings.max_body_bytes)
            elif route.cascade:
                message.cascade = query_bool(request, "cascade", False)
            return message

        return await _call(request, "WriteObject", build, write=True)

    return endpoint


async def version(request: Request) -> Response:
    """
    get:
      summary: The server's version and connections (PostgresVersion).
      responses:
        200: {description: '{"version", "version_number", "active_connections", "max_connections"}'}
    """

    async def build() -> Message:
        return catalog_pb2.GetObjectRequest(kind=Kind.CATALOG_KIND_VERSION)

    return await _call(request, "GetObject", build)


def _parameter_doc(name: str, kind: str, where: str = "query") -> str:
    return f"\n        - {{name: {name}, in: {where}, schema: {{type: {kind}}}}}"


_PARAMETER_TYPES = {"limit": "integer", "offset": "integer", "included_schemas": "string", "excluded_schemas": "string"}


def _document(endpoint: Endpoint, method: str, summary: str, parameters: str, responses: str) -> Endpoint:
    endpoint.__doc__ = f"""
    {method}:
      summary: {summary}
      parameters:{parameters or " []"}
      responses:{responses}
    """
    return endpoint


_WRITE_DOCS = {
    Action.WRITE_ACTION_CREATE: ("post", "Creates one of the {noun} (postgres-meta's body); replies with it."),
    Action.WRITE_ACTION_UPDATE: ("patch", "Changes one of the {noun} (postgres-meta's body); replies with it."),
    Action.WRITE_ACTION_DELETE: ("delete", "Drops one of the {noun}; replies with it as it was."),
    Action.WRITE_ACTION_GRANT: ("post", "Grants {noun} (an array of grants); replies with the privileges now."),
    Action.WRITE_ACTION_REVOKE: ("delete", "Revokes {noun} (an array of revokes); replies with the privileges now."),
}
_WRITE_RESPONSES = """
        200: {description: the object in postgres-meta's shape}
        400: {description: 'a bad body, or the database refused the change: {"error": message}'}
        403: {description: 'the role is too low (developer for schema changes, admin for roles and privileges)'}
        404: {description: no such object}"""
_READ_RESPONSES = """
        200: {description: JSON in postgres-meta's shape}
        404: {description: no such object}
        503: {description: the database cannot be reached}"""


def _routes(route: CatalogRoute) -> list[BaseRoute]:
    base = f"/pg-meta/{{ref}}/{route.path}"
    name = route.path.replace("-", "_")
    list_params = "".join(_parameter_doc(p, _PARAMETER_TYPES.get(p, "boolean")) for p in route.params)
    list_params += "".join(_parameter_doc(flag, "boolean") for flag, _ in route.flags)
    found: list[BaseRoute] = [
        Route(
            base,
            _document(
                _list(route), "get", f"Lists the {route.noun} (postgres-meta's shape).", list_params, _READ_RESPONSES
            ),
            methods=["GET"],
            name=f"pg_{name}",
        )
    ]
    # The path's segment is {key} for every family; what it holds (an id or a name) is its description.
    key_param = f"\n        - {{name: key, in: path, description: the {route.key}, schema: {{type: string}}}}"
    if route.key:
        found.append(
            Route(
                f"{base}/{{key}}",
                _document(_get(route), "get", f"One of the {route.noun}, by {route.key}.", key_param, _READ_RESPONSES),
                methods=["GET"],
                name=f"pg_{name}_one",
            )
        )
    for action in route.writes:
        method, summary = _WRITE_DOCS[action]
        keyed = action in (Action.WRITE_ACTION_UPDATE, Action.WRITE_ACTION_DELETE)
        parameters = key_param if keyed else ""
        if action == Action.WRITE_ACTION_DELETE and route.cascade:
            parameters += _parameter_doc("cascade", "boolean")
        endpoint = _document(
            _write(route, action), method, summary.format(noun=route.noun), parameters, _WRITE_RESPONSES
        )
        found.append(Route(f"{base}/{{key}}" if keyed else base, endpoint, methods=[method.upper()]))
    return found


routes: list[BaseRoute] = [
    Route("/pg-meta/{ref}/config/version", version, methods=["GET"], name="pg_version"),
    *(found for route in ROUTES for found in _routes(route)),
]
