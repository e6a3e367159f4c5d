"""mongo-svc's RPCs."""

from __future__ import annotations

from typing import Any

import grpc

from mongo_svc.clients import MongoClient, translate
from udb.common.v1 import common_pb2
from udb.engine import EngineRuntime
from udb.mongo.v1 import mongo_pb2, mongo_pb2_grpc


class MongoService(mongo_pb2_grpc.MongoServiceServicer):
    """Operations on a project's MongoDB deployments."""

    def __init__(self, runtime: EngineRuntime[MongoClient]) -> None:
        self.runtime = runtime

    async def TestConnection(
        self, request: mongo_pb2.TestConnectionRequest, context: grpc.aio.ServicerContext[Any, Any]
    ) -> common_pb2.ConnectionTestResult:
        async def probe(client: MongoClient) -> str:
            info = await client.admin.command("buildInfo")
            return str(info.get("version", ""))

        return await self.runtime.test_connection(request.target, probe, translate)
