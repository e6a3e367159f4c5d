"""The live command monitor over a WebSocket: `/redis/[ref]/monitor?max_events=&max_seconds=`.

Admins only. Frames: ``{"type": "command", "time", "db", "client", "node", "args"}`` per command
(``"encoding": "base64"`` with every argument base64 when one is not UTF-8; AUTH's and HELLO's
arguments are "(redacted)"), then ``{"type": "end", "reason": "max_events" | "max_seconds",
"dropped"}`` and a normal close (1000). A refusal is an error frame and close code 4000 + the
HTTP status (4403 for a non-admin), as on the pub/sub WebSocket.
"""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any

import grpc
import orjson
from starlette.routing import WebSocketRoute
from starlette.websockets import WebSocket, WebSocketDisconnect

from gateway.routes.redis_explorer.crossing import ADMIN, explorer_call, texts
from gateway.routes.redis_pubsub import refuse
from udb.errors import DatabaseError, InvalidArgument, from_rpc_error
from udb.redis.v1 import explorer_pb2


def _limit(websocket: WebSocket, name: str, maximum: int) -> int:
    text = websocket.query_params.get(name, "")
    if not text:
        return 0
    if not text.isdigit() or not 1 <= int(text) <= maximum:
        raise InvalidArgument(f"{name} must be between 1 and {maximum}", details={"parameter": name})
    return int(text)


def frame(event: explorer_pb2.MonitorEvent) -> dict[str, Any]:
    if event.ended:
        return {"type": "end", "reason": event.ended, "dropped": event.dropped}
    args, binary = texts(list(event.args))
    shown: dict[str, Any] = {
        "type": "command",
        "time": event.time,
        "db": event.db,
        "client": event.client,
        "node": event.node or None,
        "args": args,
    }
    if binary:
        shown["encoding"] = "base64"
    return shown


async def monitor(websocket: WebSocket) -> None:
    """Bridges the service's Monitor stream to the WebSocket until its limits or the client's end."""
    await websocket.accept()
    try:
        request = explorer_pb2.MonitorRequest(
            max_events=_limit(websocket, "max_events", 10_000), max_seconds=_limit(websocket, "max_seconds", 300)
        )

        def build(target: Any) -> explorer_pb2.MonitorRequest:
            request.target.CopyFrom(target)
            return request

        call = await explorer_call(websocket, ADMIN, "Monitor", build, stream=True)
    except DatabaseError as error:
        await refuse(websocket, error)
        return

    async def forward() -> None:
        try:
            async for event in call:
                await websocket.send_text(orjson.dumps(frame(event)).decode())
        except grpc.RpcError as exc:
            await refuse(websocket, from_rpc_error(exc))
            return
        await websocket.close(code=1000)

    async def watch_client() -> None:
        # The client sends nothing we act on; this notices when it goes away.
        with contextlib.suppress(WebSocketDisconnect):
            while True:
                await websocket.receive_text()

    tasks = [asyncio.create_task(forward()), asyncio.create_task(watch_client())]
    try:
        await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
    finally:
        call.cancel()
        for task in tasks:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task


ROUTES = [WebSocketRoute("/redis/{ref}/monitor", monitor)]
