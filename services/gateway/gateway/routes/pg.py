"""Postgres's SQL route in postgres-meta's shape: `/pg-meta/[ref]/query` (the catalogue routes are
:mod:`gateway.routes.pg_catalog`)."""

from __future__ import annotations

import math

import orjson
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import BaseRoute, Route

from gateway.http import field, raw_json, read_object
from gateway.routes.common import backends
from udb.common.v1 import common_pb2
from udb.errors import InvalidArgument, NotFound
from udb.pg.v1 import pg_pb2

#: Set on a query reply whose rows were cut at the configured row or byte limit.
TRUNCATED_HEADER = "x-result-truncated"

#: The header Studio names its session with (the SQL editor's differs from the other pages').
APPLICATION_NAME_HEADER = "x-pg-application-name"


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
        postgres-meta's route, as Studio calls it: the body {query, parameters?,
        disable_statement_timeout?} (other fields and query-string extras such as key are
        ignored), the header x-pg-application-name naming the session (pg_stat_activity shows it)
        and x-connection-encrypted, ignored (the connection comes from the project and
        ?connection=). A script of several statements (without parameters) runs whole and
        returns the rows of its last statement that has rows. Values are typed as
        postgres-meta types them. A viewer's SQL runs in a read-only transaction. Every statement
        has a time limit; statementTimeoutSecs lowers it (disable_statement_timeout drops that
        lowering, never the configured limit). Rows past the configured row or byte limit are cut,
        and the reply then carries the header x-result-truncated: true.
      parameters:
        - {name: statementTimeoutSecs, in: query, schema: {type: number}}
        - {name: x-pg-application-name, in: header, schema: {type: string}}
      requestBody: {content: {application/json: {example: {query: 'select * from t where id = $1', parameters: [1]}}}}
      responses:
        200: {description: 'the rows, e.g. [{"id": 1}]'}
        400:
          description: >
            a SQL error, in postgres-meta's body: error (the formatted text), message,
            formattedError, code (the SQLSTATE), severity, position, detail, hint...
        403: {description: "a viewer's SQL that writes"}
        503: {description: the database cannot be reached}
        504: {description: the statement ran past its time limit}
    """
    b = backends(request)
    caller = await b.authorize(request, common_pb2.ROLE_VIEWER)
    body = await read_object(request, b.settings.max_body_bytes)
    sql = body.get("query")
    if sql is None or sql == "":
        # postgres-meta's words (it answers them with a 500).
        raise InvalidArgument("query not found", details={"field": "query"})
    if not isinstance(sql, str):
        raise InvalidArgument("query must be a string", details={"field": "query"})
    parameters = field(body, "parameters", list)
    timeout_ms = _statement_timeout_ms(request)
    if body.get("disable_statement_timeout") is True:
        # postgres-meta reads no such field; Studio sends it with every query: never refused.
        timeout_ms = 0
    reply = await b.pg.Query(
        pg_pb2.QueryRequest(
            target=caller.target,
            query=sql,
            parameters=orjson.dumps(parameters).decode() if parameters else "",
            statement_timeout_ms=timeout_ms,
            application_name=request.headers.get(APPLICATION_NAME_HEADER, ""),
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


# ---- postgres-meta's type generators ---------------------------------------------------------

_LANGUAGES = {
    "typescript": pg_pb2.TYPES_LANGUAGE_TYPESCRIPT,
    "go": pg_pb2.TYPES_LANGUAGE_GO,
    "swift": pg_pb2.TYPES_LANGUAGE_SWIFT,
    "python": pg_pb2.TYPES_LANGUAGE_PYTHON,
}


def _schema_names(request: Request, name: str) -> list[str]:
    """postgres-meta's reading of a schema list: the first value, split at commas, trimmed (an
    empty name stays, and matches no schema)."""
    text = request.query_params.get(name)
    return [] if text is None else [part.strip() for part in text.split(",")]


async def generate_types(request: Request) -> Response:
    """
    get:
      summary: Types for the project's database, as postgres-meta's generators write them.
      description: >
        language is typescript, go, swift or python; the same text postgres-meta 0.99 generates
        for the same database and parameters. included_schemas wins over excluded_schemas; the
        system schemas are left out. TypeScript also takes detect_one_to_one_relationships and
        postgrest_version, Swift access_control (internal, public, private or package).
      parameters:
        - {name: language, in: path, required: true, schema: {type: string, enum: [typescript, go, swift, python]}}
        - {name: included_schemas, in: query, schema: {type: string}, description: comma-separated}
        - {name: excluded_schemas, in: query, schema: {type: string}, description: comma-separated}
        - {name: detect_one_to_one_relationships, in: query, schema: {type: boolean}}
        - {name: postgrest_version, in: query, schema: {type: string}}
        - {name: access_control, in: query, schema: {type: string}}
      responses:
        200: {description: 'the source, text/plain'}
        400: {description: an unknown access_control}
        404: {description: no such language}
        503: {description: the database cannot be reached}
    """
    language = _LANGUAGES.get(request.path_params["language"])
    if language is None:
        raise NotFound("no such generator: use typescript, go, swift or python")
    b = backends(request)
    caller = await b.authorize(request, common_pb2.ROLE_VIEWER)
    reply = await b.pg.GenerateTypes(
        pg_pb2.GenerateTypesRequest(
            target=caller.target,
            language=language,
            included_schemas=_schema_names(request, "included_schemas"),
            excluded_schemas=_schema_names(request, "excluded_schemas"),
            detect_one_to_one_relationships=request.query_params.get("detect_one_to_one_relationships") == "true",
            postgrest_version=request.query_params.get("postgrest_version", ""),
            swift_access_control=request.query_params.get("access_control", ""),
        ),
        metadata=caller.metadata,
        timeout=b.settings.read_deadline_s,
    )
    return PlainTextResponse(reply.text)


routes.append(Route("/pg-meta/{ref}/generators/{language}", generate_types, methods=["GET"], name="pg_generators"))
