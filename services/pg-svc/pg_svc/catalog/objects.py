"""Schema objects in postgres-meta's shapes: schemas, policies, triggers, extensions, types,
functions and publications, as lists or one by key."""

from __future__ import annotations

from pg_svc.catalog.scope import Scope

# ---- schemas ----------------------------------------------------------------------------------


def schemas(scope: Scope, *, include_system_schemas: bool) -> str:
    """PostgresSchema objects (one by oid ``$1``). Schemas named ``pg_*`` are shown only with
    ``include_system_schemas``, never by oid."""
    system = "true" if include_system_schemas else "NOT starts_with(n.nspname, 'pg_')"
    return f"""
WITH r AS (
    SELECT n.oid, n.nspname, u.rolname
    FROM pg_namespace n JOIN pg_roles u ON u.oid = n.nspowner
    WHERE {scope.where("n.nspname", "n.oid = ANY ($1::oid[])")} AND {system}
      AND NOT starts_with(n.nspname, 'pg_temp_') AND NOT starts_with(n.nspname, 'pg_toast_temp_')
      AND (pg_has_role(n.nspowner, 'USAGE') OR has_schema_privilege(n.oid, 'CREATE, USAGE'))
    ORDER BY n.nspname
    {scope.page})
SELECT {scope.reply("json_build_object('id', oid::int8, 'name', nspname, 'owner', rolname)", "nspname")}
FROM r"""


# ---- policies ---------------------------------------------------------------------------------

_POLICY = """json_build_object(
    'id', r.oid::int8,
    'schema', r.nspname,
    'table', r.relname,
    'table_id', r.polrelid::int8,
    'name', r.polname,
    'action', CASE WHEN r.polpermissive THEN 'PERMISSIVE' ELSE 'RESTRICTIVE' END,
    -- A policy for every role stores role 0, shown as "public".
    'roles', CASE WHEN r.polroles = '{0}'::oid[] THEN json_build_array('public')
        ELSE coalesce((SELECT json_agg(rolname ORDER BY rolname)
                       FROM pg_roles WHERE oid = ANY (r.polroles)), '[]') END,
    'command', CASE r.polcmd
        WHEN 'r' THEN 'SELECT' WHEN 'a' THEN 'INSERT' WHEN 'w' THEN 'UPDATE'
        WHEN 'd' THEN 'DELETE' WHEN '*' THEN 'ALL' END,
    'definition', pg_get_expr(r.polqual, r.polrelid),
    'check', pg_get_expr(r.polwithcheck, r.polrelid))"""


def policies(scope: Scope) -> str:
    """PostgresPolicy objects (one by oid ``$1``)."""
    return f"""
WITH r AS (
    SELECT p.*, c.relname, n.nspname
    FROM pg_policy p
    JOIN pg_class c ON c.oid = p.polrelid
    JOIN pg_namespace n ON n.oid = c.relnamespace
    WHERE {scope.where("n.nspname", "p.oid = ANY ($1::oid[])")}
    ORDER BY n.nspname, c.relname, p.polname
    {scope.page})
SELECT {scope.reply(_POLICY, "r.nspname, r.relname, r.polname")}
FROM r"""


# ---- triggers ---------------------------------------------------------------------------------

_TRIGGER = """json_build_object(
    'id', r.oid::int8,
    'table_id', r.tgrelid::int8,
    'enabled_mode', CASE r.tgenabled
        WHEN 'D' THEN 'DISABLED' WHEN 'O' THEN 'ORIGIN' WHEN 'R' THEN 'REPLICA' WHEN 'A' THEN 'ALWAYS' END,
    -- tgargs holds the arguments NUL-terminated, as postgres-meta splits them.
    'function_args', (string_to_array(encode(r.tgargs, 'escape'), '\\000'))[:r.tgnargs],
    'name', r.tgname,
    'table', r.relname,
    'schema', r.nspname,
    'condition', (regexp_match(pg_get_triggerdef(r.oid), '.{35,} WHEN \\((.+)\\) EXECUTE FUNCTION'))[1],
    'orientation', CASE WHEN r.tgtype & 1 <> 0 THEN 'ROW' ELSE 'STATEMENT' END,
    'activation', CASE WHEN r.tgtype & 2 <> 0 THEN 'BEFORE'
        WHEN r.tgtype & 64 <> 0 THEN 'INSTEAD OF' ELSE 'AFTER' END,
    'events', r.events,
    'function_name', r.proname,
    'function_schema', r.function_schema)"""


def triggers(scope: Scope) -> str:
    """PostgresTrigger objects (one by oid ``$1``): the rows information_schema.triggers shows
    (which postgres-meta reads), user triggers on INSERT, DELETE or UPDATE of relations the user
    owns or may change."""
    return f"""
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
      AND {scope.where("n.nspname", "tg.oid = ANY ($1::oid[])")}
    ORDER BY n.nspname, c.relname, tg.tgname
    {scope.page})
SELECT {scope.reply(_TRIGGER, "r.nspname, r.relname, r.tgname")}
FROM r"""


# ---- extensions -------------------------------------------------------------------------------


def extensions(scope: Scope) -> str:
    """PostgresExtension objects: available ones, with their installed version and schema (a
    page, or one by name ``$1``)."""
    return f"""
WITH r AS (
    SELECT a.name, n.nspname, a.default_version, x.extversion, a.comment
    FROM pg_available_extensions() AS a(name, default_version, comment)
    LEFT JOIN pg_extension x ON x.extname = a.name
    LEFT JOIN pg_namespace n ON n.oid = x.extnamespace
    WHERE {scope.where("", "a.name = ANY ($1::text[])")}
    ORDER BY a.name
    {scope.page})
SELECT {
        scope.reply(
            "json_build_object('name', name, 'schema', nspname, 'default_version', default_version, "
            "'installed_version', extversion, 'comment', comment)",
            "name",
        )
    }
FROM r"""


# ---- types ------------------------------------------------------------------------------------

_TYPE = """json_build_object(
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
    'type_relation_id', nullif(r.typrelid::int8, 0))"""


def types(scope: Scope, *, include_array_types: bool) -> str:
    """PostgresType objects: enum, composite, domain, range and base types; array types only
    with ``include_array_types``. Row types of tables and views are left out."""
    arrays = (
        "true"
        if include_array_types
        else "NOT EXISTS (SELECT FROM pg_type el WHERE el.oid = t.typelem AND el.typarray = t.oid)"
    )
    return f"""
WITH r AS (
    SELECT t.oid, t.typname, t.typrelid, n.nspname
    FROM pg_type t
    LEFT JOIN pg_namespace n ON n.oid = t.typnamespace
    WHERE (t.typrelid = 0 OR (SELECT c.relkind = 'c' FROM pg_class c WHERE c.oid = t.typrelid))
      AND {arrays} AND {scope.where("n.nspname")}
    ORDER BY n.nspname, t.typname
    {scope.page})
SELECT {scope.reply(_TYPE, "r.nspname, r.typname")}
FROM r"""


# ---- functions --------------------------------------------------------------------------------

_FUNCTION = """json_build_object(
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
    -- jsonb orders the keys (by length, then bytes), as postgres-meta's object has them.
    'config_params', (
        SELECT jsonb_object_agg(split_part(setting, '=', 1), split_part(setting, '=', 2))
        FROM unnest(r.proconfig) AS setting))"""


def functions(scope: Scope) -> str:
    """PostgresFunction objects (one by oid ``$1``): plain functions, not procedures or
    aggregates."""
    return f"""
WITH r AS (
    SELECT p.oid, p.proname, p.prolang, p.prosrc, p.prorettype, p.proretset, p.prorows,
           p.provolatile, p.prosecdef, p.proconfig, p.pronargs, p.pronargdefaults,
           p.proargmodes, p.proargnames, coalesce(p.proallargtypes, p.proargtypes::oid[]) AS arg_types,
           n.nspname
    FROM pg_proc p
    JOIN pg_namespace n ON n.oid = p.pronamespace
    WHERE p.prokind = 'f' AND {scope.where("n.nspname", "p.oid = ANY ($1::oid[])")}
    ORDER BY n.nspname, p.proname, p.oid
    {scope.page})
SELECT {scope.reply(_FUNCTION, "r.nspname, r.proname, r.oid")}
FROM r
LEFT JOIN pg_language l ON l.oid = r.prolang
LEFT JOIN pg_type rt ON rt.oid = r.prorettype"""


# ---- publications -----------------------------------------------------------------------------

_PUBLICATION = """json_build_object(
    'id', r.oid::int8,
    'name', r.pubname,
    'owner', r.pubowner::regrole::text,
    'publish_insert', r.pubinsert,
    'publish_update', r.pubupdate,
    'publish_delete', r.pubdelete,
    'publish_truncate', r.pubtruncate,
    -- NULL for a publication of all tables.
    'tables', CASE WHEN NOT r.puballtables THEN coalesce((
        SELECT json_agg(json_build_object('id', c.oid::int8, 'name', c.relname, 'schema', n.nspname)
            ORDER BY n.nspname, c.relname)
        FROM pg_publication_rel pr
        JOIN pg_class c ON c.oid = pr.prrelid
        JOIN pg_namespace n ON n.oid = c.relnamespace
        WHERE pr.prpubid = r.oid), '[]') END)"""


def publications(scope: Scope) -> str:
    """PostgresPublication objects (a page, or one by oid ``$1``)."""
    return f"""
WITH r AS (
    SELECT p.* FROM pg_publication p
    WHERE {scope.where("", "p.oid = ANY ($1::oid[])")}
    ORDER BY p.pubname
    {scope.page})
SELECT {scope.reply(_PUBLICATION, "r.pubname")}
FROM r"""
