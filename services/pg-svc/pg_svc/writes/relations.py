"""Writes of tables and columns, as postgres-meta makes them (its PostgresMetaTables and
PostgresMetaColumns), in one transaction each."""

from __future__ import annotations

from typing import Any

from pg_svc.ddl import ABSENT, Body, Change, literal_text
from pg_svc.writes.request import Write
from udb.errors import InvalidArgument
from udb.pg.v1 import catalog_pb2

TABLES = catalog_pb2.CATALOG_KIND_TABLES
COLUMNS = catalog_pb2.CATALOG_KIND_COLUMNS

REPLICA_IDENTITIES = ("DEFAULT", "INDEX", "FULL", "NOTHING")
IDENTITY_GENERATIONS = ("BY DEFAULT", "ALWAYS")
DEFAULT_FORMATS = ("literal", "expression")

# ---- tables -----------------------------------------------------------------------------------


_TABLE_NAMED = """SELECT c.oid FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
    WHERE n.nspname = $1 AND c.relname = $2 AND c.relkind IN ('r', 'p')"""


async def create_table(change: Change, write: Write) -> str:
    body = Body(write.body)
    name = body.required_text("name")
    schema = body.text("schema", "public")
    change.add("CREATE TABLE %I.%I ()", schema, name)
    comment = body.text("comment")
    if comment is not None:
        change.add("COMMENT ON TABLE %I.%I IS %L", schema, name, comment)
    return await change.object_named(
        TABLES, _TABLE_NAMED, schema, name, missing=f"Cannot find a table named {name} in schema {schema}"
    )


async def update_table(change: Change, write: Write) -> str:
    body = Body(write.body)
    _, old = await change.object_fields(TABLES, write.key)
    table = (old["schema"], old["name"])
    alter = "ALTER TABLE %I.%I"
    rls = body.flag("rls_enabled")
    if rls is not None:
        change.add(f"{alter} {'ENABLE' if rls else 'DISABLE'} ROW LEVEL SECURITY", *table)
    forced = body.flag("rls_forced")
    if forced is not None:
        change.add(f"{alter} {'FORCE' if forced else 'NO FORCE'} ROW LEVEL SECURITY", *table)
    identity = body.choice("replica_identity", REPLICA_IDENTITIES)
    if identity == "INDEX":
        change.add(f"{alter} REPLICA IDENTITY USING INDEX %I", *table, body.text("replica_identity_index"))
    elif identity is not None:
        change.add(f"{alter} REPLICA IDENTITY {identity}", *table)
    keys = body.items("primary_keys")
    if keys is not None:
        if old["primary_keys"]:
            constraint: str = await change.value(
                "SELECT conname FROM pg_constraint WHERE contype = 'p' AND conrelid = $1::oid", int(write.key)
            )
            change.add(f"{alter} DROP CONSTRAINT %I", *table, constraint)
        if keys:
            names = [key.required_text("name") for key in keys]
            change.add(f"{alter} ADD PRIMARY KEY ({', '.join(['%I'] * len(names))})", *table, *names)
    comment = body.text("comment")
    if comment is not None:
        change.add("COMMENT ON TABLE %I.%I IS %L", *table, comment)
    schema = body.text("schema")
    if schema is not None:
        change.add(f"{alter} SET SCHEMA %I", *table, schema)
    name = body.text("name")
    if name is not None and name != old["name"]:
        change.add("ALTER TABLE %I.%I RENAME TO %I", schema if schema is not None else old["schema"], old["name"], name)
    return await change.object(TABLES, write.key)


# ---- columns ----------------------------------------------------------------------------------


async def _column_type(change: Change, type_name: str) -> tuple[str, str]:
    """(template, arg) of a column type as postgres-meta spells it: a name quoted as an
    identifier (``name[]`` an array of it), or a schema-qualified name, which Postgres resolves
    as a type name (``to_regtype``, never as SQL) and spells back."""
    if type_name.endswith("[]"):
        return "%I[]", type_name[:-2]
    if "." in type_name:
        resolved: str | None = await change.value("SELECT to_regtype($1)::text", type_name)
        if resolved is None:
            raise InvalidArgument(f'type "{type_name}" does not exist', details={"field": "type"})
        return "%s", resolved
    return "%I", type_name


def _default_clause(value: Any, value_format: str | None) -> tuple[str, list[str | None]]:
    """(template, args) of a DEFAULT: an expression as SQL, else a literal in pg-format's spelling
    (an object as jsonb, an array as its items' literals)."""
    if value_format == "expression":
        if not isinstance(value, str):
            raise InvalidArgument(
                "body/default_value must be string for an expression", details={"field": "default_value"}
            )
        return "DEFAULT %s", [value]
    if isinstance(value, dict):
        return "DEFAULT %L::jsonb", [literal_text(value)]
    if isinstance(value, list):
        if any(isinstance(item, list | dict) for item in value):
            raise InvalidArgument(
                "body/default_value must not nest arrays or objects", details={"field": "default_value"}
            )
        return "DEFAULT " + ",".join(["%L"] * len(value)), [literal_text(item) for item in value]
    return "DEFAULT %L", [literal_text(value)]


async def create_column(change: Change, write: Write) -> str:
    body = Body(write.body)
    table_id = body.integer("table_id", required=True)
    name = body.required_text("name")
    type_name = body.required_text("type")
    _, table = await change.object_fields(TABLES, str(table_id))
    type_template, type_arg = await _column_type(change, type_name)
    template = [f"ALTER TABLE %I.%I ADD COLUMN %I {type_template}"]
    args: list[str | None] = [table["schema"], table["name"], name, type_arg]
    default = body.raw("default_value")
    if body.flag("is_identity", False):
        if default is not ABSENT:
            raise InvalidArgument("Columns cannot both be identity and have a default value")
        generation = body.choice("identity_generation", IDENTITY_GENERATIONS, "BY DEFAULT")
        template.append(f"GENERATED {generation} AS IDENTITY")
    elif default is not ABSENT:
        clause, clause_args = _default_clause(default, body.choice("default_value_format", DEFAULT_FORMATS, "literal"))
        template.append(clause)
        args.extend(clause_args)
    nullable = body.flag("is_nullable")
    if nullable is not None:
        template.append("NULL" if nullable else "NOT NULL")
    if body.flag("is_primary_key", False):
        template.append("PRIMARY KEY")
    if body.flag("is_unique", False):
        template.append("UNIQUE")
    check = body.text("check")
    if check is not None:
        template.append("CHECK (%s)")
        args.append(check)
    change.add(" ".join(template), *args)
    comment = body.text("comment")
    if comment is not None:
        change.add("COMMENT ON COLUMN %I.%I.%I IS %L", table["schema"], table["name"], name, comment)
    return await change.object_named(
        COLUMNS,
        "SELECT attrelid::text || '.' || attnum::text FROM pg_attribute"
        " WHERE attrelid = $1::oid AND attname = $2 AND NOT attisdropped",
        table_id,
        name,
        missing=f"Cannot find a column named {name} in table {table['schema']}.{table['name']}",
    )


async def update_column(change: Change, write: Write) -> str:
    body = Body(write.body)
    _, old = await change.object_fields(COLUMNS, write.key)
    column = (old["schema"], old["table"], old["name"])
    alter = "ALTER TABLE %I.%I ALTER COLUMN %I"
    nullable = body.flag("is_nullable")
    if nullable is not None:
        change.add(f"{alter} {'DROP' if nullable else 'SET'} NOT NULL", *column)
    type_name = body.text("type")
    if type_name is not None:
        # USING converts what the old type cannot cast implicitly (int4 to text, ...).
        type_template, type_arg = await _column_type(change, type_name)
        change.add(
            f"{alter} SET DATA TYPE {type_template} USING %I::{type_template}", *column, type_arg, old["name"], type_arg
        )
    default = body.raw("default_value")
    if body.flag("drop_default", False):
        change.add(f"{alter} DROP DEFAULT", *column)
    elif default is not ABSENT:
        clause, clause_args = _default_clause(default, body.choice("default_value_format", DEFAULT_FORMATS, "literal"))
        change.add(f"{alter} SET {clause}", *column, *clause_args)
    identity = body.flag("is_identity")
    generation = body.choice("identity_generation", IDENTITY_GENERATIONS)
    if identity is False:
        change.add(f"{alter} DROP IDENTITY IF EXISTS", *column)
    elif old["is_identity"] and generation is not None:
        change.add(f"{alter} SET GENERATED {generation}", *column)
    elif identity and not old["is_identity"]:
        change.add(f"{alter} ADD GENERATED {generation or 'BY DEFAULT'} AS IDENTITY", *column)
    unique = body.flag("is_unique")
    if old["is_unique"] and unique is False:
        for constraint in await _single_column_constraints(change, old, "u"):
            change.add("ALTER TABLE %I.%I DROP CONSTRAINT %I", old["schema"], old["table"], constraint)
    elif not old["is_unique"] and unique:
        change.add("ALTER TABLE %I.%I ADD UNIQUE (%I)", *column)
    comment = body.text("comment")
    if comment is not None:
        change.add("COMMENT ON COLUMN %I.%I.%I IS %L", *column, comment)
    check = body.nullable_text("check")
    if check is not ABSENT:
        await _replace_check(change, old, check if isinstance(check, str) else None)
    name = body.text("name")
    if name is not None and name != old["name"]:
        change.add("ALTER TABLE %I.%I RENAME COLUMN %I TO %I", *column, name)
    return await change.object(COLUMNS, write.key)


async def _single_column_constraints(change: Change, column: dict[str, Any], kind: str) -> list[str]:
    """The names of the constraints of type ``kind`` on this column alone, oldest first."""
    names: list[str] = await change.array(
        "SELECT array_agg(conname ORDER BY oid) FROM pg_constraint"
        " WHERE contype::text = $3 AND cardinality(conkey) = 1 AND conrelid = $1::oid AND conkey[1] = $2::int2",
        column["table_id"],
        column["ordinal_position"],
        kind,
    )
    return names


async def _replace_check(change: Change, column: dict[str, Any], check: str | None) -> None:
    """postgres-meta's rule: the column's first single-column CHECK is dropped, and the new one
    (when not null) added as "<table>_<column>_check", which must refer to this column alone."""
    table = (column["schema"], column["table"])
    existing = await _single_column_constraints(change, column, "c")
    if existing:
        change.add("ALTER TABLE %I.%I DROP CONSTRAINT %I", *table, existing[0])
    if check is None:
        return
    constraint = f"{column['table']}_{column['name']}_check"
    change.add("ALTER TABLE %I.%I ADD CONSTRAINT %I CHECK (%s)", *table, constraint, check)
    keys: list[int] = await change.array(
        "SELECT conkey::int4[] FROM pg_constraint WHERE conrelid = $1::oid AND conname = $2::text::name",
        column["table_id"],
        constraint,
    )
    if not keys:
        raise InvalidArgument("error creating column constraint: check condition must refer to this column")
    if len(keys) != 1:
        raise InvalidArgument("error creating column constraint: check condition cannot refer to multiple columns")
    if keys[0] != column["ordinal_position"]:
        raise InvalidArgument("error creating column constraint: check condition cannot refer to other columns")
