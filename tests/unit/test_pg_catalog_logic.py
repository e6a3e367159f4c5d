"""The pure parts of the Postgres catalogue: scopes, keys, bodies and how values are spelled."""

from __future__ import annotations

from typing import Any

import pytest
from pg_svc.catalog import kinds
from pg_svc.catalog.scope import KeyScope, ListScope, PageScope, by_key, page_scope
from pg_svc.ddl import Body, body_list, js_number, literal_text, parse_body
from pg_svc.writes.objects import setting_values

from udb.errors import InvalidArgument, NotFound
from udb.pg.v1 import catalog_pb2, pg_pb2

K = catalog_pb2.CatalogKind


def test_scopes_reply_a_list_a_page_or_one_object() -> None:
    """A list filters by schema and pages; a page only pages; a key scope answers one object (or,
    not single, an array) and needs a key condition."""
    assert "ANY ($1::text[])" in ListScope().where("n.nspname")
    assert ListScope().reply("o", "x").startswith("coalesce(json_agg(o ORDER BY x), '[]')")
    assert ListScope(first=True).reply("o", "x") == "(json_agg(o ORDER BY x) -> 0)::text"
    assert (PageScope(3, None).args, PageScope().where("n.nspname")) == ((3, None), "true")
    assert page_scope(pg_pb2.CatalogFilter(limit=0, offset=4)).args == (None, 4)
    one = by_key(16384, 2)
    assert one.args == ([16384], [2]) and one.page == ""
    assert one.where("n.nspname", "c.oid = ANY ($1::oid[])") == "(c.oid = ANY ($1::oid[]))"
    assert KeyScope(([1, 2],), single=False).reply("o", "x").startswith("coalesce(")
    with pytest.raises(ValueError, match="no form by key"):
        one.where("n.nspname")


@pytest.mark.parametrize(
    ("kind", "key", "message"),
    [
        (K.CATALOG_KIND_TABLES, "abc", "Cannot find a table with ID abc"),
        (K.CATALOG_KIND_TABLES, "4294967296", "Cannot find a table with ID 4294967296"),
        (K.CATALOG_KIND_COLUMNS, "1", "Cannot find a column with ID 1"),
        (K.CATALOG_KIND_COLUMNS, "1.40000", "Cannot find a column with ID 1.40000"),
        (K.CATALOG_KIND_INDEXES, "x", "Cannot find a index with ID x"),
    ],
)
def test_keys_that_name_nothing_are_postgres_metas_404(kind: int, key: str, message: str) -> None:
    """A key of the wrong form is 404 with postgres-meta's message for the kind."""
    with pytest.raises(NotFound) as raised:
        kinds.object_query(kind, key)
    assert raised.value.message == message


def test_keys_bind_as_arrays_and_kinds_without_forms_are_refused() -> None:
    """An oid, a column's "oid.number" and an extension's name become the query's parameters;
    types have no form by key and config no form at all but the list."""
    assert kinds.object_query(K.CATALOG_KIND_TABLES, "16384")[1] == ([16384],)
    assert kinds.object_query(K.CATALOG_KIND_COLUMNS, "16384.3")[1] == ([16384], [3])
    assert kinds.object_query(K.CATALOG_KIND_EXTENSIONS, "x y")[1] == (["x y"],)
    assert kinds.object_query(K.CATALOG_KIND_VERSION, "") == (kinds.server.VERSION, ())
    assert kinds.not_found(K.CATALOG_KIND_EXTENSIONS, "e").message == "Cannot find an extension named e"
    with pytest.raises(InvalidArgument):
        kinds.object_query(K.CATALOG_KIND_TYPES, "1")
    with pytest.raises(InvalidArgument):
        kinds.list_query(catalog_pb2.ListObjectsRequest(kind=K.CATALOG_KIND_VERSION))


def test_lists_take_the_parameters_of_their_postgres_meta_route() -> None:
    """Schemas ignore schema lists; materialized views keep system schemas; foreign tables take
    the page only; extensions, roles and config page without a schema filter."""
    schema_filter = pg_pb2.CatalogFilter(included_schemas=["a"], limit=2)
    request = catalog_pb2.ListObjectsRequest(kind=K.CATALOG_KIND_SCHEMAS, filter=schema_filter)
    assert kinds.list_query(request)[1][0] is None
    request = catalog_pb2.ListObjectsRequest(kind=K.CATALOG_KIND_MATERIALIZED_VIEWS)
    assert kinds.list_query(request)[1] == (None, [], None, None)
    request = catalog_pb2.ListObjectsRequest(kind=K.CATALOG_KIND_FOREIGN_TABLES, filter=schema_filter)
    assert kinds.list_query(request)[1] == (None, [], 2, None)
    request = catalog_pb2.ListObjectsRequest(kind=K.CATALOG_KIND_ROLES, filter=schema_filter)
    assert kinds.list_query(request)[1] == (2, None)
    request = catalog_pb2.ListObjectsRequest(kind=K.CATALOG_KIND_COLUMNS, table_id=7, first=True)
    sql, args = kinds.list_query(request)
    assert args[-1] == 7 and "-> 0" in sql


def test_bodies_are_read_with_postgres_metas_json_types() -> None:
    """Required fields, JSON types (a boolean is no integer), enumerations and arrays of objects
    are checked with messages that name the field."""
    body = Body({"name": "t", "flag": True, "n": 3, "kind": "FULL", "items": [{"name": "a"}], "none": None})
    assert (body.required_text("name"), body.flag("flag"), body.integer("n")) == ("t", True, 3)
    assert body.choice("kind", ("FULL", "NOTHING")) == "FULL"
    assert [item.required_text("name") for item in body.items("items") or []] == ["a"]
    assert body.nullable_text("none") is None
    assert body.text("missing", "public") == "public"
    for call, message in (
        (lambda: Body({}).required_text("name"), "body must have required property 'name'"),
        (lambda: Body({"n": True}).integer("n"), "body/n must be integer"),
        (lambda: Body({"k": "X"}).choice("k", ("A",)), "body/k must be equal to one of the allowed values: A"),
        (lambda: Body({"a": [1]}).texts("a"), "body/a/0 must be string"),
        (lambda: Body([1]), "body must be object"),
        (lambda: body_list({}), "body must be array"),
        (lambda: parse_body(b"{"), "the body is not valid JSON"),
    ):
        with pytest.raises(InvalidArgument) as raised:
            call()
        assert raised.value.message.startswith(message)
    assert parse_body(b"") is None


@pytest.mark.parametrize(
    ("value", "text"),
    [
        ("it's", "it's"),
        (5, "5"),
        (5.0, "5"),
        (1.5, "1.5"),
        (1e-7, "1e-7"),
        (0.000001, "0.000001"),
        (1.5e21, "1.5e+21"),
        (True, "t"),
        (False, "f"),
        ({"a": [1, "x"]}, '{"a":[1,"x"]}'),
        (None, None),
    ],
)
def test_literals_are_spelled_as_postgres_meta_spells_them(value: Any, text: str | None) -> None:
    """A default's JSON value becomes the text pg-format gives it (JavaScript's numbers, 't'/'f'
    for booleans, JSON for objects, NULL for null)."""
    assert literal_text(value) == text
    if isinstance(value, float):
        assert js_number(value) == text


@pytest.mark.parametrize(
    ("value", "items"),
    [
        ("shop, pg_temp", ["shop", "pg_temp"]),
        ('"$user", public', ["$user", "public"]),
        ('""', [""]),
        ("64MB", ["64MB"]),
        ("'a,b', c", ["a,b", "c"]),
        ('"a=""b""", x', ['a="b"', "x"]),
    ],
)
def test_setting_values_split_as_postgres_lists_them(value: str, items: list[str]) -> None:
    """A setting's value splits at commas outside quotes, each quoted item unquoted, so that each
    written as a literal sets what Postgres stored."""
    assert setting_values(value) == items
