"""mongo-svc's Extended JSON codec, the [id] rule, and the guards on what a caller may send.

Pure logic: documents go through the same BSON encoding the driver uses, without a server, so
the BSON types a test server may lack (Decimal128, nested arrays, MinKey) are pinned here too.
"""

from __future__ import annotations

from typing import Any

import bson
import pytest
from bson import Binary, Decimal128, Int64, MaxKey, MinKey, ObjectId, Regex, Timestamp
from bson.datetime_ms import DatetimeMS
from mongo_svc import ejson

from udb.errors import InvalidArgument, PayloadTooLarge
from udb.mongo.v1 import mongo_pb2

CANONICAL_VALUES = {
    "objectid": '{"$oid":"65a1b2c3d4e5f60718293a4b"}',
    "date": '{"$date":{"$numberLong":"1704164645678"}}',
    "date-before-year-1": '{"$date":{"$numberLong":"-62167219200001"}}',
    "date-after-9999": '{"$date":{"$numberLong":"253402300800000"}}',
    "decimal128": '{"$numberDecimal":"1234567890.123456789012345678901234"}',
    "decimal128-nan": '{"$numberDecimal":"NaN"}',
    "int64": '{"$numberLong":"9007199254740993"}',
    "int32": '{"$numberInt":"-7"}',
    "double": '{"$numberDouble":"1.5"}',
    "double-nan": '{"$numberDouble":"NaN"}',
    "double-infinity": '{"$numberDouble":"-Infinity"}',
    "double-negative-zero": '{"$numberDouble":"-0.0"}',
    "binary": '{"$binary":{"base64":"AAH/gA==","subType":"00"}}',
    "uuid": '{"$binary":{"base64":"ABEiM0RVZneImaq7zN3u/w==","subType":"04"}}',
    "regex": '{"$regularExpression":{"pattern":"^a.*b$","options":"im"}}',
    "timestamp": '{"$timestamp":{"t":1700000000,"i":3}}',
    "nested-arrays": '[{"$numberInt":"1"},[{"$numberInt":"2"},[{"k":[{"$numberInt":"3"}]}]],[]]',
    "minkey": '{"$minKey":1}',
    "maxkey": '{"$maxKey":1}',
    "code": '{"$code":"function() { return 1 }"}',
    "string": '"h\u00e9llo \u2603"',
}


@pytest.mark.parametrize("kind", list(CANONICAL_VALUES))
def test_canonical_extended_json_round_trips_through_bson(kind: str) -> None:
    """Canonical EJSON -> BSON (as the driver sends it) -> BSON decoded as mongo-svc decodes
    it -> canonical EJSON gives the same text: no type or value is lost."""
    text = '{"v":' + CANONICAL_VALUES[kind] + "}"
    document = ejson.parse_object(text, "document")
    decoded = bson.decode(bson.encode(document), codec_options=ejson.CODEC_OPTIONS)
    assert ejson.dumps(decoded, ejson.CANONICAL) == text


def test_relaxed_mode_writes_plain_numbers_and_iso_dates() -> None:
    """Relaxed mode: Int64 and int32 as numbers, dates in 1970-9999 as ISO-8601, the rest as in
    canonical mode; reading it back gives the same BSON values."""
    document = {
        "i": Int64(5),
        "n": 7,
        "d": ejson.loads('{"$date": "2024-01-02T03:04:05.678Z"}', "x"),
        "o": ObjectId("65a1b2c3d4e5f60718293a4b"),
        "x": Decimal128("1.10"),
    }
    text = ejson.dumps(document)
    assert text == (
        '{"i":5,"n":7,"d":{"$date":"2024-01-02T03:04:05.678Z"},'
        '"o":{"$oid":"65a1b2c3d4e5f60718293a4b"},"x":{"$numberDecimal":"1.10"}}'
    )
    assert ejson.loads(text, "x") == {**document, "i": 5}


def test_json_modes() -> None:
    """JsonMode picks the options: canonical only when asked, relaxed otherwise."""
    assert ejson.json_options(mongo_pb2.JSON_MODE_CANONICAL) is ejson.CANONICAL
    assert ejson.json_options(mongo_pb2.JSON_MODE_RELAXED) is ejson.RELAXED
    assert ejson.json_options(mongo_pb2.JSON_MODE_UNSPECIFIED) is ejson.RELAXED


@pytest.mark.parametrize(
    ("segment", "expected"),
    [
        ("65a1b2c3d4e5f60718293a4b", ObjectId("65a1b2c3d4e5f60718293a4b")),
        ("65A1B2C3D4E5F60718293A4B", ObjectId("65a1b2c3d4e5f60718293a4b")),
        ("42", 42),
        ('"42"', "42"),
        ('{"$numberLong": "42"}', Int64(42)),
        ('{"$oid": "65a1b2c3d4e5f60718293a4b"}', ObjectId("65a1b2c3d4e5f60718293a4b")),
        ('{"a": 1}', {"a": 1}),
        ("true", True),
        ("plain text", "plain text"),
        ("65a1b2c3d4e5f60718293a4", "65a1b2c3d4e5f60718293a4"),  # 23 digits: a string
        ("{broken", "{broken"),
    ],
)
def test_id_segment(segment: str, expected: Any) -> None:
    """[id]: 24 hex digits are an ObjectId; else Extended JSON when it parses; else a string."""
    parsed = ejson.parse_id(segment)
    assert parsed == expected
    assert type(parsed) is type(expected)


@pytest.mark.parametrize("segment", ['{"$gt": ""}', '{"a": 1, "$where": "1"}', "[1]"])
def test_an_id_is_never_an_operator_or_array(segment: str) -> None:
    """An id that parses to an operator document or an array is refused."""
    with pytest.raises(InvalidArgument):
        ejson.parse_id(segment)


@pytest.mark.parametrize(
    "text",
    ["{", "[1]", '"text"', '{"a": {"$oid": "xyz"}}', '{"a": {"$date": "yesterday"}}', '{"a": {"$binary": 5}}'],
)
def test_parse_object_refuses_what_is_not_an_ejson_object(text: str) -> None:
    """Bad JSON, a non-object and malformed type wrappers are InvalidArgument naming the field."""
    with pytest.raises(InvalidArgument) as caught:
        ejson.parse_object(text, "filter")
    assert caught.value.details["field"] == "filter"


def test_parse_object_defaults_and_requirements() -> None:
    """Empty text is the default when one is given, else an error that the field is required."""
    assert ejson.parse_object("  ", "filter", default={}) == {}
    with pytest.raises(InvalidArgument, match="required"):
        ejson.parse_object("", "update")


def test_deeply_nested_input_is_a_clear_error() -> None:
    """Input nested past the parser's limit is InvalidArgument, not a crash."""
    text = '{"a":' * 5000 + "1" + "}" * 5000
    with pytest.raises(InvalidArgument, match="nested too deeply"):
        ejson.parse_object(text, "filter")


def test_sort_keeps_order_and_checks_directions() -> None:
    """A sort keeps the caller's key order; directions are 1, -1 or a $meta object."""
    assert ejson.parse_sort('{"b": -1, "a": 1, "s": {"$meta": "textScore"}}') == [
        ("b", -1),
        ("a", 1),
        ("s", {"$meta": "textScore"}),
    ]
    assert ejson.parse_sort("") is None
    for bad in ('{"a": 2}', '{"a": "asc"}', '{"a": true}'):
        with pytest.raises(InvalidArgument):
            ejson.parse_sort(bad)


def test_pipeline_must_be_an_array_of_objects() -> None:
    """A pipeline is a JSON array of stage objects."""
    assert ejson.parse_pipeline('[{"$match": {}}]') == [{"$match": {}}]
    assert ejson.parse_pipeline("[]") == []
    for bad in ("", "{}", "[1]", '[{"$match": {}}, "x"]'):
        with pytest.raises(InvalidArgument):
            ejson.parse_pipeline(bad)


@pytest.mark.parametrize(
    ("value", "operator", "path"),
    [
        ({"$where": "1"}, "$where", "filter.$where"),
        ({"$and": [{"a": 1}, {"$or": [{"$where": "1"}]}]}, "$where", "filter.$and[1].$or[0].$where"),
        ({"$expr": {"$function": {"body": "x"}}}, "$function", "filter.$expr.$function"),
        (
            [{"$lookup": {"from": "o", "pipeline": [{"$match": {"$where": "1"}}], "as": "j"}}],
            "$where",
            "filter[0].$lookup.pipeline[0].$match.$where",
        ),
        ([{"$group": {"_id": 1, "x": {"$accumulator": {}}}}], "$accumulator", "filter[0].$group.x.$accumulator"),
    ],
)
def test_javascript_operators_are_found_at_any_depth(value: Any, operator: str, path: str) -> None:
    """$where, $function and $accumulator are refused wherever they sit, and the error says where."""
    with pytest.raises(InvalidArgument) as caught:
        ejson.refuse_javascript(value, "filter")
    assert caught.value.details["operator"] == operator
    assert caught.value.details["path"] == path


def test_javascript_free_input_passes() -> None:
    """Operators that run no JavaScript (and field values that merely mention one) pass."""
    ejson.refuse_javascript({"$and": [{"a": {"$regex": "x"}}, {"note": "$where"}]}, "filter")
    ejson.refuse_javascript([{"$match": {"a": 1}}, {"$group": {"_id": "$a", "n": {"$sum": 1}}}], "pipeline")
    ejson.refuse_javascript(None, "options")


def test_write_stages_are_found_anywhere() -> None:
    """$out and $merge are found at the top level and nested; read-only pipelines have none."""
    assert ejson.write_stages([{"$match": {}}, {"$out": "x"}]) == ["$out"]
    assert ejson.write_stages([{"$facet": {"a": [{"$merge": {"into": "y"}}]}}]) == ["$merge"]
    assert ejson.write_stages([{"$project": {"m": {"$mergeObjects": ["$a", "$b"]}}}]) == []


def test_a_document_over_16_mib_is_payload_too_large() -> None:
    """A document whose BSON passes 16 MiB is PayloadTooLarge; one just under it is accepted."""
    under = '{"s": "' + "x" * (ejson.MAX_BSON_BYTES - 100) + '"}'
    assert len(ejson.parse_document(under, "document")["s"]) == ejson.MAX_BSON_BYTES - 100
    over = '{"s": "' + "x" * ejson.MAX_BSON_BYTES + '"}'
    with pytest.raises(PayloadTooLarge) as caught:
        ejson.parse_document(over, "documents[3]")
    assert caught.value.details["field"] == "documents[3]"


def test_a_small_text_can_still_be_large_bson() -> None:
    """BSON can be several times its Extended JSON text (tiny array elements): the size check
    measures the BSON, not the text."""
    count = 2_000_000  # "1," is 2 characters but 9+ bytes of BSON each
    text = '{"a": [' + ",".join(["1"] * count) + "]}"
    assert len(text) < ejson.MAX_BSON_BYTES
    with pytest.raises(PayloadTooLarge):
        ejson.parse_document(text, "document")


def test_datetime_out_of_python_range_round_trips() -> None:
    """Dates Python cannot hold are DatetimeMS, not errors."""
    value = ejson.loads('{"$date": {"$numberLong": "253402300800001"}}', "x")
    assert isinstance(value, DatetimeMS)
    assert ejson.dumps(value) == '{"$date":{"$numberLong":"253402300800001"}}'


def test_other_bson_values_dump() -> None:
    """Binary, Regex, Timestamp, MinKey and MaxKey are written as Extended JSON v2."""
    text = ejson.dumps(
        {"b": Binary(b"\x01", 5), "r": Regex("a", "i"), "t": Timestamp(1, 2), "lo": MinKey(), "hi": MaxKey()}
    )
    assert text == (
        '{"b":{"$binary":{"base64":"AQ==","subType":"05"}},"r":{"$regularExpression":{"pattern":"a","options":"i"}},'
        '"t":{"$timestamp":{"t":1,"i":2}},"lo":{"$minKey":1},"hi":{"$maxKey":1}}'
    )
