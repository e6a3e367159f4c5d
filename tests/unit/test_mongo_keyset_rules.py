"""The keyset's pure parts: type classes, the segments after a boundary, the projection plan,
and the signed find cursor. The integration tests (test_mongo_keyset.py) walk real pages."""

from __future__ import annotations

import datetime
import math
import re
from typing import Any

import pytest
from bson import Binary, Code, DBRef, Decimal128, Int64, MaxKey, MinKey, ObjectId, Regex, Timestamp
from bson.datetime_ms import DatetimeMS
from mongo_svc import keyset
from mongo_svc.find_cursor import CursorSigner, FindCursor, FindQuery, is_find_cursor, signing_key
from mongo_svc.keyset import NotKeyable, TypeClass
from mongo_svc.settings import Settings

from udb.config import AuthSettings, ConfigError, Secret
from udb.errors import InvalidArgument

WHEN = datetime.datetime(2024, 1, 2, tzinfo=datetime.UTC)


@pytest.mark.parametrize(
    ("value", "kind"),
    [
        (None, TypeClass.NULL),
        (True, TypeClass.BOOLEAN),
        (3, TypeClass.NUMBER),
        (Int64(3), TypeClass.NUMBER),
        (2.5, TypeClass.NUMBER),
        (Decimal128("1.5"), TypeClass.NUMBER),
        ("s", TypeClass.STRING),
        ({"a": 1}, TypeClass.OBJECT),
        (b"x", TypeClass.BINARY),
        (Binary(b"x", 4), TypeClass.BINARY),
        (ObjectId(), TypeClass.OBJECT_ID),
        (WHEN, TypeClass.DATE),
        (DatetimeMS(-(2**62)), TypeClass.DATE),
        (Timestamp(1, 1), TypeClass.TIMESTAMP),
        (Regex("a"), TypeClass.REGEX),
        (re.compile("a"), TypeClass.REGEX),
        (Code("x"), TypeClass.JAVASCRIPT),
        (Code("x", {}), TypeClass.JAVASCRIPT_WITH_SCOPE),
        (MinKey(), TypeClass.MIN_KEY),
        (MaxKey(), TypeClass.MAX_KEY),
    ],
)
def test_type_class_follows_mongodb_sort_order(value: Any, kind: TypeClass) -> None:
    """Each decoded BSON value falls in MongoDB's sort class (booleans are not numbers)."""
    assert keyset.type_class(value) is kind


def test_arrays_and_dbrefs_have_no_keyset() -> None:
    """An array at a sort key (or on its path) and a DBRef are NotKeyable."""
    with pytest.raises(NotKeyable):
        keyset.key_values({"a": [1, 2]}, [("a", 1)])
    with pytest.raises(NotKeyable):
        keyset.key_values({"a": [{"b": 1}]}, [("a.b", 1)])
    with pytest.raises(NotKeyable):
        keyset.type_class(DBRef("c", 1))
    with pytest.raises(NotKeyable):
        keyset.check_rangeable([1, Regex("x")])


def test_sort_values_of_dotted_and_missing_paths() -> None:
    """A dotted path reads nested documents; missing parts and scalars on the way are null."""
    document = {"_id": 1, "a": {"b": 2}, "c": 5}
    assert keyset.key_values(document, [("a.b", 1), ("a.x", 1), ("c.d", 1), ("_id", 1)]) == [2, None, None, 1]


def test_server_sort_ends_with_id_unless_natural() -> None:
    """_id closes every sort (ascending) unless the caller sorted by it; $natural stays alone."""
    assert keyset.server_sort(None) == [("_id", 1)]
    assert keyset.server_sort([("a", -1)]) == [("a", -1), ("_id", 1)]
    assert keyset.server_sort([("_id", -1), ("a", 1)]) == [("_id", -1), ("a", 1)]
    assert keyset.server_sort([("$natural", 1)]) == [("$natural", 1)]
    with pytest.raises(NotKeyable):
        keyset.keyset_keys([("score", {"$meta": "textScore"}), ("_id", 1)])
    with pytest.raises(NotKeyable):
        keyset.keyset_keys([("$natural", 1)])


def test_segments_ascending_on_two_keys() -> None:
    """After (a=5, _id=9) ascending: same a and a greater _id, same a and a later _id class, then
    a greater number, then a later class than numbers; in that order."""
    segments = list(keyset.segments_after([("a", 1), ("_id", 1)], [5, 9]))
    assert segments[0] == {"$and": [{"a": {"$eq": 5}}, {"_id": {"$gt": 9}}]}
    assert segments[1]["$and"][1]["_id"]["$type"][0] == "string"
    assert segments[2] == {"a": {"$gt": 5}}
    later = segments[3]["a"]["$type"]
    assert later[:3] == ["string", "symbol", "object"]
    assert "number" not in later
    assert "maxKey" in later
    assert len(segments) == 4


def test_segments_descending_reach_nan_and_nulls() -> None:
    """Descending from a number: smaller numbers, then NaN (which no comparison matches), then
    null, missing and MinKey; without rare types MinKey is left out."""
    segments = list(keyset.segments_after([("a", -1)], [5]))
    assert segments[0] == {"a": {"$lt": 5}}
    assert segments[1] == {"a": {"$type": "number", "$not": {"$gte": -math.inf}}}
    assert segments[2] == {"$or": [{"a": {"$eq": None}}, {"a": {"$type": ["minKey"]}}]}
    plain = list(keyset.segments_after([("a", -1)], [5], rare_types=False))
    assert plain[2] == {"a": {"$eq": None}}
    assert keyset.names_rare_types(segments) and not keyset.names_rare_types(plain)


def test_segments_from_null_and_nan_boundaries() -> None:
    """From null ascending nothing of its class follows (ties go by the next key); from NaN
    ascending every other number follows, and descending none does."""
    after_null = list(keyset.segments_after([("a", 1)], [None]))
    assert after_null == [{"a": {"$type": list(after_null[0]["a"]["$type"])}}]
    assert "number" in after_null[0]["a"]["$type"]
    assert next(keyset.segments_after([("a", 1)], [math.nan])) == {"a": {"$gte": -math.inf}}
    descending = list(keyset.segments_after([("a", -1)], [Decimal128("NaN")]))
    assert all("$lt" not in str(segment) for segment in descending)


def test_fetch_plan_for_inclusion_adds_and_strips_sort_keys() -> None:
    """An inclusion without the sort keys asks for them and strips the outermost part it added."""
    plan = keyset.fetch_plan({"a.c": 1, "_id": 0}, ["a.b", "n", "_id"])
    assert plan.projection == {"a.c": 1, "a.b": 1, "n": 1}
    assert set(plan.strip) == {"_id", "a.b", "n"}
    covered = keyset.fetch_plan({"a": 1}, ["a.b", "_id"])
    assert covered == keyset.FetchPlan({"a": 1}, ())
    with pytest.raises(NotKeyable):
        keyset.fetch_plan({"a.b": 1}, ["a", "_id"])
    with pytest.raises(NotKeyable):
        keyset.fetch_plan({"a": {"$slice": 2}}, ["_id"])


def test_fetch_plan_for_exclusion_keeps_what_touches_a_sort_key() -> None:
    """An exclusion that hides a sort key (or part of it) is dropped from the query and applied
    after; the others stay with the server."""
    plan = keyset.fetch_plan({"a": 0, "b.c": 0, "pad": 0}, ["a.x", "b", "_id"])
    assert plan.projection == {"pad": 0}
    assert plan.strip == ("a", "b.c")
    assert keyset.fetch_plan(None, ["_id"]) == keyset.FetchPlan(None)


def test_strip_removes_paths_through_arrays() -> None:
    """Stripping a dotted path removes it from every document of an array on the way."""
    document = {"_id": 1, "a": [{"b": 1, "c": 2}, 3, {"b": 4}], "n": 1}
    keyset.strip_paths(document, ("a.b", "n", "missing.x"))
    assert document == {"_id": 1, "a": [{"c": 2}, 3, {}]}


QUERY = FindQuery(
    database="db",
    collection="c",
    filter={"at": {"$gte": WHEN}, "n": Int64(2**40)},
    projection={"pad": 0},
    sort=[("at", -1), ("score", {"$meta": "textScore"})],
)


def signer() -> CursorSigner:
    return CursorSigner(b"k" * 32)


def test_a_cursor_round_trips_exact_values() -> None:
    """A cursor decodes to the same query, position and boundary, BSON types kept."""
    cursor = FindCursor("conn-1", QUERY, 40, [WHEN, ObjectId("65f000000000000000000001"), Binary(b"\x00", 4)])
    token = signer().encode(cursor, subject="u1", project_ref="p1")
    assert is_find_cursor(token)
    decoded = signer().decode(token, subject="u1", project_ref="p1")
    assert decoded == cursor
    assert isinstance(decoded.query.filter["n"], Int64)


@pytest.mark.parametrize(
    ("subject", "project_ref", "change"),
    [("u2", "p1", None), ("u1", "p2", None), ("u1", "p1", 5), ("u1", "p1", -3)],
)
def test_a_cursor_is_refused_by_another_caller_or_once_changed(
    subject: str, project_ref: str, change: int | None
) -> None:
    """Another subject, another project, or any changed character is InvalidArgument."""
    token = signer().encode(FindCursor("c", QUERY, 0, [1]), subject="u1", project_ref="p1")
    if change is not None:
        token = token[:change] + ("A" if token[change] != "A" else "B") + token[change + 1 :]
    with pytest.raises(InvalidArgument):
        signer().decode(token, subject=subject, project_ref=project_ref)


def test_garbage_and_oversized_cursors_are_refused() -> None:
    """Text that is not a cursor, and a cursor past the size limit, are InvalidArgument."""
    for token in ("", "abc", "a.b.c", "!!.??", "x" * 70_000 + ".y"):
        with pytest.raises(InvalidArgument):
            signer().decode(token, subject="u", project_ref="p")


def test_the_key_comes_from_shared_configuration() -> None:
    """MONGO_CURSOR_KEY wins; else JWT_SECRET, else SERVICE_TOKEN; two replicas derive the same."""

    def settings(auth: AuthSettings, key: str | None = None) -> Settings:
        return Settings(name="mongo-svc", address="x", auth=auth, cursor_key=Secret(key) if key else None)

    jwt = AuthSettings(jwt_secret=Secret("s3cret"))
    assert signing_key(settings(jwt)) == signing_key(settings(AuthSettings(jwt_secret=Secret("s3cret"))))
    assert signing_key(settings(jwt, "own")) != signing_key(settings(jwt))
    jwks = AuthSettings(jwks_url="https://x", service_token=Secret("tok"))
    assert signing_key(settings(jwks)) != signing_key(settings(jwt))
    with pytest.raises(ConfigError):
        signing_key(settings(AuthSettings(jwks_url="https://x")))
