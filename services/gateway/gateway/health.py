"""The gateway's own gRPC health and reflection, so that probes and grpcurl treat all five
services alike. It reports SERVING while the HTTP app runs."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection

from udb.server import HealthServicer, server_options

SERVICE_NAME = "udb.gateway"


@dataclass
class HealthServer:
    server: grpc.aio.Server
    servicer: Any
    port: int

    async def stop(self) -> None:
        await self.servicer.enter_graceful_shutdown()
        await self.server.stop(1)


async def start_health_server(address: str) -> HealthServer:
    server = grpc.aio.server(options=server_options(4 * 1024 * 1024))
    servicer = HealthServicer()
    health_pb2_grpc.add_HealthServicer_to_server(servicer, server)
    reflection.enable_server_reflection(
        [health_pb2.DESCRIPTOR.services_by_name["Health"].full_name, reflection.SERVICE_NAME], server
    )
    port = server.add_insecure_port(address)
    await server.start()
    for name in ("", SERVICE_NAME):
        await servicer.set(name, health_pb2.HealthCheckResponse.SERVING)
    return HealthServer(server, servicer, port)
