"""postgres-meta's writes: what each (kind, action) runs and the project role it needs.

Each handler queues its statements on a :class:`~pg_svc.ddl.Change` and answers with the
catalogue JSON postgres-meta answers: the object as it is after the write (as it was, for a
delete; the privileges of the relations or columns touched, for grants and revokes). The caller
runs it in one transaction, so a write that fails changes nothing.
"""

from __future__ import annotations

from dataclasses import dataclass

from pg_svc.writes import access, objects, relations
from pg_svc.writes.request import Handler, drop
from udb.common.v1 import common_pb2
from udb.pg.v1 import catalog_pb2

K = catalog_pb2.CatalogKind
A = catalog_pb2.WriteAction


@dataclass(frozen=True, slots=True)
class WriteRule:
    handler: Handler
    #: Schema changes need a developer; roles and privileges an admin (API.md).
    role: int = common_pb2.ROLE_DEVELOPER


_ADMIN = common_pb2.ROLE_ADMIN

WRITES: dict[tuple[int, int], WriteRule] = {
    (K.CATALOG_KIND_TABLES, A.WRITE_ACTION_CREATE): WriteRule(relations.create_table),
    (K.CATALOG_KIND_TABLES, A.WRITE_ACTION_UPDATE): WriteRule(relations.update_table),
    (K.CATALOG_KIND_TABLES, A.WRITE_ACTION_DELETE): WriteRule(
        drop(K.CATALOG_KIND_TABLES, "DROP TABLE %I.%I", "schema", "name")
    ),
    (K.CATALOG_KIND_COLUMNS, A.WRITE_ACTION_CREATE): WriteRule(relations.create_column),
    (K.CATALOG_KIND_COLUMNS, A.WRITE_ACTION_UPDATE): WriteRule(relations.update_column),
    (K.CATALOG_KIND_COLUMNS, A.WRITE_ACTION_DELETE): WriteRule(
        drop(K.CATALOG_KIND_COLUMNS, "ALTER TABLE %I.%I DROP COLUMN %I", "schema", "table", "name")
    ),
    (K.CATALOG_KIND_SCHEMAS, A.WRITE_ACTION_CREATE): WriteRule(objects.create_schema),
    (K.CATALOG_KIND_SCHEMAS, A.WRITE_ACTION_UPDATE): WriteRule(objects.update_schema),
    (K.CATALOG_KIND_SCHEMAS, A.WRITE_ACTION_DELETE): WriteRule(drop(K.CATALOG_KIND_SCHEMAS, "DROP SCHEMA %I", "name")),
    (K.CATALOG_KIND_FUNCTIONS, A.WRITE_ACTION_CREATE): WriteRule(objects.create_function),
    (K.CATALOG_KIND_FUNCTIONS, A.WRITE_ACTION_UPDATE): WriteRule(objects.update_function),
    (K.CATALOG_KIND_FUNCTIONS, A.WRITE_ACTION_DELETE): WriteRule(
        # postgres-meta's route passes no cascade for functions, policies, publications and roles.
        drop(
            K.CATALOG_KIND_FUNCTIONS,
            "DROP FUNCTION %I.%I(%s) RESTRICT",
            "schema",
            "name",
            "identity_argument_types",
            cascade=False,
        )
    ),
    (K.CATALOG_KIND_POLICIES, A.WRITE_ACTION_CREATE): WriteRule(objects.create_policy),
    (K.CATALOG_KIND_POLICIES, A.WRITE_ACTION_UPDATE): WriteRule(objects.update_policy),
    (K.CATALOG_KIND_POLICIES, A.WRITE_ACTION_DELETE): WriteRule(
        drop(K.CATALOG_KIND_POLICIES, "DROP POLICY %I ON %I.%I", "name", "schema", "table", cascade=False)
    ),
    (K.CATALOG_KIND_TRIGGERS, A.WRITE_ACTION_CREATE): WriteRule(objects.create_trigger),
    (K.CATALOG_KIND_TRIGGERS, A.WRITE_ACTION_UPDATE): WriteRule(objects.update_trigger),
    (K.CATALOG_KIND_TRIGGERS, A.WRITE_ACTION_DELETE): WriteRule(
        drop(K.CATALOG_KIND_TRIGGERS, "DROP TRIGGER %I ON %I.%I", "name", "schema", "table")
    ),
    (K.CATALOG_KIND_EXTENSIONS, A.WRITE_ACTION_CREATE): WriteRule(objects.create_extension),
    (K.CATALOG_KIND_EXTENSIONS, A.WRITE_ACTION_UPDATE): WriteRule(objects.update_extension),
    (K.CATALOG_KIND_EXTENSIONS, A.WRITE_ACTION_DELETE): WriteRule(
        drop(K.CATALOG_KIND_EXTENSIONS, "DROP EXTENSION %I", "name")
    ),
    (K.CATALOG_KIND_PUBLICATIONS, A.WRITE_ACTION_CREATE): WriteRule(objects.create_publication),
    (K.CATALOG_KIND_PUBLICATIONS, A.WRITE_ACTION_UPDATE): WriteRule(objects.update_publication),
    (K.CATALOG_KIND_PUBLICATIONS, A.WRITE_ACTION_DELETE): WriteRule(
        drop(K.CATALOG_KIND_PUBLICATIONS, "DROP PUBLICATION IF EXISTS %I", "name", cascade=False)
    ),
    (K.CATALOG_KIND_ROLES, A.WRITE_ACTION_CREATE): WriteRule(access.create_role, _ADMIN),
    (K.CATALOG_KIND_ROLES, A.WRITE_ACTION_UPDATE): WriteRule(access.update_role, _ADMIN),
    (K.CATALOG_KIND_ROLES, A.WRITE_ACTION_DELETE): WriteRule(
        drop(K.CATALOG_KIND_ROLES, "DROP ROLE %I", "name", cascade=False), _ADMIN
    ),
    (K.CATALOG_KIND_COLUMN_PRIVILEGES, A.WRITE_ACTION_GRANT): WriteRule(
        access.change_privileges(access.COLUMN_GRANTS, grant=True), _ADMIN
    ),
    (K.CATALOG_KIND_COLUMN_PRIVILEGES, A.WRITE_ACTION_REVOKE): WriteRule(
        access.change_privileges(access.COLUMN_GRANTS, grant=False), _ADMIN
    ),
    (K.CATALOG_KIND_TABLE_PRIVILEGES, A.WRITE_ACTION_GRANT): WriteRule(
        access.change_privileges(access.TABLE_GRANTS, grant=True), _ADMIN
    ),
    (K.CATALOG_KIND_TABLE_PRIVILEGES, A.WRITE_ACTION_REVOKE): WriteRule(
        access.change_privileges(access.TABLE_GRANTS, grant=False), _ADMIN
    ),
}
