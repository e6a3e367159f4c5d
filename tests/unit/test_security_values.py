"""Values a hostile caller or server sends (pure logic): JavaScript as a BSON value, NaN as a double,
and driver errors on replies they cannot read."""

from __future__ import annotations

import math

import bson
import pytest
from bson.code import Code
from mongo_svc import ejson
from redis._parsers import helpers

from udb.engine import unreadable_reply
from udb.errors import InvalidArgument


@pytest.mark.parametrize(
    ("text", "path"),
    [
        ('{"a": {"$code": "while (true) {}"}}', "filter.a"),
        ('{"a": {"$code": "f", "$scope": {"x": 1}}}', "filter.a"),
        ('{"$or": [{"a": 1}, {"b": {"$in": [1, {"$code": "f"}]}}]}', "filter.$or[1].b.$in[1]"),
        ('{"$expr": {"$eq": ["$a", {"$code": "f"}]}}', "filter.$expr.$eq[1]"),
    ],
)
def test_a_javascript_value_anywhere_is_refused(text: str, path: str) -> None:
    """$code, with or without $scope, nested in any object or array, is refused naming where it is."""
    value = ejson.loads(text, "filter")
    with pytest.raises(InvalidArgument) as caught:
        ejson.refuse_javascript(value, "filter")
    assert caught.value.details == {"field": "filter", "operator": "$code", "path": path}


def test_an_id_that_is_javascript_is_refused() -> None:
    """A path segment that parses as a JavaScript value is refused too (the id is the value itself)."""
    document_id = ejson.parse_id('{"$code": "f"}')
    assert isinstance(document_id, Code)
    with pytest.raises(InvalidArgument):
        ejson.refuse_javascript(document_id, "id")


def test_strings_that_look_like_code_are_data() -> None:
    """A string holding JavaScript, or a field named $code inside a string, is plain data."""
    ejson.refuse_javascript(ejson.loads('{"a": "function() {}", "b": ["$code"]}', "document"), "document")


@pytest.mark.parametrize("value", ["NaN", "Infinity", "-Infinity"])
def test_nan_and_the_infinities_are_doubles(value: str) -> None:
    """{"$numberDouble": "NaN"} and the infinities parse to doubles that BSON carries, and print back the same."""
    document = ejson.parse_document(f'{{"v": {{"$numberDouble": "{value}"}}}}', "document")
    number = document["v"]
    assert isinstance(number, float) and (math.isnan(number) or math.isinf(number))
    assert len(bson.encode(document)) == 16
    assert ejson.dumps(document, ejson.CANONICAL) == f'{{"v":{{"$numberDouble":"{value}"}}}}'


def test_a_driver_failing_on_a_reply_is_unavailable() -> None:
    """A plain Python error raised inside the driver's package (a sentinel's reply of the wrong shape) is 503;
    the same error raised outside the driver, or a driver's own error class, is no unreadable reply."""
    with pytest.raises(AttributeError) as in_driver:
        helpers.parse_sentinel_masters_resp3_to_resp2_legacy([[b"name", b"mymaster"]])
    error = unreadable_reply(in_driver.value, "redis", "redis", "hiredis")
    assert error is not None and error.http_status == 503 and "could not be read" in error.message
    with pytest.raises(KeyError) as outside:
        {}["missing"]
    assert unreadable_reply(outside.value, "redis", "redis") is None
    assert unreadable_reply(RuntimeError("x"), "redis", "redis") is None
