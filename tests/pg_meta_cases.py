"""postgres-meta's writes as data: each case is a sequence of requests sent to postgres-meta on one
database and to us on its twin (tests/integration/test_pg_meta_writes.py), whose replies and
resulting databases must be the same.

Most cases replay postgres-meta's own tests (its repository's test/lib/*.ts and
test/server/*.ts, named in ``source``), with their assertions ported as ``expect`` (a subset our
reply must match) and ``error`` (a pattern our error message must match); the rest (``source``
"ours") cover what those tests leave out. Placeholders in routes and bodies: ``{name}`` is the id
a previous step saved as ``name`` (on each side its own), ``{rel:schema.table}``,
``{col:schema.table.column}``, ``{schema:name}``, ``{fn:schema.name}``, ``{policy:schema.table.name}``,
``{trigger:schema.table.name}``, ``{pub:name}`` and ``{role:name}`` are looked up by name in the
side's database.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Step:
    """One request (or SQL run on both databases, or once for the cluster)."""

    method: str
    route: str = ""
    body: Any = None
    status: int = 200
    #: A subset our reply must match (postgres-meta's own assertion, ported).
    expect: Any = None
    #: A pattern our error message must match.
    error: str = ""
    #: Save the reply's "id" under this name, for later steps' placeholders.
    save: str = ""
    #: Compare the error message with postgres-meta's (off where its body is Fastify's own).
    same_error: bool = True
    #: postgres-meta's status where it is not ours (its 500 for a body its schema refuses).
    their_status: int | None = None


@dataclass(frozen=True)
class Case:
    name: str
    source: str
    steps: tuple[Step, ...]
    #: The case changes roles, which belong to the cluster: it runs on postgres-meta's side and
    #: then on ours, one after the other, instead of on twin databases at once.
    roles: bool = False


def get(route: str, **kw: Any) -> Step:
    return Step("GET", route, **kw)


def post(route: str, body: Any, **kw: Any) -> Step:
    return Step("POST", route, body, **kw)


def patch(route: str, body: Any, **kw: Any) -> Step:
    return Step("PATCH", route, body, **kw)


def delete(route: str, body: Any = None, **kw: Any) -> Step:
    return Step("DELETE", route, body, **kw)


def sql(text: str) -> Step:
    """SQL run on both databases (the tests' own setup)."""
    return Step("SQL", text)


def sql_once(text: str) -> Step:
    """SQL run once for the cluster (roles)."""
    return Step("SQL_ONCE", text)


NOT_FOUND = 404
BAD = 400

_EMPTY_TABLE = {"bytes": 0, "size": "0 bytes", "columns": [], "primary_keys": [], "relationships": []}

TABLES = [
    Case(
        "table: create, retrieve, update, delete",
        "test/lib/tables.ts > retrieve, create, update, delete",
        (
            post("tables", {"name": "test", "comment": "foo"}, save="t", expect={**_EMPTY_TABLE, "name": "test"}),
            get("tables/{t}", expect={"comment": "foo", "schema": "public", "rls_enabled": False}),
            patch(
                "tables/{t}",
                {
                    "name": "test a",
                    "rls_enabled": True,
                    "rls_forced": True,
                    "replica_identity": "NOTHING",
                    "comment": "foo",
                },
                expect={"name": "test a", "rls_enabled": True, "rls_forced": True, "replica_identity": "NOTHING"},
            ),
            delete("tables/{t}", expect={"name": "test a", "replica_identity": "NOTHING"}),
            get("tables/{t}", status=NOT_FOUND, error=r"^Cannot find a table with ID \d+$"),
        ),
    ),
    Case(
        "table: update with name unchanged",
        "test/lib/tables.ts > update with name unchanged",
        (
            post("tables", {"name": "t"}, save="t"),
            patch("tables/{t}", {"name": "t"}, expect={"name": "t", "comment": None}),
            delete("tables/{t}"),
        ),
    ),
    Case(
        "table: a quote in a comment",
        "test/lib/tables.ts > allow ' in comments",
        (post("tables", {"name": "t", "comment": "'"}, save="t", expect={"comment": "'"}), delete("tables/{t}")),
    ),
    Case(
        "table: primary keys, in their order",
        "test/lib/tables.ts > primary keys; composite primary keys preserve order",
        (
            post("tables", {"name": "t_pk_order"}, save="t"),
            post("columns", {"table_id": "{t}", "name": "col_a", "type": "int8"}),
            post("columns", {"table_id": "{t}", "name": "col_b", "type": "text"}),
            post("columns", {"table_id": "{t}", "name": "col_c", "type": "int4"}),
            patch(
                "tables/{t}",
                {"primary_keys": [{"name": "col_c"}, {"name": "col_a"}, {"name": "col_b"}]},
                expect={"primary_keys": [{"name": "col_c"}, {"name": "col_a"}, {"name": "col_b"}]},
            ),
            patch("tables/{t}", {"primary_keys": [{"name": "col_a"}]}, expect={"primary_keys": [{"name": "col_a"}]}),
            patch("tables/{t}", {"primary_keys": []}, expect={"primary_keys": []}),
            delete("tables/{t}"),
        ),
    ),
    Case(
        "table: in another schema, retrieved by id, moved and renamed",
        "test/lib/tables.ts > retrieve table in non-public schema by id",
        (
            sql("CREATE SCHEMA IF NOT EXISTS test_schema"),
            post("tables", {"name": "test_nonpublic", "schema": "test_schema"}, save="t"),
            get("tables/{t}", expect={"name": "test_nonpublic", "schema": "test_schema"}),
            patch(
                "tables/{t}",
                {"schema": "public", "name": "test moved"},
                expect={"schema": "public", "name": "test moved"},
            ),
            delete("tables/{t}"),
            sql("DROP SCHEMA test_schema"),
        ),
    ),
    Case(
        "table: replica identity by index, and errors",
        "ours",
        (
            post("tables", {"name": "w_replica"}, save="t"),
            post("columns", {"table_id": "{t}", "name": "k", "type": "int8", "is_nullable": False, "is_unique": True}),
            patch(
                "tables/{t}",
                {"replica_identity": "INDEX", "replica_identity_index": "w_replica_k_key"},
                expect={"replica_identity": "INDEX"},
            ),
            post("tables", {"name": "w_replica"}, status=BAD, error='relation "w_replica" already exists'),
            patch("tables/{t}", {"replica_identity": "SOMETIMES"}, status=BAD, same_error=False, their_status=500),
            patch(
                "tables/4294967295", {"name": "x"}, status=NOT_FOUND, error="^Cannot find a table with ID 4294967295$"
            ),
            delete("tables/4294967295", status=NOT_FOUND),
            post("tables", {"comment": "no name"}, status=BAD, their_status=500),
            delete("tables/{t}"),
        ),
    ),
    Case(
        "table: drop with and without cascade",
        "ours",
        (
            post("tables", {"name": "w_base", "schema": "shop"}, save="t"),
            sql("CREATE VIEW shop.w_base_view AS SELECT * FROM shop.w_base"),
            delete("tables/{t}", status=BAD, error="cannot drop table shop.w_base because other objects depend on it"),
            delete("tables/{t}?cascade=true", expect={"name": "w_base", "schema": "shop"}),
            get("views", expect=None),
        ),
    ),
]

_COLUMN = {"table": "t", "schema": "public", "check": None, "comment": None, "enums": []}

COLUMNS = [
    Case(
        "column: create, retrieve, update, delete",
        "test/lib/columns.ts > retrieve, create, update, delete",
        (
            post("tables", {"name": "t"}, save="t"),
            post(
                "columns",
                {"table_id": "{t}", "name": "c", "type": "int2", "default_value": 42, "comment": "foo"},
                save="c",
                expect={"name": "c", "data_type": "smallint", "default_value": "'42'::smallint", "comment": "foo"},
            ),
            get("columns/{c}", expect={"ordinal_position": 1, "format": "int2", "is_nullable": True}),
            patch(
                "columns/{c}",
                {
                    "name": "c1",
                    "type": "int4",
                    "drop_default": True,
                    "is_identity": True,
                    "identity_generation": "ALWAYS",
                    "is_nullable": False,
                    "comment": "bar",
                },
                expect={
                    "name": "c1",
                    "data_type": "integer",
                    "default_value": None,
                    "is_identity": True,
                    "identity_generation": "ALWAYS",
                    "is_nullable": False,
                    "comment": "bar",
                },
            ),
            delete("columns/{c}", expect={"name": "c1", "comment": "bar"}),
            get("columns/{c}", status=NOT_FOUND, error=r"^Cannot find a column with ID \d+.1$"),
            delete("tables/{t}"),
        ),
    ),
    Case(
        "column: primary key, unique, array, default expression",
        "test/lib/columns.ts > primary key column; unique column; array column; column with default value",
        (
            post("tables", {"name": "t"}, save="t"),
            post("columns", {"table_id": "{t}", "name": "p", "type": "int2", "is_primary_key": True}),
            post(
                "columns",
                {"table_id": "{t}", "name": "u", "type": "int2", "is_unique": True},
                expect={"is_unique": True},
            ),
            post(
                "columns",
                {"table_id": "{t}", "name": "a", "type": "int2[]"},
                expect={"data_type": "ARRAY", "format": "_int2"},
            ),
            post(
                "columns",
                {
                    "table_id": "{t}",
                    "name": "d",
                    "type": "timestamptz",
                    "default_value": "NOW()",
                    "default_value_format": "expression",
                },
                expect={"data_type": "timestamp with time zone", "default_value": "now()"},
            ),
            get("tables/{t}", expect={"primary_keys": [{"name": "p"}]}),
            delete("tables/{t}"),
        ),
    ),
    Case(
        "column: a check on a column that does not exist fails",
        "test/lib/columns.ts > column with constraint",
        (
            post("tables", {"name": "t"}, save="t"),
            post(
                "columns",
                {"table_id": "{t}", "name": "c", "type": "text", "check": "description <> ''"},
                status=BAD,
                error='column "description" does not exist',
            ),
            get("tables/{t}", expect={"columns": []}),
            delete("tables/{t}"),
        ),
    ),
    Case(
        "column: updates of name, type, uniqueness",
        "test/lib/columns.ts > update with name unchanged; update with array types; update with incompatible types; "
        "update is_unique",
        (
            post("tables", {"name": "t"}, save="t"),
            post("columns", {"table_id": "{t}", "name": "c", "type": "int2"}, save="c"),
            patch("columns/{c}", {"name": "c"}, expect={"name": "c", "data_type": "smallint"}),
            post("columns", {"table_id": "{t}", "name": "arr", "type": "text"}, save="arr"),
            patch("columns/{arr}", {"type": "text[]"}, expect={"data_type": "ARRAY"}),
            post("columns", {"table_id": "{t}", "name": "txt", "type": "text"}, save="txt"),
            patch("columns/{txt}", {"type": "int4"}, expect={"data_type": "integer"}),
            post("columns", {"table_id": "{t}", "name": "u", "type": "text", "is_unique": False}, save="u"),
            patch("columns/{u}", {"is_unique": True}, expect={"is_unique": True}),
            patch("columns/{u}", {"is_unique": False}, expect={"is_unique": False}),
            delete("tables/{t}"),
        ),
    ),
    Case(
        "column: enum types, with capitals and as arrays",
        "test/lib/columns.ts > enum column with quoted name; alter column to type with uppercase; "
        "enums are populated in enum array columns",
        (
            sql("""CREATE TYPE "T" AS ENUM ('v'); CREATE TYPE test_enum AS ENUM ('a')"""),
            post("tables", {"name": "t"}, save="t"),
            post("columns", {"table_id": "{t}", "name": "c", "type": "text", "is_unique": False}, save="c"),
            patch("columns/{c}", {"type": "T"}, expect={"data_type": "USER-DEFINED", "format": "T", "enums": ["v"]}),
            post(
                "columns",
                {"table_id": "{t}", "name": "e", "type": "_test_enum"},
                expect={"data_type": "ARRAY", "format": "_test_enum", "enums": ["a"]},
            ),
            delete("tables/{t}"),
            sql("""DROP TYPE "T"; DROP TYPE test_enum"""),
        ),
    ),
    Case(
        "column: drop with cascade",
        "test/lib/columns.ts > drop with cascade",
        (
            sql("CREATE TABLE public.t (id int8 PRIMARY KEY, t_id int8 GENERATED ALWAYS AS (id) STORED)"),
            delete("columns/{col:public.t.id}", status=BAD, same_error=True),
            delete("columns/{col:public.t.id}?cascade=true", expect={"name": "id", "is_nullable": False}),
            get("tables/{rel:public.t}", expect={"columns": []}),
            sql("DROP TABLE public.t"),
        ),
    ),
    Case(
        "column: checks replaced and dropped",
        "test/lib/columns.ts > dropping column checks; column with multiple checks",
        (
            sql("CREATE TABLE public.t (c int8 CHECK (c != 0) CHECK (c != -1), d int8)"),
            get("columns/{col:public.t.c}", expect={"check": "c <> 0"}),
            # The first check is replaced: the other one, older, is then the one shown.
            patch("columns/{col:public.t.c}", {"check": "c > 10"}, expect={"check": "c <> '-1'::integer"}),
            patch("columns/{col:public.t.c}", {"check": None}, expect={"check": "c > 10"}),
            patch("columns/{col:public.t.c}", {"check": None}, expect={"check": None}),
            patch(
                "columns/{col:public.t.c}",
                {"check": "d > 0"},
                status=BAD,
                error="check condition cannot refer to other columns",
            ),
            sql("DROP TABLE public.t"),
        ),
    ),
    Case(
        "column: a fully qualified type",
        "test/lib/columns.ts > column with fully-qualified type",
        (
            sql("CREATE TABLE public.t (); CREATE SCHEMA s; CREATE TYPE s.my_type AS ENUM ()"),
            post(
                "columns",
                {"table_id": "{rel:public.t}", "name": "c", "type": "s.my_type"},
                expect={"data_type": "USER-DEFINED", "format": "my_type", "enums": []},
            ),
            sql("DROP TABLE public.t; DROP SCHEMA s CASCADE"),
        ),
    ),
    Case(
        "column: defaults as literals of every JSON type, identities, nullability",
        "ours",
        (
            post("tables", {"name": "w_defaults", "schema": "shop"}, save="t"),
            post("columns", {"table_id": "{t}", "name": "s", "type": "text", "default_value": "it's \\ here"}),
            post("columns", {"table_id": "{t}", "name": "n", "type": "numeric", "default_value": 1.5}),
            post("columns", {"table_id": "{t}", "name": "b", "type": "bool", "default_value": True}),
            post("columns", {"table_id": "{t}", "name": "j", "type": "jsonb", "default_value": {"a": [1, "x"]}}),
            post("columns", {"table_id": "{t}", "name": "z", "type": "text", "default_value": None}),
            post(
                "columns",
                {"table_id": "{t}", "name": "i", "type": "int8", "is_identity": True, "identity_generation": "ALWAYS"},
                save="i",
                expect={"is_identity": True, "identity_generation": "ALWAYS", "is_nullable": False},
            ),
            patch("columns/{i}", {"identity_generation": "BY DEFAULT"}, expect={"identity_generation": "BY DEFAULT"}),
            patch("columns/{i}", {"is_identity": False}, expect={"is_identity": False}),
            patch("columns/{i}", {"default_value": 7, "is_nullable": True}, expect={"default_value": "'7'::bigint"}),
            post(
                "columns",
                {"table_id": "{t}", "name": "bad", "type": "int8", "is_identity": True, "default_value": 1},
                status=BAD,
                error="^Columns cannot both be identity and have a default value$",
            ),
            post(
                "columns",
                {"table_id": "{t}", "name": "st", "type": "shop.order_status", "default_value": "paid", "comment": "x"},
                expect={
                    "default_value": "'paid'::shop.order_status",
                    "enums": ["pending", "paid", "shipped", "cancelled"],
                },
            ),
            post("columns", {"table_id": 4294967295, "name": "c", "type": "text"}, status=NOT_FOUND),
            post("columns", {"table_id": "{t}", "name": "c", "type": "no_such_type"}, status=BAD),
            delete("tables/{t}"),
        ),
    ),
]

SCHEMAS = [
    Case(
        "schema: create, retrieve, update, delete",
        "test/lib/schemas.ts > retrieve, create, update, delete",
        (
            post("schemas", {"name": "s"}, save="s", expect={"name": "s", "owner": "postgres"}),
            get("schemas/{s}", expect={"name": "s"}),
            patch("schemas/{s}", {"name": "ss", "owner": "postgres"}, expect={"name": "ss"}),
            delete("schemas/{s}", expect={"name": "ss"}),
            get("schemas/{s}", status=NOT_FOUND, error=r"^Cannot find a schema with ID \d+$"),
        ),
    ),
    Case(
        "schema: owner, rename, drop with cascade",
        "ours",
        (
            post(
                "schemas", {"name": "w schema", "owner": "udb_shop_clerk"}, save="s", expect={"owner": "udb_shop_clerk"}
            ),
            sql('CREATE TABLE "w schema".t (id int)'),
            delete("schemas/{s}", status=BAD),
            patch("schemas/{s}", {"owner": "postgres"}, expect={"owner": "postgres"}),
            patch("schemas/{s}", {"name": "w schema"}, status=BAD),
            delete("schemas/{s}?cascade=true", expect={"name": "w schema"}),
            post("schemas", {"name": "public"}, status=BAD, error='schema "public" already exists'),
        ),
    ),
]

FUNCTIONS = [
    Case(
        "function: create, retrieve, update, delete",
        "test/lib/functions.ts > retrieve, create, update, delete",
        (
            post("schemas", {"name": "test_schema"}, save="s"),
            post(
                "functions",
                {
                    "name": "test_func",
                    "schema": "public",
                    "args": ["a int2", "b int2"],
                    "definition": "select a + b",
                    "return_type": "integer",
                    "language": "sql",
                    "behavior": "STABLE",
                    "security_definer": True,
                    "config_params": {"search_path": "hooks, auth", "role": "postgres"},
                },
                save="f",
                expect={
                    "name": "test_func",
                    "argument_types": "a smallint, b smallint",
                    "behavior": "STABLE",
                    "security_definer": True,
                    "config_params": {"search_path": "hooks, auth", "role": "postgres"},
                },
            ),
            get("functions/{f}", expect={"definition": "select a + b", "return_type": "integer"}),
            patch(
                "functions/{f}",
                {"name": "test_func_renamed", "schema": "test_schema", "definition": "select b - a"},
                expect={"name": "test_func_renamed", "schema": "test_schema", "definition": "select b - a"},
            ),
            delete("functions/{f}", expect={"name": "test_func_renamed"}),
            get("functions/{f}", status=NOT_FOUND, error=r"^Cannot find a function with ID \d+$"),
            delete("schemas/{s}"),
        ),
    ),
    Case(
        "function: defaults, set-returning, settings kept when the body changes",
        "ours",
        (
            post(
                "functions",
                {
                    "name": "w_total",
                    "schema": "shop",
                    "args": ["customer bigint", "since timestamptz"],
                    "definition": "SELECT count(*) FROM shop.orders WHERE customer_id = customer",
                    "return_type": "bigint",
                    "behavior": "IMMUTABLE",
                    "config_params": {"search_path": '"$user", public', "role": "postgres"},
                },
                save="f",
                expect={"config_params": {"search_path": '"$user", public', "role": "postgres"}},
            ),
            patch("functions/{f}", {"definition": "SELECT 0::bigint"}, expect={"definition": "SELECT 0::bigint"}),
            patch("functions/{f}", {"name": "w_total"}, expect={"name": "w_total"}),
            post(
                "functions",
                {
                    "name": "w_rows",
                    "schema": "shop",
                    "definition": "SELECT * FROM shop.orders",
                    "return_type": "SETOF shop.orders",
                },
                save="g",
                expect={"is_set_returning_function": True},
            ),
            post(
                "functions",
                {
                    "name": "w_plpgsql",
                    "definition": "BEGIN RETURN NEW; END",
                    "return_type": "trigger",
                    "language": "plpgsql",
                },
                save="h",
            ),
            post("functions", {"name": "w_bad", "definition": "SELECT nope"}, status=BAD),
            post(
                "functions",
                {"name": "w_bad", "definition": "SELECT 1", "language": "sql; DROP"},
                status=BAD,
                same_error=False,
            ),
            delete("functions/{f}"),
            delete("functions/{g}"),
            delete("functions/{h}"),
            delete("functions/4294967295", status=NOT_FOUND),
        ),
    ),
]

POLICIES = [
    Case(
        "policy: create, retrieve, update, delete",
        "test/lib/policies.ts > retrieve, create, update, delete",
        (
            post(
                "policies",
                {"name": "test policy", "schema": "public", "table": "memes", "action": "RESTRICTIVE"},
                save="p",
                expect={"action": "RESTRICTIVE", "command": "ALL", "definition": None, "roles": ["public"]},
            ),
            get("policies/{p}", expect={"name": "test policy", "table": "memes"}),
            patch(
                "policies/{p}",
                {
                    "name": "policy updated",
                    "definition": "current_setting('my.username') IN (name)",
                    "check": "current_setting('my.username') IN (name)",
                    "roles": ["postgres"],
                },
                expect={
                    "name": "policy updated",
                    "definition": "(current_setting('my.username'::text) = name)",
                    "check": "(current_setting('my.username'::text) = name)",
                    "roles": ["postgres"],
                },
            ),
            delete("policies/{p}", expect={"name": "policy updated"}),
            get("policies/{p}", status=NOT_FOUND, error=r"^Cannot find a policy with ID \d+$"),
        ),
    ),
    Case(
        "policy: commands, roles and checks",
        "ours",
        (
            post(
                "policies",
                {
                    "name": "w insert",
                    "schema": "shop",
                    "table": "orders",
                    "command": "INSERT",
                    "roles": ["udb_shop_clerk", "udb_shop_reader"],
                    "check": "status <> 'cancelled'",
                },
                save="p",
                expect={"command": "INSERT", "roles": ["udb_shop_clerk", "udb_shop_reader"]},
            ),
            patch("policies/{p}", {"roles": ["public"]}, expect={"roles": ["public"]}),
            post(
                "policies",
                {"name": "w bad", "schema": "shop", "table": "orders", "command": "MERGE"},
                status=BAD,
                same_error=False,
            ),
            post("policies", {"name": "w insert", "schema": "shop", "table": "orders"}, status=BAD),
            delete("policies/{p}"),
        ),
    ),
]

TRIGGERS = [
    Case(
        "trigger: create, retrieve, update, delete",
        "test/lib/triggers.ts > retrieve, create, update, delete",
        (
            post(
                "triggers",
                {
                    "name": "test_trigger",
                    "schema": "public",
                    "table": "users_audit",
                    "function_schema": "public",
                    "function_name": "audit_action",
                    "function_args": ["test1", "test2"],
                    "activation": "AFTER",
                    "events": ["UPDATE"],
                    "orientation": "ROW",
                    "condition": "(old.* IS DISTINCT FROM new.*)",
                },
                save="t",
                expect={
                    "condition": "(old.* IS DISTINCT FROM new.*)",
                    "enabled_mode": "ORIGIN",
                    "events": ["UPDATE"],
                    "function_args": ["test1", "test2"],
                },
            ),
            get("triggers/{t}", expect={"name": "test_trigger"}),
            patch(
                "triggers/{t}",
                {"name": "test_trigger_renamed", "enabled_mode": "DISABLED"},
                expect={"name": "test_trigger_renamed", "enabled_mode": "DISABLED"},
            ),
            patch("triggers/{t}", {"enabled_mode": "REPLICA"}, expect={"enabled_mode": "REPLICA"}),
            delete("triggers/{t}", expect={"enabled_mode": "REPLICA"}),
            get("triggers/{t}", status=NOT_FOUND, error=r"^Cannot find a trigger with ID \d+$"),
        ),
    ),
    Case(
        "trigger: several events",
        "test/lib/triggers.ts > multi event",
        (
            post(
                "triggers",
                {
                    "name": "test_multi_event_trigger",
                    "schema": "public",
                    "table": "users_audit",
                    "function_schema": "public",
                    "function_name": "audit_action",
                    "function_args": ["test1", "test2"],
                    "activation": "AFTER",
                    "events": ["insert", "update", "delete"],
                    "orientation": "ROW",
                    "condition": "",
                },
                save="t",
                expect={"condition": None, "events": ["INSERT", "DELETE", "UPDATE"]},
            ),
            delete("triggers/{t}"),
        ),
    ),
    Case(
        "trigger: UPDATE OF columns, statement level, always, errors",
        "ours",
        (
            post(
                "triggers",
                {
                    "name": "w_touch",
                    "schema": "shop",
                    "table": "orders",
                    "function_schema": "shop",
                    "function_name": "touch",
                    "activation": "BEFORE",
                    "events": ["UPDATE OF status, placed_at", "INSERT"],
                    "orientation": "ROW",
                    "function_args": ["it's"],
                },
                save="t",
                expect={"events": ["INSERT", "UPDATE"], "function_args": ["it's"]},
            ),
            patch("triggers/{t}", {"enabled_mode": "ALWAYS"}, expect={"enabled_mode": "ALWAYS"}),
            patch("triggers/{t}", {"enabled_mode": "ORIGIN", "name": "w_touch"}, expect={"enabled_mode": "ORIGIN"}),
            post(
                "triggers",
                {
                    "name": "w_stmt",
                    "schema": "shop",
                    "table": "orders",
                    "function_schema": "shop",
                    "function_name": "touch",
                    "activation": "AFTER",
                    "events": ["DELETE"],
                },
                save="s",
                expect={"orientation": "STATEMENT"},
            ),
            post(
                "triggers",
                {
                    "name": "w_bad",
                    "table": "orders",
                    "schema": "shop",
                    "function_name": "touch",
                    "function_schema": "shop",
                    "activation": "AFTER",
                    "events": ["UPSERT"],
                },
                status=BAD,
                same_error=False,
            ),
            delete("triggers/{t}?cascade=true"),
            delete("triggers/{s}"),
        ),
    ),
]

EXTENSIONS = [
    Case(
        "extension: create, retrieve, update, delete",
        "test/lib/extensions.ts > retrieve, create, update, delete",
        (
            post("schemas", {"name": "extensions"}, save="s"),
            post(
                "extensions",
                {"name": "hstore", "version": "1.4"},
                expect={"name": "hstore", "installed_version": "1.4"},
            ),
            get("extensions/hstore", expect={"installed_version": "1.4", "schema": "public"}),
            patch("extensions/hstore", {"update": True, "schema": "extensions"}, expect={"schema": "extensions"}),
            delete("extensions/hstore", expect={"schema": "extensions"}),
            get("extensions/hstore", expect={"installed_version": None, "schema": None}),
            delete("schemas/{s}"),
        ),
    ),
    Case(
        "extension: schema, cascade, errors",
        "ours",
        (
            post("extensions", {"name": "earthdistance", "schema": "shop"}, status=BAD),
            post("extensions", {"name": "earthdistance", "schema": "shop", "cascade": True}, expect={"schema": "shop"}),
            delete("extensions/cube", status=BAD),
            delete("extensions/cube?cascade=true", expect={"name": "cube"}),
            get("extensions/earthdistance", expect={"installed_version": None}),
            delete(
                "extensions/no_such_extension",
                status=NOT_FOUND,
                error="^Cannot find an extension named no_such_extension$",
            ),
            post("extensions", {"name": "no_such_extension"}, status=BAD),
        ),
    ),
]

PUBLICATIONS = [
    Case(
        "publication: create, retrieve, update, delete",
        "test/lib/publications.ts > retrieve, create, update, delete",
        (
            post(
                "publications",
                {
                    "name": "a",
                    "publish_insert": True,
                    "publish_update": True,
                    "publish_delete": True,
                    "publish_truncate": False,
                    "tables": ["users"],
                },
                save="p",
                expect={"name": "a", "owner": "postgres", "tables": [{"name": "users", "schema": "public"}]},
            ),
            get("publications/{p}", expect={"publish_truncate": False}),
            patch(
                "publications/{p}",
                {"name": "b", "publish_insert": False, "tables": []},
                expect={"name": "b", "publish_insert": False, "publish_delete": True, "tables": []},
            ),
            delete("publications/{p}", expect={"name": "b"}),
            get("publications/{p}", status=NOT_FOUND, error=r"^Cannot find a publication with ID \d+$"),
        ),
    ),
    Case(
        "publication: tables with capitals",
        "test/lib/publications.ts > tables with uppercase",
        (
            post("tables", {"name": "T"}, save="t"),
            post("publications", {"name": "pub", "tables": ["T"]}, save="p", expect={"tables": [{"name": "T"}]}),
            patch("publications/{p}", {"tables": ["T"]}, expect={"tables": [{"name": "T"}]}),
            delete("publications/{p}"),
            delete("tables/{t}"),
        ),
    ),
    Case(
        "publication: all tables, none, and between",
        "test/lib/publications.ts > FOR ALL TABLES; update no tables -> all tables; update all tables -> no tables",
        (
            post(
                "publications",
                {"name": "for_all", "publish_insert": True, "publish_update": True, "publish_delete": True},
                save="a",
                expect={"tables": None},
            ),
            delete("publications/{a}"),
            post("publications", {"name": "pub", "tables": []}, save="p", expect={"tables": []}),
            # Between all tables and a list of them, the publication is made anew (a new id).
            patch("publications/{p}", {"tables": None}, save="p", expect={"tables": None}),
            patch("publications/{p}", {"tables": []}, save="p", expect={"tables": []}),
            patch(
                "publications/{p}",
                {"tables": ["shop.orders", "public.users"], "owner": "udb_shop_clerk", "publish_truncate": True},
                expect={"owner": "udb_shop_clerk", "publish_truncate": True},
            ),
            patch(
                "publications/{p}", {"tables": ["shop.customers"], "owner": "postgres"}, expect={"owner": "postgres"}
            ),
            patch(
                "publications/4294967295",
                {"name": "x"},
                status=NOT_FOUND,
                error="^Cannot find publication with id 4294967295$",
            ),
            delete("publications/{p}"),
        ),
    ),
]

ROLES = [
    Case(
        "role: create, retrieve, update, delete",
        "test/lib/roles.ts > retrieve, create, update, delete",
        (
            post(
                "roles",
                {
                    "name": "r",
                    "is_superuser": True,
                    "can_create_db": True,
                    "can_create_role": True,
                    "inherit_role": False,
                    "can_login": True,
                    "is_replication_role": True,
                    "can_bypass_rls": True,
                    "connection_limit": 100,
                    "valid_until": "2020-01-01T00:00:00.000Z",
                    "config": {"search_path": "extension, public"},
                },
                save="r",
                expect={"name": "r", "connection_limit": 100, "config": {"search_path": "extension, public"}},
            ),
            get("roles/{r}", expect={"inherit_role": False, "is_superuser": True, "password": "********"}),
            delete("roles/{r}"),
            post("roles", {"name": "r"}, save="r2", expect={"is_superuser": False, "inherit_role": True}),
            patch(
                "roles/{r2}",
                {
                    "name": "rr",
                    "is_superuser": True,
                    "can_create_db": True,
                    "can_create_role": True,
                    "inherit_role": False,
                    "can_login": True,
                    "is_replication_role": True,
                    "can_bypass_rls": True,
                    "connection_limit": 100,
                    "valid_until": "2020-01-01T00:00:00.000Z",
                    "config": [
                        {"op": "replace", "path": "search_path", "value": "public"},
                        {"op": "add", "path": "log_statement", "value": "all"},
                    ],
                },
                expect={"name": "rr", "config": {"log_statement": "all", "search_path": "public"}},
            ),
            patch(
                "roles/{r2}",
                {"config": [{"op": "remove", "path": "log_statement"}]},
                expect={"config": {"search_path": "public"}},
            ),
            delete("roles/{r2}", expect={"name": "rr"}),
            get("roles/{r2}", status=NOT_FOUND, error=r"^Cannot find a role with ID \d+$"),
        ),
        roles=True,
    ),
    Case(
        "role: password, memberships, errors",
        "ours",
        (
            post(
                "roles",
                {"name": "w_member", "password": "s3cret'pw", "can_login": True, "member_of": ["udb_shop_reader"]},
                save="m",
                expect={"can_login": True, "password": "********"},
            ),
            post("roles", {"name": "w_member"}, status=BAD, error='role "w_member" already exists'),
            post("roles", {"name": "w_admin", "members": ["w_member"], "admins": ["udb_shop_clerk"]}, save="a"),
            patch("roles/{m}", {"password": "other", "valid_until": "infinity"}, expect={"valid_until": "infinity"}),
            patch(
                "roles/{m}", {"config": [{"op": "nope", "path": "x"}]}, status=BAD, same_error=False, their_status=500
            ),
            delete("roles/{a}"),
            delete("roles/{m}"),
            delete("roles/4294967295", status=NOT_FOUND),
        ),
        roles=True,
    ),
]

_OWNER_COLUMN_PRIVILEGES = [
    {"grantee": "postgres", "privilege_type": privilege} for privilege in ("INSERT", "REFERENCES", "SELECT", "UPDATE")
]

PRIVILEGES = [
    Case(
        "column privileges: grant and revoke",
        "test/server/column-privileges.ts > revoke & grant column privileges",
        (
            sql_once("CREATE ROLE r"),
            post(
                "column-privileges",
                [{"column_id": "{col:public.todos.id}", "grantee": "r", "privilege_type": "ALL"}],
                expect=[{"column_name": "id", "relation_name": "todos"}],
            ),
            delete(
                "column-privileges",
                [{"column_id": "{col:public.todos.id}", "grantee": "r", "privilege_type": "ALL"}],
                expect=[{"column_name": "id", "relation_schema": "public"}],
            ),
            sql_once("DROP ROLE r"),
        ),
    ),
    Case(
        "column privileges: quoted names, several at once, PUBLIC",
        "test/server/column-privileges.ts > revoke & grant column privileges w/ quoted column name",
        (
            sql_once("CREATE ROLE r"),
            sql('CREATE TABLE "t 1" ("c 1" int8, c2 text)'),
            post(
                "column-privileges",
                [
                    {"column_id": "{col:public.t 1.c 1}", "grantee": "r", "privilege_type": "ALL"},
                    {
                        "column_id": "{col:public.t 1.c2}",
                        "grantee": "PUBLIC",
                        "privilege_type": "SELECT",
                        "is_grantable": False,
                    },
                    {
                        "column_id": "{col:public.t 1.c2}",
                        "grantee": "r",
                        "privilege_type": "UPDATE",
                        "is_grantable": True,
                    },
                ],
                expect=[{"column_name": "c 1"}, {"column_name": "c2"}],
            ),
            delete(
                "column-privileges",
                [
                    {"column_id": "{col:public.t 1.c 1}", "grantee": "r", "privilege_type": "ALL"},
                    {"column_id": "{col:public.t 1.c2}", "grantee": "public", "privilege_type": "SELECT"},
                ],
            ),
            post(
                "column-privileges",
                [{"column_id": "{col:public.t 1.c2}", "grantee": "r", "privilege_type": "DELETE"}],
                status=BAD,
                same_error=False,
                their_status=500,
            ),
            sql('DROP TABLE "t 1"'),
            sql_once("DROP ROLE r"),
        ),
    ),
    Case(
        "table privileges: grant and revoke",
        "test/server/table-privileges.ts > revoke & grant table privileges",
        (
            sql_once("CREATE ROLE r"),
            post(
                "table-privileges",
                [{"relation_id": "{rel:public.todos}", "grantee": "r", "privilege_type": "ALL"}],
                expect=[{"name": "todos", "schema": "public", "kind": "table"}],
            ),
            delete(
                "table-privileges",
                [{"relation_id": "{rel:public.todos}", "grantee": "r", "privilege_type": "ALL"}],
                expect=[{"name": "todos"}],
            ),
            sql_once("DROP ROLE r"),
        ),
    ),
    Case(
        "table privileges: quoted names, grant option, views, unknown relations",
        "test/server/table-privileges.ts > revoke & grant table privileges w/ quoted table name",
        (
            sql_once("CREATE ROLE r"),
            sql('CREATE TABLE "t 1" ("c 1" int8)'),
            post(
                "table-privileges",
                [
                    {
                        "relation_id": "{rel:public.t 1}",
                        "grantee": "r",
                        "privilege_type": "SELECT",
                        "is_grantable": True,
                    },
                    {"relation_id": "{rel:shop.paid_orders}", "grantee": "public", "privilege_type": "INSERT"},
                ],
                expect=[{"name": "paid_orders", "kind": "view"}, {"name": "t 1", "kind": "table"}],
            ),
            delete(
                "table-privileges",
                [
                    {"relation_id": "{rel:public.t 1}", "grantee": "r", "privilege_type": "SELECT"},
                    {"relation_id": "{rel:shop.paid_orders}", "grantee": "PUBLIC", "privilege_type": "INSERT"},
                ],
            ),
            sql('DROP TABLE "t 1"'),
            sql_once("DROP ROLE r"),
        ),
    ),
]

SERVER = [
    Case(
        "invalid payloads are 400 with the database's message",
        "test/functions.test.ts, schemas.test.ts, triggers.test.ts, extensions.test.ts, publications.test.ts > "
        "should return 400 for invalid payload",
        (
            # postgres-meta writes the missing definition as NULL and reports the syntax error;
            # we name the missing field.
            post("functions", {"name": "test_function12"}, status=BAD, same_error=False),
            post("schemas", {"name": "pg_"}, status=BAD, error='^unacceptable schema name "pg_"$'),
            post(
                "triggers",
                {
                    "name": "test_trigger_invalid",
                    "table": "non_existent_table",
                    "function_name": "audit_action",
                    "activation": "AFTER",
                    "events": ["UPDATE"],
                },
                status=BAD,
                error='relation "public.non_existent_table" does not exist',
            ),
            # Postgres 14 (postgres-meta's snapshot) says "could not open extension control file".
            post("extensions", {"name": "invalid-extension", "version": "1.3"}, status=BAD, error="invalid-extension"),
            post("publications", {"name": "test_publication", "tables": ["non_existent_table"]}, status=BAD),
        ),
    ),
    Case(
        "a reserved role name is 400",
        "test/roles.test.ts > should return 400 for invalid payload",
        (post("roles", {"name": "pg_"}, status=BAD, error='^role name "pg_" is reserved$'),),
        roles=True,
    ),
    Case(
        "triggers with one name in two schemas, columns with two unique constraints",
        "test/lib/triggers.ts > triggers with the same name on different schemas; "
        "test/lib/columns.ts > column with multiple unique constraints",
        (
            sql(
                "CREATE FUNCTION tr_f() RETURNS trigger LANGUAGE plpgsql AS 'begin end';"
                " CREATE SCHEMA s1; CREATE TABLE s1.t ();"
                " CREATE TRIGGER tr BEFORE INSERT ON s1.t EXECUTE FUNCTION tr_f();"
                " CREATE SCHEMA s2; CREATE TABLE s2.t ();"
                " CREATE TRIGGER tr BEFORE INSERT ON s2.t EXECUTE FUNCTION tr_f();"
                " CREATE TABLE public.t (c int8 UNIQUE); ALTER TABLE public.t ADD UNIQUE (c)"
            ),
            get(
                "triggers?included_schemas=s1,s2",
                expect=[{"name": "tr", "schema": "s1"}, {"name": "tr", "schema": "s2"}],
            ),
            get("columns/{col:public.t.c}", expect={"is_unique": True}),
            sql("DROP SCHEMA s1, s2 CASCADE; DROP FUNCTION tr_f(); DROP TABLE public.t"),
        ),
    ),
]

CASES = [
    *SERVER,
    *TABLES,
    *COLUMNS,
    *SCHEMAS,
    *FUNCTIONS,
    *POLICIES,
    *TRIGGERS,
    *EXTENSIONS,
    *PUBLICATIONS,
    *ROLES,
    *PRIVILEGES,
]
