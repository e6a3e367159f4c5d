"""The Redis explorer's pure parts: confirm tokens, the workbench's allow list and reply bound, key tree
grouping."""

from __future__ import annotations

import asyncio
import time

import pytest
from redis_svc import reply_limit
from redis_svc.explorer import analysis, bulk_delete, diagnostics, tree, workbench

from udb.common.v1 import common_pb2
from udb.errors import InvalidArgument, PayloadTooLarge, PermissionDenied

KEY = b"k" * 32


def test_a_token_holds_for_its_pattern_connection_and_user_only() -> None:
    """check_token accepts the token make_token gave, and refuses it for anything else."""
    token, expires_at = bulk_delete.make_token(KEY, b"a:*", "conn", "alice")
    assert expires_at - time.time() == pytest.approx(bulk_delete.TOKEN_TTL_S, abs=2)
    bulk_delete.check_token(KEY, token, b"a:*", "conn", "alice")
    for pattern, connection, user in ((b"a*", "conn", "alice"), (b"a:*", "other", "alice"), (b"a:*", "conn", "bob")):
        with pytest.raises(PermissionDenied):
            bulk_delete.check_token(KEY, token, pattern, connection, user)
    with pytest.raises(PermissionDenied):
        bulk_delete.check_token(b"x" * 32, token, b"a:*", "conn", "alice")


def test_an_expired_token_is_refused() -> None:
    """A token past its expiry is PERMISSION_DENIED, and no token at all INVALID_ARGUMENT."""
    token, _ = bulk_delete.make_token(KEY, b"a:*", "conn", "alice", now=time.time() - bulk_delete.TOKEN_TTL_S - 1)
    with pytest.raises(PermissionDenied, match="expired"):
        bulk_delete.check_token(KEY, token, b"a:*", "conn", "alice")
    with pytest.raises(InvalidArgument):
        bulk_delete.check_token(KEY, "", b"a:*", "conn", "alice")


@pytest.mark.parametrize(
    ("args", "name", "role"),
    [
        ([b"get", b"k"], "GET", common_pb2.ROLE_VIEWER),
        ([b"HSET", b"k", b"f", b"v"], "HSET", common_pb2.ROLE_DEVELOPER),
        ([b"object", b"encoding", b"k"], "OBJECT ENCODING", common_pb2.ROLE_VIEWER),
        ([b"XGROUP", b"CREATE", b"k", b"g", b"$"], "XGROUP CREATE", common_pb2.ROLE_DEVELOPER),
    ],
)
def test_workbench_names_a_command_and_its_role(args: list[bytes], name: str, role: int) -> None:
    """Allowed commands get their canonical name and the role they need."""
    assert workbench.command_name(args) == (name, role)


@pytest.mark.parametrize("command", [b"FLUSHALL", b"CONFIG", b"KEYS", b"EVAL", b"OBJECT", b"CLIENT", b"XGROUP"])
def test_workbench_denies_what_is_off_the_list(command: bytes) -> None:
    """Denied commands, and a subcommand family without an allowed subcommand, are PERMISSION_DENIED."""
    with pytest.raises(PermissionDenied):
        workbench.command_name([command, b"KILL"])


def test_tree_groups_by_the_next_delimiter() -> None:
    """namespace_of names the namespace right below the prefix, or None for the level's own keys."""
    assert tree.namespace_of(b"user:1:name", b"", b":") == b"user:"
    assert tree.namespace_of(b"user:1:name", b"user:", b":") == b"user:1:"
    assert tree.namespace_of(b"user:count", b"user:", b":") is None
    assert tree.namespace_of(b"a::b", b"a:", b":") == b"a::"
    assert tree.glob_escape(b"a*b?[c]\\") == b"a\\*b\\?\\[c\\]\\\\"


def test_reply_proto_keeps_every_resp3_shape() -> None:
    """Maps become alternating arrays, sets arrays, None null, floats doubles, bytes bulk."""
    reply = workbench.reply_proto({b"a": [1, None, 1.5, {b"x"}], b"b": []})
    items = reply.array.items
    assert [items[0].bulk, items[2].bulk] == [b"a", b"b"]
    inner = items[1].array.items
    assert (inner[0].integer, inner[1].null, inner[2].double, inner[3].array.items[0].bulk) == (1, True, 1.5, b"x")
    assert items[3].WhichOneof("kind") == "array"


def test_monitor_lines_parse_binary_safe_and_hide_secrets() -> None:
    """A MONITOR line's escaped arguments come back as bytes; AUTH's and HELLO's arguments are redacted."""
    event = diagnostics.monitor_event(b'1700000000.5 [3 10.0.0.1:5000] "SET" "a\\"b" "\\xff\\n"', "n1")
    assert event is not None
    assert (event.time, event.db, event.client, event.node) == (1700000000.5, 3, "10.0.0.1:5000", "n1")
    assert list(event.args) == [b"SET", b'a"b', b"\xff\n"]
    auth = diagnostics.monitor_event(b'1.0 [0 lua] "auth" "user" "secret"', "")
    assert auth is not None
    assert list(auth.args) == [b"auth", b"(redacted)"]
    assert diagnostics.redact([b"HELLO", b"3", b"AUTH", b"u", b"p"]) == [b"HELLO", b"(redacted)"]
    assert diagnostics.redact([b"CONFIG", b"SET", b"requirepass", b"p"]) == [b"CONFIG", b"SET", b"(redacted)"]
    assert diagnostics.redact([b"GET", b"k"]) == [b"GET", b"k"]
    assert diagnostics.monitor_event(b"garbage", "") is None


def test_ttl_buckets_cover_every_ttl() -> None:
    """Each TTL falls in one named bucket, no expiry first."""
    assert [analysis.ttl_bucket(ttl) for ttl in (-1, 0, 3599, 3600, 86400, 604800, 2592000)] == [
        "no expiry",
        "<1h",
        "<1h",
        "1h-1d",
        "1d-1w",
        "1w-30d",
        ">30d",
    ]


async def test_a_read_of_known_length_past_the_bound_fails_before_it_is_read() -> None:
    """redis-py's pure-Python parser reads a bulk string whole with readexactly: the workbench's bound
    refuses it from its length, without waiting for (or holding) its bytes; reads within it pass."""
    stream = asyncio.StreamReader()
    stream.feed_data(b"$5\r\nhello\r\n")
    reader = reply_limit.CountedReader(stream)
    with reply_limit.bounded(16):
        assert await reader.readline() == b"$5\r\n"
        assert await reader.readexactly(7) == b"hello\r\n"
        with pytest.raises(PayloadTooLarge):
            # Nothing more is fed: reading first would wait (the guard turns a wait into a failure).
            await asyncio.wait_for(reader.readexactly(100 * 1024 * 1024), 10)
