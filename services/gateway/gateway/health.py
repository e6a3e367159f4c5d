"""The gateway's own gRPC health and reflection, so that probes and grpcurl treat all five
services alike: live (``liveness``) while the HTTP app runs, ready (``""``, ``udb.gateway``) while
its readiness checks pass (the registry answers: without it every route is 503)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection

from udb.readiness import Check, Readiness
from udb.server import HealthServicer, server_options

SERVICE_NAME = "udb.gateway"


@dataclass
class HealthServer:
    server: grpc.aio.Server
    servicer: Any
    port: int
    readiness: Readiness

    async def stop(self) -> None:
        await self.readiness.close()
        await self.servicer.enter_graceful_shutdown()
        await self.server.stop(1)


async def start_health_server(address: str, readiness: Mapping[str, Check] | None = None) -> HealthServer:
    server = grpc.aio.server(options=server_options(4 * 1024 * 1024))
    servicer = HealthServicer()
    health_pb2_grpc.add_HealthServicer_to_server(servicer, server)
    reflection.enable_server_reflection(
        [health_pb2.DESCRIPTOR.services_by_name["Health"].full_name, reflection.SERVICE_NAME], server
    )
    port = server.add_insecure_port(address)
    await server.start()
    checks = Readiness(servicer, (SERVICE_NAME,), readiness or {})
    await checks.start()
    return HealthServer(server, servicer, port, checks)
