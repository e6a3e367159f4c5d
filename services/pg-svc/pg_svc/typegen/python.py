"""Python (pydantic) models for a database, the text postgres-meta's ``generators/python``
answers: a Literal alias per enum, per table a BaseModel and Insert/Update TypedDicts, a
BaseModel per view, materialized view and composite type."""

from __future__ import annotations

import re

from pg_svc.typegen.metadata import Column, Metadata, Type
from pg_svc.typegen.names import RANGE_TYPES, pascal, quoted

_PY_TYPES = {
    "bool": "bool",
    **dict.fromkeys(("int2", "int4", "int8"), "int"),
    **dict.fromkeys(("float4", "float8", "numeric"), "float"),
    "bytea": "bytes",
    **dict.fromkeys(("bpchar", "varchar", "string", "text", "citext", "interval"), "str"),
    "date": "datetime.date",
    "time": "datetime.time",
    "timetz": "datetime.time",
    "timestamp": "datetime.datetime",
    "timestamptz": "datetime.datetime",
    "uuid": "uuid.UUID",
    "vector": "list[Any]",
    "json": "JsonValue",
    "jsonb": "JsonValue",
    **dict.fromkeys(RANGE_TYPES, "str"),
    "void": "None",
    "record": "dict[str, Any]",
}  # fmt: skip

_HEADER = """from __future__ import annotations

import datetime
import uuid
from typing import (
    Annotated,
    Any,
    List,
    Literal,
    Optional,
    TypedDict,
)
from typing_extensions import NotRequired, TypeAlias

from pydantic import BaseModel, Field, JsonValue"""

_WORD_BREAKS = re.compile(r"[^a-zA-Z0-9]+")


def _attribute(name: str) -> str:
    """``victory-road`` -> ``victory_road``."""
    return "_".join(word.lower() for word in _WORD_BREAKS.split(name))


class _Context:
    def __init__(self, meta: Metadata) -> None:
        # By name, the last of a name winning (in the place of the first), as upstream's objects.
        self.types: dict[str, Type] = {}
        for t in meta.types:
            self.types[t["name"]] = t
        self.enums: dict[str, str] = {}
        self.enum_values: dict[str, list[str]] = {}
        for t in meta.types:
            if t["enums"]:
                self.enums[t["name"]] = f"{pascal(t['schema'])}{pascal(t['name'])}"
                self.enum_values[t["name"]] = t["enums"]
        self.columns: dict[int, list[Column]] = {}
        for column in meta.columns:
            self.columns.setdefault(column["table_id"], []).append(column)

    def type_name(self, name: str) -> str:
        if name in self.enums:
            return self.enums[name]
        if name in _PY_TYPES:
            return _PY_TYPES[name]
        if name in self.types:
            found = self.types[name]
            return f"{pascal(found['schema'])}{pascal(found['name'])}"
        return "Any"

    def python_type(self, pg_type: str) -> str:
        if pg_type.startswith("_"):
            return f"List[{self.python_type(pg_type[1:])}]"
        return self.type_name(pg_type)

    def model(self, class_name: str, fields: list[tuple[str, str, bool]]) -> str:
        lines = [
            f"    {_attribute(name)}: {f'Optional[{py}]' if nullable else py} = Field(alias={quoted(name)})"
            for name, py, nullable in fields
        ]
        return f"class {class_name}(BaseModel):\n" + ("\n".join(lines) if lines else "    pass")

    def typed_dict(self, class_name: str, fields: list[tuple[str, str, bool, bool]]) -> str:
        lines = []
        for name, py, nullable, not_required in fields:
            annotation = f"Annotated[{f'Optional[{py}]' if nullable else py}, Field(alias={quoted(name)})]"
            lines.append(f"    {_attribute(name)}: {f'NotRequired[{annotation}]' if not_required else annotation}")
        return f"class {class_name}(TypedDict):\n" + ("\n".join(lines) if lines else "    pass")

    def column_fields(self, relation_id: int) -> list[tuple[str, str, bool]]:
        return [(c["name"], self.python_type(c["format"]), c["is_nullable"]) for c in self.columns.get(relation_id, [])]


def generate_python(meta: Metadata) -> str:
    """The Python text postgres-meta 0.99 generates for ``meta``."""
    context = _Context(meta)
    schemas = {schema["name"] for schema in meta.schemas}
    enums = [f"{class_name}: TypeAlias = Literal[{', '.join(quoted(v) for v in context.enum_values[name])}]"
             for name, class_name in context.enums.items()]  # fmt: skip
    tables = []
    for table in meta.tables:
        class_name = f"{pascal(table['schema'])}{pascal(table['name'])}"
        columns = context.columns.get(table["id"], [])
        tables.append(context.model(class_name, context.column_fields(table["id"])))
        for operation, always in (("Insert", False), ("Update", True)):
            fields = [
                (
                    c["name"],
                    context.python_type(c["format"]),
                    c["is_nullable"],
                    always or c["is_nullable"] or c["is_identity"] or c["default_value"] is not None,
                )
                for c in columns
            ]
            tables.append(context.typed_dict(f"{class_name}{operation}", fields))
    views = [
        context.model(f"{pascal(view['schema'])}{pascal(view['name'])}", context.column_fields(view["id"]))
        for view in meta.views
    ]
    materialized = [
        context.model(f"{pascal(view['schema'])}{pascal(view['name'])}", context.column_fields(view["id"]))
        for view in meta.materialized_views
    ]
    by_id = {t["id"]: t for t in context.types.values()}
    composites = []
    for composite in meta.types:
        if composite["attributes"] and composite["schema"] in schemas:
            attributes: list[tuple[str, str, bool]] = [
                (a["name"], context.python_type(by_id[a["type_id"]]["name"]), True) for a in composite["attributes"]
            ]
            composites.append(context.model(f"{pascal(composite['schema'])}{pascal(composite['name'])}", attributes))
    sections = [enums, tables, views, materialized, composites]
    return (f"\n{_HEADER}\n\n" + "\n\n".join("\n\n".join(part) for part in sections) + "\n\n").strip()
