"""pg-svc's server factory."""

from __future__ import annotations

from pg_svc.catalog_service import PgCatalogService
from pg_svc.clients import client_factory, close_client, translate
from pg_svc.explain_service import PgExplainService
from pg_svc.servicer import PgService
from pg_svc.settings import Settings
from udb.common.v1 import common_pb2
from udb.engine import EngineRuntime
from udb.pg.v1 import catalog_pb2, catalog_pb2_grpc, explain_pb2, explain_pb2_grpc, pg_pb2, pg_pb2_grpc
from udb.readiness import peer_serving
from udb.server import Registration, Server, build_server

SERVICE_NAME = pg_pb2.DESCRIPTOR.services_by_name["PgService"].full_name
CATALOG_SERVICE_NAME = catalog_pb2.DESCRIPTOR.services_by_name["PgCatalogService"].full_name
EXPLAIN_SERVICE_NAME = explain_pb2.DESCRIPTOR.services_by_name["PgExplainService"].full_name


async def create_server(settings: Settings, address: str = "127.0.0.1:0") -> tuple[Server, int]:
    """pg-svc bound to ``address``, not started."""
    runtime = EngineRuntime(
        settings, common_pb2.DATABASE_TYPE_POSTGRES, client_factory(settings), close_client, translate=translate
    )
    servicer = PgService(runtime, settings)
    return build_server(
        settings,
        [
            Registration(pg_pb2_grpc.add_PgServiceServicer_to_server, servicer, SERVICE_NAME),
            Registration(
                catalog_pb2_grpc.add_PgCatalogServiceServicer_to_server,
                PgCatalogService(runtime, settings),
                CATALOG_SERVICE_NAME,
            ),
            Registration(
                explain_pb2_grpc.add_PgExplainServiceServicer_to_server,
                PgExplainService(servicer.sql_connection, settings),
                EXPLAIN_SERVICE_NAME,
            ),
        ],
        address=address,
        on_start=[runtime.start, servicer.start],
        on_stop=[runtime.close, servicer.close],
        readiness={"registry": peer_serving(runtime.registry.channel)},
        components={"runtime": runtime},
    )
