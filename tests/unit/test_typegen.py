"""The type generators' pure parts: ICU's name order, the document printer's layouts (as oxfmt
lays TypeScript out), pg_node_tree parsing for view relationships, and name conversions."""

from __future__ import annotations

from pg_svc.typegen.collation import sort_key
from pg_svc.typegen.doc import concat, render
from pg_svc.typegen.names import pad_end, pascal
from pg_svc.typegen.swift import _literal, _property_name, _type_name
from pg_svc.typegen.tsdoc import (
    NULL,
    Array,
    Intersection,
    Lit,
    Obj,
    Prop,
    Raw,
    Tuple,
    UnionType,
    key,
    print_type,
    string,
)
from pg_svc.typegen.viewkeys import _origins, parse_node_tree


def test_names_sort_as_icu_root_collation_sorts_them() -> None:
    """Punctuation before digits before letters, case only deciding ties, lower case first
    (the order JavaScript's Intl.Collator("en") gives these names)."""
    names = [
        "user_id",
        "User",
        "user-id",
        "user",
        "users",
        "Users",
        "user2",
        "user10",
        "_x",
        "a b",
        "ab",
        "é",
        "e",
        "f",
    ]
    assert sorted(names, key=sort_key) == [
        "_x",
        "a b",
        "ab",
        "e",
        "é",
        "f",
        "user",
        "User",
        "user_id",
        "user-id",
        "user10",
        "user2",
        "users",
        "Users",
    ]


def _layout(node: object, prefix: str = "type T = ") -> str:
    return render(concat(prefix, print_type(node)))  # type: ignore[arg-type]


def test_object_types_break_only_when_they_must() -> None:
    """An object written on one line stays on it while it fits (members joined by "; "), an
    expanded one always breaks (members on their own lines, no semicolons)."""
    short = Obj([Prop("Args", Raw("Record<PropertyKey, never>")), Prop("Returns", Raw("number"))])
    assert _layout(short) == "type T = { Args: Record<PropertyKey, never>; Returns: number }"
    expanded = Obj([Prop("id", Raw("number")), Prop("user-id", Raw("string"), optional=True)], expanded=True)
    assert _layout(expanded) == 'type T = {\n  id: number\n  "user-id"?: string\n}'
    long = Obj([Prop("a" * 40, Raw("string")), Prop("b" * 40, Raw("number"))])
    assert _layout(long) == f"type T = {{\n  {'a' * 40}: string\n  {'b' * 40}: number\n}}"


def test_unions_break_into_leading_bars_and_hug_objects() -> None:
    """A union too long for its line puts each member on a line after "| "; "{...} | null"
    stays hugged; a union in an array keeps its parentheses."""
    members = [Lit(f"value_number_{n}") for n in range(5)]
    broken = _layout(Obj([Prop("status", UnionType(members))], expanded=True))
    assert broken.splitlines()[1:4] == ["  status:", '    | "value_number_0"', '    | "value_number_1"']
    hugged = _layout(UnionType([Obj([Prop("a", Raw("number"))], expanded=True), NULL]))
    assert hugged == "type T = {\n  a: number\n} | null"
    assert _layout(Array(UnionType([Lit("a"), Lit("b")]))) == 'type T = ("a" | "b")[]'


def test_an_intersection_breaks_its_object_first() -> None:
    """{ error: true } & "<long text>" breaks the object and keeps the text after it."""
    text = "x" * 80
    error = Intersection([Obj([Prop("error", Raw("true"))]), Lit(text)])
    assert _layout(error) == f'type T = {{\n  error: true\n}} & "{text}"'


def test_tuples_break_with_a_trailing_comma() -> None:
    """A tuple too long for its line puts one element per line, with a trailing comma."""
    columns = Tuple([Lit("c" * 35), Lit("d" * 35)])
    assert _layout(columns) == f'type T = [\n  "{"c" * 35}",\n  "{"d" * 35}",\n]'


def test_keys_and_strings_are_quoted_as_prettier_quotes_them() -> None:
    """Identifier keys lose their quotes; strings take double quotes unless that costs escapes."""
    assert [key(k) for k in ("id", "user-id", "", "$ok", "café", "1a")] == [
        "id",
        '"user-id"',
        '""',
        "$ok",
        "café",
        '"1a"',
    ]
    assert string('say "hi"') == "'say \"hi\"'"
    assert string("it's") == '"it\'s"'


def test_view_origins_come_from_the_first_querys_target_list() -> None:
    """A pg_node_tree's target entries give each view column's table and column, escapes undone."""
    tree = (
        "({QUERY :commandType 1 :utilityStmt <> :targetList ("
        "{TARGETENTRY :expr {VAR :varno 1 :varattno 1} :resno 1 :resname id :resorigtbl 16385 :resorigcol 1 "
        ":resjunk false} "
        "{TARGETENTRY :expr {FUNCEXPR :funcid 42 :args <>} :resno 2 :resname my\\ name :resorigtbl 0 :resorigcol 0 "
        ":resjunk false}) :constvalue 4 [ 1 0 0 0 ]})"
    )
    assert _origins(tree) == [(1, 16385, 1), (2, 0, 0)]
    parsed = parse_node_tree(tree)
    assert parsed[0]["targetList"][1]["resname"] == "my name"
    assert parsed[0]["utilityStmt"] is None


def test_names_for_go_swift_and_python() -> None:
    """PascalCase across non-alphanumeric characters; Swift keeps a leading underscore, escapes
    keywords and string literals; padding counts UTF-16 units."""
    assert pascal("pokemon_center") == "PokemonCenter"
    assert pascal("victory-road 2") == "VictoryRoad2"
    assert _type_name("_key_id_context") == "_KeyIdContext"
    assert [_property_name(n) for n in ("pokemon_center", "default", "User-ID")] == [
        "pokemonCenter",
        "`default`",
        "userId",
    ]
    assert _literal('a"b\\c\n\x01') == '"a\\"b\\\\c\\n\\u{1}"'
    assert pad_end("\U0001f600", 4) == "\U0001f600  "
