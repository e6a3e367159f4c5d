"""The server's settings and version in postgres-meta's shapes (PostgresConfig, PostgresVersion)."""

from __future__ import annotations

from pg_svc.catalog.scope import PageScope

_SETTING = """json_build_object(
    'name', name,
    'setting', setting,
    'category', category,
    'group', trim(split_part(category, '/', 1)),
    'subgroup', trim(split_part(category, '/', 2)),
    'unit', unit,
    'short_desc', short_desc,
    'extra_desc', extra_desc,
    'context', context,
    'vartype', vartype,
    'source', source,
    'min_val', min_val,
    'max_val', max_val,
    'enumvals', enumvals,
    'boot_val', boot_val,
    'reset_val', reset_val,
    'sourcefile', sourcefile,
    'sourceline', sourceline,
    'pending_restart', pending_restart)"""


def config(scope: PageScope) -> str:
    """The server's settings (pg_settings), ordered by category and name as postgres-meta orders
    them. Values are those of the session that reads them."""
    return f"""
WITH r AS (SELECT * FROM pg_settings ORDER BY category, name {scope.page})
SELECT {scope.reply(_SETTING, "category, name")}
FROM r"""


VERSION = """
SELECT json_build_object(
    'version', version(),
    'version_number', current_setting('server_version_num')::int8,
    'active_connections', (SELECT count(*) FROM pg_stat_activity),
    'max_connections', current_setting('max_connections')::int8)::text"""
