"""Which rows a catalogue query answers, and how its JSON reply is wrapped.

Every catalogue query is written once and asked in one of three scopes:

- :class:`ListScope`: postgres-meta's list filter and page. Bind parameters ``$1`` the included
  schemas (NULL for no restriction), ``$2`` the excluded ones, ``$3`` the limit (NULL for all),
  ``$4`` the offset. The reply is a JSON array (``[]`` when nothing matches).
- :class:`PageScope`: only a page, for the lists postgres-meta filters by nothing else: ``$1``
  the limit, ``$2`` the offset.
- :class:`KeyScope`: the objects with the given keys. Each query names its key condition over
  arrays of keys (``c.oid = ANY ($1::oid[])``); the bind parameters are those arrays. The reply
  is one object (NULL when there is none) or, for ``single=False``, an array.

Lists are ordered by schema and name so that pages are stable (postgres-meta orders only the
``config`` list; elsewhere its order is whatever its plan yields).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from udb.pg.v1 import pg_pb2

#: Left out unless ``include_system_schemas`` is set (postgres-meta's DEFAULT_SYSTEM_SCHEMAS).
SYSTEM_SCHEMAS = ("information_schema", "pg_catalog", "pg_toast")


def _array(obj: str, order: str) -> str:
    return f"coalesce(json_agg({obj} ORDER BY {order}), '[]')::text"


def _first(obj: str, order: str) -> str:
    return f"(json_agg({obj} ORDER BY {order}) -> 0)::text"


@dataclass(frozen=True, slots=True)
class ListScope:
    """A filtered page of a list."""

    included: list[str] | None = None
    excluded: tuple[str, ...] = ()
    limit: int | None = None
    offset: int | None = None
    #: Reply with the first object of the page instead of the page (NULL when it is empty).
    first: bool = False

    @property
    def args(self) -> tuple[Any, ...]:
        return (self.included, list(self.excluded), self.limit, self.offset)

    def where(self, schema_column: str, key_condition: str = "") -> str:
        """The condition on a query's rows: here, the schema filter on ``schema_column``."""
        del key_condition
        return (
            f"(($1::text[] IS NULL OR {schema_column} = ANY ($1::text[])) AND NOT ({schema_column} = ANY ($2::text[])))"
        )

    @property
    def page(self) -> str:
        return "LIMIT $3::int8 OFFSET $4::int8"

    def reply(self, obj: str, order: str) -> str:
        """The select-list expression of the whole reply: ``obj`` aggregated in ``order``."""
        return _first(obj, order) if self.first else _array(obj, order)


@dataclass(frozen=True, slots=True)
class PageScope:
    """A page of a list that has no schema filter."""

    limit: int | None = None
    offset: int | None = None

    @property
    def args(self) -> tuple[Any, ...]:
        return (self.limit, self.offset)

    def where(self, schema_column: str, key_condition: str = "") -> str:
        del schema_column, key_condition
        return "true"

    @property
    def page(self) -> str:
        return "LIMIT $1::int8 OFFSET $2::int8"

    def reply(self, obj: str, order: str) -> str:
        return _array(obj, order)


@dataclass(frozen=True, slots=True)
class KeyScope:
    """The objects whose keys are ``keys`` (the bind parameters of the key condition)."""

    keys: tuple[Any, ...]
    single: bool = True

    @property
    def args(self) -> tuple[Any, ...]:
        return self.keys

    def where(self, schema_column: str, key_condition: str = "") -> str:
        del schema_column
        if not key_condition:
            raise ValueError("this catalogue has no form by key")
        return f"({key_condition})"

    @property
    def page(self) -> str:
        return ""

    def reply(self, obj: str, order: str) -> str:
        return _first(obj, order) if self.single else _array(obj, order)


Scope = ListScope | PageScope | KeyScope


def by_key(*keys: Any) -> KeyScope:
    """The one object whose key parts are ``keys`` (each passed as a one-element array)."""
    return KeyScope(tuple([key] for key in keys))


def list_scope(catalog_filter: pg_pb2.CatalogFilter, *, system_schemas: bool | None = None) -> ListScope:
    """postgres-meta's filter rule: included schemas win outright; otherwise the excluded ones,
    plus the system schemas unless those are asked for (``system_schemas`` overrides the
    request's flag for lists that have none). A limit or offset of 0 means none."""
    included = [name for name in catalog_filter.included_schemas if name]
    excluded = [name for name in catalog_filter.excluded_schemas if name]
    limit = catalog_filter.limit if catalog_filter.HasField("limit") and catalog_filter.limit > 0 else None
    offset = catalog_filter.offset if catalog_filter.HasField("offset") and catalog_filter.offset > 0 else None
    if included:
        return ListScope(included, (), limit, offset)
    include_system = catalog_filter.include_system_schemas if system_schemas is None else system_schemas
    return ListScope(None, tuple(excluded if include_system else (*SYSTEM_SCHEMAS, *excluded)), limit, offset)


def page_scope(catalog_filter: pg_pb2.CatalogFilter) -> PageScope:
    """Only the page of the filter (lists postgres-meta filters by nothing else)."""
    scope = list_scope(catalog_filter)
    return PageScope(scope.limit, scope.offset)
