"""Columns (postgres-meta's PostgresColumn), alone or nested in the relations that hold them."""

from __future__ import annotations

from pg_svc.catalog.scope import ListScope, Scope


def column_objects(which: str) -> str:
    """Rows (attrelid, attnum, obj) of the PostgresColumn objects of the attributes ``a`` that
    the SQL condition ``which`` selects."""
    return f"""
SELECT a.attrelid, a.attnum, json_build_object(
    'table_id', c.oid::int8,
    'schema', nc.nspname,
    'table', c.relname,
    'id', c.oid::text || '.' || a.attnum::text,
    'ordinal_position', a.attnum,
    'name', a.attname,
    'default_value', CASE WHEN a.atthasdef THEN pg_get_expr(ad.adbin, ad.adrelid) END,
    'data_type', CASE
        WHEN et.typelem <> 0 AND et.typlen = -1 THEN 'ARRAY'
        WHEN etn.nspname = 'pg_catalog' THEN format_type(et.oid, NULL)
        ELSE 'USER-DEFINED' END,
    'format', et.typname,
    'is_identity', a.attidentity IN ('a', 'd'),
    'identity_generation', CASE a.attidentity WHEN 'a' THEN 'ALWAYS' WHEN 'd' THEN 'BY DEFAULT' END,
    'is_generated', a.attgenerated = 's',
    'is_nullable', NOT (a.attnotnull OR (t.typtype = 'd' AND t.typnotnull)),
    'is_updatable', c.relkind IN ('r', 'p')
        OR (c.relkind IN ('v', 'f') AND pg_column_is_updatable(c.oid, a.attnum, false)),
    'is_unique', EXISTS (
        SELECT FROM pg_constraint u
        WHERE u.conrelid = c.oid AND u.contype = 'u' AND u.conkey = ARRAY[a.attnum]),
    'enums', coalesce((
        SELECT json_agg(e.enumlabel ORDER BY e.enumsortorder)
        FROM pg_enum e WHERE e.enumtypid IN (et.oid, et.typelem)), '[]'),
    'check', (
        -- postgres-meta shows a column's first single-column CHECK, without "CHECK (" and ")".
        SELECT substr(d.def, 8, length(d.def) - 8)
        FROM pg_constraint k, pg_get_constraintdef(k.oid, true) AS d(def)
        WHERE k.conrelid = c.oid AND k.contype = 'c' AND k.conkey = ARRAY[a.attnum]
        ORDER BY k.oid LIMIT 1),
    'comment', col_description(c.oid, a.attnum)
) AS obj
FROM pg_attribute a
JOIN pg_class c ON c.oid = a.attrelid
JOIN pg_namespace nc ON nc.oid = c.relnamespace
JOIN pg_type t ON t.oid = a.atttypid
-- A domain column is described by its base type.
JOIN pg_type et ON et.oid = CASE WHEN t.typtype = 'd' THEN t.typbasetype ELSE t.oid END
JOIN pg_namespace etn ON etn.oid = et.typnamespace
LEFT JOIN pg_attrdef ad ON ad.adrelid = a.attrelid AND ad.adnum = a.attnum
WHERE {which}"""


#: The attributes postgres-meta shows: live, user columns the user may touch.
VISIBLE_COLUMN = """a.attnum > 0 AND NOT a.attisdropped
  AND (pg_has_role(c.relowner, 'USAGE')
       OR has_column_privilege(c.oid, a.attnum, 'SELECT, INSERT, UPDATE, REFERENCES'))"""

#: The relation kinds whose columns postgres-meta lists.
_COLUMN_RELATIONS = "c.relkind IN ('r', 'v', 'm', 'f', 'p') AND NOT pg_is_other_temp_schema(n.oid)"


def columns(scope: Scope, *, table_id: bool = False) -> str:
    """PostgresColumn objects: a list, one by (table oid ``$1``, column number ``$2``), or, with
    ``table_id``, a list of one table's columns (its oid the list's ``$5``)."""
    table = " AND c.oid = $5::oid" if table_id and isinstance(scope, ListScope) else ""
    return f"""
WITH page AS (
    SELECT a.attrelid, a.attnum, n.nspname, c.relname
    FROM pg_attribute a
    JOIN pg_class c ON c.oid = a.attrelid
    JOIN pg_namespace n ON n.oid = c.relnamespace
    WHERE {_COLUMN_RELATIONS} AND {VISIBLE_COLUMN}
      AND {scope.where("n.nspname", "(a.attrelid, a.attnum) IN (SELECT * FROM unnest($1::oid[], $2::int2[]))")}{table}
    ORDER BY n.nspname, c.relname, a.attnum
    {scope.page}),
col AS ({column_objects("(a.attrelid, a.attnum) IN (SELECT attrelid, attnum FROM page)")})
SELECT {scope.reply("col.obj", "page.nspname, page.relname, page.attnum")}
FROM page JOIN col ON col.attrelid = page.attrelid AND col.attnum = page.attnum"""


def nested_columns(relations: str) -> tuple[str, str, str]:
    """(CTE text, join, field) that add a ``columns`` array to each relation ``r`` of the CTE
    ``relations``."""
    cte = f""",
col AS ({column_objects(f"a.attrelid IN (SELECT oid FROM {relations}) AND {VISIBLE_COLUMN}")}),
col_by_rel AS (SELECT attrelid, json_agg(obj ORDER BY attnum) AS columns FROM col GROUP BY attrelid)"""
    join = "LEFT JOIN col_by_rel ON col_by_rel.attrelid = r.oid"
    return cte, join, ",\n    'columns', coalesce(col_by_rel.columns, '[]')"
