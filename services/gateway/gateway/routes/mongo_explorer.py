"""MongoDB explorer routes beside the browsing ones (routes/mongodb.py): explain, index usage,
the schema of a sample, NDJSON export and import. They call mongo-svc's MongoExplorerService."""

from __future__ import annotations

import weakref
from collections.abc import Awaitable, Callable
from typing import Any

import grpc
from starlette.requests import Request
from starlette.routing import BaseRoute

from gateway.backends import Backends
from gateway.routes.common import backends
from udb.common.v1 import common_pb2
from udb.mongo.v1 import explorer_pb2_grpc

VIEWER = common_pb2.ROLE_VIEWER
DEVELOPER = common_pb2.ROLE_DEVELOPER

_STUBS: weakref.WeakKeyDictionary[grpc.aio.Channel, explorer_pb2_grpc.MongoExplorerServiceAsyncStub] = (
    weakref.WeakKeyDictionary()
)


def explorer(b: Backends) -> explorer_pb2_grpc.MongoExplorerServiceAsyncStub:
    """The MongoExplorerService stub on mongo-svc's channel (made once per channel)."""
    channel = b.channels["mongo-svc"]
    stub = _STUBS.get(channel)
    if stub is None:
        stub = _STUBS[channel] = explorer_pb2_grpc.MongoExplorerServiceStub(channel)
    return stub


async def _call(
    request: Request,
    role: int,
    rpc: Callable[[Backends], Callable[..., Awaitable[Any]]],
    message: Any,
) -> Any:
    """This module's one gateway-to-service crossing: the caller authorized for ``role`` on the
    project, then ``rpc`` called with ``message`` aimed at the caller's target, with their
    metadata, within the route's deadline."""
    b = backends(request)
    caller = await b.authorize(request, role)
    message.target.CopyFrom(caller.target)
    deadline = b.settings.read_deadline_s if role == VIEWER else b.settings.write_deadline_s
    return await rpc(b)(message, metadata=caller.metadata, timeout=deadline)


routes: list[BaseRoute] = []
