"""Swift types for a database, the text postgres-meta's ``generators/swift`` answers: per schema
an enum holding its enums, a Select, Insert and Update struct per table, a Select struct per view
and a struct per composite type, each with its CodingKeys; ``access_control`` is the access level
of every declaration."""

from __future__ import annotations

import re

from pg_svc.typegen.collation import sort_key
from pg_svc.typegen.metadata import Column, Metadata, Relation, Type
from pg_svc.typegen.names import optional_in, pascal

ACCESS_LEVELS = ("internal", "public", "private", "package")

_STRINGS = frozenset(
    {"bytea", "bpchar", "varchar", "date", "text", "citext", "time", "timetz", "timestamp", "timestamptz",
     "interval", "vector"}
)  # fmt: skip
_SIMPLE = {"bool": "Bool", "int2": "Int16", "int4": "Int32", "int8": "Int64", "float4": "Float", "float8": "Double"}
_KEYWORDS = ("in", "default", "case")
_WORD_BREAK = re.compile(r"[^a-zA-Z0-9]")


def _type_name(name: str) -> str:
    """``_key_id`` -> ``_KeyId``: PascalCase, keeping a leading underscore."""
    prefix = "_" if name.startswith("_") else ""
    return prefix + pascal(name[len(prefix) :], runs=True)


def _property_name(name: str) -> str:
    """``pokemon_center`` -> ``pokemonCenter`` (a Swift keyword in backticks)."""
    words = [word.lower() for word in _WORD_BREAK.split(name)]
    camel = words[0] + "".join(word[:1].upper() + word[1:] for word in words[1:])
    return f"`{camel}`" if camel in _KEYWORDS else camel


def _literal(value: str) -> str:
    escapes = {"\\": "\\\\", '"': '\\"', "\t": "\\t", "\n": "\\n", "\r": "\\r"}
    out = []
    for char in value:
        if char in escapes:
            out.append(escapes[char])
        elif ord(char) < 0x20 or ord(char) in (0x7F, 0x2028, 0x2029):
            out.append(f"\\u{{{ord(char):x}}}")
        else:
            out.append(char)
    return '"' + "".join(out) + '"'


class _Swift:
    def __init__(self, meta: Metadata, access: str) -> None:
        self.meta = meta
        self.access = access
        self.named: list[dict[str, object]] = [*meta.types, *meta.views, *meta.tables]  # type: ignore[list-item]

    def swift_type(self, pg_type: str, nullable: bool) -> str:
        if pg_type in _SIMPLE:
            swift = _SIMPLE[pg_type]
        elif pg_type in ("numeric", "decimal"):
            swift = "Decimal"
        elif pg_type == "uuid":
            swift = "UUID"
        elif pg_type in _STRINGS:
            swift = "String"
        elif pg_type in ("json", "jsonb"):
            swift = "AnyJSON"
        elif pg_type == "void":
            swift = "Void"
        elif pg_type == "record":
            swift = "JSONObject"
        elif pg_type.startswith("_"):
            swift = f"[{self.swift_type(pg_type[1:], False)}]"
        elif any(t["name"] == pg_type and t["enums"] for t in self.meta.types):
            swift = _type_name(pg_type)
        else:
            found = next((item for item in self.named if item["name"] == pg_type), None)
            swift = f"{_type_name(str(found['name']))}Select" if found is not None else "AnyJSON"
        return swift + ("?" if nullable else "")

    def enum(self, name: str, conformances: list[str], cases: list[tuple[str, str]], level: int) -> list[str]:
        indent = "  " * level
        lines = [f"{indent}{self.access} enum {name}: {', '.join(conformances)} {{"]
        lines += [f"{indent}  case {case} = {_literal(raw)}" for case, raw in cases]
        return [*lines, f"{indent}}}"]

    def struct(self, name: str, attributes: list[tuple[str, str, str, bool]]) -> list[str]:
        """attributes: (Swift name, Swift type, column name, is identity)."""
        conformances = ["Codable", "Hashable", "Sendable"]
        identity = next((a for a in attributes if a[3]), None)
        if identity is not None:
            conformances.append("Identifiable")
        lines = [f"  {self.access} struct {name}: {', '.join(conformances)} {{"]
        if identity is not None and identity[0] != "id":
            lines.append(f"    {self.access} var id: {identity[1]} {{ {identity[0]} }}")
        lines += [f"    {self.access} let {a[0]}: {a[1]}" for a in attributes]
        if attributes:
            lines += self.enum("CodingKeys", ["String", "CodingKey"], [(a[0], a[2]) for a in attributes], 2)
        return [*lines, "  }"]

    def relation(self, relation: Relation, columns: list[Column], operation: str) -> list[str]:
        attributes = []
        for column in columns:
            swift = self.swift_type(column["format"], optional_in(operation, column))
            attributes.append((_property_name(column["name"]), swift, column["name"], column["is_identity"]))
        return self.struct(f"{_type_name(relation['name'])}{operation}", attributes)

    def composite(self, composite: Type) -> list[str]:
        by_id = {t["id"]: t for t in self.meta.types}
        attributes = [
            # By its SQL spelling ("integer"), and with the type's own naming: as upstream.
            (_type_name(a["name"]), self.swift_type(by_id[a["type_id"]]["format"], False), a["name"], False)
            for a in composite["attributes"]
        ]
        return self.struct(_type_name(composite["name"]), attributes)


def generate_swift(meta: Metadata, *, access_control: str = "internal") -> str:
    """The Swift text postgres-meta 0.99 generates for ``meta``."""
    swift = _Swift(meta, access_control)
    columns: dict[int, list[Column]] = {}
    for column in meta.columns:
        columns.setdefault(column["table_id"], []).append(column)
    lines = ["import Foundation", "import Supabase", ""]
    for schema in meta.schemas:
        name = schema["name"]
        tables = sorted(
            [r for r in [*meta.tables, *meta.foreign_tables] if r["schema"] == name], key=lambda r: sort_key(r["name"])
        )
        views = sorted(
            [r for r in [*meta.views, *meta.materialized_views] if r["schema"] == name],
            key=lambda r: sort_key(r["name"]),
        )
        lines.append(f"{access_control} enum {_type_name(name)}Schema {{")
        for t in meta.types:
            if t["schema"] == name and t["enums"]:
                cases = [(_property_name(value), value) for value in t["enums"]]
                lines += swift.enum(_type_name(t["name"]), ["String", "Codable", "Hashable", "Sendable"], cases, 1)
        for table in tables:
            for operation in ("Select", "Insert", "Update"):
                lines += swift.relation(table, columns.get(table["id"], []), operation)
        for view in views:
            lines += swift.relation(view, columns.get(view["id"], []), "Select")
        for t in meta.types:
            if t["schema"] == name and t["attributes"]:
                lines += swift.composite(t)
        lines.append("}")
    return "\n".join(lines)
