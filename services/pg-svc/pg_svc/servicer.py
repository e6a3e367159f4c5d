"""pg-svc's RPCs."""

from __future__ import annotations

from typing import Any

import asyncpg
import grpc

from pg_svc.clients import translate
from udb.common.v1 import common_pb2
from udb.engine import EngineRuntime
from udb.pg.v1 import pg_pb2, pg_pb2_grpc


class PgService(pg_pb2_grpc.PgServiceServicer):
    """Operations on a project's Postgres databases."""

    def __init__(self, runtime: EngineRuntime[asyncpg.Pool]) -> None:
        self.runtime = runtime

    async def TestConnection(
        self, request: pg_pb2.TestConnectionRequest, context: grpc.aio.ServicerContext[Any, Any]
    ) -> common_pb2.ConnectionTestResult:
        async def probe(pool: asyncpg.Pool) -> str:
            version = await pool.fetchval("SHOW server_version")
            return str(version)

        return await self.runtime.test_connection(request.target, probe, translate)
