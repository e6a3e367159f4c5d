"""The schema of a sample folded from documents (mongo_svc.explorer.schema), without a server."""

from __future__ import annotations

import datetime
from typing import Any

from bson import Int64, ObjectId
from mongo_svc.explorer import schema
from mongo_svc.explorer.schema import SchemaSample, type_name


def fields(sample: SchemaSample) -> dict[str, Any]:
    return {item.path: item for item in sample.reply().fields}


def test_type_names_are_mongodbs_type_names() -> None:
    """Decoded values get $type's names: int and long by size and Int64, bool before int."""
    assert type_name(True) == "bool"
    assert type_name(1) == "int"
    assert type_name(2**40) == "long"
    assert type_name(Int64(1)) == "long"
    assert type_name(1.5) == "double"
    assert type_name(ObjectId()) == "objectId"
    assert type_name(datetime.datetime.now(datetime.UTC)) == "date"
    assert type_name(None) == "null"
    assert type_name({"a": 1}) == "object"
    assert type_name([1]) == "array"


def test_fields_have_shares_of_their_parents_and_types_have_shares_of_the_field() -> None:
    """A field in 1 of 4 documents has probability 0.25; a field that is a string 3 times and an
    int once has types string 0.75 and int 0.25, most common first."""
    sample = SchemaSample()
    for document in ({"a": "x", "b": 1}, {"a": "y"}, {"a": "z"}, {"a": 4}):
        sample.add(document)
    found = fields(sample)
    assert found["b"].probability == 0.25
    assert [(t.name, t.count, t.probability) for t in found["a"].types] == [("string", 3, 0.75), ("int", 1, 0.25)]
    assert list(found["a"].types[0].examples) == ['"x"', '"y"', '"z"']
    assert sample.reply().sampled == 4


def test_nested_documents_and_array_elements_have_their_own_paths() -> None:
    """Sub-documents give dotted paths (share of the parent objects); array elements are path[]
    and their fields path[].field."""
    sample = SchemaSample()
    sample.add({"address": {"city": "Paris"}, "tags": ["a", 1], "items": [{"sku": 1}, {"qty": 2}]})
    sample.add({"address": {}})
    found = fields(sample)
    assert found["address"].probability == 1.0
    assert found["address.city"].probability == 0.5
    assert {t.name for t in found["tags[]"].types} == {"string", "int"}
    assert found["items[].sku"].probability == 0.5
    assert "object" in {t.name for t in found["items[]"].types}


def test_examples_and_paths_are_bounded() -> None:
    """At most MAX_EXAMPLES distinct examples, long strings cut, and at most MAX_PATHS paths (then
    truncated)."""
    sample = SchemaSample()
    for i in range(10):
        sample.add({"s": "x" * 500 + str(i), "n": i})
    found = fields(sample)
    assert len(found["n"].types[0].examples) == schema.MAX_EXAMPLES
    assert all(len(e) <= schema.MAX_EXAMPLE_CHARS for e in found["s"].types[0].examples)
    wide = SchemaSample()
    wide.add({f"f{i}": i for i in range(schema.MAX_PATHS + 5)})
    assert len(wide.reply().fields) == schema.MAX_PATHS
    assert wide.reply().truncated
