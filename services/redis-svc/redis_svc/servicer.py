"""redis-svc's RPCs."""

from __future__ import annotations

from typing import Any

import grpc
import redis.asyncio as redis

from redis_svc.clients import translate
from udb.common.v1 import common_pb2
from udb.engine import EngineRuntime
from udb.redis.v1 import redis_pb2, redis_pb2_grpc


class RedisService(redis_pb2_grpc.RedisServiceServicer):
    """Operations on a project's Redis databases."""

    def __init__(self, runtime: EngineRuntime[redis.Redis]) -> None:
        self.runtime = runtime

    async def TestConnection(
        self, request: redis_pb2.TestConnectionRequest, context: grpc.aio.ServicerContext[Any, Any]
    ) -> common_pb2.ConnectionTestResult:
        async def probe(client: redis.Redis) -> str:
            info = await client.info("server")
            return str(info.get("redis_version", ""))

        return await self.runtime.test_connection(request.target, probe, translate)
