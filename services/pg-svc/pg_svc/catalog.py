"""Catalogue queries that answer in Supabase postgres-meta's JSON shapes.

Each query builds its whole reply inside Postgres (``json_agg`` of ``json_build_object``) and
returns it as one text value, which pg-svc and the gateway pass on untouched. The objects carry
the same fields, with the same meanings, as postgres-meta's ``PostgresTable``, ``PostgresColumn``
and the rest (``src/lib/types.ts`` upstream), including the rows it chooses to show (privilege
checks, internal triggers left out, ...), so that Supabase Studio reads them unchanged. Lists are
ordered by schema and name so that ``limit``/``offset`` pages are stable.

Every query takes the same four bind parameters, built by :func:`schema_filter`:
``$1`` the included schemas (NULL for no restriction), ``$2`` the excluded schemas,
``$3`` the limit (NULL for all) and ``$4`` the offset.
"""

from __future__ import annotations

from dataclasses import dataclass

from udb.pg.v1 import pg_pb2

#: Left out unless ``include_system_schemas`` is set (postgres-meta's DEFAULT_SYSTEM_SCHEMAS).
SYSTEM_SCHEMAS = ("information_schema", "pg_catalog", "pg_toast")


@dataclass(frozen=True, slots=True)
class FilterArgs:
    """The bind parameters of every catalogue query."""

    included: list[str] | None
    excluded: list[str]
    limit: int | None
    offset: int | None

    def as_args(self) -> tuple[list[str] | None, list[str], int | None, int | None]:
        return (self.included, self.excluded, self.limit, self.offset)


def schema_filter(catalog_filter: pg_pb2.CatalogFilter) -> FilterArgs:
    """postgres-meta's filter rule: included schemas win outright; otherwise the excluded ones,
    plus the system schemas unless those are asked for. A limit or offset of 0 means none."""
    included = [name for name in catalog_filter.included_schemas if name]
    excluded = [name for name in catalog_filter.excluded_schemas if name]
    limit = catalog_filter.limit if catalog_filter.HasField("limit") and catalog_filter.limit > 0 else None
    offset = catalog_filter.offset if catalog_filter.HasField("offset") and catalog_filter.offset > 0 else None
    if included:
        return FilterArgs(included, [], limit, offset)
    if not catalog_filter.include_system_schemas:
        excluded = [*SYSTEM_SCHEMAS, *excluded]
    return FilterArgs(None, excluded, limit, offset)


def _in_schemas(column: str) -> str:
    return f"(($1::text[] IS NULL OR {column} = ANY($1::text[])) AND NOT ({column} = ANY($2::text[])))"


_PAGE = "LIMIT $3::int8 OFFSET $4::int8"

# ---- columns ----------------------------------------------------------------------------------


def _columns_of(which: str) -> str:
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
_VISIBLE_COLUMN = """a.attnum > 0 AND NOT a.attisdropped
  AND (pg_has_role(c.relowner, 'USAGE')
       OR has_column_privilege(c.oid, a.attnum, 'SELECT, INSERT, UPDATE, REFERENCES'))"""


COLUMNS = f"""
WITH page AS (
    SELECT a.attrelid, a.attnum, n.nspname, c.relname
    FROM pg_attribute a
    JOIN pg_class c ON c.oid = a.attrelid
    JOIN pg_namespace n ON n.oid = c.relnamespace
    WHERE c.relkind IN ('r', 'v', 'm', 'f', 'p') AND NOT pg_is_other_temp_schema(n.oid)
      AND {_in_schemas("n.nspname")} AND {_VISIBLE_COLUMN}
    ORDER BY n.nspname, c.relname, a.attnum
    {_PAGE}),
col AS ({_columns_of("(a.attrelid, a.attnum) IN (SELECT attrelid, attnum FROM page)")})
SELECT coalesce(json_agg(col.obj ORDER BY page.nspname, page.relname, page.attnum), '[]')::text
FROM page JOIN col ON col.attrelid = page.attrelid AND col.attnum = page.attnum"""


def _nested_columns(relations: str) -> tuple[str, str, str]:
    """(CTE text, join, field) that add a ``columns`` array to each relation of ``relations``."""
    cte = f""",
col AS ({_columns_of(f"a.attrelid IN (SELECT oid FROM {relations}) AND {_VISIBLE_COLUMN}")}),
col_by_rel AS (SELECT attrelid, json_agg(obj ORDER BY attnum) AS columns FROM col GROUP BY attrelid)"""
    join = "LEFT JOIN col_by_rel ON col_by_rel.attrelid = r.oid"
    return cte, join, ",\n    'columns', coalesce(col_by_rel.columns, '[]')"


# ---- tables -----------------------------------------------------------------------------------

_TABLE_RELATIONS = f"""
SELECT c.oid, n.nspname, c.relname, c.relrowsecurity, c.relforcerowsecurity, c.relreplident
FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE c.relkind IN ('r', 'p') AND NOT pg_is_other_temp_schema(n.oid)
  AND {_in_schemas("n.nspname")}
  AND (pg_has_role(c.relowner, 'USAGE')
       OR has_table_privilege(c.oid, 'SELECT, INSERT, UPDATE, DELETE, TRUNCATE, REFERENCES, TRIGGER')
       OR has_any_column_privilege(c.oid, 'SELECT, INSERT, UPDATE, REFERENCES'))
ORDER BY n.nspname, c.relname
{_PAGE}"""

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


def tables(*, include_columns: bool) -> str:
    """The PostgresTable list (``$1..$4``, see the module)."""
    columns_cte, columns_join, columns_field = _nested_columns("r") if include_columns else ("", "", "")
    return f"""
WITH r AS ({_TABLE_RELATIONS}),
{_RELATIONSHIPS}{columns_cte}
SELECT coalesce(json_agg(json_build_object(
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
    'relationships', coalesce(fk_by_rel.relationships, '[]')
) ORDER BY r.nspname, r.relname), '[]')::text
FROM r
CROSS JOIN LATERAL pg_total_relation_size(r.oid) AS size(bytes)
LEFT JOIN pk_by_rel ON pk_by_rel.oid = r.oid
LEFT JOIN fk_by_rel ON fk_by_rel.rel = r.oid
{columns_join}"""


# ---- views ------------------------------------------------------------------------------------

_VIEW_RELATIONS = f"""
SELECT c.oid, n.nspname, c.relname
FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE c.relkind = 'v' AND {_in_schemas("n.nspname")}
ORDER BY n.nspname, c.relname
{_PAGE}"""


def views(*, include_columns: bool) -> str:
    """The PostgresView list."""
    columns_cte, columns_join, columns_field = _nested_columns("r") if include_columns else ("", "", "")
    return f"""
WITH r AS ({_VIEW_RELATIONS}){columns_cte}
SELECT coalesce(json_agg(json_build_object(
    'id', r.oid::int8,
    'schema', r.nspname,
    'name', r.relname,
    -- "is_updatable" as information_schema.views defines it: UPDATE and DELETE both possible.
    'is_updatable', (pg_relation_is_updatable(r.oid, false) & 20) = 20,
    'comment', obj_description(r.oid, 'pg_class'){columns_field}
) ORDER BY r.nspname, r.relname), '[]')::text
FROM r
{columns_join}"""


_MATERIALIZED_VIEW_RELATIONS = f"""
SELECT c.oid, n.nspname, c.relname, c.relispopulated
FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE c.relkind = 'm' AND {_in_schemas("n.nspname")}
ORDER BY n.nspname, c.relname
{_PAGE}"""


def materialized_views(*, include_columns: bool) -> str:
    """The PostgresMaterializedView list."""
    columns_cte, columns_join, columns_field = _nested_columns("r") if include_columns else ("", "", "")
    return f"""
WITH r AS ({_MATERIALIZED_VIEW_RELATIONS}){columns_cte}
SELECT coalesce(json_agg(json_build_object(
    'id', r.oid::int8,
    'schema', r.nspname,
    'name', r.relname,
    'is_populated', r.relispopulated,
    'comment', obj_description(r.oid, 'pg_class'){columns_field}
) ORDER BY r.nspname, r.relname), '[]')::text
FROM r
{columns_join}"""


# ---- schemas ----------------------------------------------------------------------------------

SCHEMAS = f"""
WITH r AS (
    SELECT n.oid, n.nspname, u.rolname
    FROM pg_namespace n JOIN pg_roles u ON u.oid = n.nspowner
    WHERE {_in_schemas("n.nspname")}
      AND ($5::bool OR NOT starts_with(n.nspname, 'pg_'))
      AND NOT starts_with(n.nspname, 'pg_temp_') AND NOT starts_with(n.nspname, 'pg_toast_temp_')
      AND (pg_has_role(n.nspowner, 'USAGE') OR has_schema_privilege(n.oid, 'CREATE, USAGE'))
    ORDER BY n.nspname
    {_PAGE})
SELECT coalesce(json_agg(json_build_object('id', oid::int8, 'name', nspname, 'owner', rolname)
    ORDER BY nspname), '[]')::text
FROM r"""

# ---- policies ---------------------------------------------------------------------------------

POLICIES = f"""
WITH r AS (
    SELECT p.oid, p.polname, p.polpermissive, p.polroles, p.polcmd, p.polqual, p.polwithcheck,
           p.polrelid, c.relname, n.nspname
    FROM pg_policy p
    JOIN pg_class c ON c.oid = p.polrelid
    JOIN pg_namespace n ON n.oid = c.relnamespace
    WHERE {_in_schemas("n.nspname")}
    ORDER BY n.nspname, c.relname, p.polname
    {_PAGE})
SELECT coalesce(json_agg(json_build_object(
    'id', r.oid::int8,
    'schema', r.nspname,
    'table', r.relname,
    'table_id', r.polrelid::int8,
    'name', r.polname,
    'action', CASE WHEN r.polpermissive THEN 'PERMISSIVE' ELSE 'RESTRICTIVE' END,
    -- A policy for every role stores role 0, shown as "public".
    'roles', CASE WHEN r.polroles = '{{0}}'::oid[] THEN json_build_array('public')
        ELSE coalesce((SELECT json_agg(rolname ORDER BY rolname)
                       FROM pg_roles WHERE oid = ANY (r.polroles)), '[]') END,
    'command', CASE r.polcmd
        WHEN 'r' THEN 'SELECT' WHEN 'a' THEN 'INSERT' WHEN 'w' THEN 'UPDATE'
        WHEN 'd' THEN 'DELETE' WHEN '*' THEN 'ALL' END,
    'definition', pg_get_expr(r.polqual, r.polrelid),
    'check', pg_get_expr(r.polwithcheck, r.polrelid)
) ORDER BY r.nspname, r.relname, r.polname), '[]')::text
FROM r"""

# ---- triggers ---------------------------------------------------------------------------------

# The rows information_schema.triggers shows (which postgres-meta reads): user triggers on
# INSERT, DELETE or UPDATE of relations the user owns or may change.
TRIGGERS = f"""
WITH r AS (
    SELECT tg.oid, tg.tgrelid, tg.tgenabled, tg.tgargs, tg.tgnargs, tg.tgname, tg.tgtype,
           c.relname, n.nspname, p.proname, pn.nspname AS function_schema,
           ARRAY(SELECT event FROM (VALUES (4, 'INSERT', 1), (8, 'DELETE', 2), (16, 'UPDATE', 3))
                 AS ev(bit, event, position)
                 WHERE tg.tgtype & ev.bit <> 0 ORDER BY ev.position) AS events
    FROM pg_trigger tg
    JOIN pg_class c ON c.oid = tg.tgrelid
    JOIN pg_namespace n ON n.oid = c.relnamespace
    JOIN pg_proc p ON p.oid = tg.tgfoid
    JOIN pg_namespace pn ON pn.oid = p.pronamespace
    WHERE NOT tg.tgisinternal AND tg.tgtype & (4 | 8 | 16) <> 0
      AND NOT pg_is_other_temp_schema(n.oid)
      AND (pg_has_role(c.relowner, 'USAGE')
           OR has_table_privilege(c.oid, 'INSERT, UPDATE, DELETE, TRUNCATE, REFERENCES, TRIGGER')
           OR has_any_column_privilege(c.oid, 'INSERT, UPDATE, REFERENCES'))
      AND {_in_schemas("n.nspname")}
    ORDER BY n.nspname, c.relname, tg.tgname
    {_PAGE})
SELECT coalesce(json_agg(json_build_object(
    'id', r.oid::int8,
    'table_id', r.tgrelid::int8,
    'enabled_mode', CASE r.tgenabled
        WHEN 'D' THEN 'DISABLED' WHEN 'O' THEN 'ORIGIN' WHEN 'R' THEN 'REPLICA' WHEN 'A' THEN 'ALWAYS' END,
    -- tgargs holds the arguments NUL-terminated, as postgres-meta splits them.
    'function_args', (string_to_array(encode(r.tgargs, 'escape'), '\\000'))[:r.tgnargs],
    'name', r.tgname,
    'table', r.relname,
    'schema', r.nspname,
    'condition', (regexp_match(pg_get_triggerdef(r.oid), '.{{35,}} WHEN \\((.+)\\) EXECUTE FUNCTION'))[1],
    'orientation', CASE WHEN r.tgtype & 1 <> 0 THEN 'ROW' ELSE 'STATEMENT' END,
    'activation', CASE WHEN r.tgtype & 2 <> 0 THEN 'BEFORE'
        WHEN r.tgtype & 64 <> 0 THEN 'INSTEAD OF' ELSE 'AFTER' END,
    'events', r.events,
    'function_name', r.proname,
    'function_schema', r.function_schema
) ORDER BY r.nspname, r.relname, r.tgname), '[]')::text
FROM r"""

# ---- extensions -------------------------------------------------------------------------------

#: Takes only the page: ``$1`` limit, ``$2`` offset (postgres-meta filters extensions by nothing else).
EXTENSIONS = """
WITH r AS (
    SELECT a.name, n.nspname, a.default_version, x.extversion, a.comment
    FROM pg_available_extensions() AS a(name, default_version, comment)
    LEFT JOIN pg_extension x ON x.extname = a.name
    LEFT JOIN pg_namespace n ON n.oid = x.extnamespace
    ORDER BY a.name
    LIMIT $1::int8 OFFSET $2::int8)
SELECT coalesce(json_agg(json_build_object(
    'name', name,
    'schema', nspname,
    'default_version', default_version,
    'installed_version', extversion,
    'comment', comment
) ORDER BY name), '[]')::text
FROM r"""

# ---- types ------------------------------------------------------------------------------------

TYPES = f"""
WITH r AS (
    SELECT t.oid, t.typname, t.typrelid, n.nspname
    FROM pg_type t
    LEFT JOIN pg_namespace n ON n.oid = t.typnamespace
    -- Row types of tables and views are left out; free-standing composite types stay.
    WHERE (t.typrelid = 0 OR (SELECT c.relkind = 'c' FROM pg_class c WHERE c.oid = t.typrelid))
      AND ($5::bool OR NOT EXISTS (
          SELECT FROM pg_type el WHERE el.oid = t.typelem AND el.typarray = t.oid))
      AND {_in_schemas("n.nspname")}
    ORDER BY n.nspname, t.typname
    {_PAGE})
SELECT coalesce(json_agg(json_build_object(
    'id', r.oid::int8,
    'name', r.typname,
    'schema', r.nspname,
    'format', format_type(r.oid, NULL),
    'enums', coalesce((SELECT json_agg(e.enumlabel ORDER BY e.enumsortorder)
                       FROM pg_enum e WHERE e.enumtypid = r.oid), '[]'),
    'attributes', coalesce((
        SELECT json_agg(json_build_object('name', a.attname, 'type_id', a.atttypid::int8) ORDER BY a.attnum)
        FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid
        WHERE a.attrelid = r.typrelid AND c.relkind = 'c' AND NOT a.attisdropped), '[]'),
    'comment', obj_description(r.oid, 'pg_type'),
    'type_relation_id', nullif(r.typrelid::int8, 0)
) ORDER BY r.nspname, r.typname), '[]')::text
FROM r"""

# ---- functions --------------------------------------------------------------------------------

FUNCTIONS = f"""
WITH r AS (
    SELECT p.oid, p.proname, p.prolang, p.prosrc, p.prorettype, p.proretset, p.prorows,
           p.provolatile, p.prosecdef, p.proconfig, p.pronargs, p.pronargdefaults,
           p.proargmodes, p.proargnames, coalesce(p.proallargtypes, p.proargtypes::oid[]) AS arg_types,
           n.nspname
    FROM pg_proc p
    JOIN pg_namespace n ON n.oid = p.pronamespace
    WHERE p.prokind = 'f' AND {_in_schemas("n.nspname")}
    ORDER BY n.nspname, p.proname, p.oid
    {_PAGE})
SELECT coalesce(json_agg(json_build_object(
    'id', r.oid::int8,
    'schema', r.nspname,
    'name', r.proname,
    'language', l.lanname,
    'definition', CASE WHEN l.lanname = 'internal' THEN '' ELSE r.prosrc END,
    'complete_statement', CASE WHEN l.lanname = 'internal' THEN r.prosrc ELSE pg_get_functiondef(r.oid) END,
    'args', coalesce((
        SELECT json_agg(json_build_object(
            'mode', CASE coalesce(r.proargmodes[arg.position], 'i')
                WHEN 'i' THEN 'in' WHEN 'o' THEN 'out' WHEN 'b' THEN 'inout'
                WHEN 'v' THEN 'variadic' ELSE 'table' END,
            'name', coalesce(r.proargnames[arg.position], ''),
            'type_id', arg.type_id::int8,
            -- By position among all arguments, as postgres-meta counts defaults.
            'has_default', CASE WHEN arg.position <= r.pronargs - r.pronargdefaults THEN false
                WHEN arg.position <= r.pronargs THEN true END)
            ORDER BY arg.position)
        FROM unnest(r.arg_types) WITH ORDINALITY AS arg(type_id, position)), '[]'),
    'argument_types', pg_get_function_arguments(r.oid),
    'identity_argument_types', pg_get_function_identity_arguments(r.oid),
    'return_type_id', r.prorettype::int8,
    'return_type', pg_get_function_result(r.oid),
    'return_type_relation_id', nullif(rt.typrelid::int8, 0),
    'is_set_returning_function', r.proretset,
    'prorows', CASE WHEN r.proretset THEN nullif(r.prorows, 0) END,
    'behavior', CASE r.provolatile WHEN 'i' THEN 'IMMUTABLE' WHEN 's' THEN 'STABLE' ELSE 'VOLATILE' END,
    'security_definer', r.prosecdef,
    'config_params', (
        SELECT json_object_agg(split_part(setting, '=', 1), split_part(setting, '=', 2))
        FROM unnest(r.proconfig) AS setting)
) ORDER BY r.nspname, r.proname, r.oid), '[]')::text
FROM r
LEFT JOIN pg_language l ON l.oid = r.prolang
LEFT JOIN pg_type rt ON rt.oid = r.prorettype"""
