"""Relationships that run through views, as PostgREST (and so postgres-meta) finds them.

A view column that selects a table's key column carries that key: a view that selects every
column of a foreign key relates to the referenced table, a view over the referenced columns is
referenced in turn, and two such views relate to each other. Which table column a view column
selects is in the view's stored query (``pg_rewrite.ev_action``, a ``pg_node_tree``): each entry
of its target list names its origin (``resorigtbl``, ``resorigcol``), through views on views.
"""

from __future__ import annotations

import itertools
from collections import defaultdict
from collections.abc import Iterator
from typing import Any, TypedDict


class _KeyColumns(TypedDict):
    table_id: int
    schema: str
    table: str
    constraint: str
    type: str
    columns: list[int]
    names: list[str]


# ---- pg_node_tree -----------------------------------------------------------------------------


def _tokens(text: str) -> Iterator[str | None]:
    """The tokens of a node tree: brackets, and words with their backslash escapes undone
    (``<>``, the empty token, is None)."""
    position, length = 0, len(text)
    while position < length:
        char = text[position]
        if char in " \t\n":
            position += 1
        elif char in "(){}":
            yield char
            position += 1
        else:
            chars: list[str] = []
            while position < length and text[position] not in " \t\n(){}":
                if text[position] == "\\" and position + 1 < length:
                    position += 1
                chars.append(text[position])
                position += 1
            word = "".join(chars)
            yield None if word == "<>" else word


def parse_node_tree(text: str) -> Any:
    """A node tree as Python values: a node ``{TYPE :field value ...}`` a dict (its type under
    ``"_"``), a list ``( ... )`` a list, anything else its token."""
    tokens = list(_tokens(text))
    value, _ = _value(tokens, 0)
    return value


def _value(tokens: list[str | None], position: int) -> tuple[Any, int]:
    token = tokens[position]
    if token == "{":
        node: dict[str, Any] = {"_": tokens[position + 1]}
        position += 2
        while tokens[position] != "}":
            name = str(tokens[position])[1:]
            position += 1
            if position < len(tokens) and (tokens[position] is None or not str(tokens[position]).startswith(":")):
                if tokens[position] == "}":
                    node[name] = None
                    continue
                node[name], position = _value(tokens, position)
            else:
                node[name] = None
        return node, position + 1
    if token == "(":
        items: list[Any] = []
        position += 1
        while tokens[position] != ")":
            item, position = _value(tokens, position)
            items.append(item)
        return items, position + 1
    return token, position + 1


def _origins(query_text: str) -> list[tuple[int, int, int]]:
    """(view column, origin relation, origin column) of each entry of the first query's target list."""
    tree = parse_node_tree(query_text)
    queries = tree if isinstance(tree, list) else [tree]
    if not queries or not isinstance(queries[0], dict):
        return []
    origins = []
    for entry in queries[0].get("targetList") or []:
        if isinstance(entry, dict):
            try:
                origins.append((int(entry["resno"]), int(entry["resorigtbl"]), int(entry["resorigcol"])))
            except (KeyError, TypeError, ValueError):
                continue
    return origins


# ---- the relationships ------------------------------------------------------------------------


def _view_key_dependencies(views: list[dict[str, Any]], keys: list[_KeyColumns]) -> list[dict[str, Any]]:
    """For each view and each table key all of whose columns the view selects (directly or
    through other views): the view column names selecting each key column, in key order."""
    results = [(view, column, table, origin) for view in views for column, table, origin in _origins(view["query"])]
    by_view: dict[int, list[tuple[int, int, int]]] = defaultdict(list)
    for view, column, table, origin in results:
        by_view[view["id"]].append((column, table, origin))
    names_by_view = {view["id"]: view["columns"] or {} for view in views}
    # (view, origin table, origin column) -> view column names, following views on views.
    selected: dict[tuple[int, int, int], list[str]] = defaultdict(list)
    views_by_id = {view["id"]: view for view in views}
    for view, column, table, origin in results:
        name = names_by_view[view["id"]].get(str(column))
        path = [table]
        step = (table, origin)
        while True:
            if name is not None:
                selected[(view["id"], step[0], step[1])].append(name)
            if step[0] not in by_view or step[0] in path[:-1]:
                break
            nexts = [(t, o) for c, t, o in by_view[step[0]] if c == step[1]]
            if not nexts:
                break
            step = nexts[0]
            path.append(step[0])
    dependencies = []
    for key in keys:
        for view_id, view in views_by_id.items():
            columns = []
            for attnum, table_column in zip(key["columns"], key["names"] or [], strict=False):
                names = selected.get((view_id, key["table_id"], attnum))
                if not names:
                    break
                columns.append({"table_column": table_column, "view_columns": names})
            else:
                if columns and len(columns) == len(key["columns"]):
                    dependencies.append(
                        {
                            "table_schema": key["schema"],
                            "table_name": key["table"],
                            "view_schema": view["schema"],
                            "view_name": view["name"],
                            "constraint_name": key["constraint"],
                            "constraint_type": key["type"],
                            "column_dependencies": columns,
                        }
                    )
    return dependencies


def _view_column_choices(dependency: dict[str, Any]) -> list[list[str]]:
    """Every way to pick one view column per key column."""
    return [
        list(choice) for choice in itertools.product(*(d["view_columns"] for d in dependency["column_dependencies"]))
    ]


def view_relationships(
    table_relationships: list[Any], views: list[dict[str, Any]], keys: list[_KeyColumns]
) -> list[Any]:
    """The relationships from views to tables, tables to views and views to views that the
    foreign keys between tables imply."""
    dependencies = _view_key_dependencies(views, keys)
    found: list[Any] = []
    for r in table_relationships:
        referencing = [
            d
            for d in dependencies
            if (d["table_schema"], d["table_name"], d["constraint_name"], d["constraint_type"])
            == (r["schema"], r["relation"], r["foreign_key_name"], "f")
        ]
        referenced = [
            d
            for d in dependencies
            if (d["table_schema"], d["table_name"], d["constraint_name"], d["constraint_type"])
            == (r["referenced_schema"], r["referenced_relation"], r["foreign_key_name"], "f_ref")
        ]
        for d in referencing:
            found.extend(
                {**r, "schema": d["view_schema"], "relation": d["view_name"], "columns": columns}
                for columns in _view_column_choices(d)
            )
        for d in referenced:
            found.extend(
                {
                    **r,
                    "referenced_schema": d["view_schema"],
                    "referenced_relation": d["view_name"],
                    "referenced_columns": columns,
                }
                for columns in _view_column_choices(d)
            )
        found.extend(
            {
                **r,
                "schema": d["view_schema"],
                "relation": d["view_name"],
                "columns": columns,
                "referenced_schema": e["view_schema"],
                "referenced_relation": e["view_name"],
                "referenced_columns": referenced_columns,
            }
            for d in referencing
            for columns in _view_column_choices(d)
            for e in referenced
            for referenced_columns in _view_column_choices(e)
        )
    return found
