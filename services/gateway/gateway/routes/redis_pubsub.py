"""The pub/sub WebSocket: `/redis/[ref]/pubsub/subscribe?channels=a,b&patterns=news.*`.

Each WebSocket joins its target's shared stream (:mod:`gateway.pubsub`) and gets:

- ``{"type": "subscribe", "channels", "patterns"}`` once every subscription holds;
- ``{"type": "message", "channel", "pattern", "data"}`` per message (``"encoding": "base64"``
  with every part base64 when one is not UTF-8);
- ``{"type": "resubscribe", "channels", "patterns"}`` when the subscriptions hold again after
  the connection to Redis was lost (messages published meanwhile were missed).

Close codes: 4000 + the HTTP status for a refused subscription, or when the subscriber lost the
project (4404) or the viewer role (4403), or its connection was deleted (4404); 1013 for a
client that fell behind (its queue passed MAX_QUEUED_MESSAGES or MAX_QUEUED_BYTES; the others
are not slowed); 1011 when the subscription failed (Redis away past the reconnect window, the
connection record changed: subscribe again); 1001 when the gateway is stopping.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging

import orjson
from starlette.websockets import WebSocket, WebSocketDisconnect

from gateway.calls import authorize, backends
from gateway.http import query_list
from gateway.pubsub import Frame, SharedStream
from udb.common.v1 import common_pb2
from udb.errors import DatabaseError, InvalidArgument
from udb.fanout import SlowSubscriber, Subscriber

log = logging.getLogger("gateway.redis")

#: A subscriber whose WebSocket does not keep up is closed once this much waits for it.
MAX_QUEUED_MESSAGES = 1000
MAX_QUEUED_BYTES = 8 * 1024 * 1024
#: Channels and patterns of one WebSocket.
MAX_NAMES = 100
CLOSE_SLOW_CONSUMER = 1013
CLOSE_STREAM_FAILED = 1011
CLOSE_GOING_AWAY = 1001
#: The close frame waits behind what the client has not read yet: this long, then the socket goes.
CLOSE_WAIT_S = 10.0


def _names(websocket: WebSocket, name: str) -> list[str]:
    return list(dict.fromkeys(query_list(websocket, name)))


def _close_code(error: DatabaseError | None) -> tuple[int, str]:
    if error is None:
        return CLOSE_GOING_AWAY, "the gateway is stopping"
    if isinstance(error, SlowSubscriber):
        return CLOSE_SLOW_CONSUMER, error.message[:120]
    if error.http_status in (400, 401, 403, 404):
        return 4000 + error.http_status, error.message[:120]
    return CLOSE_STREAM_FAILED, f"{error.code}: {error.message}"[:120]


async def refuse(websocket: WebSocket, error: DatabaseError) -> None:
    """Tells the client why the subscription could not start: an error frame, then the close
    code (4000 + the HTTP status for a refusal, 1011 when it failed)."""
    await websocket.send_text(
        orjson.dumps(
            {"type": "error", "message": error.message, "error": {"code": error.code, "message": error.message}}
        ).decode()
    )
    code, reason = _close_code(error)
    await websocket.close(code=code, reason=reason)


async def subscribe(websocket: WebSocket) -> None:
    """Bridges the target's shared subscription to this WebSocket, one JSON text frame per event."""
    await websocket.accept()
    b = backends(websocket)
    try:
        # One stream per target, not one call per request: authorized here, then joined.
        caller = await authorize(websocket, common_pb2.ROLE_VIEWER)
        channels, patterns = _names(websocket, "channels"), _names(websocket, "patterns")
        if not channels and not patterns:
            raise InvalidArgument("give ?channels=a,b and/or ?patterns=news.*", details={"parameter": "channels"})
        if len(channels) + len(patterns) > MAX_NAMES:
            raise InvalidArgument(f"at most {MAX_NAMES} channels and patterns", details={"parameter": "channels"})
        subscriber: Subscriber[Frame] = Subscriber(
            len,
            principal=caller.principal,
            project_ref=caller.target.project_ref,
            max_messages=MAX_QUEUED_MESSAGES,
            max_bytes=MAX_QUEUED_BYTES,
        )
        key = (caller.target.project_ref, caller.target.connection_id)
        stream = await b.pubsub.join(key, subscriber, [c.encode() for c in channels], [p.encode() for p in patterns])
    except DatabaseError as error:
        await refuse(websocket, error)
        return
    try:
        await _serve(websocket, stream, subscriber, channels, patterns)
    finally:
        await stream.remove(subscriber)


async def _serve(
    websocket: WebSocket, stream: SharedStream, subscriber: Subscriber[Frame], channels: list[str], patterns: list[str]
) -> None:
    async def forward() -> None:
        await websocket.send_text(
            orjson.dumps({"type": "subscribe", "channels": channels, "patterns": patterns}).decode()
        )
        while True:
            for frame in await subscriber.get_batch():
                await websocket.send_text(frame)

    async def watch_client() -> None:
        # The client sends nothing we act on; this notices when it goes away.
        with contextlib.suppress(WebSocketDisconnect):
            while True:
                await websocket.receive_text()

    sending = asyncio.create_task(forward())
    watching = asyncio.create_task(watch_client())
    ending = asyncio.create_task(subscriber.wait_ended())
    try:
        # A slow client's send blocks: its end is noticed here, not behind that send.
        await asyncio.wait([sending, watching, ending], return_when=asyncio.FIRST_COMPLETED)
    finally:
        for task in (sending, watching, ending):
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
    if watching.done() and not watching.cancelled():
        return  # the client went away
    if not subscriber.ended:
        return  # the socket failed while sending: nobody to tell
    code, reason = _close_code(subscriber.error)
    if code == CLOSE_SLOW_CONSUMER:
        log.warning("closing a slow subscriber", extra={"queued": subscriber.queued})
    with contextlib.suppress(Exception):
        await asyncio.wait_for(websocket.close(code=code, reason=reason), CLOSE_WAIT_S)
