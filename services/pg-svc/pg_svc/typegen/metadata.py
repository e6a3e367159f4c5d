"""What the type generators read from a database, asked in one query, in the order they emit it.

The same relations, columns, functions, types and relationships postgres-meta's generators see
(``src/lib/generators.ts`` upstream), with the same schema rules: ``included_schemas`` wins;
otherwise the excluded schemas, and (for all but foreign tables and materialized views) the system
schemas, are left out. Types are read from every schema, since a column may use any of them.
Everything is then ordered as postgres-meta orders it (:mod:`pg_svc.typegen.collation`), so that
the generators emit the same text.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, TypedDict

import orjson

from pg_svc.typegen.collation import sort_key
from pg_svc.typegen.viewkeys import view_relationships

SYSTEM_SCHEMAS = ("information_schema", "pg_catalog", "pg_toast")


class Schema(TypedDict):
    id: int
    name: str


class Relation(TypedDict):
    id: int
    schema: str
    name: str
    is_updatable: bool
    is_insert_enabled: bool
    is_update_enabled: bool


class Column(TypedDict):
    table_id: int
    schema: str
    table: str
    name: str
    default_value: str | None
    format: str
    type_schema: str
    is_identity: bool
    identity_generation: str | None
    is_generated: bool
    is_nullable: bool
    is_updatable: bool


class Argument(TypedDict):
    mode: str
    name: str
    type_id: int
    has_default: bool | None


class Function(TypedDict):
    id: int
    schema: str
    name: str
    args: list[Argument]
    argument_types: str
    identity_argument_types: str
    return_type_id: int
    return_type: str
    return_type_relation_id: int | None
    is_set_returning_function: bool
    prorows: int | None


class Attribute(TypedDict):
    name: str
    type_id: int


class Type(TypedDict):
    id: int
    name: str
    schema: str
    format: str
    enums: list[str]
    attributes: list[Attribute]
    type_relation_id: int | None


class Relationship(TypedDict):
    foreign_key_name: str
    schema: str
    relation: str
    columns: list[str]
    is_one_to_one: bool
    referenced_schema: str
    referenced_relation: str
    referenced_columns: list[str]


@dataclass(frozen=True)
class Metadata:
    schemas: list[Schema]
    tables: list[Relation]
    foreign_tables: list[Relation]
    views: list[Relation]
    materialized_views: list[Relation]
    columns: list[Column]
    relationships: list[Relationship]
    functions: list[Function]
    types: list[Type]


# $1: the included schemas, $2: the excluded ones. ``in_scope(n)`` leaves the system schemas out,
# ``in_plain_scope(n)`` only the excluded ones. Names are compared as postgres-meta compares them.
_SCOPE = """
WITH scope AS (
    SELECT coalesce($1::text[], '{}') AS included, coalesce($2::text[], '{}') AS excluded
)"""


def _in_scope(name: str, *, system: bool = True) -> str:
    excluded = "ARRAY['information_schema', 'pg_catalog', 'pg_toast'] || excluded" if system else "excluded"
    return f"""(SELECT CASE WHEN cardinality(included) > 0 THEN {name} = ANY(included)
        ELSE NOT ({name} = ANY({excluded})) END FROM scope)"""


_VISIBLE_RELATION = """(pg_has_role(c.relowner, 'USAGE')
        OR has_table_privilege(c.oid, 'SELECT, INSERT, UPDATE, DELETE, TRUNCATE, REFERENCES, TRIGGER')
        OR has_any_column_privilege(c.oid, 'SELECT, INSERT, UPDATE, REFERENCES'))"""

_RELATIONS = f"""
SELECT coalesce(json_agg(json_build_object(
    'id', c.oid::int8, 'schema', n.nspname, 'name', c.relname, 'kind', c.relkind,
    'is_updatable', c.relkind = 'v' AND (pg_relation_is_updatable(c.oid, false) & 20) = 20,
    'is_insert_enabled', c.relkind = 'v' AND (pg_relation_is_updatable(c.oid, true) & 8) = 8,
    'is_update_enabled', c.relkind = 'v' AND (pg_relation_is_updatable(c.oid, true) & 4) = 4
)), '[]')
FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE (c.relkind IN ('r', 'p') AND {_in_scope("n.nspname")} AND NOT pg_is_other_temp_schema(n.oid)
        AND {_VISIBLE_RELATION})
    OR (c.relkind = 'v' AND {_in_scope("n.nspname")})
    OR (c.relkind IN ('f', 'm') AND {_in_scope("n.nspname", system=False)})"""

_SCHEMAS = f"""
SELECT coalesce(json_agg(json_build_object('id', n.oid::int8, 'name', n.nspname)), '[]')
FROM pg_namespace n
WHERE {_in_scope("n.nspname")}
    AND NOT starts_with(n.nspname, 'pg_')
    AND (pg_has_role(n.nspowner, 'USAGE') OR has_schema_privilege(n.oid, 'CREATE, USAGE'))"""

# A column is writable in a table, and in a view or foreign table that Postgres can update
# through, or that an INSTEAD OF trigger or an unconditional INSTEAD rule makes writable.
_COLUMNS = f"""
SELECT coalesce(json_agg(json_build_object(
    'table_id', c.oid::int8, 'schema', nc.nspname, 'table', c.relname, 'name', a.attname,
    'default_value', CASE WHEN a.atthasdef THEN pg_get_expr(ad.adbin, ad.adrelid) END,
    'format', coalesce(bt.typname, t.typname),
    'type_schema', coalesce(nbt.nspname, nt.nspname),
    'is_identity', a.attidentity IN ('a', 'd'),
    'identity_generation', CASE a.attidentity WHEN 'a' THEN 'ALWAYS' WHEN 'd' THEN 'BY DEFAULT' END,
    'is_generated', a.attgenerated IN ('s', 'v'),
    'is_nullable', NOT (a.attnotnull OR (t.typtype = 'd' AND t.typnotnull)),
    'is_updatable', c.relkind IN ('r', 'p') OR (c.relkind IN ('v', 'f') AND (
        pg_column_is_updatable(c.oid, a.attnum, false)
        OR EXISTS (SELECT FROM pg_trigger tg WHERE tg.tgrelid = c.oid AND tg.tgtype & 64 <> 0
            AND tg.tgtype & 20 <> 0 AND NOT tg.tgisinternal)
        OR EXISTS (SELECT FROM pg_rewrite rw WHERE rw.ev_class = c.oid AND rw.is_instead
            AND rw.ev_type IN ('2', '3') AND rw.ev_qual::text = '<>')))
)), '[]')
FROM pg_attribute a
JOIN pg_class c ON c.oid = a.attrelid
JOIN pg_namespace nc ON nc.oid = c.relnamespace
JOIN pg_type t ON t.oid = a.atttypid
JOIN pg_namespace nt ON nt.oid = t.typnamespace
LEFT JOIN pg_attrdef ad ON ad.adrelid = a.attrelid AND ad.adnum = a.attnum
LEFT JOIN (pg_type bt JOIN pg_namespace nbt ON nbt.oid = bt.typnamespace)
    ON t.typtype = 'd' AND bt.oid = t.typbasetype
WHERE {_in_scope("nc.nspname")}
    AND NOT pg_is_other_temp_schema(nc.oid)
    AND a.attnum > 0 AND NOT a.attisdropped
    AND c.relkind IN ('r', 'v', 'm', 'f', 'p')
    AND (pg_has_role(c.relowner, 'USAGE')
        OR has_column_privilege(c.oid, a.attnum, 'SELECT, INSERT, UPDATE, REFERENCES'))"""

# Arguments in declaration order; has_default is null for the output ones (the defaults
# count only the input arguments, as postgres-meta's list does).
_FUNCTIONS = f"""
SELECT coalesce(json_agg(json_build_object(
    'id', p.oid::int8, 'schema', n.nspname, 'name', p.proname,
    'args', coalesce((
        SELECT json_agg(json_build_object(
            'mode', CASE arg.mode WHEN 'i' THEN 'in' WHEN 'o' THEN 'out' WHEN 'b' THEN 'inout'
                WHEN 'v' THEN 'variadic' ELSE 'table' END,
            'name', coalesce(arg.name, ''),
            'type_id', arg.type_id::int8,
            'has_default', CASE WHEN arg.ord <= p.pronargs THEN arg.ord > p.pronargs - p.pronargdefaults END
        ) ORDER BY arg.ord)
        FROM unnest(
            coalesce(p.proargmodes, array_fill('i'::"char", ARRAY[p.argument_count])),
            coalesce(p.proargnames, array_fill(''::text, ARRAY[p.argument_count])),
            coalesce(p.proallargtypes, p.proargtypes::oid[])
        ) WITH ORDINALITY AS arg(mode, name, type_id, ord)
    ), '[]'),
    'argument_types', pg_get_function_arguments(p.oid),
    'identity_argument_types', pg_get_function_identity_arguments(p.oid),
    'return_type_id', p.prorettype::int8,
    'return_type', pg_get_function_result(p.oid),
    'return_type_relation_id', nullif(rt.typrelid::int8, 0),
    'is_set_returning_function', p.proretset,
    'prorows', CASE WHEN p.proretset THEN nullif(p.prorows, 0) END
)), '[]')
FROM (SELECT *, cardinality(coalesce(proallargtypes, proargtypes)) AS argument_count FROM pg_proc) p
JOIN pg_namespace n ON n.oid = p.pronamespace
LEFT JOIN pg_type rt ON rt.oid = p.prorettype
WHERE p.prokind = 'f' AND {_in_scope("n.nspname")}
    AND pg_get_function_result(p.oid) NOT IN ('trigger', 'event_trigger')"""

_TYPES = """
SELECT coalesce(json_agg(json_build_object(
    'id', t.oid::int8, 'name', t.typname, 'schema', n.nspname, 'format', format_type(t.oid, NULL),
    'enums', coalesce((SELECT json_agg(e.enumlabel ORDER BY e.enumsortorder) FROM pg_enum e
        WHERE e.enumtypid = t.oid), '[]'),
    'attributes', coalesce((SELECT json_agg(json_build_object('name', a.attname, 'type_id', a.atttypid::int8)
        ORDER BY a.attnum) FROM pg_class c JOIN pg_attribute a ON a.attrelid = c.oid
        WHERE c.oid = t.typrelid AND c.relkind = 'c' AND NOT a.attisdropped), '[]'),
    'type_relation_id', nullif(t.typrelid::int8, 0)
)), '[]')
FROM pg_type t LEFT JOIN pg_namespace n ON n.oid = t.typnamespace
WHERE t.typrelid = 0
    OR (SELECT c.relkind IN ('c', 'r', 'v', 'm', 'p', 'f') FROM pg_class c WHERE c.oid = t.typrelid)"""

# Foreign keys between tables; one-to-one when the key's columns, in its order, are those of a
# primary key or unique constraint of the referencing table (in column order).
_TABLE_RELATIONSHIPS = f"""
SELECT coalesce(json_agg(json_build_object(
    'foreign_key_name', k.conname, 'schema', ns.nspname, 'relation', tab.relname,
    'columns', cols.names, 'referenced_schema', nr.nspname, 'referenced_relation', other.relname,
    'referenced_columns', cols.refs,
    'is_one_to_one', EXISTS (
        SELECT FROM pg_constraint u
        WHERE u.conrelid = k.conrelid AND u.connamespace = k.connamespace AND u.contype IN ('p', 'u')
            AND u.connamespace::regnamespace::text <> 'pg_catalog'
            AND {_in_scope("u.connamespace::regnamespace::text")}
            AND cols.names = (SELECT json_agg(a.attname ORDER BY a.attnum)::jsonb
                FROM pg_attribute a WHERE a.attrelid = u.conrelid AND a.attnum = ANY(u.conkey)))
)), '[]')
FROM pg_constraint k
JOIN pg_namespace ns ON ns.oid = k.connamespace
JOIN pg_class tab ON tab.oid = k.conrelid
JOIN pg_class other ON other.oid = k.confrelid
JOIN pg_namespace nr ON nr.oid = other.relnamespace
CROSS JOIN LATERAL (
    -- The schema test reads the quoted spelling here, as postgres-meta's does: a schema whose
    -- name needs quotes and is named in included_schemas gets its keys without columns.
    SELECT jsonb_agg(ca.attname ORDER BY key.ord) AS names, jsonb_agg(ra.attname ORDER BY key.ord) AS refs
    FROM unnest(k.conkey, k.confkey) WITH ORDINALITY AS key(col, ref, ord)
    JOIN pg_attribute ca ON ca.attrelid = k.conrelid AND ca.attnum = key.col
    JOIN pg_attribute ra ON ra.attrelid = k.confrelid AND ra.attnum = key.ref
    WHERE {_in_scope("k.connamespace::regnamespace::text")}
) cols
WHERE k.contype = 'f' AND k.conparentid = 0 AND {_in_scope("ns.nspname")}"""

# Views and materialized views in scope, with their stored query, for the relationships that
# run through them (pg_svc.typegen.viewkeys).
_VIEW_DEFINITIONS = f"""
SELECT coalesce(json_agg(json_build_object(
    'id', c.oid::int8, 'schema', n.nspname, 'name', c.relname, 'query', r.ev_action::text,
    'columns', (SELECT json_object_agg(a.attnum, a.attname) FROM pg_attribute a
        WHERE a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped)
)), '[]')
FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace JOIN pg_rewrite r ON r.ev_class = c.oid
WHERE c.relkind IN ('v', 'm') AND {_in_scope("n.nspname")}"""

# Key columns of every primary and foreign key, and the referenced columns of the foreign keys
# in scope: the ends a view may select.
_KEY_COLUMNS = f"""
SELECT coalesce(json_agg(json_build_object(
    'table_id', k.relid::int8, 'schema', n.nspname, 'table', c.relname, 'constraint', k.conname,
    'type', k.contype, 'columns', k.cols, 'names', (SELECT json_agg(a.attname ORDER BY key.ord)
        FROM unnest(k.cols) WITH ORDINALITY AS key(col, ord)
        JOIN pg_attribute a ON a.attrelid = k.relid AND a.attnum = key.col)
)), '[]')
FROM (
    SELECT conname, contype::text AS contype, conrelid AS relid, conkey AS cols FROM pg_constraint
    WHERE contype IN ('p', 'f')
    UNION
    SELECT conname, 'f_ref', confrelid, confkey FROM pg_constraint
    WHERE contype = 'f' AND {_in_scope("connamespace::regnamespace::text")}
) k
JOIN pg_class c ON c.oid = k.relid JOIN pg_namespace n ON n.oid = c.relnamespace"""

QUERY = f"""{_SCOPE}
SELECT json_build_object(
    'schemas', ({_SCHEMAS}),
    'relations', ({_RELATIONS}),
    'columns', ({_COLUMNS}),
    'functions', ({_FUNCTIONS}),
    'types', ({_TYPES}),
    'relationships', ({_TABLE_RELATIONSHIPS}),
    'views', ({_VIEW_DEFINITIONS}),
    'keys', ({_KEY_COLUMNS})
)::text"""


def _by_schema_and_name(item: Any) -> tuple[Any, ...]:
    return (sort_key(item["schema"]), sort_key(item["name"]), item["id"])


def build(document: str) -> Metadata:
    """The metadata of ``document`` (what :data:`QUERY` returns), in postgres-meta's order."""
    raw = orjson.loads(document)
    relations: dict[str, list[Relation]] = {"r": [], "p": [], "f": [], "v": [], "m": []}
    for relation in raw["relations"]:
        relations[relation.pop("kind")].append(relation)
    table_relationships: list[Relationship] = raw["relationships"]
    relationships = table_relationships + view_relationships(table_relationships, raw["views"], raw["keys"])
    relationships.sort(
        key=lambda r: (
            sort_key(r["foreign_key_name"]),
            sort_key(r["referenced_relation"]),
            sort_key(orjson.dumps(r["referenced_columns"]).decode()),
        )
    )
    functions: list[Function] = sorted(
        raw["functions"],
        key=lambda f: (sort_key(f["schema"]), sort_key(f["name"]), sort_key(f["identity_argument_types"]), f["id"]),
    )
    for function in functions:
        function["args"].sort(key=lambda arg: sort_key(arg["name"]))
    return Metadata(
        schemas=sorted(raw["schemas"], key=lambda s: (sort_key(s["name"]), s["id"])),
        tables=sorted(relations["r"] + relations["p"], key=_by_schema_and_name),
        foreign_tables=sorted(relations["f"], key=_by_schema_and_name),
        views=sorted(relations["v"], key=_by_schema_and_name),
        materialized_views=sorted(relations["m"], key=_by_schema_and_name),
        columns=sorted(
            raw["columns"], key=lambda c: (sort_key(c["schema"]), sort_key(c["table"]), sort_key(c["name"]))
        ),
        relationships=relationships,
        functions=functions,
        types=sorted(raw["types"], key=_by_schema_and_name),
    )
