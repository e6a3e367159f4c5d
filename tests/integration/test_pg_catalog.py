"""Every `/pg-meta/[ref]` catalogue route against a realistic schema on a real Postgres 15, in
postgres-meta's shapes (and, when npm can install it, byte-for-byte the same JSON as
postgres-meta itself once parsed)."""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import asyncpg
import devstack
import httpx
import pytest
import pytest_asyncio
from harness import System

pytestmark = pytest.mark.integration

#: Several schemas, foreign keys (composite and self-referencing), RLS policies, triggers, enums,
#: composite and domain types, views, a materialized view, a partitioned table, an extension.
SCHEMA = """
CREATE EXTENSION citext;
DO $$ BEGIN
    CREATE ROLE udb_shop_reader NOLOGIN;
EXCEPTION WHEN duplicate_object THEN NULL; END $$;
DO $$ BEGIN
    CREATE ROLE udb_shop_clerk NOLOGIN;
EXCEPTION WHEN duplicate_object THEN NULL; END $$;
CREATE SCHEMA shop;
CREATE SCHEMA audit;
CREATE TYPE shop.order_status AS ENUM ('pending', 'paid', 'shipped', 'cancelled');
COMMENT ON TYPE shop.order_status IS 'Lifecycle of an order';
CREATE TYPE shop.address AS (street text, city text, zip varchar(10));
CREATE DOMAIN shop.positive_price AS numeric(12, 2) CHECK (VALUE > 0) NOT NULL;
CREATE TABLE shop.customers (
    id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    email citext NOT NULL UNIQUE,
    name text NOT NULL CHECK (length(name) > 0),
    address shop.address,
    tags text[] DEFAULT '{}',
    created_at timestamptz NOT NULL DEFAULT now()
);
COMMENT ON TABLE shop.customers IS 'People who buy';
COMMENT ON COLUMN shop.customers.email IS 'Login and contact';
CREATE TABLE shop.products (
    sku text PRIMARY KEY,
    title text NOT NULL,
    price shop.positive_price,
    weight_g integer CHECK (weight_g >= 0),
    attributes jsonb NOT NULL DEFAULT '{}'::jsonb
);
CREATE TABLE shop.orders (
    id bigserial PRIMARY KEY,
    customer_id bigint NOT NULL REFERENCES shop.customers (id) ON DELETE CASCADE,
    status shop.order_status NOT NULL DEFAULT 'pending',
    statuses shop.order_status[],
    total numeric(12, 2) GENERATED ALWAYS AS (0) STORED,
    placed_at timestamp DEFAULT CURRENT_TIMESTAMP
);
CREATE TABLE shop.order_lines (
    order_id bigint REFERENCES shop.orders (id),
    line_no int,
    sku text NOT NULL REFERENCES shop.products (sku),
    quantity int NOT NULL DEFAULT 1,
    PRIMARY KEY (order_id, line_no)
);
CREATE TABLE shop.shipments (
    order_id bigint,
    line_no int,
    carrier text,
    parent_id int REFERENCES shop.shipments (id2),
    id2 int UNIQUE,
    FOREIGN KEY (order_id, line_no) REFERENCES shop.order_lines (order_id, line_no)
);
CREATE TABLE audit.events (
    id uuid NOT NULL DEFAULT gen_random_uuid(),
    order_id bigint REFERENCES shop.orders (id),
    happened_at timestamptz NOT NULL DEFAULT now(),
    payload jsonb,
    PRIMARY KEY (id, happened_at)
) PARTITION BY RANGE (happened_at);
CREATE TABLE audit.events_2024 PARTITION OF audit.events FOR VALUES FROM ('2024-01-01') TO ('2025-01-01');
ALTER TABLE shop.orders ENABLE ROW LEVEL SECURITY;
ALTER TABLE shop.orders REPLICA IDENTITY FULL;
ALTER TABLE shop.customers ENABLE ROW LEVEL SECURITY;
ALTER TABLE shop.customers FORCE ROW LEVEL SECURITY;
CREATE POLICY orders_read ON shop.orders FOR SELECT USING (status <> 'cancelled');
CREATE POLICY orders_clerk ON shop.orders AS RESTRICTIVE FOR UPDATE TO udb_shop_clerk, udb_shop_reader
    USING (true) WITH CHECK (status <> 'pending');
CREATE POLICY customers_insert ON shop.customers FOR INSERT TO udb_shop_clerk WITH CHECK (length(name) < 200);
CREATE POLICY customers_all ON shop.customers TO udb_shop_reader USING (email IS NOT NULL);
CREATE FUNCTION audit.record_event() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO audit.events (order_id, happened_at, payload) VALUES (NEW.id, '2024-06-01', to_jsonb(NEW));
    RETURN NEW;
END $$;
CREATE FUNCTION shop.touch() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN RETURN NEW; END $$;
CREATE TRIGGER orders_audit AFTER INSERT OR UPDATE OR DELETE ON shop.orders
    FOR EACH ROW EXECUTE FUNCTION audit.record_event();
CREATE TRIGGER orders_paid BEFORE UPDATE OF status ON shop.orders
    FOR EACH ROW WHEN (NEW.status = 'paid') EXECUTE FUNCTION shop.touch('paid', 'x;y');
CREATE TRIGGER customers_stmt AFTER TRUNCATE OR DELETE ON shop.customers
    FOR EACH STATEMENT EXECUTE FUNCTION shop.touch();
ALTER TABLE shop.customers DISABLE TRIGGER customers_stmt;
CREATE VIEW shop.order_totals AS
    SELECT o.id, o.customer_id, sum(l.quantity) AS items
    FROM shop.orders o JOIN shop.order_lines l ON l.order_id = o.id GROUP BY o.id;
CREATE VIEW shop.paid_orders AS SELECT id, customer_id, status FROM shop.orders WHERE status = 'paid';
COMMENT ON VIEW shop.paid_orders IS 'Orders that are paid';
CREATE TRIGGER paid_orders_insert INSTEAD OF INSERT ON shop.paid_orders
    FOR EACH ROW EXECUTE FUNCTION shop.touch();
CREATE MATERIALIZED VIEW shop.customer_stats AS
    SELECT customer_id, count(*) AS orders FROM shop.orders GROUP BY customer_id;
CREATE FUNCTION shop.order_count(customer bigint, since timestamptz DEFAULT '-infinity')
    RETURNS bigint LANGUAGE sql STABLE
    AS $$ SELECT count(*) FROM shop.orders WHERE customer_id = customer AND placed_at >= since $$;
CREATE FUNCTION shop.orders_of(customer bigint) RETURNS SETOF shop.orders LANGUAGE sql STABLE ROWS 50
    AS $$ SELECT * FROM shop.orders WHERE customer_id = customer $$;
CREATE FUNCTION shop.split_sku(sku text, OUT prefix text, OUT num int) LANGUAGE sql IMMUTABLE
    AS $$ SELECT split_part(sku, '-', 1), split_part(sku, '-', 2)::int $$;
CREATE FUNCTION shop.lines(o bigint) RETURNS TABLE (line int, qty int) LANGUAGE sql
    SECURITY DEFINER SET search_path = shop, pg_temp
    AS $$ SELECT line_no, quantity FROM shop.order_lines WHERE order_id = o $$;
CREATE FUNCTION shop.total(VARIADIC prices numeric[]) RETURNS numeric LANGUAGE sql IMMUTABLE
    AS $$ SELECT sum(p) FROM unnest(prices) p $$;
CREATE PROCEDURE shop.archive() LANGUAGE sql AS $$ SELECT 1 $$;
INSERT INTO shop.customers (email, name) VALUES ('a@example.com', 'Ann'), ('b@example.com', 'Bob');
INSERT INTO shop.products VALUES ('A-1', 'Anvil', 10.50, 1000, '{"color": "black"}');
INSERT INTO shop.orders (customer_id, status) VALUES (1, 'paid'), (2, 'pending');
INSERT INTO shop.order_lines VALUES (1, 1, 'A-1', 2);
CREATE TABLE public.notes (id serial PRIMARY KEY, body text);
"""


@dataclass
class PgProject:
    ref: str
    owner: str
    db_url: str

    def headers(self, system: System) -> dict[str, str]:
        return system.headers(self.owner)


@pytest_asyncio.fixture(scope="module")
async def shop(system: System) -> AsyncIterator[PgProject]:
    """A project whose primary Postgres connection is a fresh database holding SCHEMA."""
    db_url = await system.servers.create_database(f"udb_shop_{uuid.uuid4().hex[:8]}")
    connection = await asyncpg.connect(db_url)
    try:
        await connection.execute(SCHEMA)
        await connection.execute("ANALYZE")
    finally:
        await connection.close()
    ref, owner = await system.new_project()
    await system.add_connection(ref, owner, "pg-meta", {"identifier": "shop", "uri": db_url})
    yield PgProject(ref, owner, db_url)


async def _get(system: System, shop: PgProject, route: str, **params: Any) -> Any:
    reply = await system.http.get(f"/pg-meta/{shop.ref}/{route}", params=params, headers=shop.headers(system))
    assert reply.status_code == 200, reply.text
    assert reply.headers["content-type"].startswith("application/json")
    return reply.json()


def _by(items: list[dict[str, Any]], **match: Any) -> dict[str, Any]:
    found = [item for item in items if all(item.get(k) == v for k, v in match.items())]
    assert len(found) == 1, (match, [(i.get("schema"), i.get("name")) for i in items])
    return found[0]


async def _oid(shop: PgProject, regclass: str) -> int:
    connection = await asyncpg.connect(shop.db_url)
    try:
        oid: int = await connection.fetchval("SELECT $1::regclass::oid::int8", regclass)
    finally:
        await connection.close()
    return oid


async def test_tables_carry_postgres_meta_fields_keys_and_relationships(system: System, shop: PgProject) -> None:
    """GET tables: PostgresTable objects with RLS flags, replica identity, sizes, primary keys,
    relationships (both ends of each key) and columns."""
    tables = await _get(system, shop, "tables")
    assert {(t["schema"], t["name"]) for t in tables} == {
        ("audit", "events"),
        ("audit", "events_2024"),
        ("public", "notes"),
        ("shop", "customers"),
        ("shop", "order_lines"),
        ("shop", "orders"),
        ("shop", "products"),
        ("shop", "shipments"),
    }
    customers = _by(tables, schema="shop", name="customers")
    assert set(customers) == {
        "id",
        "schema",
        "name",
        "rls_enabled",
        "rls_forced",
        "replica_identity",
        "bytes",
        "size",
        "live_rows_estimate",
        "dead_rows_estimate",
        "comment",
        "columns",
        "primary_keys",
        "relationships",
    }
    assert customers["id"] == await _oid(shop, "shop.customers")
    assert (customers["rls_enabled"], customers["rls_forced"]) == (True, True)
    assert customers["replica_identity"] == "DEFAULT"
    assert customers["comment"] == "People who buy"
    assert customers["bytes"] > 0 and customers["size"].endswith(("bytes", "kB"))
    assert isinstance(customers["live_rows_estimate"], int) and isinstance(customers["dead_rows_estimate"], int)
    assert customers["primary_keys"] == [
        {"schema": "shop", "table_name": "customers", "name": "id", "table_id": customers["id"]}
    ]
    orders = _by(tables, schema="shop", name="orders")
    assert orders["replica_identity"] == "FULL"
    assert (orders["rls_enabled"], orders["rls_forced"]) == (True, False)
    relationship = _by(customers["relationships"], source_table_name="orders")
    assert relationship == {
        "id": relationship["id"],
        "constraint_name": "orders_customer_id_fkey",
        "source_schema": "shop",
        "source_table_name": "orders",
        "source_column_name": "customer_id",
        "target_table_schema": "shop",
        "target_table_name": "customers",
        "target_column_name": "id",
    }
    assert relationship in orders["relationships"]
    lines = _by(tables, schema="shop", name="order_lines")
    assert [k["name"] for k in lines["primary_keys"]] == ["order_id", "line_no"]
    shipments = _by(tables, schema="shop", name="shipments")
    self_references = [r for r in shipments["relationships"] if r["target_table_name"] == "shipments"]
    assert len(self_references) == 1
    assert [c["name"] for c in customers["columns"]] == ["id", "email", "name", "address", "tags", "created_at"]


async def test_columns_describe_types_defaults_and_constraints(system: System, shop: PgProject) -> None:
    """GET columns: data_type/format as information_schema spells them, identity, generated,
    nullability through domains, unique, check, enums and comments."""
    columns = await _get(system, shop, "columns", included_schemas="shop")
    customers_id = await _oid(shop, "shop.customers")
    email = _by(columns, table="customers", name="email")
    assert email == {
        "table_id": customers_id,
        "schema": "shop",
        "table": "customers",
        "id": f"{customers_id}.2",
        "ordinal_position": 2,
        "name": "email",
        "default_value": None,
        "data_type": "USER-DEFINED",
        "format": "citext",
        "is_identity": False,
        "identity_generation": None,
        "is_generated": False,
        "is_nullable": False,
        "is_updatable": True,
        "is_unique": True,
        "enums": [],
        "check": None,
        "comment": "Login and contact",
    }
    customer_id = _by(columns, table="customers", name="id")
    assert (customer_id["is_identity"], customer_id["identity_generation"]) == (True, "ALWAYS")
    assert customer_id["data_type"] == "bigint" and customer_id["format"] == "int8"
    assert _by(columns, table="customers", name="name")["check"] == "length(name) > 0"
    assert _by(columns, table="customers", name="tags")["data_type"] == "ARRAY"
    assert _by(columns, table="customers", name="created_at")["default_value"] == "now()"
    price = _by(columns, table="products", name="price")
    assert (price["data_type"], price["format"], price["is_nullable"]) == ("numeric", "numeric", False)
    status = _by(columns, table="orders", name="status")
    assert status["enums"] == ["pending", "paid", "shipped", "cancelled"]
    assert status["default_value"] == "'pending'::shop.order_status"
    assert _by(columns, table="orders", name="statuses")["enums"] == ["pending", "paid", "shipped", "cancelled"]
    assert _by(columns, table="orders", name="total")["is_generated"] is True
    assert _by(columns, table="order_totals", name="items")["is_updatable"] is False
    assert _by(columns, table="customer_stats", name="orders")["format"] == "int8"


async def test_views_report_updatability_and_columns(system: System, shop: PgProject) -> None:
    """GET views: PostgresView objects (plain views only), with columns unless left out."""
    views = await _get(system, shop, "views")
    assert {(v["schema"], v["name"]) for v in views} == {("shop", "order_totals"), ("shop", "paid_orders")}
    paid = _by(views, name="paid_orders")
    assert (paid["is_updatable"], paid["comment"]) == (True, "Orders that are paid")
    assert [c["name"] for c in paid["columns"]] == ["id", "customer_id", "status"]
    assert _by(views, name="order_totals")["is_updatable"] is False
    bare = await _get(system, shop, "views", include_columns="false")
    assert all("columns" not in v for v in bare)


async def test_materialized_views_report_population(system: System, shop: PgProject) -> None:
    """GET materialized-views: PostgresMaterializedView objects, columns only when asked."""
    views = await _get(system, shop, "materialized-views")
    assert views == [
        {
            "id": await _oid(shop, "shop.customer_stats"),
            "schema": "shop",
            "name": "customer_stats",
            "is_populated": True,
            "comment": None,
        }
    ]
    with_columns = await _get(system, shop, "materialized-views", include_columns="true")
    assert [c["name"] for c in with_columns[0]["columns"]] == ["customer_id", "orders"]


async def test_policies_show_roles_commands_and_expressions(system: System, shop: PgProject) -> None:
    """GET policies: action, command, sorted roles ("public" for all), USING and WITH CHECK."""
    policies = await _get(system, shop, "policies")
    orders_id = await _oid(shop, "shop.orders")
    clerk = _by(policies, name="orders_clerk")
    assert clerk == {
        "id": clerk["id"],
        "schema": "shop",
        "table": "orders",
        "table_id": orders_id,
        "name": "orders_clerk",
        "action": "RESTRICTIVE",
        "roles": ["udb_shop_clerk", "udb_shop_reader"],
        "command": "UPDATE",
        "definition": "true",
        "check": "(status <> 'pending'::shop.order_status)",
    }
    read = _by(policies, name="orders_read")
    assert (read["roles"], read["command"], read["action"], read["check"]) == (["public"], "SELECT", "PERMISSIVE", None)
    assert _by(policies, name="customers_all")["command"] == "ALL"
    assert _by(policies, name="customers_insert")["definition"] is None


async def test_triggers_show_events_timing_and_arguments(system: System, shop: PgProject) -> None:
    """GET triggers: information_schema's view of user triggers (TRUNCATE-only events left out)."""
    triggers = await _get(system, shop, "triggers")
    assert {t["name"] for t in triggers} == {"orders_audit", "orders_paid", "customers_stmt", "paid_orders_insert"}
    paid = _by(triggers, name="orders_paid")
    assert paid == {
        "id": paid["id"],
        "table_id": await _oid(shop, "shop.orders"),
        "enabled_mode": "ORIGIN",
        "function_args": ["paid", "x;y"],
        "name": "orders_paid",
        "table": "orders",
        "schema": "shop",
        "condition": "(new.status = 'paid'::shop.order_status)",
        "orientation": "ROW",
        "activation": "BEFORE",
        "events": ["UPDATE"],
        "function_name": "touch",
        "function_schema": "shop",
    }
    audit = _by(triggers, name="orders_audit")
    assert sorted(audit["events"]) == ["DELETE", "INSERT", "UPDATE"]
    assert (audit["function_schema"], audit["function_args"], audit["condition"]) == ("audit", [], None)
    statement = _by(triggers, name="customers_stmt")
    assert (statement["enabled_mode"], statement["orientation"], statement["events"]) == (
        "DISABLED",
        "STATEMENT",
        ["DELETE"],
    )
    assert _by(triggers, name="paid_orders_insert")["activation"] == "INSTEAD OF"


async def test_extensions_types_schemas_and_functions(system: System, shop: PgProject) -> None:
    """GET extensions, types, schemas and functions in postgres-meta's shapes."""
    extensions = await _get(system, shop, "extensions")
    assert _by(extensions, name="citext")["schema"] == "public"
    assert _by(extensions, name="plpgsql")["installed_version"] == "1.0"
    assert set(_by(extensions, name="citext")) == {"name", "schema", "default_version", "installed_version", "comment"}
    available = [e for e in extensions if e["installed_version"] is None]
    assert available and all(e["schema"] is None for e in available)

    types = await _get(system, shop, "types", included_schemas="shop")
    status = _by(types, name="order_status")
    assert status == {
        "id": status["id"],
        "name": "order_status",
        "schema": "shop",
        "format": "shop.order_status",
        "enums": ["pending", "paid", "shipped", "cancelled"],
        "attributes": [],
        "comment": "Lifecycle of an order",
        "type_relation_id": None,
    }
    address = _by(types, name="address")
    assert [a["name"] for a in address["attributes"]] == ["street", "city", "zip"]
    assert address["type_relation_id"] is not None
    assert _by(types, name="positive_price")["format"] == "shop.positive_price"
    assert not any(t["name"].startswith("_") for t in types)
    assert any(t["name"] == "_order_status" for t in await _get(system, shop, "types", include_array_types="true"))

    schemas = await _get(system, shop, "schemas")
    assert {s["name"] for s in schemas} == {"public", "shop", "audit"}
    assert set(schemas[0]) == {"id", "name", "owner"}
    with_system = await _get(system, shop, "schemas", include_system_schemas="true")
    assert {"pg_catalog", "information_schema"} <= {s["name"] for s in with_system}

    functions = await _get(system, shop, "functions", included_schemas="shop")
    assert "archive" not in {f["name"] for f in functions}  # procedures are not functions
    count = _by(functions, name="order_count")
    assert count["args"] == [
        {"mode": "in", "name": "customer", "type_id": 20, "has_default": False},
        {"mode": "in", "name": "since", "type_id": 1184, "has_default": True},
    ]
    assert (count["behavior"], count["return_type"], count["language"]) == ("STABLE", "bigint", "sql")
    assert count["identity_argument_types"] == "customer bigint, since timestamp with time zone"
    assert count["complete_statement"].startswith("CREATE OR REPLACE FUNCTION shop.order_count")
    orders_of = _by(functions, name="orders_of")
    assert (orders_of["is_set_returning_function"], orders_of["prorows"]) == (True, 50)
    assert orders_of["return_type_relation_id"] == await _oid(shop, "shop.orders")
    lines = _by(functions, name="lines")
    assert lines["security_definer"] is True
    assert lines["config_params"] == {"search_path": "shop, pg_temp"}
    assert [a["mode"] for a in lines["args"]] == ["in", "table", "table"]
    assert [a["mode"] for a in _by(functions, name="split_sku")["args"]] == ["in", "out", "out"]
    assert _by(functions, name="total")["args"][0]["mode"] == "variadic"
    assert _by(functions, name="touch")["config_params"] is None


async def test_schema_filters_limit_and_offset(system: System, shop: PgProject) -> None:
    """included_schemas wins, excluded_schemas and system schemas are left out, limit/offset page
    a stable order, include_columns=false drops the columns."""
    audit = await _get(system, shop, "tables", included_schemas="audit")
    assert {t["name"] for t in audit} == {"events", "events_2024"}
    not_shop = await _get(system, shop, "tables", excluded_schemas="shop,audit")
    assert [t["name"] for t in not_shop] == ["notes"]
    everything = await _get(system, shop, "tables", include_columns="false")
    assert all("columns" not in t for t in everything)
    pages = [await _get(system, shop, "tables", include_columns="false", limit=3, offset=o) for o in (0, 3, 6)]
    assert [t["id"] for page in pages for t in page] == [t["id"] for t in everything]
    assert [len(page) for page in pages] == [3, 3, 2]
    system_columns = await _get(system, shop, "columns", include_system_schemas="true", limit=5)
    assert len(system_columns) == 5
    functions = await _get(system, shop, "functions", include_system_schemas="true", included_schemas="pg_catalog")
    assert _by(functions, name="pg_sleep", identity_argument_types="double precision")["language"] == "internal"
    assert (await _get(system, shop, "extensions", limit=1, offset=1))[0] == (await _get(system, shop, "extensions"))[1]
    assert await _get(system, shop, "tables", included_schemas="no_such_schema") == []


async def test_catalogue_parameters_are_validated(system: System, shop: PgProject) -> None:
    """A malformed limit or boolean is 400 naming the parameter, in postgres-meta's error body
    (with the top-level message Studio reads)."""
    for params in ({"limit": "ten"}, {"offset": "-1"}, {"include_columns": "maybe"}):
        reply = await system.http.get(f"/pg-meta/{shop.ref}/tables", params=params, headers=shop.headers(system))
        assert reply.status_code == 400, reply.text
        assert reply.json()["error"] == reply.json()["message"]
        assert next(iter(params)) in reply.json()["message"]


async def test_catalogue_needs_membership(system: System, shop: PgProject, user_token: str) -> None:
    """A viewer reads the catalogue; a stranger gets 404 and no token gets 401."""
    viewer = f"viewer-{uuid.uuid4().hex[:8]}"
    await system.add_member(shop.ref, shop.owner, viewer, "viewer")
    reply = await system.http.get(f"/pg-meta/{shop.ref}/schemas", headers=system.headers(viewer))
    assert reply.status_code == 200
    stranger = await system.http.get(f"/pg-meta/{shop.ref}/schemas", headers={"authorization": f"Bearer {user_token}"})
    assert stranger.status_code == 404
    assert (await system.http.get(f"/pg-meta/{shop.ref}/schemas")).status_code == 401


# ---- the same JSON as postgres-meta ------------------------------------------------------------

#: Routes and parameters compared with postgres-meta (its own names).
COMPARED = [
    "tables",
    "tables?include_columns=false",
    "tables?included_schemas=audit",
    "tables?excluded_schemas=audit",
    "columns",
    "columns?include_system_schemas=true",
    "views",
    "views?include_columns=false",
    "materialized-views",
    "materialized-views?include_columns=true",
    "policies",
    "triggers",
    "extensions",
    "types",
    "types?include_system_schemas=true",
    "types?include_array_types=true",
    "schemas",
    "schemas?include_system_schemas=true",
    "functions",
    "functions?include_system_schemas=true",
]


def _canonical(value: Any) -> Any:
    """JSON with every array sorted (postgres-meta orders nothing)."""
    if isinstance(value, list):
        return sorted((_canonical(item) for item in value), key=lambda item: json.dumps(item, sort_keys=True))
    if isinstance(value, dict):
        return {key: _canonical(item) for key, item in value.items()}
    return value


@pytest.fixture(scope="module")
def postgres_meta(shop: PgProject, tmp_path_factory: pytest.TempPathFactory) -> Any:
    """postgres-meta (the npm package) serving the shop database."""
    stack = devstack.Stack.create(tmp_path_factory.mktemp("postgres-meta"))
    try:
        url = stack.start_postgres_meta(shop.db_url)
    except devstack.StackError as exc:
        stack.stop()
        pytest.skip(f"postgres-meta cannot run here: {exc}")
    yield url
    stack.stop()


@pytest.mark.postgres_meta
@pytest.mark.parametrize("route", COMPARED)
async def test_same_json_as_postgres_meta(system: System, shop: PgProject, postgres_meta: str, route: str) -> None:
    """Every route answers exactly what postgres-meta answers for the same database (arrays
    compared as sets: postgres-meta's order is the catalogue's)."""
    path, _, query = route.partition("?")
    async with httpx.AsyncClient(timeout=30) as client:
        for _ in range(3):
            before = await client.get(f"{postgres_meta}/{path}?{query}")
            ours = await system.http.get(f"/pg-meta/{shop.ref}/{path}?{query}", headers=shop.headers(system))
            after = await client.get(f"{postgres_meta}/{path}?{query}")
            assert (before.status_code, ours.status_code, after.status_code) == (200, 200, 200), ours.text
            # Size and row estimates are live statistics: they may move between two readings.
            if _canonical(before.json()) == _canonical(after.json()):
                break
    assert len(ours.json()) == len(after.json())
    assert _canonical(ours.json()) == _canonical(after.json())


async def test_concurrent_catalogue_reads_share_one_pool(system: System, shop: PgProject) -> None:
    """Fifty concurrent GET tables all succeed through one pool of at most ten connections."""
    replies = await asyncio.gather(
        *(
            system.http.get(
                f"/pg-meta/{shop.ref}/tables", headers=shop.headers(system), params={"include_columns": "false"}
            )
            for _ in range(50)
        )
    )
    assert {r.status_code for r in replies} == {200}
    connection = await asyncpg.connect(shop.db_url)
    try:
        backends = await connection.fetchval(
            "SELECT count(*) FROM pg_stat_activity"
            " WHERE datname = current_database() AND application_name = 'udb-pg-svc'"
        )
    finally:
        await connection.close()
    assert 1 <= backends <= 10
