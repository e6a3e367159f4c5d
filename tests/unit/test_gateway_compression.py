"""The gateway's gzip middleware answers exactly as Starlette's does, for small, large, streamed, excluded and
already-encoded replies, to clients that accept gzip and to clients that do not."""

from __future__ import annotations

import asyncio
import gzip
from collections.abc import AsyncIterator
from typing import Any

import pytest
from gateway.compression import Compression
from starlette.middleware.gzip import GZipMiddleware
from starlette.responses import Response, StreamingResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send

LARGE = b'{"rows": "' + b"x" * 5000 + b'"}'


def _reply(kind: str) -> ASGIApp:
    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        response: Response
        if kind == "small":
            response = Response(b'{"ok": true}', media_type="application/json")
        elif kind == "large":
            response = Response(LARGE, media_type="application/json")
        elif kind == "excluded":
            response = Response(LARGE, media_type="image/png")
        elif kind == "encoded":
            response = Response(LARGE, media_type="application/json", headers={"content-encoding": "br"})
        else:

            async def lines() -> AsyncIterator[bytes]:
                for n in range(200):
                    yield b'{"n": %d, "pad": "%s"}\n' % (n, b"y" * 40)

            response = StreamingResponse(lines(), media_type="application/x-ndjson")
        await response(scope, receive, send)

    return app


async def _serve(middleware: Any, kind: str, accept: bytes) -> tuple[int, dict[bytes, bytes], bytes]:
    app = middleware(_reply(kind), minimum_size=1024, compresslevel=6)
    scope = {"type": "http", "method": "GET", "path": "/", "headers": [(b"accept-encoding", accept)]}
    sent: list[Message] = []
    requested = False

    async def receive() -> Message:
        nonlocal requested
        if requested:  # the body was read: nothing more until the reply ends (no disconnect)
            await asyncio.Event().wait()
        requested = True
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: Message) -> None:
        sent.append(message)

    await app(scope, receive, send)
    start = sent[0]
    body = b"".join(m.get("body", b"") for m in sent[1:])
    headers = dict(start["headers"])
    if headers.get(b"content-encoding") == b"gzip":
        body = gzip.decompress(body)
    return start["status"], headers, body


@pytest.mark.parametrize("kind", ["small", "large", "excluded", "encoded", "streamed"])
@pytest.mark.parametrize("accept", [b"gzip, deflate, br", b"identity"])
def test_replies_match_starlettes_gzip(kind: str, accept: bytes) -> None:
    """Status, headers (content-encoding, vary, content-length) and decoded body are Starlette's own."""
    ours = asyncio.run(_serve(Compression, kind, accept))
    theirs = asyncio.run(_serve(GZipMiddleware, kind, accept))
    assert ours == theirs
    if kind in ("large", "streamed") and accept.startswith(b"gzip"):
        assert ours[1][b"content-encoding"] == b"gzip"
