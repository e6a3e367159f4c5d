"""postgres-meta's writes: what each (kind, action) runs and the project role it needs.

Each handler queues its statements on a :class:`~pg_svc.ddl.Change` and answers with the
catalogue JSON postgres-meta answers: the object as it is after the write (as it was, for a
delete; the privileges of the relations or columns touched, for grants and revokes). The caller
runs it in one transaction, so a write that fails changes nothing.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from pg_svc.ddl import Change
from pg_svc.writes import access, objects, relations
from pg_svc.writes.request import Write
from udb.common.v1 import common_pb2
from udb.pg.v1 import catalog_pb2

Handler = Callable[[Change, Write], Awaitable[str]]

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
    (K.CATALOG_KIND_TABLES, A.WRITE_ACTION_DELETE): WriteRule(relations.delete_table),
    (K.CATALOG_KIND_COLUMNS, A.WRITE_ACTION_CREATE): WriteRule(relations.create_column),
    (K.CATALOG_KIND_COLUMNS, A.WRITE_ACTION_UPDATE): WriteRule(relations.update_column),
    (K.CATALOG_KIND_COLUMNS, A.WRITE_ACTION_DELETE): WriteRule(relations.delete_column),
    (K.CATALOG_KIND_SCHEMAS, A.WRITE_ACTION_CREATE): WriteRule(objects.create_schema),
    (K.CATALOG_KIND_SCHEMAS, A.WRITE_ACTION_UPDATE): WriteRule(objects.update_schema),
    (K.CATALOG_KIND_SCHEMAS, A.WRITE_ACTION_DELETE): WriteRule(objects.delete_schema),
    (K.CATALOG_KIND_FUNCTIONS, A.WRITE_ACTION_CREATE): WriteRule(objects.create_function),
    (K.CATALOG_KIND_FUNCTIONS, A.WRITE_ACTION_UPDATE): WriteRule(objects.update_function),
    (K.CATALOG_KIND_FUNCTIONS, A.WRITE_ACTION_DELETE): WriteRule(objects.delete_function),
    (K.CATALOG_KIND_POLICIES, A.WRITE_ACTION_CREATE): WriteRule(objects.create_policy),
    (K.CATALOG_KIND_POLICIES, A.WRITE_ACTION_UPDATE): WriteRule(objects.update_policy),
    (K.CATALOG_KIND_POLICIES, A.WRITE_ACTION_DELETE): WriteRule(objects.delete_policy),
    (K.CATALOG_KIND_TRIGGERS, A.WRITE_ACTION_CREATE): WriteRule(objects.create_trigger),
    (K.CATALOG_KIND_TRIGGERS, A.WRITE_ACTION_UPDATE): WriteRule(objects.update_trigger),
    (K.CATALOG_KIND_TRIGGERS, A.WRITE_ACTION_DELETE): WriteRule(objects.delete_trigger),
    (K.CATALOG_KIND_EXTENSIONS, A.WRITE_ACTION_CREATE): WriteRule(objects.create_extension),
    (K.CATALOG_KIND_EXTENSIONS, A.WRITE_ACTION_UPDATE): WriteRule(objects.update_extension),
    (K.CATALOG_KIND_EXTENSIONS, A.WRITE_ACTION_DELETE): WriteRule(objects.delete_extension),
    (K.CATALOG_KIND_PUBLICATIONS, A.WRITE_ACTION_CREATE): WriteRule(objects.create_publication),
    (K.CATALOG_KIND_PUBLICATIONS, A.WRITE_ACTION_UPDATE): WriteRule(objects.update_publication),
    (K.CATALOG_KIND_PUBLICATIONS, A.WRITE_ACTION_DELETE): WriteRule(objects.delete_publication),
    (K.CATALOG_KIND_ROLES, A.WRITE_ACTION_CREATE): WriteRule(access.create_role, _ADMIN),
    (K.CATALOG_KIND_ROLES, A.WRITE_ACTION_UPDATE): WriteRule(access.update_role, _ADMIN),
    (K.CATALOG_KIND_ROLES, A.WRITE_ACTION_DELETE): WriteRule(access.delete_role, _ADMIN),
    (K.CATALOG_KIND_COLUMN_PRIVILEGES, A.WRITE_ACTION_GRANT): WriteRule(access.grant_column_privileges, _ADMIN),
    (K.CATALOG_KIND_COLUMN_PRIVILEGES, A.WRITE_ACTION_REVOKE): WriteRule(access.revoke_column_privileges, _ADMIN),
    (K.CATALOG_KIND_TABLE_PRIVILEGES, A.WRITE_ACTION_GRANT): WriteRule(access.grant_table_privileges, _ADMIN),
    (K.CATALOG_KIND_TABLE_PRIVILEGES, A.WRITE_ACTION_REVOKE): WriteRule(access.revoke_table_privileges, _ADMIN),
}
