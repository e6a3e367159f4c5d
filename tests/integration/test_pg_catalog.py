"""The `/pg-meta/[ref]` catalogue routes against our realistic schema on a real Postgres 15, in
postgres-meta's shapes, read field by field (test_pg_meta_diff.py compares them with
postgres-meta itself)."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

import asyncpg
import pytest
from harness import System
from pg_meta import PgDatabase, error_text

pytestmark = pytest.mark.integration


async def _get(system: System, shop: PgDatabase, route: str, **params: Any) -> Any:
    reply = await system.http.get(f"/pg-meta/{shop.ref}/{route}", params=params, headers=shop.headers(system))
    assert reply.status_code == 200, reply.text
    assert reply.headers["content-type"].startswith("application/json")
    return reply.json()


def _by(items: list[dict[str, Any]], **match: Any) -> dict[str, Any]:
    found = [item for item in items if all(item.get(k) == v for k, v in match.items())]
    assert len(found) == 1, (match, [(i.get("schema"), i.get("name")) for i in items])
    return found[0]


async def _oid(shop: PgDatabase, regclass: str) -> int:
    oid: int = await shop.fetchval("SELECT $1::regclass::oid::int8", regclass)
    return oid


async def test_tables_carry_postgres_meta_fields_keys_and_relationships(system: System, shop: PgDatabase) -> None:
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


async def test_columns_describe_types_defaults_and_constraints(system: System, shop: PgDatabase) -> None:
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


async def test_views_report_updatability_and_columns(system: System, shop: PgDatabase) -> None:
    """GET views: PostgresView objects (plain views only), with columns unless left out."""
    views = await _get(system, shop, "views")
    assert {(v["schema"], v["name"]) for v in views} == {("shop", "order_totals"), ("shop", "paid_orders")}
    paid = _by(views, name="paid_orders")
    assert (paid["is_updatable"], paid["comment"]) == (True, "Orders that are paid")
    assert [c["name"] for c in paid["columns"]] == ["id", "customer_id", "status"]
    assert _by(views, name="order_totals")["is_updatable"] is False
    bare = await _get(system, shop, "views", include_columns="false")
    assert all("columns" not in v for v in bare)


async def test_materialized_views_report_population(system: System, shop: PgDatabase) -> None:
    """GET materialized-views: PostgresMaterializedView objects, columns only when asked, every
    column of each view of the page."""
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
    # The page is of views, not of their columns (postgres-meta pages both).
    paged = await _get(system, shop, "materialized-views", include_columns="true", limit=1)
    assert paged == with_columns


async def test_policies_show_roles_commands_and_expressions(system: System, shop: PgDatabase) -> None:
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


async def test_triggers_show_events_timing_and_arguments(system: System, shop: PgDatabase) -> None:
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


async def test_extensions_types_schemas_and_functions(system: System, shop: PgDatabase) -> None:
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


async def test_schema_filters_limit_and_offset(system: System, shop: PgDatabase) -> None:
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


async def test_catalogue_parameters_are_validated(system: System, shop: PgDatabase) -> None:
    """A malformed limit or boolean is 400 naming the parameter, in postgres-meta's error body
    (with the top-level message Studio reads)."""
    for params in ({"limit": "ten"}, {"offset": "-1"}, {"include_columns": "maybe"}):
        reply = await system.http.get(f"/pg-meta/{shop.ref}/tables", params=params, headers=shop.headers(system))
        assert reply.status_code == 400, reply.text
        assert reply.json()["error"] == reply.json()["message"]
        assert next(iter(params)) in reply.json()["message"]


async def test_catalogue_needs_membership(system: System, shop: PgDatabase, user_token: str) -> None:
    """A viewer reads the catalogue; a stranger gets 404 and no token gets 401."""
    viewer = f"viewer-{uuid.uuid4().hex[:8]}"
    await system.add_member(shop.ref, shop.owner, viewer, "viewer")
    reply = await system.http.get(f"/pg-meta/{shop.ref}/schemas", headers=system.headers(viewer))
    assert reply.status_code == 200
    stranger = await system.http.get(f"/pg-meta/{shop.ref}/schemas", headers={"authorization": f"Bearer {user_token}"})
    assert stranger.status_code == 404
    assert (await system.http.get(f"/pg-meta/{shop.ref}/schemas")).status_code == 401


async def test_concurrent_catalogue_reads_share_one_pool(system: System, shop: PgDatabase) -> None:
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


async def test_publications_roles_and_privileges(system: System, shop: PgDatabase) -> None:
    """GET publications, roles, column-privileges and table-privileges: postgres-meta's objects,
    tables of a publication (none listed for one of all tables), role settings and limits, and
    the privileges granted in the schema."""
    publications = await _get(system, shop, "publications")
    changes = _by(publications, name="shop_changes")
    assert (changes["publish_insert"], changes["publish_delete"], changes["owner"]) == (True, False, "postgres")
    assert sorted(t["name"] for t in changes["tables"]) == ["customers", "orders"]
    assert _by(publications, name="shop_everything")["tables"] is None
    assert _by(publications, name="shop_nothing")["tables"] == []
    assert await _get(system, shop, f"publications/{changes['id']}") == changes

    roles = await _get(system, shop, "roles")
    clerk, reader = _by(roles, name="udb_shop_clerk"), _by(roles, name="udb_shop_reader")
    assert clerk["config"] == {"search_path": "shop, public"}
    assert (reader["connection_limit"], reader["valid_until"], reader["password"]) == (
        5,
        "2030-01-01 00:00:00+00",
        "********",
    )
    assert not any(r["name"].startswith("pg_") for r in roles)
    assert any(r["name"] == "pg_monitor" for r in await _get(system, shop, "roles", include_default_roles="true"))

    columns = await _get(system, shop, "column-privileges", included_schemas="shop")
    status = _by(columns, relation_name="orders", column_name="status")
    assert {"grantor": "postgres", "grantee": "udb_shop_clerk", "privilege_type": "UPDATE", "is_grantable": True} in (
        status["privileges"]
    )
    email = _by(columns, relation_name="customers", column_name="email")
    assert {"grantor": "postgres", "grantee": "PUBLIC", "privilege_type": "SELECT", "is_grantable": False} in (
        email["privileges"]
    )
    tables = await _get(system, shop, "table-privileges", included_schemas="shop")
    orders = _by(tables, name="orders")
    assert orders["kind"] == "table" and orders["relation_id"] == await _oid(shop, "shop.orders")
    assert {"grantor": "postgres", "grantee": "udb_shop_reader", "privilege_type": "SELECT", "is_grantable": False} in (
        orders["privileges"]
    )
    assert _by(tables, name="order_totals")["kind"] == "view"


async def test_indexes_config_and_version(system: System, shop: PgDatabase) -> None:
    """GET indexes (definition, predicate, comment, attributes; as postgres-meta, an index none of
    whose own attribute numbers is among its table's column numbers is left out), config
    (ordered by category and name) and config/version."""
    indexes = await _get(system, shop, "indexes", included_schemas="shop")
    open_orders = next(i for i in indexes if "orders_open" in i["index_definition"])
    assert open_orders["comment"] == "Orders still to ship" and open_orders["index_predicate"]
    assert open_orders["access_method"] == "btree" and open_orders["is_unique"] is False
    lines_id = await _oid(shop, "shop.order_lines")
    lines_pk = next(i for i in indexes if i["is_primary"] and i["table_id"] == lines_id)
    assert [a["attribute_name"] for a in lines_pk["index_attributes"]] == ["order_id", "line_no"]
    assert lines_pk["key_attributes"] == [1, 2]
    assert await _get(system, shop, f"indexes/{lines_pk['id']}") == lines_pk
    assert not any("order_lines_sku_qty" in i["index_definition"] for i in indexes)

    config = await _get(system, shop, "config")
    assert [(c["category"], c["name"]) for c in config] == sorted((c["category"], c["name"]) for c in config)
    work_mem = _by(config, name="work_mem")
    assert (work_mem["unit"], work_mem["vartype"], work_mem["group"]) == ("kB", "integer", "Resource Usage")
    assert len(await _get(system, shop, "config", limit=3, offset=2)) == 3

    version = await _get(system, shop, "config/version")
    assert set(version) == {"version", "version_number", "active_connections", "max_connections"}
    assert version["version"].startswith("PostgreSQL 15") and 150000 <= version["version_number"] < 160000


async def test_objects_by_key(system: System, shop: PgDatabase) -> None:
    """The /[key] forms answer one object as the list shows it, with columns for relations, and
    404 with postgres-meta's message for a key that names nothing; a foreign table is found by
    its own id (postgres-meta answers its first foreign table for any id)."""
    orders_id = await _oid(shop, "shop.orders")
    table = await _get(system, shop, f"tables/{orders_id}")
    assert (table["name"], [c["name"] for c in table["columns"]][:2]) == ("orders", ["id", "customer_id"])
    archived = await _get(system, shop, f"foreign-tables/{await _oid(shop, 'audit.archived_orders')}")
    assert (archived["name"], archived["comment"]) == ("archived_orders", "Orders of past years")
    assert [c["name"] for c in archived["columns"]] == ["id", "total", "note"]
    column = await _get(system, shop, f"columns/{orders_id}.3")
    assert (column["name"], column["enums"]) == ("status", ["pending", "paid", "shipped", "cancelled"])
    assert (await _get(system, shop, f"columns/{orders_id}", offset=1))["name"] == "customer_id"
    assert (await _get(system, shop, "extensions/citext"))["installed_version"]
    for route, message in (
        ("foreign-tables/1", "Cannot find a foreign table with ID 1"),
        (f"columns/{orders_id}.99", f"Cannot find a column with ID {orders_id}.99"),
        ("extensions/no_such", "Cannot find an extension named no_such"),
        ("functions/4294967296", "Cannot find a function with ID 4294967296"),
        ("indexes/1", "Cannot find a index with ID 1"),
    ):
        reply = await system.http.get(shop.path(route), headers=shop.headers(system))
        assert reply.status_code == 404, (route, reply.text)
        assert error_text(reply.json()) == message


async def test_openapi_documents_every_pg_meta_route(system: System) -> None:
    """/openapi.json lists postgres-meta's routes with their methods."""
    paths = (await system.http.get("/openapi.json")).json()["paths"]
    assert set(paths["/pg-meta/{ref}/tables"]) == {"get", "post"}
    assert set(paths["/pg-meta/{ref}/tables/{key}"]) == {"get", "patch", "delete"}
    assert set(paths["/pg-meta/{ref}/column-privileges"]) == {"get", "post", "delete"}
    assert set(paths["/pg-meta/{ref}/extensions/{key}"]) == {"get", "patch", "delete"}
    assert "get" in paths["/pg-meta/{ref}/config/version"]
