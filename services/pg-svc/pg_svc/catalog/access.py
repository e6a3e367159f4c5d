"""Roles and privileges in postgres-meta's shapes: PostgresRole, PostgresColumnPrivileges and
PostgresTablePrivileges."""

from __future__ import annotations

from pg_svc.catalog.scope import Scope

# ---- roles ------------------------------------------------------------------------------------

_ROLE = """json_build_object(
    'id', r.oid::int8,
    'name', r.rolname,
    'is_superuser', r.rolsuper,
    'can_create_db', r.rolcreatedb,
    'can_create_role', r.rolcreaterole,
    'inherit_role', r.rolinherit,
    'can_login', r.rolcanlogin,
    'is_replication_role', r.rolreplication,
    'can_bypass_rls', r.rolbypassrls,
    'active_connections', (SELECT count(*) FROM pg_stat_activity s WHERE s.usename = r.rolname),
    'connection_limit', CASE WHEN r.rolconnlimit = -1 THEN current_setting('max_connections')::int8
        ELSE r.rolconnlimit END,
    -- pg_roles shows every password as '********'.
    'password', r.rolpassword,
    -- Postgres's own text, as postgres-meta passes timestamps on.
    'valid_until', r.rolvaliduntil::text,
    -- "key=value" settings as an object: the value ends at a second '=', as postgres-meta reads it.
    'config', (SELECT json_object_agg(split_part(setting, '=', 1), split_part(setting, '=', 2))
               FROM unnest(r.rolconfig) AS setting))"""


def roles(scope: Scope, *, include_default_roles: bool) -> str:
    """PostgresRole objects (a page, or one by oid). The predefined ``pg_*`` roles are shown only
    with ``include_default_roles``, never by oid."""
    defaults = "true" if include_default_roles else "NOT starts_with(r.rolname, 'pg_')"
    return f"""
WITH r AS (
    SELECT r.* FROM pg_roles r
    WHERE {scope.where("", "r.oid = ANY ($1::oid[])")} AND {defaults}
    ORDER BY r.rolname
    {scope.page})
SELECT {scope.reply(_ROLE, "r.rolname")}
FROM r"""


# ---- privileges -------------------------------------------------------------------------------

_RELATION_KINDS = "c.relkind IN ('r', 'v', 'm', 'f', 'p')"

#: One privilege of an aclexplode() row ``x``: grantee 0 is PUBLIC.
_PRIVILEGE = """json_build_object(
        'grantor', grantor.rolname,
        'grantee', CASE WHEN x.grantee = 0 THEN 'PUBLIC' ELSE grantee.rolname END,
        'privilege_type', x.privilege_type,
        'is_grantable', x.is_grantable)"""

_PRIVILEGE_JOINS = """LEFT JOIN pg_roles grantor ON grantor.oid = x.grantor
    LEFT JOIN pg_roles grantee ON grantee.oid = x.grantee"""


def column_privileges(scope: Scope) -> str:
    """PostgresColumnPrivileges objects, as information_schema.column_privileges defines them
    (table privileges count for every column) but for materialized views too (a list, or the
    columns whose "oid.number" ids are ``$1``)."""
    return f"""
WITH acl AS (
    SELECT c.oid, a.attnum, a.attname, c.relname, n.nspname, x.*
    FROM pg_class c
    JOIN pg_namespace n ON n.oid = c.relnamespace
    JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped
    CROSS JOIN LATERAL aclexplode(coalesce(c.relacl, acldefault('r', c.relowner))) AS x
    WHERE {_RELATION_KINDS}
    UNION
    SELECT c.oid, a.attnum, a.attname, c.relname, n.nspname, x.*
    FROM pg_class c
    JOIN pg_namespace n ON n.oid = c.relnamespace
    JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped
    CROSS JOIN LATERAL aclexplode(coalesce(a.attacl, acldefault('c', c.relowner))) AS x
    WHERE {_RELATION_KINDS}),
r AS (
    SELECT x.oid, x.attnum, x.attname, x.relname, x.nspname,
           json_agg({_PRIVILEGE} ORDER BY x.grantee, x.privilege_type, x.grantor) AS privileges
    FROM acl AS x
    {_PRIVILEGE_JOINS}
    WHERE x.privilege_type IN ('INSERT', 'SELECT', 'UPDATE', 'REFERENCES')
      AND grantor.oid IS NOT NULL AND (x.grantee = 0 OR grantee.oid IS NOT NULL)
      -- Privileges the user granted or holds, and those of PUBLIC.
      AND (x.grantee = 0 OR pg_has_role(x.grantor, 'USAGE') OR pg_has_role(x.grantee, 'USAGE'))
      AND {scope.where("x.nspname", "(x.oid::text || '.' || x.attnum::text) = ANY ($1::text[])")}
    GROUP BY x.oid, x.attnum, x.attname, x.relname, x.nspname
    ORDER BY x.nspname, x.relname, x.attnum
    {scope.page})
SELECT {
        scope.reply(
            "json_build_object('column_id', r.oid::text || '.' || r.attnum::text, 'relation_schema', r.nspname, "
            "'relation_name', r.relname, 'column_name', r.attname, 'privileges', r.privileges)",
            "r.nspname, r.relname, r.attnum",
        )
    }
FROM r"""


_TABLE_PRIVILEGES = f"""json_build_object(
    'relation_id', r.oid::int8,
    'schema', r.nspname,
    'name', r.relname,
    'kind', CASE r.relkind WHEN 'r' THEN 'table' WHEN 'v' THEN 'view' WHEN 'm' THEN 'materialized_view'
        WHEN 'f' THEN 'foreign_table' WHEN 'p' THEN 'partitioned_table' END,
    'privileges', coalesce((
        SELECT json_agg({_PRIVILEGE} ORDER BY x.ordinality)
        FROM aclexplode(coalesce(r.relacl, acldefault('r', r.relowner))) WITH ORDINALITY AS x
        {_PRIVILEGE_JOINS}), '[]'))"""


def table_privileges(scope: Scope) -> str:
    """PostgresTablePrivileges objects of tables, views, materialized views, foreign and
    partitioned tables the user may see (a list, or the relations whose oids are ``$1``)."""
    return f"""
WITH r AS (
    SELECT c.oid, c.relname, c.relkind, c.relacl, c.relowner, n.nspname
    FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
    WHERE {_RELATION_KINDS} AND NOT pg_is_other_temp_schema(c.relnamespace)
      AND (pg_has_role(c.relowner, 'USAGE')
           OR has_table_privilege(c.oid, 'SELECT, INSERT, UPDATE, DELETE, TRUNCATE, REFERENCES, TRIGGER')
           -- MAINTAIN exists from Postgres 17 on.
           OR CASE WHEN current_setting('server_version_num')::int >= 170000
                   THEN has_table_privilege(c.oid, 'MAINTAIN') ELSE false END
           OR has_any_column_privilege(c.oid, 'SELECT, INSERT, UPDATE, REFERENCES'))
      AND {scope.where("n.nspname", "c.oid = ANY ($1::oid[])")}
    ORDER BY n.nspname, c.relname
    {scope.page})
SELECT {scope.reply(_TABLE_PRIVILEGES, "r.nspname, r.relname")}
FROM r"""
