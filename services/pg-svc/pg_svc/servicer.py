"""pg-svc's RPCs."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from typing import Any

import asyncpg
import grpc
import orjson

from pg_svc import catalog
from pg_svc.clients import translate
from pg_svc.flights import Flights
from pg_svc.query import Limits, StatementError, run
from pg_svc.settings import Settings
from pg_svc.sql_errors import query_error
from pg_svc.typegen import generate as typegen
from pg_svc.viewer import ViewerPools
from udb.common.v1 import common_pb2
from udb.engine import EngineRuntime
from udb.errors import DatabaseError, DeadlineExceeded, InvalidArgument
from udb.pg.v1 import pg_pb2, pg_pb2_grpc
from udb.pool import record_version
from udb.registry.v1 import registry_pb2
from udb.registry_client import Access

#: Errors of a pooled connection that died while idle (a restarted server): a catalogue read
#: is tried once more on a fresh connection.
_CONNECTION_LOST = (asyncpg.ConnectionDoesNotExistError, asyncpg.InterfaceError, ConnectionError)


class PgService(pg_pb2_grpc.PgServiceServicer):
    """Operations on a project's Postgres databases."""

    def __init__(self, runtime: EngineRuntime[asyncpg.Pool], settings: Settings) -> None:
        self.runtime = runtime
        self.settings = settings
        self._flights: Flights[str] = Flights()
        self.viewers = ViewerPools(settings, acquire_timeout_s=settings.connect_timeout_s)
        runtime.registry.add_listener(self.viewers.invalidate)

    async def start(self) -> None:
        await self.viewers.start()

    async def close(self) -> None:
        await self.viewers.close()

    @contextlib.asynccontextmanager
    async def _connection(
        self, target: common_pb2.ConnectionTarget, required_role: int
    ) -> AsyncIterator[tuple[asyncpg.pool.PoolConnectionProxy, Access]]:
        """A pooled connection to the target's database, after the access check."""
        async with self.runtime.borrow(target, required_role) as borrowed:
            pool = borrowed.client
            try:
                connection = await pool.acquire(timeout=self.settings.connect_timeout_s)
            except Exception as exc:  # noqa: BLE001 (translate maps every driver error)
                raise translate(exc) from None
            try:
                yield connection, borrowed.access
            finally:
                await pool.release(connection)

    @contextlib.asynccontextmanager
    async def _sql_connection(
        self, target: common_pb2.ConnectionTarget
    ) -> AsyncIterator[tuple[asyncpg.pool.PoolConnectionProxy, bool]]:
        """A connection for a caller's SQL, and whether it is a viewer's (read only): a developer's
        runs as the connection's user, a viewer's with read rights only (:mod:`pg_svc.viewer`)."""
        async with self.runtime.borrow(target, common_pb2.ROLE_VIEWER) as borrowed:
            if borrowed.access.role < common_pb2.ROLE_DEVELOPER:
                async with self.viewers.connection(borrowed) as connection:
                    yield connection, True
                return
            try:
                connection = await borrowed.client.acquire(timeout=self.settings.connect_timeout_s)
            except Exception as exc:  # noqa: BLE001 (translate maps every driver error)
                raise translate(exc) from None
            try:
                yield connection, False
            finally:
                await borrowed.client.release(connection)

    async def _catalog(self, target: common_pb2.ConnectionTarget, sql: str, *args: Any) -> str:
        """One catalogue query's JSON text (any member may read the catalogue). Equal questions
        about one database, asked at the same time, share one query (see :mod:`pg_svc.flights`)."""
        _, resolved = await self.runtime.resolve(target, common_pb2.ROLE_VIEWER)
        key = (
            resolved.connection.id,
            record_version(resolved.connection),
            sql,
            tuple(tuple(arg) if isinstance(arg, list) else arg for arg in args),
        )
        return await self._flights.run(key, lambda: self._fetch_catalog(resolved, sql, args))

    async def _fetch_catalog(self, resolved: registry_pb2.ResolvedConnection, sql: str, args: tuple[Any, ...]) -> str:
        for attempt in (1, 2):
            try:
                async with self.runtime.pools.acquire(resolved) as pool:
                    try:
                        connection = await pool.acquire(timeout=self.settings.connect_timeout_s)
                    except Exception as exc:  # noqa: BLE001 (translate maps every driver error)
                        raise translate(exc) from None
                    try:
                        text: str = await connection.fetchval(sql, *args, timeout=self._limits(0).backstop_s)
                        return text
                    finally:
                        await pool.release(connection)
            except DatabaseError:
                raise
            except _CONNECTION_LOST as exc:
                if attempt == 2:
                    raise translate(exc) from None
            except TimeoutError:
                raise DeadlineExceeded("the catalogue query ran past its time limit") from None
            except Exception as exc:  # noqa: BLE001 (translate maps every driver error)
                raise translate(exc) from None
        raise AssertionError("unreachable")

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
        async with self._sql_connection(request.target) as (connection, read_only):
            try:
                result = await run(
                    connection,
                    request.query,
                    parameters,
                    read_only=read_only,
                    limits=limits,
                    lowered_timeout=limits.statement_timeout_ms < configured,
                    application_name=request.application_name,
                )
            except StatementError as exc:
                raise query_error(exc.error, request.query, exc.offset, read_only=read_only) from None
            except DatabaseError:
                raise
            except TimeoutError:
                raise DeadlineExceeded("the statement ran past its time limit") from None
            except Exception as exc:  # noqa: BLE001 (translate maps every driver error)
                raise translate(exc) from None
        return pg_pb2.QueryResponse(rows=result.rows.decode(), truncated=result.truncated, row_count=result.row_count)

    async def ListSchemas(
        self, request: pg_pb2.ListSchemasRequest, context: grpc.aio.ServicerContext[Any, Any]
    ) -> pg_pb2.ListSchemasResponse:
        args = catalog.schema_filter(request.filter).as_args()
        schemas = await self._catalog(request.target, catalog.SCHEMAS, *args, request.filter.include_system_schemas)
        return pg_pb2.ListSchemasResponse(schemas=schemas)

    async def ListTables(
        self, request: pg_pb2.ListTablesRequest, context: grpc.aio.ServicerContext[Any, Any]
    ) -> pg_pb2.ListTablesResponse:
        include_columns = request.include_columns if request.HasField("include_columns") else True
        sql = catalog.tables(include_columns=include_columns)
        tables = await self._catalog(request.target, sql, *catalog.schema_filter(request.filter).as_args())
        return pg_pb2.ListTablesResponse(tables=tables)

    async def ListColumns(
        self, request: pg_pb2.ListColumnsRequest, context: grpc.aio.ServicerContext[Any, Any]
    ) -> pg_pb2.ListColumnsResponse:
        args = catalog.schema_filter(request.filter).as_args()
        return pg_pb2.ListColumnsResponse(columns=await self._catalog(request.target, catalog.COLUMNS, *args))

    async def ListViews(
        self, request: pg_pb2.ListViewsRequest, context: grpc.aio.ServicerContext[Any, Any]
    ) -> pg_pb2.ListViewsResponse:
        include_columns = request.include_columns if request.HasField("include_columns") else True
        sql = catalog.views(include_columns=include_columns)
        views = await self._catalog(request.target, sql, *catalog.schema_filter(request.filter).as_args())
        return pg_pb2.ListViewsResponse(views=views)

    async def ListMaterializedViews(
        self, request: pg_pb2.ListMaterializedViewsRequest, context: grpc.aio.ServicerContext[Any, Any]
    ) -> pg_pb2.ListMaterializedViewsResponse:
        include_columns = request.include_columns if request.HasField("include_columns") else False
        sql = catalog.materialized_views(include_columns=include_columns)
        # postgres-meta leaves no system schema out of this list.
        catalog_filter = pg_pb2.CatalogFilter()
        catalog_filter.CopyFrom(request.filter)
        catalog_filter.include_system_schemas = True
        views = await self._catalog(request.target, sql, *catalog.schema_filter(catalog_filter).as_args())
        return pg_pb2.ListMaterializedViewsResponse(materialized_views=views)

    async def ListPolicies(
        self, request: pg_pb2.ListPoliciesRequest, context: grpc.aio.ServicerContext[Any, Any]
    ) -> pg_pb2.ListPoliciesResponse:
        args = catalog.schema_filter(request.filter).as_args()
        return pg_pb2.ListPoliciesResponse(policies=await self._catalog(request.target, catalog.POLICIES, *args))

    async def ListTriggers(
        self, request: pg_pb2.ListTriggersRequest, context: grpc.aio.ServicerContext[Any, Any]
    ) -> pg_pb2.ListTriggersResponse:
        args = catalog.schema_filter(request.filter).as_args()
        return pg_pb2.ListTriggersResponse(triggers=await self._catalog(request.target, catalog.TRIGGERS, *args))

    async def ListExtensions(
        self, request: pg_pb2.ListExtensionsRequest, context: grpc.aio.ServicerContext[Any, Any]
    ) -> pg_pb2.ListExtensionsResponse:
        page = catalog.schema_filter(request.filter)
        extensions = await self._catalog(request.target, catalog.EXTENSIONS, page.limit, page.offset)
        return pg_pb2.ListExtensionsResponse(extensions=extensions)

    async def ListTypes(
        self, request: pg_pb2.ListTypesRequest, context: grpc.aio.ServicerContext[Any, Any]
    ) -> pg_pb2.ListTypesResponse:
        args = catalog.schema_filter(request.filter).as_args()
        types = await self._catalog(request.target, catalog.TYPES, *args, request.include_array_types)
        return pg_pb2.ListTypesResponse(types=types)

    async def ListFunctions(
        self, request: pg_pb2.ListFunctionsRequest, context: grpc.aio.ServicerContext[Any, Any]
    ) -> pg_pb2.ListFunctionsResponse:
        args = catalog.schema_filter(request.filter).as_args()
        return pg_pb2.ListFunctionsResponse(functions=await self._catalog(request.target, catalog.FUNCTIONS, *args))

    async def TestConnection(
        self, request: pg_pb2.TestConnectionRequest, context: grpc.aio.ServicerContext[Any, Any]
    ) -> common_pb2.ConnectionTestResult:
        async def probe(pool: asyncpg.Pool) -> str:
            version = await pool.fetchval("SHOW server_version")
            return str(version)

        return await self.runtime.test_connection(request.target, probe, translate)

    # ---- postgres-meta's type generators ----------------------------------------------------

    async def GenerateTypes(
        self, request: pg_pb2.GenerateTypesRequest, context: grpc.aio.ServicerContext[Any, Any]
    ) -> pg_pb2.GenerateTypesResponse:
        typegen.check(request)
        document = await self._catalog(
            request.target,
            typegen.QUERY,
            list(request.included_schemas) or None,
            list(request.excluded_schemas) or None,
        )
        # Templating a large schema takes a while: off the event loop.
        text = await asyncio.to_thread(typegen.generate, request, document)
        return pg_pb2.GenerateTypesResponse(text=text)


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
