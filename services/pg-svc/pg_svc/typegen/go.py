"""Go structs for a database, the text postgres-meta's ``generators/go`` answers: for each table
a Select, Insert and Update struct, for each view and materialized view a Select struct, and a
struct per composite type, with their fields aligned as gofmt aligns them."""

from __future__ import annotations

from pg_svc.typegen.metadata import Column, Metadata, Relation, Type
from pg_svc.typegen.names import RANGE_TYPES, optional_in, pad_end, pascal, quoted, utf16_length

_GO_TYPES = {
    "bool": "bool",
    "int2": "int16",
    "int4": "int32",
    "int8": "int64",
    "float4": "float32",
    "float8": "float64",
    "numeric": "float64",
    "bytea": "[]byte",
    **dict.fromkeys(
        ("bpchar", "varchar", "date", "text", "citext", "time", "timetz", "timestamp", "timestamptz", "interval",
         "uuid", "vector"),
        "string",
    ),
    "json": "interface{}",
    "jsonb": "interface{}",
    **dict.fromkeys(RANGE_TYPES, "string"),
    "void": "interface{}",
    "record": "map[string]interface{}",
}  # fmt: skip

_GO_NULLABLE = {
    "string": "*string",
    "bool": "*bool",
    "int16": "*int16",
    "int32": "*int32",
    "int64": "*int64",
    "float32": "*float32",
    "float64": "*float64",
    "[]byte": "[]byte",
    "interface{}": "interface{}",
    "map[string]interface{}": "map[string]interface{}",
}


def _go_type(pg_type: str, nullable: bool, types: list[Type]) -> str:
    go = _GO_TYPES.get(pg_type)
    if any(t["name"] == pg_type and t["enums"] for t in types):
        go = "string"
    if go:
        return _GO_NULLABLE[go] if nullable else go
    if any(t["name"] == pg_type and t["attributes"] for t in types):
        return "map[string]interface{}"
    if pg_type.startswith("_"):
        # The template leaves a space after an array's element type.
        return f"[]{_go_type(pg_type[1:], nullable, types)} "
    return "interface{}"


def _tag(name: str) -> str:
    tag = f"json:{quoted(name)}"
    return quoted(tag) if "`" in tag else f"`{tag}`"


def _struct(name: str, fields: list[tuple[str, str, str]]) -> str:
    name_width = max((utf16_length(field) for field, _, _ in fields), default=0)
    type_width = max((utf16_length(go) for _, go, _ in fields), default=0)
    lines = [f"  {pad_end(field, name_width)} {pad_end(go, type_width)} {_tag(raw)}" for field, go, raw in fields]
    return f"type {name} struct {{\n" + "\n".join(lines) + "\n}"


def _relation_structs(
    schema_name: str, relation: Relation, columns: list[Column], types: list[Type], operations: tuple[str, ...]
) -> list[str]:
    structs = []
    for operation in operations:
        fields = []
        for column in columns:
            go = _go_type(column["format"], optional_in(operation, column), types)
            fields.append((pascal(column["name"]), go, column["name"]))
        structs.append(_struct(f"{pascal(schema_name)}{pascal(relation['name'])}{operation}", fields))
    return structs


def generate_go(meta: Metadata) -> str:
    """The Go text postgres-meta 0.99 generates for ``meta``."""
    schemas = {schema["name"] for schema in meta.schemas}
    columns: dict[int, list[Column]] = {}
    for column in meta.columns:
        columns.setdefault(column["table_id"], []).append(column)
    types_by_id = {t["id"]: t for t in meta.types}

    def structs(relations: list[Relation], operations: tuple[str, ...]) -> str:
        return "\n\n".join(
            struct
            for relation in relations
            if relation["schema"] in schemas
            for struct in _relation_structs(
                relation["schema"], relation, columns.get(relation["id"], []), meta.types, operations
            )
        )

    composites = []
    for composite in meta.types:
        if composite["attributes"] and composite["schema"] in schemas:
            fields = [
                # The attribute's type by its SQL spelling ("integer"), without the types: as upstream.
                (pascal(a["name"]), _go_type(types_by_id[a["type_id"]]["format"], False, []), a["name"])
                for a in composite["attributes"]
            ]
            composites.append(_struct(f"{pascal(composite['schema'])}{pascal(composite['name'])}", fields))
    text = (
        f"\npackage database\n\n{structs(meta.tables, ('Select', 'Insert', 'Update'))}\n\n"
        f"{structs(meta.views, ('Select',))}\n\n{structs(meta.materialized_views, ('Select',))}\n\n"
        + "\n\n".join(composites)
        + "\n"
    )
    return text.strip()
