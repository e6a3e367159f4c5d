"""Pure logic of the Redis engine: input checks, INFO parsing, and the gateway's JSON shapes."""

from __future__ import annotations

import base64
import math
from typing import Any

import orjson
import pytest
from gateway.redis_codec import Reader, key_json, value_proto
from redis_svc.inputs import (
    check_count,
    check_pattern,
    check_section,
    check_stream_ids,
    check_type,
    cluster_cursor,
    parse_info,
    scan_cursor,
)

from udb.errors import InvalidArgument
from udb.redis.v1 import redis_pb2

INFO = """# Server\r
redis_version:7.2.4\r
redis_git_sha1:00000000\r
run_id:1e35aa0b9c\r
uptime_in_seconds:42\r
\r
# Memory\r
used_memory:1024\r
mem_fragmentation_ratio:1.50\r
\r
# Keyspace\r
db0:keys=3,expires=1,avg_ttl=500\r
db2:keys=1,expires=0,avg_ttl=0\r
\r
# Commandstats\r
cmdstat_get:calls=10,usec=20,usec_per_call=2.00,rejected_calls=0,failed_calls=0\r
"""


def test_info_is_parsed_into_typed_sections() -> None:
    """INFO text becomes lower-case sections of ints, floats, strings and small records."""
    info = parse_info(INFO)
    assert info["server"]["redis_version"] == "7.2.4"
    assert info["server"]["uptime_in_seconds"] == 42
    assert info["server"]["run_id"] == "1e35aa0b9c"
    assert info["memory"] == {"used_memory": 1024, "mem_fragmentation_ratio": 1.5}
    assert info["keyspace"]["db0"] == {"keys": 3, "expires": 1, "avg_ttl": 500}
    assert info["commandstats"]["cmdstat_get"]["usec_per_call"] == 2.0


def test_info_of_one_empty_section_has_no_server_section() -> None:
    """INFO keyspace on an empty server gives just an empty keyspace section."""
    assert parse_info("# Keyspace\r\n") == {"keyspace": {}}


@pytest.mark.parametrize("pattern", [b"user:[abc", b"a\\", b"x" * 1025])
def test_bad_patterns_are_refused(pattern: bytes) -> None:
    """An unterminated class, a dangling backslash or an over-long pattern is InvalidArgument."""
    with pytest.raises(InvalidArgument):
        check_pattern(pattern)


@pytest.mark.parametrize("pattern", [b"", b"user:*", b"a[bc]d", b"a\\[", b"[\\]]", b"\xff*"])
def test_good_patterns_pass(pattern: bytes) -> None:
    """Globs with classes, escapes and binary bytes pass; empty means everything."""
    assert check_pattern(pattern) == (pattern or b"*")


def test_counts_cursors_and_types_are_checked() -> None:
    """count is 1-1000 (0 means 100), cursors are digits, types are TYPE's names."""
    assert check_count(0) == 100
    assert check_count(1000) == 1000
    for bad in (-1, 1001):
        with pytest.raises(InvalidArgument):
            check_count(bad)
    assert scan_cursor("") == 0
    assert scan_cursor("1234") == 1234
    for bad_cursor in ("x", "-1", "1" * 21):
        with pytest.raises(InvalidArgument):
            scan_cursor(bad_cursor)
    assert check_type("zset") == "zset"
    with pytest.raises(InvalidArgument):
        check_type("blob")
    assert check_section("Memory") == "memory"
    with pytest.raises(InvalidArgument):
        check_section("config")


def test_cluster_cursor_names_a_node_and_its_position() -> None:
    """A cluster cursor is node:position within the node count."""
    assert cluster_cursor("", 3) == (0, 0)
    assert cluster_cursor("2:15", 3) == (2, 15)
    for bad in ("3:0", "1", "a:1", "1:x"):
        with pytest.raises(InvalidArgument):
            cluster_cursor(bad, 3)


def test_stream_ids_must_increase_and_come_before_automatic_ones() -> None:
    """Explicit ids above 0-0 and increasing pass; anything XADD would refuse mid-transaction does not."""
    check_stream_ids(["1-1", "1-2", "5", "*", "*"])
    for bad in (["0-0"], ["2-0", "1-0"], ["*", "1-0"], ["1-x"], ["1-1", "1-1"]):
        with pytest.raises(InvalidArgument):
            check_stream_ids(bad)


def _json(key: redis_pb2.Key) -> Any:
    return orjson.loads(orjson.dumps(key_json(key)))


def test_key_json_is_utf8_when_it_can_be_and_base64_whole_otherwise() -> None:
    """A reply is text when every part is UTF-8; one binary part turns the key and every part to base64."""
    text = redis_pb2.Key(key=b"k", type="hash", size=1)
    text.value.hash_value.fields.add(field=b"f", value=b"v")
    assert _json(text)["value"] == {"f": "v"}
    assert _json(text)["encoding"] == "utf-8"
    binary = redis_pb2.Key(key=b"k", type="hash", size=1)
    binary.value.hash_value.fields.add(field=b"f", value=b"\xff")
    reply = _json(binary)
    assert reply["encoding"] == "base64"
    assert reply["key"] == base64.b64encode(b"k").decode()
    assert reply["value"] == {base64.b64encode(b"f").decode(): base64.b64encode(b"\xff").decode()}


def test_key_json_shapes_zsets_streams_and_json() -> None:
    """Zset scores keep infinities as strings; streams keep ids; JSON documents pass through."""
    zset = redis_pb2.Key(key=b"z", type="zset")
    zset.value.zset_value.members.add(member=b"a", score=math.inf)
    zset.value.zset_value.members.add(member=b"b", score=2.5)
    assert _json(zset)["value"] == [{"member": "a", "score": "inf"}, {"member": "b", "score": 2.5}]
    stream = redis_pb2.Key(key=b"s", type="stream")
    entry = stream.value.stream_value.entries.add(id="1-0")
    entry.fields.add(field=b"a", value=b"1")
    assert _json(stream)["value"] == [{"id": "1-0", "fields": {"a": "1"}}]
    document = redis_pb2.Key(key=b"j", type="ReJSON-RL")
    document.value.json_value = '[{"a":1}]'
    assert _json(document)["value"] == [{"a": 1}]


def test_value_proto_reads_each_shape_and_refuses_wrong_ones() -> None:
    """Body values become protos per type; base64 bodies decode every part; wrong shapes are 400."""
    plain = Reader(base64_parts=False)
    assert value_proto("list", ["a", "b"], plain).list_value.elements == [b"a", b"b"]
    zset = value_proto("zset", [{"member": "m", "score": "-inf"}], plain)
    assert zset.zset_value.members[0].score == -math.inf
    encoded = value_proto("hash", {base64.b64encode(b"\x00").decode(): "/w=="}, Reader(base64_parts=True))
    assert (encoded.hash_value.fields[0].field, encoded.hash_value.fields[0].value) == (b"\x00", b"\xff")
    for key_type, value in (("hash", ["a"]), ("set", "a"), ("zset", [{"member": "m"}]), ("stream", [{"id": "1"}])):
        with pytest.raises(InvalidArgument):
            value_proto(key_type, value, plain)
