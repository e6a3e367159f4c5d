"""TypeScript types for a database, the text postgres-meta's ``generators/typescript`` answers:
a ``Database`` type (per schema its tables, views, functions, enums and composite types, as
supabase-js reads them), helper types, and the enums' values as ``Constants``.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field

from pg_svc.typegen.collation import sort_key
from pg_svc.typegen.doc import concat, render
from pg_svc.typegen.metadata import Argument, Column, Function, Metadata, Relation, Relationship, Schema, Type
from pg_svc.typegen.tsdoc import (
    NULL,
    Array,
    Intersection,
    JsArray,
    JsObj,
    Lit,
    Never,
    Node,
    Obj,
    Prop,
    Raw,
    Tuple,
    UnionType,
    index,
    print_type,
)
from pg_svc.typegen.tshelpers import HELPERS, JSON_TYPE

_NUMBERS = frozenset({"int2", "int4", "int8", "float4", "float8", "numeric"})
_STRINGS = frozenset(
    {
        "bytea", "bpchar", "varchar", "date", "text", "citext", "time", "timetz", "timestamp",
        "timestamptz", "uuid", "vector", "interval",
    }
)  # fmt: skip
#: json, jsonb, text: the types an unnamed argument may have (PostgREST passes the body as it).
_UNNAMED_ARGUMENT_TYPES = frozenset({114, 3802, 25})
_INPUT_MODES = frozenset({"in", "inout", "variadic"})


@dataclass
class _Entry:
    relation: Relation
    relationships: list[Relationship]


@dataclass
class _SchemaParts:
    tables: list[_Entry] = field(default_factory=list)
    views: list[_Entry] = field(default_factory=list)
    functions: list[tuple[Function, list[Argument]]] = field(default_factory=list)
    enums: list[Type] = field(default_factory=list)
    composites: list[Type] = field(default_factory=list)


def _nullable(node: Node, nullable: bool) -> Node:
    """``node | null`` (Json NOT NULL is NonNullable<Json>; unknown and any already hold null)."""
    if isinstance(node, Raw) and node.code == "Json" and not nullable:
        return Raw("NonNullable<Json>")
    if (isinstance(node, Raw) and node.code in ("unknown", "any")) or not nullable:
        return node
    if isinstance(node, UnionType):
        return UnionType([*node.types, NULL])
    return UnionType([node, NULL])


def _array_of(node: Node) -> Node:
    """``node`` followed by ``[]`` in the source text, which binds to its last member."""
    if isinstance(node, UnionType | Intersection):
        return type(node)([*node.types[:-1], _array_of(node.types[-1])])
    return Array(node)


class _Generator:
    def __init__(self, meta: Metadata, *, detect_one_to_one: bool) -> None:
        self.meta = meta
        self.detect_one_to_one = detect_one_to_one
        self.schema_names = {schema["name"] for schema in meta.schemas}
        self.parts = {schema["name"]: _SchemaParts() for schema in meta.schemas}
        relations = [*meta.tables, *meta.foreign_tables, *meta.views, *meta.materialized_views]
        self.columns: dict[int, list[Column]] = {relation["id"]: [] for relation in relations}
        self.relation_names = {relation["id"]: relation["name"] for relation in relations}
        for column in meta.columns:
            if column["table_id"] in self.columns:
                self.columns[column["table_id"]].append(column)
        self.types_by_id = {t["id"]: t for t in meta.types}
        self.relation_types = {t["id"]: t for t in meta.types if t["type_relation_id"]}
        self.types_by_name: dict[str, list[Type]] = defaultdict(list)
        for t in meta.types:
            self.types_by_name[t["name"]].append(t)
            if t["schema"] in self.parts:
                if t["enums"]:
                    self.parts[t["schema"]].enums.append(t)
                if t["attributes"]:
                    self.parts[t["schema"]].composites.append(t)
        self.relationships: dict[tuple[str, str], list[Relationship]] = defaultdict(list)
        for relationship in meta.relationships:
            self.relationships[(relationship["schema"], relationship["relation"])].append(relationship)
        self._collect()

    def _relationships_of(self, relation: Relation) -> list[Relationship]:
        found = self.relationships.get((relation["schema"], relation["name"]), [])
        return [r for r in found if r["referenced_schema"] == relation["schema"]]

    def _collect(self) -> None:
        for relation in [*self.meta.tables, *self.meta.foreign_tables]:
            if relation["schema"] in self.parts:
                self.parts[relation["schema"]].tables.append(_Entry(relation, self._relationships_of(relation)))
        for relation in self.meta.views:
            if relation["schema"] in self.parts:
                self.parts[relation["schema"]].views.append(_Entry(relation, self._relationships_of(relation)))
        for relation in self.meta.materialized_views:
            if relation["schema"] in self.parts:
                fixed = Relation(**{**relation, "is_updatable": False, "is_insert_enabled": False})
                fixed["is_update_enabled"] = False
                self.parts[relation["schema"]].views.append(_Entry(fixed, self._relationships_of(relation)))
        for function in self.meta.functions:
            if function["schema"] in self.parts and self._exposed(function):
                in_args = [a for a in function["args"] if a["mode"] in _INPUT_MODES]
                self.parts[function["schema"]].functions.append((function, in_args))
        for parts in self.parts.values():
            parts.tables.sort(key=lambda e: sort_key(e.relation["name"]))
            parts.views.sort(key=lambda e: sort_key(e.relation["name"]))
            parts.functions.sort(key=lambda f: sort_key(f[0]["name"]))
            parts.enums.sort(key=lambda t: sort_key(t["name"]))
            parts.composites.sort(key=lambda t: sort_key(t["name"]))

    def _exposed(self, function: Function) -> bool:
        """Whether PostgREST can call the function: no arguments, all named, or the unnamed ones
        a single json/jsonb/text one, defaulted ones of those types, or a row of a relation."""
        in_args = [a for a in function["args"] if a["mode"] in _INPUT_MODES]
        if not in_args or all(a["name"] for a in in_args):
            return True
        if all(a["name"] or (a["has_default"] and a["type_id"] in _UNNAMED_ARGUMENT_TYPES) for a in in_args):
            return True
        return (
            len(in_args) == 1
            and not in_args[0]["name"]
            and (in_args[0]["type_id"] in _UNNAMED_ARGUMENT_TYPES or in_args[0]["type_id"] in self.relation_types)
        )

    # ---- types ----------------------------------------------------------------------------

    def ts_type(self, schema: Schema, pg_type: str, type_schema: str | None = None) -> Node:
        """The TypeScript type of a Postgres type name (``_x`` is an array of ``x``)."""
        if pg_type == "bool":
            return Raw("boolean")
        if pg_type in _NUMBERS:
            return Raw("number")
        if pg_type in _STRINGS:
            return Raw("string")
        if pg_type in ("json", "jsonb"):
            return Raw("Json")
        if pg_type == "void":
            return Raw("undefined")
        if pg_type == "record":
            return Raw("Record<string, unknown>")
        if pg_type.startswith("_"):
            return _array_of(self.ts_type(schema, pg_type[1:], type_schema))
        preferred = type_schema or schema["name"]
        named = self.types_by_name.get(pg_type, [])
        enums = [t for t in named if t["enums"]]
        if enums:
            enum = next((t for t in enums if t["schema"] == preferred), enums[0])
            if enum["schema"] in self.schema_names:
                return Raw(index(enum["schema"], "Enums", enum["name"]))
            literals: list[Node] = [Lit(value) for value in enum["enums"]]
            return literals[0] if len(literals) == 1 else UnionType(literals)
        composites = [t for t in named if t["attributes"]]
        if composites:
            composite = next((t for t in composites if t["schema"] == preferred), composites[0])
            if composite["schema"] in self.schema_names:
                return Raw(index(composite["schema"], "CompositeTypes", composite["name"]))
            return Raw("unknown")
        kinds = (
            ("Tables", self.meta.tables),
            ("Tables", self.meta.foreign_tables),
            ("Views", self.meta.views),
            ("Views", self.meta.materialized_views),
        )
        for matches_schema in (True, False):
            for kind, relations in kinds:
                for relation in relations:
                    if relation["name"] == pg_type and (not matches_schema or relation["schema"] == preferred):
                        if relation["schema"] in self.schema_names:
                            return Raw(index(relation["schema"], kind, relation["name"], "Row"))
                        return Raw("unknown")
        return Raw("unknown")

    def _type_of_id(self, schema: Schema, type_id: int) -> Node:
        found = self.types_by_id.get(type_id)
        return self.ts_type(schema, found["name"], found["schema"]) if found else Raw("unknown")

    def column(self, schema: Schema, column: Column, *, nullable: bool, optional: bool) -> Prop:
        return Prop(
            column["name"], _nullable(self.ts_type(schema, column["format"], column["type_schema"]), nullable), optional
        )

    # ---- functions ------------------------------------------------------------------------

    def _returned_relation_name(self, function: Function) -> str | None:
        relation_id = function["return_type_relation_id"]
        if not relation_id:
            return None
        if relation_id in self.relation_names:
            return self.relation_names[relation_id]
        relation_type = self.relation_types.get(function["return_type_id"])
        return relation_type["name"] if relation_type else None

    def returns(self, schema: Schema, function: Function) -> Node:
        table_args = [a for a in function["args"] if a["mode"] == "table"]
        if table_args:
            members = [Prop(a["name"], self._type_of_id(schema, a["type_id"])) for a in table_args]
            return Obj(members, expanded=True)
        parts = self.parts.get(schema["name"])
        relation_id = function["return_type_relation_id"]
        if parts is not None:
            for entry in [*parts.tables, *parts.views]:
                if entry.relation["id"] == relation_id:
                    columns = self.columns[relation_id]
                    props = [self.column(schema, c, nullable=c["is_nullable"], optional=False) for c in columns]
                    return Obj(props, expanded=True)
        return self._type_of_id(schema, function["return_type_id"])

    def _setof_options(self, function: Function) -> Obj | None:
        table = self._returned_relation_name(function)
        set_of_table = function["is_set_returning_function"] and function["return_type_relation_id"] is not None
        many = function["prorows"] is not None and function["prorows"] > 1
        options: tuple[str, str, bool, bool] | None = None
        if table:
            options = ("*", table, not many, function["is_set_returning_function"])
        if len(function["args"]) == 1:
            source = self.relation_types.get(function["args"][0]["type_id"])
            if source is not None and table:
                options = (
                    (source["format"], table, not many, True)
                    if set_of_table
                    else (source["format"], table, True, False)
                )
        if options is None:
            return None
        source_name, target, one_to_one, set_returning = options
        return Obj(
            [
                Prop("from", Lit(source_name)),
                Prop("to", Lit(target)),
                Prop("isOneToOne", Raw("true" if one_to_one else "false")),
                Prop("isSetofReturn", Raw("true" if set_returning else "false")),
            ],
            expanded=True,
        )

    def _table_row_error(self, function: Function, in_args: list[Argument]) -> bool:
        return (
            len(in_args) == 1
            and not in_args[0]["name"]
            and in_args[0]["type_id"] in self.relation_types
            and not self._returned_relation_name(function)
        )

    def _conflict(
        self, schema: Schema, group: list[tuple[Function, list[Argument]]], function: Function, in_args: list[Argument]
    ) -> str | None:
        if len(group) <= 1:
            return None
        name = f"{schema['name']}.{function['name']}"
        if not in_args:
            for other, other_args in group:
                if (
                    other is not function
                    and len(other_args) == 1
                    and not other_args[0]["name"]
                    and other_args[0]["has_default"]
                ):
                    returned = self.types_by_id.get(other["return_type_id"])
                    return_name = returned["name"] if returned else "unknown"
                    return (
                        f"Could not choose the best candidate function between: {name}(), {name}( => "
                        f"{return_name}). Try renaming the parameters or the function itself in the database so "
                        "function overloading can be resolved"
                    )
        if len(in_args) == 1 and in_args[0]["name"]:
            clashing = [
                (other, other_args)
                for other, other_args in group
                if other is not function
                and len(other_args) == 1
                and other_args[0]["name"] == in_args[0]["name"]
                and other_args[0]["type_id"] != in_args[0]["type_id"]
            ]
            if clashing:
                every = sorted([(function, in_args), *clashing], key=lambda f: f[1][0]["type_id"] if f[1] else 0)
                listed = ", ".join(f"{name}({', '.join(self._arg_label(a) for a in args)})" for _, args in every)
                return (
                    f"Could not choose the best candidate function between: {listed}. Try renaming the parameters "
                    "or the function itself in the database so function overloading can be resolved"
                )
        return None

    def _arg_label(self, argument: Argument) -> str:
        found = self.types_by_id.get(argument["type_id"])
        return f"{argument['name']} => {found['name'] if found else 'unknown'}"

    def _args(self, schema: Schema, in_args: list[Argument]) -> Node:
        if not in_args:
            return Raw("Record<PropertyKey, never>")
        return Obj([Prop(a["name"], self._type_of_id(schema, a["type_id"]), bool(a["has_default"])) for a in in_args])

    def signature(
        self, schema: Schema, group: list[tuple[Function, list[Argument]]], function: Function, in_args: list[Argument]
    ) -> Obj:
        returns = self.returns(schema, function)
        conflict = self._conflict(schema, group, function, in_args)
        if conflict is None and self._table_row_error(function, in_args):
            conflict = (
                f"the function {schema['name']}.{function['name']} with parameter or with a single unnamed "
                "json/jsonb parameter, but no matches were found in the schema cache"
            )
        if conflict is not None:
            returns = Intersection([Obj([Prop("error", Raw("true"))]), Lit(conflict)])
        many = function["prorows"] is not None and function["prorows"] > 1
        single_row = not many and self._returned_relation_name(function) is not None
        if function["is_set_returning_function"] and not single_row:
            returns = _array_of(returns)
        members = [Prop("Args", self._args(schema, in_args)), Prop("Returns", returns)]
        setof = self._setof_options(function)
        if setof is not None:
            members.append(Prop("SetofOptions", setof))
        return Obj(members)

    def computed_field_of(self, function: Function, in_args: list[Argument], relation: Relation) -> bool:
        if len(in_args) == 1:
            argument_type = self.relation_types.get(in_args[0]["type_id"])
            if argument_type is not None:
                return argument_type["type_relation_id"] == relation["id"]
        return function["argument_types"] == relation["name"]

    # ---- the Database type ----------------------------------------------------------------

    def _relationships(self, relationships: list[Relationship]) -> Node:
        def names(values: list[str] | None) -> Node:
            return NULL if values is None else Tuple([Lit(value) for value in values])

        elements: list[Node] = []
        for r in relationships:
            members = [Prop("foreignKeyName", Lit(r["foreign_key_name"])), Prop("columns", names(r["columns"]))]
            if self.detect_one_to_one:
                members.append(Prop("isOneToOne", Raw("true" if r["is_one_to_one"] else "false")))
            members.append(Prop("referencedRelation", Lit(r["referenced_relation"])))
            members.append(Prop("referencedColumns", names(r["referenced_columns"])))
            elements.append(Obj(members, expanded=True))
        return Tuple(elements)

    def _row(self, schema: Schema, relation: Relation) -> Obj:
        parts = self.parts[schema["name"]]
        props = [
            self.column(schema, c, nullable=c["is_nullable"], optional=False) for c in self.columns[relation["id"]]
        ]
        for function, in_args in parts.functions:
            if self.computed_field_of(function, in_args, relation):
                props.append(Prop(function["name"], _nullable(self.returns(schema, function), True)))
        return Obj(props, expanded=True)

    def _table(self, schema: Schema, entry: _Entry) -> Prop:
        columns = self.columns[entry.relation["id"]]

        def writes(update: bool) -> Obj:
            props = []
            for c in columns:
                if c["identity_generation"] == "ALWAYS" or c["is_generated"]:
                    props.append(Prop(c["name"], Raw("never"), True))
                else:
                    optional = update or c["is_nullable"] or c["is_identity"] or c["default_value"] is not None
                    props.append(self.column(schema, c, nullable=c["is_nullable"], optional=optional))
            return Obj(props, expanded=True)

        members = [
            Prop("Row", self._row(schema, entry.relation)),
            Prop("Insert", writes(False)),
            Prop("Update", writes(True)),
            Prop("Relationships", self._relationships(entry.relationships)),
        ]
        return Prop(entry.relation["name"], Obj(members, expanded=True))

    def _view(self, schema: Schema, entry: _Entry) -> Prop:
        columns = self.columns[entry.relation["id"]]

        def writes() -> Obj:
            return Obj(
                [
                    self.column(schema, c, nullable=True, optional=True)
                    if c["is_updatable"]
                    else Prop(c["name"], Raw("never"), True)
                    for c in columns
                ],
                expanded=True,
            )

        members = [Prop("Row", self._row(schema, entry.relation))]
        if entry.relation["is_insert_enabled"]:
            members.append(Prop("Insert", writes()))
        if entry.relation["is_update_enabled"]:
            members.append(Prop("Update", writes()))
        members.append(Prop("Relationships", self._relationships(entry.relationships)))
        return Prop(entry.relation["name"], Obj(members, expanded=True))

    def _functions(self, schema: Schema) -> Node:
        functions = self.parts[schema["name"]].functions
        if not functions:
            return Never()
        groups: dict[str, list[tuple[Function, list[Argument]]]] = {}
        for function, in_args in functions:
            groups.setdefault(function["name"], []).append((function, in_args))
        props = []
        for name, group in groups.items():
            group.sort(key=lambda f: (sort_key(f[0]["argument_types"]), sort_key(f[0]["return_type"])))
            signatures: list[Node] = [self.signature(schema, group, f, args) for f, args in group]
            props.append(Prop(name, signatures[0] if len(signatures) == 1 else UnionType(signatures)))
        return Obj(props, expanded=True)

    def _composite(self, schema: Schema, composite: Type) -> Prop:
        members = []
        for attribute in composite["attributes"]:
            found = self.types_by_id.get(attribute["type_id"])
            attribute_type = (
                _nullable(self.ts_type(schema, found["name"], found["schema"]), True) if found else Raw("unknown")
            )
            members.append(Prop(attribute["name"], attribute_type))
        return Prop(composite["name"], Obj(members, expanded=True))

    def schema(self, schema: Schema) -> Prop:
        parts = self.parts[schema["name"]]

        def section(props: list[Prop]) -> Node:
            return Obj(props, expanded=True) if props else Never()

        enums = [
            Prop(t["name"], Lit(t["enums"][0]) if len(t["enums"]) == 1 else UnionType([Lit(v) for v in t["enums"]]))
            for t in parts.enums
        ]
        members = [
            Prop("Tables", section([self._table(schema, entry) for entry in parts.tables])),
            Prop("Views", section([self._view(schema, entry) for entry in parts.views])),
            Prop("Functions", self._functions(schema)),
            Prop("Enums", section(enums)),
            Prop("CompositeTypes", section([self._composite(schema, t) for t in parts.composites])),
        ]
        return Prop(schema["name"], Obj(members, expanded=True))

    def constants(self) -> JsObj:
        return JsObj(
            [
                (
                    schema["name"],
                    JsObj(
                        [
                            (
                                "Enums",
                                JsObj(
                                    [
                                        (t["name"], JsArray([Lit(v) for v in t["enums"]]))
                                        for t in self.parts[schema["name"]].enums
                                    ]
                                ),
                            )
                        ]
                    ),
                )
                for schema in self.meta.schemas
            ]
        )


def generate_typescript(meta: Metadata, *, detect_one_to_one: bool = False, postgrest_version: str = "") -> str:
    """The TypeScript text postgres-meta 0.99 generates for ``meta``."""
    generator = _Generator(meta, detect_one_to_one=detect_one_to_one)
    members = [generator.schema(schema) for schema in meta.schemas]
    if postgrest_version:
        internal = Prop(
            "__InternalSupabase",
            Obj([Prop("PostgrestVersion", Lit(postgrest_version))], expanded=True),
            comments=(
                "// Allows to automatically instantiate createClient with right options",
                "// instead of createClient<Database, { PostgrestVersion: 'XX' }>(URL, KEY)",
            ),
        )
        members.insert(0, internal)
    database = render(concat("export type Database = ", print_type(Obj(members, expanded=True))))
    constants = render(concat("export const Constants = ", print_type(generator.constants()), " as const"))
    return f"{JSON_TYPE}\n{database}\n\n{HELPERS}{constants}\n"
