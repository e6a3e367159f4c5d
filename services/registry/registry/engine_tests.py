"""Connection tests: the registry asks the record's engine service to connect with it, and keeps
the outcome as the record's status."""

from __future__ import annotations

import time

import grpc

from registry.access import project_for
from registry.connections import audit_record, connection_row
from registry.settings import Settings
from registry.store import Store, database_errors
from udb.auth import ServiceCredentials, current_principal
from udb.clients import insecure_channel, outgoing_metadata
from udb.common.v1 import common_pb2
from udb.engines import DB_TYPE_BY_NAME
from udb.errors import from_rpc_error
from udb.mongo.v1 import mongo_pb2, mongo_pb2_grpc
from udb.pg.v1 import pg_pb2, pg_pb2_grpc
from udb.redis.v1 import redis_pb2, redis_pb2_grpc
from udb.registry.v1 import registry_pb2

# Status only: not announced (migration 004), so the pooled clients the test opened stay.
_SET_STATUS = "UPDATE platform.database_connections SET status = $2 WHERE id = $1"


class EngineTests:
    """``TestConnection``, fanned out to the engine services over one channel each."""

    def __init__(self, settings: Settings, store: Store) -> None:
        self._settings = settings
        self._store = store
        self._credentials = ServiceCredentials(settings.auth, settings.name)
        self._channels: dict[int, grpc.aio.Channel] = {}

    async def close(self) -> None:
        for channel in self._channels.values():
            await channel.close(None)
        self._channels.clear()

    async def test_connection(self, request: registry_pb2.TestConnectionRequest) -> common_pb2.ConnectionTestResult:
        """The engine's verdict on the record (a failure is a result with ``ok: false``), audited."""
        project, _ = await project_for(
            self._store.pool, current_principal(), request.project_ref, common_pb2.ROLE_ADMIN
        )
        with database_errors():
            row = await connection_row(self._store.pool, project["id"], request.database_type, request.id)
        target = common_pb2.ConnectionTarget(project_ref=request.project_ref, connection_id=str(row["id"]))
        started = time.perf_counter()
        try:
            result = await self._ask_engine(DB_TYPE_BY_NAME[row["database_type"]], target)
        except grpc.RpcError as exc:
            error = from_rpc_error(exc)
            result = common_pb2.ConnectionTestResult(
                ok=False,
                latency_ms=(time.perf_counter() - started) * 1000,
                error=common_pb2.ErrorDetail(code=error.code, message=error.message, details=error.details),
            )
        with database_errors():
            async with self._store.pool.acquire() as conn, conn.transaction():
                await conn.execute(_SET_STATUS, row["id"], "ok" if result.ok else "error")
                await audit_record(
                    conn, row, "connection.test", outcome="ok" if result.ok else result.error.code or "error"
                )
        return result

    async def _ask_engine(
        self, engine: common_pb2.DatabaseType, target: common_pb2.ConnectionTarget
    ) -> common_pb2.ConnectionTestResult:
        channel = self._channels.get(engine)
        if channel is None:
            channel = insecure_channel(self._settings.engine_addresses[engine])
            self._channels[engine] = channel
        metadata = outgoing_metadata(self._credentials.metadata())
        timeout = self._settings.test_timeout_s
        result: common_pb2.ConnectionTestResult
        if engine == common_pb2.DATABASE_TYPE_REDIS:
            result = await redis_pb2_grpc.RedisServiceStub(channel).TestConnection(
                redis_pb2.TestConnectionRequest(target=target), metadata=metadata, timeout=timeout
            )
        elif engine == common_pb2.DATABASE_TYPE_MONGODB:
            result = await mongo_pb2_grpc.MongoServiceStub(channel).TestConnection(
                mongo_pb2.TestConnectionRequest(target=target), metadata=metadata, timeout=timeout
            )
        else:
            result = await pg_pb2_grpc.PgServiceStub(channel).TestConnection(
                pg_pb2.TestConnectionRequest(target=target), metadata=metadata, timeout=timeout
            )
        return result
