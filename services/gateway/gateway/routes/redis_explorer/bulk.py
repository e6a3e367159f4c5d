"""Bulk delete by pattern: `POST /redis/[ref]/bulk-delete/preview`, then `POST /redis/[ref]/bulk-delete`."""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from gateway.http import JSONResponse, field
from gateway.routes.redis_explorer.crossing import DEVELOPER, binary_body, explorer_call, progress_reply, texts
from udb.redis.v1 import explorer_pb2


async def _body(request: Request, allowed: frozenset[str]) -> tuple[dict[str, Any], bytes]:
    body, read = await binary_body(request, allowed)
    return body, read(field(body, "pattern", str, required=True), "pattern")


async def preview(request: Request) -> Response:
    """
    post:
      summary: 'Step one of a bulk delete (developers): how many keys match the pattern now, a sample, and
        the confirm token step two needs (bound to the pattern, the connection and the caller; it expires
        in 5 minutes).'
      requestBody: {content: {application/json: {example: {pattern: 'session:*', sample_size: 20}}}}
      responses:
        200: {description: '{"matched": 1200, "sample": ["session:1"], "token": "...", "expires_at": 1700000300}'}
        400: {description: 'no pattern, or a bad one'}
    """
    body, pattern = await _body(request, frozenset({"pattern", "sample_size"}))
    reply = await explorer_call(
        request,
        DEVELOPER,
        "PreviewDelete",
        lambda target: explorer_pb2.PreviewDeleteRequest(
            target=target, pattern=pattern, sample_size=field(body, "sample_size", int) or 0
        ),
    )
    sample, binary = texts(list(reply.sample))
    shown: dict[str, Any] = {
        "matched": reply.matched,
        "sample": sample,
        "token": reply.token,
        "expires_at": reply.expires_at,
    }
    if binary:
        shown["encoding"] = "base64"
    return JSONResponse(shown)


async def run(request: Request) -> Response:
    """
    post:
      summary: 'Step two (developers): UNLINKs the keys that match, in batches, with the preview''s token.
        The reply streams progress as NDJSON, one {"scanned", "deleted"} line per batch and a last one with
        "done": true; closing the connection stops the delete after the batch under way.'
      requestBody: {content: {application/json: {example: {pattern: 'session:*', token: '...', batch_size: 500}}}}
      responses:
        200: {description: 'application/x-ndjson: {"scanned": 500, "deleted": 500} ... {"done": true, ...}'}
        400: {description: no token}
        403: {description: 'a token that is altered, expired, or for another pattern, connection or user'}
    """
    body, pattern = await _body(request, frozenset({"pattern", "token", "batch_size"}))
    call = await explorer_call(
        request,
        DEVELOPER,
        "DeleteByPattern",
        lambda target: explorer_pb2.DeleteByPatternRequest(
            target=target,
            pattern=pattern,
            token=field(body, "token", str) or "",
            batch_size=field(body, "batch_size", int) or 0,
        ),
        stream=True,
    )
    return await progress_reply(
        call, lambda message: {"scanned": message.scanned, "deleted": message.deleted, "done": message.done}
    )


ROUTES = [
    Route("/redis/{ref}/bulk-delete/preview", preview, methods=["POST"]),
    Route("/redis/{ref}/bulk-delete", run, methods=["POST"]),
]
