"""gzip for large replies: Starlette's middleware, skipped for replies that say they are small.

Starlette's :class:`~starlette.middleware.gzip.GZipMiddleware` builds a responder per request
(header objects, its list of excluded media types normalised again) and holds every reply's start
until its first body part has been seen. For the gateway's typical reply (a key, a document, a
row: a few hundred bytes, with its ``content-length``) that was a tenth of the gateway's own CPU
per request. :class:`Compression` lets a reply whose declared length is under the minimum go out
untouched (what Starlette does with it too), and hands every other reply, message by message, to
Starlette's own responder, which compresses it exactly as before.
"""

from __future__ import annotations

from starlette.middleware.gzip import GZipMiddleware, GZipResponder, IdentityResponder
from starlette.types import Message, Receive, Scope, Send


class Compression(GZipMiddleware):
    """Starlette's gzip middleware with a direct path for replies known to be small."""

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        responder: IdentityResponder | None = None
        direct = False

        async def send_reply(message: Message) -> None:
            nonlocal responder, direct
            if direct:
                await send(message)
                return
            if responder is None:
                if message["type"] == "http.response.start" and _declared_length(message) < self.minimum_size:
                    direct = True
                    await send(message)
                    return
                responder = self._responder(scope)
                responder.send = send
            await responder.send_with_compression(message)

        await self.app(scope, receive, send_reply)

    def _responder(self, scope: Scope) -> IdentityResponder:
        """Starlette's responder for this request, as its own middleware would have chosen it."""
        if _accepts_gzip(scope):
            return GZipResponder(
                self.app,
                self.minimum_size,
                compresslevel=self.compresslevel,
                thread_minimum_size=self.thread_minimum_size,
                exclude_content_types=self.exclude_content_types,
            )
        return IdentityResponder(self.app, self.minimum_size, exclude_content_types=self.exclude_content_types)


def _declared_length(start: Message) -> float:
    """The reply's ``content-length``, infinite when it has none (a stream) or an unreadable one."""
    for key, value in start.get("headers") or ():
        if key.lower() == b"content-length":
            return int(value) if value.isdigit() else float("inf")
    return float("inf")


def _accepts_gzip(scope: Scope) -> bool:
    return any(key.lower() == b"accept-encoding" and b"gzip" in value for key, value in scope["headers"])
