"""pg-svc's RPCs."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from typing import Any

import asyncpg
import grpc
import orjson

from pg_svc.clients import translate
from pg_svc.pooled import pooled_connection
from pg_svc.query import Limits, StatementError, run
from pg_svc.settings import Settings
from udb.common.v1 import common_pb2
from udb.engine import EngineRuntime
from udb.errors import DatabaseError, DeadlineExceeded, InvalidArgument, PermissionDenied
from udb.pg.v1 import pg_pb2, pg_pb2_grpc
from udb.registry_client import Access

_READ_ONLY_VIOLATIONS = (asyncpg.ReadOnlySQLTransactionError, asyncpg.ActiveSQLTransactionError)


class PgService(pg_pb2_grpc.PgServiceServicer):
    """Operations on a project's Postgres databases."""

    def __init__(self, runtime: EngineRuntime[asyncpg.Pool], settings: Settings) -> None:
        self.runtime = runtime
        self.settings = settings

    @contextlib.asynccontextmanager
    async def _connection(
        self, target: common_pb2.ConnectionTarget, required_role: int
    ) -> AsyncIterator[tuple[asyncpg.pool.PoolConnectionProxy, Access]]:
        """A pooled connection to the target's database, after the access check."""
        async with (
            self.runtime.borrow(target, required_role) as borrowed,
            pooled_connection(borrowed.client, self.settings.connect_timeout_s) as connection,
        ):
            yield connection, borrowed.access

    def _limits(self, requested_ms: int) -> Limits:
        configured = int(self.settings.statement_timeout_s * 1000)
        timeout = min(requested_ms, configured) if requested_ms > 0 else configured
        return Limits(
            statement_timeout_ms=timeout,
            max_rows=self.settings.query_max_rows,
            max_bytes=self.settings.query_max_bytes,
        )

    async def Query(
        self, request: pg_pb2.QueryRequest, context: grpc.aio.ServicerContext[Any, Any]
    ) -> pg_pb2.QueryResponse:
        if request.statement_timeout_ms < 0:
            raise InvalidArgument(
                "statement_timeout_ms must not be negative", details={"field": "statement_timeout_ms"}
            )
        parameters = _parameters(request.parameters)
        limits = self._limits(request.statement_timeout_ms)
        configured = int(self.settings.statement_timeout_s * 1000)
        async with self._connection(request.target, common_pb2.ROLE_VIEWER) as (connection, access):
            read_only = access.role < common_pb2.ROLE_DEVELOPER
            try:
                result = await run(
                    connection,
                    request.query,
                    parameters,
                    read_only=read_only,
                    limits=limits,
                    lowered_timeout=limits.statement_timeout_ms < configured,
                )
            except StatementError as exc:
                error = translate(exc.error, position_offset=exc.offset)
                # Writing, or leaving read-only mode, from inside the viewer's transaction.
                if read_only and isinstance(exc.error, _READ_ONLY_VIOLATIONS):
                    error = PermissionDenied(f"a viewer's SQL is read-only: {error.message}", details=error.details)
                raise error from None
            except DatabaseError:
                raise
            except TimeoutError:
                raise DeadlineExceeded("the statement ran past its time limit") from None
            except Exception as exc:  # noqa: BLE001 (translate maps every driver error)
                raise translate(exc) from None
        return pg_pb2.QueryResponse(rows=result.rows.decode(), truncated=result.truncated, row_count=result.row_count)

    async def TestConnection(
        self, request: pg_pb2.TestConnectionRequest, context: grpc.aio.ServicerContext[Any, Any]
    ) -> common_pb2.ConnectionTestResult:
        async def probe(pool: asyncpg.Pool) -> str:
            version = await pool.fetchval("SHOW server_version")
            return str(version)

        return await self.runtime.test_connection(request.target, probe, translate)


def _parameters(text: str) -> list[Any] | None:
    """The bind parameters: a JSON array, or none."""
    if not text:
        return None
    try:
        values = orjson.loads(text)
    except orjson.JSONDecodeError:
        raise InvalidArgument("parameters must be a JSON array", details={"field": "parameters"}) from None
    if values is None:
        return None
    if not isinstance(values, list):
        raise InvalidArgument("parameters must be a JSON array", details={"field": "parameters"})
    return values
