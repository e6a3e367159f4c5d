"""pg-svc's PgExplainService: the JSON plan of one statement, in a transaction always rolled back.

A viewer's EXPLAIN runs on the read-only viewer login (:mod:`pg_svc.viewer`) in a ``READ ONLY``
transaction, and may not ANALYZE (which runs the statement). A developer's runs as the
connection's user; with ANALYZE the statement's writes happen and are then rolled back, with the
transaction. Either way the statement has the configured time limit, and it is sent through the
extended protocol, so the text can hold one statement only.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Callable
from typing import Any

import asyncpg
import grpc
import orjson
from asyncpg.pool import PoolConnectionProxy

from pg_svc import session
from pg_svc.settings import Settings
from pg_svc.sql_errors import query_error
from pg_svc.statements import Kind, split
from udb.errors import InvalidArgument, PermissionDenied
from udb.pg.v1 import explain_pb2, explain_pb2_grpc

#: PgService's scope for a caller's SQL: a connection, and whether it is a viewer's (read only).
SqlConnection = Callable[[Any], contextlib.AbstractAsyncContextManager[tuple[PoolConnectionProxy, bool]]]


def explain_prefix(request: explain_pb2.ExplainRequest) -> str:
    """``EXPLAIN (FORMAT JSON, ...)`` with the options asked for (constant text, no input)."""
    options = ["FORMAT JSON"]
    for name, wanted in (
        ("ANALYZE", request.analyze),
        ("VERBOSE", request.verbose),
        ("BUFFERS", request.buffers),
        ("SETTINGS", request.settings),
    ):
        if wanted:
            options.append(name)
    return f"EXPLAIN ({', '.join(options)}) "


class PgExplainService(explain_pb2_grpc.PgExplainServiceServicer):
    """EXPLAIN of a caller's statement."""

    def __init__(self, sql_connection: SqlConnection, settings: Settings) -> None:
        self.sql_connection = sql_connection
        self.settings = settings

    async def Explain(
        self, request: explain_pb2.ExplainRequest, context: grpc.aio.ServicerContext[Any, Any]
    ) -> explain_pb2.ExplainResponse:
        statements = split(request.query)
        if len(statements) != 1:
            raise InvalidArgument("query must hold exactly one statement", details={"field": "query"})
        if statements[0].kind is not Kind.PLAIN:
            raise InvalidArgument(
                "only a statement that runs in a transaction is explained", details={"field": "query"}
            )
        prefix = explain_prefix(request)
        async with self.sql_connection(request.target) as (connection, read_only):
            if read_only and request.analyze:
                raise PermissionDenied("EXPLAIN ANALYZE runs the statement: it needs the developer role")
            limits = self.settings.limits()
            async with _rolled_back(
                connection, request.query, read_only=read_only, timeout_ms=limits.statement_timeout_ms
            ):
                try:
                    plan = await connection.fetchval(prefix + request.query, timeout=limits.backstop_s)
                except asyncpg.PostgresError as exc:
                    # Positions count from the caller's text, not from the EXPLAIN before it.
                    raise query_error(exc, request.query, -len(prefix), read_only=read_only) from None
        # The pools decode json as an orjson.Fragment of Postgres's own text (pg_svc.values).
        return explain_pb2.ExplainResponse(plan=plan if isinstance(plan, str) else orjson.dumps(plan).decode())


@contextlib.asynccontextmanager
async def _rolled_back(
    connection: PoolConnectionProxy, statement: str, *, read_only: bool, timeout_ms: int
) -> AsyncIterator[None]:
    """A transaction (read only for a viewer) with the statement time limit, rolled back at the
    end whatever happened, and the session reset (what an analyzed statement changed in it); a
    connection that cannot be rolled back is closed, not reused."""
    # Driver errors here are translated by the borrow this runs in (EngineRuntime.borrow).
    begin = "BEGIN; "
    if read_only:
        # A viewer's connection comes already in its read-only transaction (pg_svc.viewer).
        begin = "" if connection.is_in_transaction() else "BEGIN READ ONLY; "
    await connection.execute(begin + f"SET LOCAL statement_timeout = {int(timeout_ms)}")
    try:
        yield
    finally:
        try:
            await session.reset(connection, "ROLLBACK; ", statement)
        except Exception:  # noqa: BLE001 (whatever went wrong, this connection is not reused)
            connection.terminate()
