"""Keyspace analysis and diagnostics: `/redis/[ref]/analysis`, `slowlog`, `clients`."""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from gateway.http import JSONResponse, query_int
from gateway.routes.redis_explorer.crossing import (
    ADMIN,
    VIEWER,
    explorer_call,
    key_row,
    named,
    progress_reply,
    query_bytes,
    texts,
)
from udb.redis.v1 import explorer_pb2


def _report(report: explorer_pb2.KeyspaceReport) -> dict[str, Any]:
    return {
        "sampled": report.sampled,
        "total": report.total,
        "coverage": report.coverage,
        "memory": report.memory,
        "by_type": [{"type": item.type, "keys": item.keys, "memory": item.memory} for item in report.by_type],
        "by_namespace": [
            named({"keys": item.keys, "memory": item.memory}, prefix=item.prefix) for item in report.by_namespace
        ],
        "top_by_memory": [key_row(row) for row in report.top_by_memory],
        "top_by_length": [key_row(row) for row in report.top_by_length],
        "ttl": [{"bucket": item.bucket, "keys": item.keys, "memory": item.memory} for item in report.ttl],
    }


def _progress(message: explorer_pb2.AnalyzeKeyspaceProgress) -> dict[str, Any]:
    if message.HasField("report"):
        return {"sampled": message.sampled, "target": message.target, "report": _report(message.report)}
    return {"sampled": message.sampled, "target": message.target}


async def analysis(request: Request) -> Response:
    """
    get:
      summary: Keyspace analysis of a sample (viewers). Streams NDJSON progress lines {"sampled", "target"}
        and a last line with "report" - memory and key count by type, by namespace and by TTL bucket, the
        top keys by memory and by length, and the share of the keyspace the sample covers.
      parameters:
        - {name: sample_size, in: query, schema: {type: integer, minimum: 1, maximum: 100000, default: 10000}}
        - {name: pattern, in: query, schema: {type: string}, description: only keys that match}
        - {name: delimiter, in: query, schema: {type: string, default: ':'}}
        - {name: top, in: query, schema: {type: integer, minimum: 1, maximum: 100, default: 10}}
      responses:
        200: {description: 'application/x-ndjson: {"sampled", "target"} ... {"sampled", "target", "report": {...}}'}
    """
    call = await explorer_call(
        request,
        VIEWER,
        "AnalyzeKeyspace",
        lambda target: explorer_pb2.AnalyzeKeyspaceRequest(
            target=target,
            sample_size=query_int(request, "sample_size", 0, minimum=1, maximum=100_000),
            pattern=query_bytes(request, "pattern"),
            delimiter=query_bytes(request, "delimiter"),
            top=query_int(request, "top", 0, minimum=1, maximum=100),
        ),
        stream=True,
    )
    return await progress_reply(call, _progress)


async def slowlog(request: Request) -> Response:
    """
    get:
      summary: The slow log, newest first (viewers; every primary of a cluster). Secret arguments are redacted.
      parameters: [{name: count, in: query, schema: {type: integer, minimum: 1, maximum: 1000, default: 128}}]
      responses:
        200: {description: '{"data": [{"id", "time", "duration_us", "args", "client_address", "client_name", "node"}]}'}
    delete:
      summary: Resets the slow log (admins).
      responses: {200: {description: '{"reset": true}'}}
    """
    if request.method == "DELETE":
        await explorer_call(
            request,
            ADMIN,
            "ResetSlowLog",
            lambda target: explorer_pb2.ResetSlowLogRequest(target=target),
        )
        return JSONResponse({"reset": True})
    reply = await explorer_call(
        request,
        VIEWER,
        "GetSlowLog",
        lambda target: explorer_pb2.GetSlowLogRequest(
            target=target, count=query_int(request, "count", 0, minimum=1, maximum=1000)
        ),
    )
    data = []
    for entry in reply.entries:
        args, binary = texts(list(entry.args))
        shown: dict[str, Any] = {
            "id": entry.id,
            "time": entry.time,
            "duration_us": entry.duration_us,
            "args": args,
            "client_address": entry.client_address,
            "client_name": entry.client_name,
            "node": entry.node or None,
        }
        if binary:
            shown["encoding"] = "base64"
        data.append(shown)
    return JSONResponse({"data": data})


async def clients(request: Request) -> Response:
    """
    get:
      summary: CLIENT LIST (admins), each client's fields as Redis names them, and its node in a cluster.
      responses: {200: {description: '{"data": [{"id", "addr", "name", "age", "idle", "db", "cmd", ..., "node"}]}'}}
    """
    reply = await explorer_call(
        request, ADMIN, "ListClients", lambda target: explorer_pb2.ListClientsRequest(target=target)
    )
    return JSONResponse({"data": [{**dict(item.fields), "node": item.node or None} for item in reply.clients]})


ROUTES = [
    Route("/redis/{ref}/analysis", analysis, methods=["GET"]),
    Route("/redis/{ref}/slowlog", slowlog, methods=["GET", "DELETE"]),
    Route("/redis/{ref}/clients", clients, methods=["GET"]),
]
