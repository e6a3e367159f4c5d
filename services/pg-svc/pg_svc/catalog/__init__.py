"""Catalogue queries that answer in Supabase postgres-meta's JSON shapes.

Each query builds its whole reply inside Postgres (``json_agg`` of ``json_build_object``) and
returns it as one text value, which pg-svc and the gateway pass on untouched. The objects carry
the same fields, with the same meanings and JSON types, as postgres-meta's ``PostgresTable``,
``PostgresColumn`` and the rest (``src/lib/types.ts`` upstream), including the rows it chooses
to show (privilege checks, internal triggers left out, ...), so that Supabase Studio reads them
unchanged. The SQL is our own; postgres-meta's sources and its test suite were read for the
shapes.

Modules: :mod:`.scope` (lists, pages and keys), :mod:`.columns`, :mod:`.relations` (tables,
views, materialized views, foreign tables, indexes), :mod:`.objects` (schemas, policies,
triggers, extensions, types, functions, publications), :mod:`.access` (roles and privileges),
:mod:`.server` (config, version) and :mod:`.kinds`, which maps each kind to its queries.
"""
