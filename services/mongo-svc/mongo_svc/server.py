"""mongo-svc's server factory."""

from __future__ import annotations

from mongo_svc.clients import client_factory, close_client, translate
from mongo_svc.cursors import CursorRegistry
from mongo_svc.explorer.service import MongoExplorerService
from mongo_svc.servicer import MongoService
from mongo_svc.settings import Settings
from udb.common.v1 import common_pb2
from udb.engine import EngineRuntime
from udb.mongo.v1 import explorer_pb2, explorer_pb2_grpc, mongo_pb2, mongo_pb2_grpc
from udb.readiness import peer_serving
from udb.server import Registration, Server, build_server

SERVICE_NAME = mongo_pb2.DESCRIPTOR.services_by_name["MongoService"].full_name
EXPLORER_SERVICE_NAME = explorer_pb2.DESCRIPTOR.services_by_name["MongoExplorerService"].full_name


async def create_server(settings: Settings, address: str = "127.0.0.1:0") -> tuple[Server, int]:
    """mongo-svc bound to ``address``, not started."""
    runtime = EngineRuntime(
        settings, common_pb2.DATABASE_TYPE_MONGODB, client_factory(settings), close_client, translate=translate
    )
    cursors = CursorRegistry(
        max_open=settings.max_open_cursors,
        max_per_connection=settings.max_cursors_per_connection,
        idle_timeout_s=settings.cursor_idle_timeout_s,
    )
    servicer = MongoService(runtime, settings, cursors)
    return build_server(
        settings,
        [
            Registration(mongo_pb2_grpc.add_MongoServiceServicer_to_server, servicer, SERVICE_NAME),
            Registration(
                explorer_pb2_grpc.add_MongoExplorerServiceServicer_to_server,
                MongoExplorerService(servicer.borrow, settings),
                EXPLORER_SERVICE_NAME,
            ),
        ],
        address=address,
        on_start=[runtime.start, cursors.start],
        # Run in reverse: open cursors are killed before their clients close.
        on_stop=[runtime.close, cursors.close],
        readiness={"registry": peer_serving(runtime.registry.channel)},
        components={"runtime": runtime, "cursors": cursors},
    )
