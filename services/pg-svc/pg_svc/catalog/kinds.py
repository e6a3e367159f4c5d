"""Each kind of catalogue object: its list query (with the parameters postgres-meta's route for it
takes) and its query by key, with postgres-meta's message when there is no such object."""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Callable
from typing import Any

from pg_svc.catalog import access, columns, objects, relations, server
from pg_svc.catalog.scope import KeyScope, ListScope, PageScope, Scope, by_key, list_scope, page_scope
from udb.errors import InvalidArgument, NotFound
from udb.pg.v1 import catalog_pb2, pg_pb2

Kind = catalog_pb2.CatalogKind
Query = tuple[str, tuple[Any, ...]]

#: The largest oid.
_MAX_OID = 2**32 - 1
_OID = re.compile(r"\d{1,10}")
_COLUMN_ID = re.compile(r"(\d{1,10})\.(\d{1,5})")

#: How postgres-meta names one object of each kind in "Cannot find a table with ID 1".
NOUNS: dict[int, str] = {
    Kind.CATALOG_KIND_TABLES: "a table",
    Kind.CATALOG_KIND_VIEWS: "a view",
    Kind.CATALOG_KIND_MATERIALIZED_VIEWS: "a materialized view",
    Kind.CATALOG_KIND_FOREIGN_TABLES: "a foreign table",
    Kind.CATALOG_KIND_COLUMNS: "a column",
    Kind.CATALOG_KIND_SCHEMAS: "a schema",
    Kind.CATALOG_KIND_FUNCTIONS: "a function",
    Kind.CATALOG_KIND_POLICIES: "a policy",
    Kind.CATALOG_KIND_TRIGGERS: "a trigger",
    Kind.CATALOG_KIND_PUBLICATIONS: "a publication",
    Kind.CATALOG_KIND_ROLES: "a role",
    Kind.CATALOG_KIND_INDEXES: "a index",
    Kind.CATALOG_KIND_EXTENSIONS: "an extension",
}


def not_found(kind: int, key: str) -> NotFound:
    """postgres-meta's error for a missing object."""
    how = "named" if kind == Kind.CATALOG_KIND_EXTENSIONS else "with ID"
    return NotFound(f"Cannot find {NOUNS.get(kind, 'an object')} {how} {key}", details={"key": key})


def _columns_flag(request: catalog_pb2.ListObjectsRequest, default: bool) -> bool:
    return request.include_columns if request.HasField("include_columns") else default


def _first(scope: ListScope, request: catalog_pb2.ListObjectsRequest) -> ListScope:
    """The scope, replying with its first object when the request asks for that."""
    return dataclasses.replace(scope, first=request.first)


ListBuilder = Callable[[catalog_pb2.ListObjectsRequest], Query]


def _schema_list(build: Callable[[Scope, catalog_pb2.ListObjectsRequest], str]) -> ListBuilder:
    """A list with postgres-meta's full filter (schemas, system schemas, page)."""

    def query(request: catalog_pb2.ListObjectsRequest) -> Query:
        scope = _first(list_scope(request.filter), request)
        return build(scope, request), scope.args

    return query


def _page_list(build: Callable[[PageScope, catalog_pb2.ListObjectsRequest], str]) -> ListBuilder:
    """A list postgres-meta filters by the page only."""

    def query(request: catalog_pb2.ListObjectsRequest) -> Query:
        scope = page_scope(request.filter)
        return build(scope, request), scope.args

    return query


def _columns_list(request: catalog_pb2.ListObjectsRequest) -> Query:
    scope = _first(list_scope(request.filter), request)
    if request.HasField("table_id"):
        return columns.columns(scope, table_id=True), (*scope.args, request.table_id)
    return columns.columns(scope), scope.args


def _schemas_list(request: catalog_pb2.ListObjectsRequest) -> Query:
    # postgres-meta's schemas route takes no schema list of its own.
    system = request.filter.include_system_schemas
    scope = list_scope(
        pg_pb2.CatalogFilter(include_system_schemas=system, limit=request.filter.limit, offset=request.filter.offset)
    )
    return objects.schemas(scope, include_system_schemas=system), scope.args


def _system_included(build: Callable[[Scope, catalog_pb2.ListObjectsRequest], str]) -> ListBuilder:
    """A list that leaves no system schema out (postgres-meta's materialized views)."""

    def query(request: catalog_pb2.ListObjectsRequest) -> Query:
        scope = list_scope(request.filter, system_schemas=True)
        return build(scope, request), scope.args

    return query


def _foreign_tables_list(request: catalog_pb2.ListObjectsRequest) -> Query:
    # postgres-meta's route passes the page and include_columns only.
    scope = list_scope(
        pg_pb2.CatalogFilter(limit=request.filter.limit, offset=request.filter.offset), system_schemas=True
    )
    return relations.foreign_tables(scope, include_columns=_columns_flag(request, True)), scope.args


LISTS: dict[int, ListBuilder] = {
    Kind.CATALOG_KIND_TABLES: _schema_list(lambda s, r: relations.tables(s, include_columns=_columns_flag(r, True))),
    Kind.CATALOG_KIND_VIEWS: _schema_list(lambda s, r: relations.views(s, include_columns=_columns_flag(r, True))),
    Kind.CATALOG_KIND_MATERIALIZED_VIEWS: _system_included(
        lambda s, r: relations.materialized_views(s, include_columns=_columns_flag(r, False))
    ),
    Kind.CATALOG_KIND_FOREIGN_TABLES: _foreign_tables_list,
    Kind.CATALOG_KIND_COLUMNS: _columns_list,
    Kind.CATALOG_KIND_SCHEMAS: _schemas_list,
    Kind.CATALOG_KIND_FUNCTIONS: _schema_list(lambda s, r: objects.functions(s)),
    Kind.CATALOG_KIND_TYPES: _schema_list(lambda s, r: objects.types(s, include_array_types=r.include_array_types)),
    Kind.CATALOG_KIND_POLICIES: _schema_list(lambda s, r: objects.policies(s)),
    Kind.CATALOG_KIND_TRIGGERS: _schema_list(lambda s, r: objects.triggers(s)),
    Kind.CATALOG_KIND_EXTENSIONS: _page_list(lambda s, r: objects.extensions(s)),
    Kind.CATALOG_KIND_PUBLICATIONS: _page_list(lambda s, r: objects.publications(s)),
    Kind.CATALOG_KIND_ROLES: _page_list(lambda s, r: access.roles(s, include_default_roles=r.include_default_roles)),
    Kind.CATALOG_KIND_INDEXES: _schema_list(lambda s, r: relations.indexes(s)),
    Kind.CATALOG_KIND_COLUMN_PRIVILEGES: _schema_list(lambda s, r: access.column_privileges(s)),
    Kind.CATALOG_KIND_TABLE_PRIVILEGES: _schema_list(lambda s, r: access.table_privileges(s)),
    Kind.CATALOG_KIND_CONFIG: _page_list(lambda s, r: server.config(s)),
}


def list_query(request: catalog_pb2.ListObjectsRequest) -> Query:
    """The SQL and bind parameters of a list."""
    build = LISTS.get(request.kind)
    if build is None:
        raise InvalidArgument("this kind of object has no list", details={"field": "kind"})
    return build(request)


#: Queries of one object by its oid.
_BY_OID: dict[int, Callable[[KeyScope], str]] = {
    Kind.CATALOG_KIND_TABLES: lambda s: relations.tables(s, include_columns=True),
    Kind.CATALOG_KIND_VIEWS: lambda s: relations.views(s, include_columns=True),
    Kind.CATALOG_KIND_MATERIALIZED_VIEWS: lambda s: relations.materialized_views(s, include_columns=True),
    Kind.CATALOG_KIND_FOREIGN_TABLES: lambda s: relations.foreign_tables(s, include_columns=True),
    Kind.CATALOG_KIND_SCHEMAS: lambda s: objects.schemas(s, include_system_schemas=False),
    Kind.CATALOG_KIND_FUNCTIONS: objects.functions,
    Kind.CATALOG_KIND_POLICIES: objects.policies,
    Kind.CATALOG_KIND_TRIGGERS: objects.triggers,
    Kind.CATALOG_KIND_PUBLICATIONS: objects.publications,
    Kind.CATALOG_KIND_ROLES: lambda s: access.roles(s, include_default_roles=False),
    Kind.CATALOG_KIND_INDEXES: relations.indexes,
}


def object_query(kind: int, key: str) -> Query:
    """The SQL and bind parameters of one object by its key (as postgres-meta's routes spell
    it); NotFound with postgres-meta's message for a key that names nothing."""
    if kind == Kind.CATALOG_KIND_VERSION:
        return server.VERSION, ()
    if kind == Kind.CATALOG_KIND_EXTENSIONS:
        scope = by_key(key)
        return objects.extensions(scope), scope.args
    if kind == Kind.CATALOG_KIND_COLUMNS:
        match = _COLUMN_ID.fullmatch(key)
        if match is None or int(match[1]) > _MAX_OID or int(match[2]) > 2**15 - 1:
            raise not_found(kind, key)
        scope = by_key(int(match[1]), int(match[2]))
        return columns.columns(scope), scope.args
    build = _BY_OID.get(kind)
    if build is None:
        raise InvalidArgument("this kind of object has no form by key", details={"field": "kind"})
    if not _OID.fullmatch(key) or int(key) > _MAX_OID:
        raise not_found(kind, key)
    scope = by_key(int(key))
    return build(scope), scope.args


def objects_query(kind: int, keys: list[Any]) -> Query:
    """The SQL and bind parameter of several objects (an array in the reply): privileges by
    relation oid or by "oid.number" column id."""
    scope = KeyScope((keys,), single=False)
    if kind == Kind.CATALOG_KIND_TABLE_PRIVILEGES:
        return access.table_privileges(scope), scope.args
    if kind == Kind.CATALOG_KIND_COLUMN_PRIVILEGES:
        return access.column_privileges(scope), scope.args
    raise InvalidArgument("this kind of object has no form by keys", details={"field": "kind"})
