"""TypeScript types as the TypeScript generator writes them, and how Prettier (and oxfmt, the
formatter postgres-meta runs) lays each one out in 80 columns without semicolons: object types
break when they do not fit or were written across lines, unions break into ``| member`` lines,
keys lose their quotes when they are identifiers, strings take double quotes.
"""

from __future__ import annotations

import json
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Union

from pg_svc.typegen.doc import HARDLINE, LINE, SOFTLINE, Align, Concat, Doc, Group, IfBreak, Indent, concat, join

Node = Union["Obj", "Never", "UnionType", "Intersection", "Array", "Tuple", "Lit", "Raw", "JsObj", "JsArray"]


@dataclass
class Prop:
    key: str
    type: Node
    optional: bool = False
    #: Comment lines printed above the member.
    comments: Sequence[str] = ()


@dataclass
class Obj:
    """An object type; ``expanded`` when the source had a line break after its ``{``."""

    members: Sequence[Prop]
    expanded: bool = False


@dataclass
class Never:
    """``{ [_ in never]: never }``, a mapped type with no keys."""

    expanded: bool = True


@dataclass
class UnionType:
    types: Sequence[Node]


@dataclass
class Intersection:
    types: Sequence[Node]


@dataclass
class Array:
    element: Node


@dataclass
class Tuple:
    elements: Sequence[Node]


@dataclass
class Lit:
    """A string literal type (the string itself, unquoted)."""

    value: str


@dataclass
class Raw:
    """Code printed as it is: keywords, type references, ``true``."""

    code: str


@dataclass
class JsObj:
    """An object expression (``export const Constants = {...}``)."""

    members: Sequence[tuple[str, Node]]
    expanded: bool = True


@dataclass
class JsArray:
    elements: Sequence[Node] = field(default_factory=list)


NULL = Raw("null")


def string(value: str) -> str:
    """A string literal as Prettier prints it: double quotes unless the text has more double
    quotes than single ones; only the escapes JSON.stringify makes that still need one."""
    escaped = json.dumps(value, ensure_ascii=False)[1:-1]
    doubles, singles = value.count('"'), value.count("'")
    if doubles > singles:
        return "'" + escaped.replace('\\"', '"').replace("'", "\\'") + "'"
    return '"' + escaped + '"'


def _is_identifier(name: str) -> bool:
    """An ES5 identifier name, which Prettier writes as a key without quotes."""
    if not name:
        return False
    for index, char in enumerate(name):
        if char in "$_":
            continue
        category = unicodedata.category(char)
        if category in ("Lu", "Ll", "Lt", "Lm", "Lo", "Nl"):
            continue
        if index and (category in ("Mn", "Mc", "Nd", "Pc") or char in "\u200c\u200d"):
            continue
        return False
    return True


def key(name: str) -> str:
    return name if _is_identifier(name) else string(name)


def index(*names: str) -> str:
    """``Database["public"]["Tables"]...``"""
    return "Database" + "".join(f"[{string(name)}]" for name in names)


def _is_object(node: Node) -> bool:
    return isinstance(node, Obj | Never)


def _members(members: Sequence[Prop], separator: Doc) -> list[Doc]:
    parts: list[Doc] = []
    for position, member in enumerate(members):
        for comment in member.comments:
            parts.extend([comment, HARDLINE])
        parts.append(concat(key(member.key), "?" if member.optional else "", ": ", print_type(member.type)))
        if position < len(members) - 1:
            parts.extend([separator, LINE])
    return parts


def print_type(node: Node) -> Doc:
    """The layout of one type."""
    if isinstance(node, Raw):
        return node.code
    if isinstance(node, Lit):
        return string(node.value)
    if isinstance(node, Obj):
        if not node.members:
            return "{}"
        body = Indent(Concat([LINE, *_members(node.members, IfBreak("", ";"))]))
        return Group(concat("{", body, LINE, "}"), breaks=node.expanded)
    if isinstance(node, Never):
        return Group(concat("{", Indent(concat(LINE, "[_ in never]: never")), LINE, "}"), breaks=node.expanded)
    if isinstance(node, UnionType):
        return _union(node, parenthesized=False)
    if isinstance(node, Intersection):
        return _intersection(node)
    if isinstance(node, Array):
        if isinstance(node.element, UnionType):
            return concat("(", _union(node.element, parenthesized=True), ")[]")
        if isinstance(node.element, Intersection):
            return concat("(", print_type(node.element), ")[]")
        return concat(print_type(node.element), "[]")
    if isinstance(node, Tuple):
        if not node.elements:
            return "[]"
        items = Indent(concat(SOFTLINE, join(concat(",", LINE), [print_type(e) for e in node.elements])))
        return Group(concat("[", items, IfBreak(","), SOFTLINE, "]"))
    if isinstance(node, JsObj):
        if not node.members:
            return "{}"
        props = [concat(key(name), ": ", print_type(value)) for name, value in node.members]
        body = Indent(concat(LINE, join(concat(",", LINE), props)))
        return Group(concat("{", body, IfBreak(","), LINE, "}"), breaks=node.expanded)
    if not node.elements:
        return "[]"
    items = Indent(concat(SOFTLINE, join(concat(",", LINE), [print_type(e) for e in node.elements])))
    return Group(concat("[", items, IfBreak(","), SOFTLINE, "]"))


def _union(node: UnionType, *, parenthesized: bool) -> Doc:
    nulls = sum(1 for t in node.types if isinstance(t, Raw) and t.code in ("null", "void"))
    if len(node.types) - 1 == nulls and any(_is_object(t) for t in node.types):
        # "{...} | null" stays hugged.
        return join(" | ", [print_type(t) for t in node.types])
    printed = [Align(2, print_type(t)) for t in node.types]
    code = concat(IfBreak(concat(LINE, "| ")), join(concat(LINE, "| "), printed))
    if parenthesized:
        return Group(concat(Indent(code), SOFTLINE))
    return Group(Indent(code))


def _intersection(node: Intersection) -> Doc:
    parts: list[Doc] = []
    indented = False
    for position, member in enumerate(node.types):
        printed = print_type(member)
        if position == 0:
            parts.append(printed)
        elif not _is_object(node.types[position - 1]) and not _is_object(member):
            parts.append(Indent(concat(" &", LINE, printed)))
        elif _is_object(node.types[position - 1]) and _is_object(member):
            parts.append(concat(" & ", Indent(printed) if indented else printed))
        else:
            if position > 1:
                indented = True
            parts.append(concat(" & ", Indent(printed) if position > 1 else printed))
    return Group(Concat(parts))
