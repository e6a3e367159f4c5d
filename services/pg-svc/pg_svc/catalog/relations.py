"""Relations in postgres-meta's shapes: tables, views, materialized views, foreign tables and
indexes (PostgresTable, PostgresView, PostgresMaterializedView, PostgresForeignTable,
PostgresIndex), as lists or one by oid."""

from __future__ import annotations

from pg_svc.catalog.columns import nested_columns
from pg_svc.catalog.scope import Scope

_BY_OID = "c.oid = ANY ($1::oid[])"

_RELATION_VISIBLE = """(pg_has_role(c.relowner, 'USAGE')
       OR has_table_privilege(c.oid, 'SELECT, INSERT, UPDATE, DELETE, TRUNCATE, REFERENCES, TRIGGER')
       OR has_any_column_privilege(c.oid, 'SELECT, INSERT, UPDATE, REFERENCES'))"""

# ---- tables -----------------------------------------------------------------------------------

# postgres-meta lists a foreign key once per (source column, target column) pair of its keys, on
# the tables at both of its ends (once on a table that refers to itself): kept so that consoles
# see what they expect.
_RELATIONSHIPS = """
fk AS (
    SELECT k.conrelid, k.confrelid, json_build_object(
        'id', k.oid::int8,
        'constraint_name', k.conname,
        'source_schema', sn.nspname,
        'source_table_name', sc.relname,
        'source_column_name', sa.attname,
        'target_table_schema', tn.nspname,
        'target_table_name', tc.relname,
        'target_column_name', ta.attname) AS obj
    FROM pg_constraint k
    JOIN pg_class sc ON sc.oid = k.conrelid JOIN pg_namespace sn ON sn.oid = sc.relnamespace
    JOIN pg_class tc ON tc.oid = k.confrelid JOIN pg_namespace tn ON tn.oid = tc.relnamespace
    JOIN pg_attribute sa ON sa.attrelid = k.conrelid AND sa.attnum = ANY (k.conkey)
    JOIN pg_attribute ta ON ta.attrelid = k.confrelid AND ta.attnum = ANY (k.confkey)
    WHERE k.contype = 'f' AND (k.conrelid IN (SELECT oid FROM r) OR k.confrelid IN (SELECT oid FROM r))),
fk_by_rel AS (
    SELECT rel, json_agg(obj) AS relationships FROM (
        SELECT conrelid AS rel, obj FROM fk
        UNION ALL
        SELECT confrelid, obj FROM fk WHERE confrelid <> conrelid) AS ends
    GROUP BY rel),
pk_by_rel AS (
    SELECT r.oid, json_agg(json_build_object(
        'schema', r.nspname, 'table_name', r.relname, 'name', a.attname, 'table_id', r.oid::int8)
        ORDER BY key.position) AS primary_keys
    FROM r
    JOIN pg_index i ON i.indrelid = r.oid AND i.indisprimary
    CROSS JOIN LATERAL unnest(i.indkey::int2[]) WITH ORDINALITY AS key(attnum, position)
    JOIN pg_attribute a ON a.attrelid = r.oid AND a.attnum = key.attnum
    GROUP BY r.oid)"""


def tables(scope: Scope, *, include_columns: bool) -> str:
    """PostgresTable objects (one by oid ``$1``; one always has its columns)."""
    columns_cte, columns_join, columns_field = nested_columns("r") if include_columns else ("", "", "")
    table = f"""json_build_object(
    'id', r.oid::int8,
    'schema', r.nspname,
    'name', r.relname,
    'rls_enabled', r.relrowsecurity,
    'rls_forced', r.relforcerowsecurity,
    'replica_identity', CASE r.relreplident
        WHEN 'd' THEN 'DEFAULT' WHEN 'i' THEN 'INDEX' WHEN 'f' THEN 'FULL' ELSE 'NOTHING' END,
    'bytes', size.bytes,
    'size', pg_size_pretty(size.bytes),
    'live_rows_estimate', pg_stat_get_live_tuples(r.oid),
    'dead_rows_estimate', pg_stat_get_dead_tuples(r.oid),
    'comment', obj_description(r.oid, 'pg_class'){columns_field},
    'primary_keys', coalesce(pk_by_rel.primary_keys, '[]'),
    'relationships', coalesce(fk_by_rel.relationships, '[]'))"""
    return f"""
WITH r AS (
    SELECT c.oid, n.nspname, c.relname, c.relrowsecurity, c.relforcerowsecurity, c.relreplident
    FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
    WHERE c.relkind IN ('r', 'p') AND NOT pg_is_other_temp_schema(n.oid)
      AND {scope.where("n.nspname", _BY_OID)} AND {_RELATION_VISIBLE}
    ORDER BY n.nspname, c.relname
    {scope.page}),
{_RELATIONSHIPS}{columns_cte}
SELECT {scope.reply(table, "r.nspname, r.relname")}
FROM r
CROSS JOIN LATERAL pg_total_relation_size(r.oid) AS size(bytes)
LEFT JOIN pk_by_rel ON pk_by_rel.oid = r.oid
LEFT JOIN fk_by_rel ON fk_by_rel.rel = r.oid
{columns_join}"""


# ---- views, materialized views, foreign tables ------------------------------------------------


def _relations_of_kind(scope: Scope, relkind: str, fields: str, *, include_columns: bool) -> str:
    """The objects ``fields`` (a json_build_object argument list over ``r``, after id, schema
    and name) of the relations of one kind, with their columns when asked."""
    columns_cte, columns_join, columns_field = nested_columns("r") if include_columns else ("", "", "")
    relation = f"json_build_object('id', r.oid::int8, 'schema', r.nspname, 'name', r.relname, {fields}{columns_field})"
    return f"""
WITH r AS (
    SELECT c.oid, n.nspname, c.relname, c.relispopulated
    FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
    WHERE c.relkind = '{relkind}' AND {scope.where("n.nspname", _BY_OID)}
    ORDER BY n.nspname, c.relname
    {scope.page}){columns_cte}
SELECT {scope.reply(relation, "r.nspname, r.relname")}
FROM r
{columns_join}"""


def views(scope: Scope, *, include_columns: bool) -> str:
    """PostgresView objects."""
    # "is_updatable" as information_schema.views defines it: UPDATE and DELETE both possible.
    fields = """'is_updatable', (pg_relation_is_updatable(r.oid, false) & 20) = 20,
    'comment', obj_description(r.oid, 'pg_class')"""
    return _relations_of_kind(scope, "v", fields, include_columns=include_columns)


def materialized_views(scope: Scope, *, include_columns: bool) -> str:
    """PostgresMaterializedView objects."""
    fields = "'is_populated', r.relispopulated, 'comment', obj_description(r.oid, 'pg_class')"
    return _relations_of_kind(scope, "m", fields, include_columns=include_columns)


def foreign_tables(scope: Scope, *, include_columns: bool) -> str:
    """PostgresForeignTable objects."""
    return _relations_of_kind(
        scope, "f", "'comment', obj_description(r.oid, 'pg_class')", include_columns=include_columns
    )


# ---- indexes ----------------------------------------------------------------------------------

# The indexes pg_indexes shows (of tables, partitioned tables and materialized views), which
# postgres-meta reads. Its "index_attributes" are the index's own attributes whose numbers appear
# in indkey (the table's column numbers), and an index without one is left out: postgres-meta's
# join, kept so that consoles see what they expect.
_INDEX_ATTRIBUTES = "a.attrelid = r.indexrelid AND a.attnum = ANY (r.indkey)"


def indexes(scope: Scope) -> str:
    """PostgresIndex objects (one by oid ``$1``)."""
    index = f"""json_build_object(
    'id', r.indexrelid::int8,
    'table_id', r.indrelid::int8,
    'schema', r.nspname,
    'number_of_attributes', r.indnatts,
    'number_of_key_attributes', r.indnkeyatts,
    'is_unique', r.indisunique,
    'is_primary', r.indisprimary,
    'is_exclusion', r.indisexclusion,
    'is_immediate', r.indimmediate,
    'is_clustered', r.indisclustered,
    'is_valid', r.indisvalid,
    'check_xmin', r.indcheckxmin,
    'is_ready', r.indisready,
    'is_live', r.indislive,
    'is_replica_identity', r.indisreplident,
    'key_attributes', r.indkey::int2[],
    'collation', r.indcollation::int4[],
    'class', r.indclass::int4[],
    'options', r.indoption::int2[],
    'index_predicate', r.indpred::text,
    'comment', obj_description(r.indexrelid, 'pg_class'),
    'index_definition', pg_get_indexdef(r.indexrelid),
    'access_method', r.amname,
    'index_attributes', (
        SELECT json_agg(json_build_object(
            'attribute_number', a.attnum,
            'attribute_name', a.attname,
            'data_type', format_type(a.atttypid, a.atttypmod)) ORDER BY a.attnum)
        FROM pg_attribute a WHERE {_INDEX_ATTRIBUTES}))"""
    return f"""
WITH r AS (
    SELECT i.*, n.nspname, c.relname, am.amname
    FROM pg_index i
    JOIN pg_class c ON c.oid = i.indexrelid
    JOIN pg_namespace n ON n.oid = c.relnamespace
    JOIN pg_class t ON t.oid = i.indrelid
    JOIN pg_am am ON am.oid = c.relam
    WHERE c.relkind IN ('i', 'I') AND t.relkind IN ('r', 'm', 'p')
      AND EXISTS (SELECT FROM pg_attribute a WHERE a.attrelid = i.indexrelid AND a.attnum = ANY (i.indkey))
      AND {scope.where("n.nspname", _BY_OID)}
    ORDER BY n.nspname, c.relname
    {scope.page})
SELECT {scope.reply(index, "r.nspname, r.relname")}
FROM r"""
