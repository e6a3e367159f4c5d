"""Postgres engine: `SELECT 1` and `GET tables` through pg-svc (gRPC), the gateway (HTTP) and
Envoy, beside asyncpg used directly, and `GET tables` beside Supabase postgres-meta itself
(the npm package, against the same database), at 1 and 50 concurrent callers.

    python bench/bench_pg.py          # BENCH_SECONDS=10 for a careful run
    BENCH_PG_PARTS=select python bench/bench_pg.py   # only SELECT 1 (or "tables")

Targets (issue 6): GET tables through the gateway at least 20x postgres-meta's rate at 50
callers and a lower p50 at 1 caller, with the same JSON; SELECT 1 through HTTP at least 0.30x
asyncpg's rate in the same run.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(REPO / "bench"), str(REPO / "deploy" / "local"), str(REPO / "services" / "pg-svc")]

import aiohttp  # noqa: E402
import asyncpg  # noqa: E402
import devstack  # noqa: E402
import grpc  # noqa: E402
import uvloop  # noqa: E402
from common import (  # noqa: E402
    BenchStack,
    CpuMeter,
    HttpConnection,
    Result,
    bench_stack,
    http_operation,
    measure,
    report,
)
from pg_svc.catalog import relations  # noqa: E402
from pg_svc.catalog.scope import list_scope  # noqa: E402

from udb.common.v1 import common_pb2  # noqa: E402
from udb.mux.client import MuxChannel  # noqa: E402
from udb.pg.v1 import catalog_pb2, catalog_pb2_grpc, pg_pb2, pg_pb2_grpc  # noqa: E402

#: Which parts run: "select", "tables" or both (the default).
PARTS = frozenset(os.environ.get("BENCH_PG_PARTS", "select,tables").split(","))
CONCURRENCY = (1, 50)
#: SELECT 1 at the callers of issue 12's targets (GET tables keeps issue 6's 50).
SELECT_CONCURRENCY = (1, 64)

#: A console-sized schema: 3 schemas of 12 tables (8 columns, keys, foreign keys, an enum,
#: checks, comments), a view per schema, RLS with a policy on every other table.
SCHEMAS = ("app", "billing", "catalog")


def schema_sql() -> str:
    statements = ["CREATE TYPE public.state AS ENUM ('new', 'active', 'closed')"]
    for schema in SCHEMAS:
        statements.append(f"CREATE SCHEMA {schema}")
        for n in range(12):
            parent = f", parent_id bigint REFERENCES {schema}.t{n - 1} (id)" if n else ""
            statements.append(
                f"CREATE TABLE {schema}.t{n} (id bigserial PRIMARY KEY, name text NOT NULL CHECK (name <> ''),"
                f" state public.state DEFAULT 'new', amount numeric(12, 2), tags text[], doc jsonb,"
                f" created_at timestamptz DEFAULT now(), code text UNIQUE{parent})"
            )
            statements.append(f"COMMENT ON TABLE {schema}.t{n} IS 'table {n} of {schema}'")
            if n % 2 == 0:
                statements.append(f"ALTER TABLE {schema}.t{n} ENABLE ROW LEVEL SECURITY")
                statements.append(f"CREATE POLICY p{n} ON {schema}.t{n} FOR SELECT USING (state <> 'closed')")
        statements.append(f"CREATE VIEW {schema}.v AS SELECT id, name FROM {schema}.t0")
    return ";\n".join(statements)


def canonical(value: Any) -> Any:
    """JSON with arrays sorted: postgres-meta orders nothing."""
    if isinstance(value, list):
        return sorted((canonical(v) for v in value), key=lambda v: json.dumps(v, sort_keys=True))
    if isinstance(value, dict):
        return {k: canonical(v) for k, v in value.items()}
    return value


async def run(bench: BenchStack, meta_url: str | None) -> None:
    pg_url = bench.stack.urls["postgres"]
    headers = {"authorization": f"Bearer {bench.token}", "content-type": "application/json"}
    metadata = (("authorization", f"Bearer {bench.token}"),)
    target = common_pb2.ConnectionTarget(project_ref=bench.project_ref)
    pool = await asyncpg.create_pool(pg_url, min_size=10, max_size=10)
    channel = grpc.aio.insecure_channel(bench.grpc_address("pg-svc"))
    stub = pg_pb2_grpc.PgServiceStub(channel)
    catalog_stub = catalog_pb2_grpc.PgCatalogServiceStub(channel)
    list_tables = catalog_pb2.ListObjectsRequest(target=target, kind=catalog_pb2.CATALOG_KIND_TABLES)
    connector = aiohttp.TCPConnector(limit=100)
    http = aiohttp.ClientSession(connector=connector, headers=headers)
    gateway = f"{bench.gateway_url}/pg-meta/{bench.project_ref}"
    envoy = f"{bench.envoy_url}/pg-meta/{bench.project_ref}"
    tables_scope = list_scope(pg_pb2.CatalogFilter())
    tables_sql = relations.tables(tables_scope, include_columns=True)
    tables_args = tables_scope.args
    select_one = json.dumps({"query": "SELECT 1"}).encode()
    # The SELECT rows' HTTP client is the Redis bench's lean one (an HTTP client library would spend
    # more CPU per request than the gateway, on the same two cores).
    posts: list[HttpConnection] = []
    mux = MuxChannel(grpc.aio.insecure_channel(bench.grpc_address("pg-svc")))
    mux_stub = pg_pb2_grpc.PgServiceStub(mux)

    async def http_get(url: str) -> bytes:
        async with http.get(url) as reply:
            body = await reply.read()
            assert reply.status == 200, reply.status
            return body

    # Same JSON for the same schema, checked before timing.
    ours = json.loads(await http_get(f"{gateway}/tables"))
    if meta_url is not None:
        theirs = json.loads(await http_get(f"{meta_url}/tables"))
        same = canonical(ours) == canonical(theirs)
        print(
            f"\nGET tables: {len(ours)} tables, {len(await http_get(f'{gateway}/tables'))} bytes; "
            f"same JSON as postgres-meta: {'yes' if same else 'NO'}"
        )

    select_ops = {
        "asyncpg SELECT 1": lambda: pool.fetchval("SELECT 1"),
        "pg-svc gRPC Query SELECT 1": lambda: stub.Query(
            pg_pb2.QueryRequest(target=target, query="SELECT 1"), metadata=metadata
        ),
        "pg-svc gRPC Query via mux": lambda: mux_stub.Query(
            pg_pb2.QueryRequest(target=target, query="SELECT 1"), metadata=metadata
        ),
        "gateway HTTP query SELECT 1": http_operation(f"{gateway}/query", headers, posts, select_one),
        "envoy HTTP query SELECT 1": http_operation(f"{envoy}/query", headers, posts, select_one),
    }
    table_ops = {
        "asyncpg tables SQL": lambda: pool.fetchval(tables_sql, *tables_args),
        "pg-svc gRPC ListObjects tables": lambda: catalog_stub.ListObjects(list_tables, metadata=metadata),
        "gateway HTTP GET tables": lambda: http_get(f"{gateway}/tables"),
        "envoy HTTP GET tables": lambda: http_get(f"{envoy}/tables"),
    }
    if meta_url is not None:
        table_ops["postgres-meta GET tables"] = lambda: http_get(f"{meta_url}/tables")

    cpu = CpuMeter({name: bench.pid(name) for name in ("pg-svc", "gateway", "envoy")})
    select_results: list[Result] = []
    table_results: list[Result] = []
    for concurrency in SELECT_CONCURRENCY if "select" in PARTS else ():
        for name, op in select_ops.items():
            select_results.append(await measure(name, op, concurrency=concurrency, cpu=cpu))
    for concurrency in CONCURRENCY if "tables" in PARTS else ():
        for name, op in table_ops.items():
            table_results.append(await measure(name, op, concurrency=concurrency, cpu=cpu))
    if select_results:
        report("Postgres SELECT 1", select_results, baseline="asyncpg SELECT 1")
    if table_results:
        report("Postgres GET tables (36 tables with columns)", table_results, baseline="asyncpg tables SQL")

    def find(results: list[Result], name: str, concurrency: int) -> Result:
        return next(r for r in results if r.name == name and r.concurrency == concurrency)

    print("\n== targets")
    for concurrency in SELECT_CONCURRENCY if select_results else ():
        http_rate = find(select_results, "gateway HTTP query SELECT 1", concurrency).rate
        base = find(select_results, "asyncpg SELECT 1", concurrency).rate
        print(f"SELECT 1 gateway/asyncpg at {concurrency:>2}: {http_rate / base:.2f}x (target >= 0.30x at 64)")
    if meta_url is not None and table_results:
        for concurrency in CONCURRENCY:
            ours_r = find(table_results, "gateway HTTP GET tables", concurrency)
            theirs_r = find(table_results, "postgres-meta GET tables", concurrency)
            print(
                f"GET tables gateway/postgres-meta at {concurrency:>2}: {ours_r.rate / theirs_r.rate:.1f}x rate "
                f"(target >= 20x at 50), p50 {ours_r.percentile(0.5):.2f} ms vs {theirs_r.percentile(0.5):.2f} ms"
            )
    await http.close()
    for connection in posts:
        await connection.close()
    await mux.close()
    await channel.close()
    await pool.close()


async def create_schema(pg_url: str) -> None:
    setup = await asyncpg.connect(pg_url)
    try:
        await setup.execute(schema_sql())
        await setup.execute("ANALYZE")
    finally:
        await setup.close()


def main() -> None:
    with bench_stack() as bench:
        uvloop.run(create_schema(bench.stack.urls["postgres"]))
        meta_url: str | None = None
        if "tables" in PARTS:
            try:
                meta_url = bench.stack.start_postgres_meta(bench.stack.urls["postgres"])
            except devstack.StackError as exc:
                print(f"postgres-meta is not compared: {exc}")
        uvloop.run(run(bench, meta_url))


if __name__ == "__main__":
    main()
