"""postgres-meta's typing (node-postgres's text parsers), parameter text, Postgres errors in
postgres-meta's form, and the gateway's error bodies: pure functions, no sockets."""

from __future__ import annotations

import inspect

import asyncpg
import orjson
import pytest
from asyncpg.protocol import protocol as asyncpg_protocol
from gateway.errors import MethodNotAllowed, api_body, error_response, postgres_meta_body, speaks_postgres_meta
from pg_svc.codecs import BUILTIN_OIDS, TextConnection
from pg_svc.query import session_name
from pg_svc.sql_errors import format_error, postgres_error, query_error
from pg_svc.values import decoder_for, interval_object, js_number_text, parse_array, parse_bytea, to_text

from udb.errors import DeadlineExceeded, InvalidArgument, NotFound, PermissionDenied, RateLimited, from_rpc_error
from udb.pg.v1 import pg_pb2


def _json(oid: int, text: str) -> bytes:
    return orjson.dumps(decoder_for(oid)(text))


@pytest.mark.parametrize(
    ("oid", "text", "json"),
    [
        (20, "42", b"42"),
        (20, "9007199254740993", b'"9007199254740993"'),
        (20, "-9007199254740993", b'"-9007199254740993"'),
        (23, "-7", b"-7"),
        (700, "1.1", b"1.1"),
        (701, "100", b"100"),
        (701, "-0", b"0"),
        (701, "Infinity", b"null"),
        (701, "NaN", b"null"),
        (16, "t", b"true"),
        (16, "f", b"false"),
        (17, "\\x0102ff", b'{"type":"Buffer","data":[1,2,255]}'),
        (3802, '{"a": [1, 2.5]}', b'{"a": [1, 2.5]}'),
        (718, "<(1,2.5),3>", b'{"x":1,"y":2.5,"radius":3}'),
        (1700, "1.10", b'"1.10"'),
        (1231, "{1.10,NaN,NULL}", b"[1.1,null,null]"),
        (1016, "{1,-2}", b'["1","-2"]'),
        (1007, "{{1,2},{3,NULL}}", b"[[1,2],[3,null]]"),
        (1009, '{a,"b c","NULL",NULL,"x\\"y\\\\z",""}', b'["a","b c","NULL",null,"x\\"y\\\\z",""]'),
        (1187, '{"1 day","-1 years -2 mons +3 days -04:05:06.5"}', None),
        (1001, '{"\\\\x01",NULL}', b'[{"type":"Buffer","data":[1]},null]'),
        (1017, '{"(1,2)"}', b'"{\\"(1,2)\\"}"'),
        (1182, "[0:1]={2024-01-01,NULL}", b'["2024-01-01",null]'),
        (1114, "2024-05-01 10:00:00", b'"2024-05-01 10:00:00"'),
        (2249, '(1,"a b",)', b'"(1,\\"a b\\",)"'),
        (3905, '{"[1,2)"}', b'"{\\"[1,2)\\"}"'),
    ],
)
def test_values_are_typed_as_postgres_meta_types_them(oid: int, text: str, json: bytes | None) -> None:
    """Each type OID reads its Postgres text into the JSON value node-postgres gives postgres-meta."""
    if json is None:
        assert orjson.loads(_json(oid, text)) == [
            {"days": 1},
            {"years": -1, "months": -2, "days": 3, "hours": -4, "minutes": -5, "seconds": -6, "milliseconds": -500},
        ]
    else:
        assert _json(oid, text) == json


def test_arrays_and_intervals_parse_every_form() -> None:
    """Empty, nested, quoted and decorated arrays; intervals keep only their non-zero parts."""
    assert parse_array("{}") == []
    assert parse_array('{{"a,b"},{c}}') == [["a,b"], ["c"]]
    assert parse_array("{1,2}", int) == [1, 2]
    assert interval_object("00:00:00") == {}
    assert interval_object("1 year 2 mons 00:00:00.000001") == {"years": 1, "months": 2, "milliseconds": 0.001}
    assert parse_bytea("a\\\\b\\001") == b"a\\b\x01"


@pytest.mark.parametrize(
    ("value", "text"),
    [
        ("x", "x"),
        (True, "true"),
        (5, "5"),
        (5.0, "5"),
        (0.1, "0.1"),
        (1e21, "1e+21"),
        (1.5e-7, "1.5e-7"),
        (123456789.125, "123456789.125"),
        (-0.000001, "-0.000001"),
        ([1, None, 'a"b', [True]], '{"1",NULL,"a\\"b",{"true"}}'),
        ({"k": [1.0, "v"]}, '{"k":[1,"v"]}'),
        (b"\x01\xff", "\\x01ff"),
    ],
)
def test_parameters_become_node_postgres_text(value: object, text: str) -> None:
    """A JSON parameter becomes the text node-postgres sends for it."""
    assert to_text(value) == text


def test_js_number_text_matches_javascript() -> None:
    """Number#toString's switch between plain and exponent forms."""
    assert [js_number_text(v) for v in (1e20, 1e-6, 1e-7, float("inf"), float("nan"))] == [
        "100000000000000000000",
        "0.000001",
        "1e-7",
        "Infinity",
        "NaN",
    ]


def test_codecs_rest_on_asyncpg_internals_that_exist() -> None:
    """The two asyncpg internals pg_svc.codecs relies on are still there, with their shapes."""
    assert {16, 23, 2249, 1700, 1184} <= BUILTIN_OIDS
    assert len(asyncpg_protocol.BUILTIN_TYPE_OID_MAP) > 50
    introspect = inspect.signature(asyncpg.Connection._introspect_types)
    assert list(introspect.parameters) == ["self", "typeoids", "timeout"]
    assert TextConnection._introspect_types is not asyncpg.Connection._introspect_types
    settings = asyncpg_protocol.ConnectionSettings()
    settings.add_python_codec(2249, "record", "pg_catalog", [], "scalar", to_text, str, "text")
    assert "oid=2249" in repr(settings.get_data_codec(2249))


def _syntax_error() -> asyncpg.PostgresError:
    error = asyncpg.PostgresSyntaxError('syntax error at or near "SELEC"')
    for name, value in {
        "severity": "ERROR",
        "severity_en": "ERROR",
        "sqlstate": "42601",
        "message": 'syntax error at or near "SELEC"',
        "position": "1",
        "server_source_filename": "scan.l",
        "server_source_line": "1188",
        "server_source_function": "scanner_yyerror",
    }.items():
        setattr(error, name, value)
    return error


def test_postgres_errors_take_postgres_metas_form() -> None:
    """Position shifted to the script, the ErrorResponse's length, the formatted text with a
    caret under the position (UTF-16 columns, as JavaScript counts)."""
    script = "select 1;\nSELEC 2"
    error = postgres_error(_syntax_error(), script, 10)
    assert error.position == "11"
    assert error.length == 94  # what the server sent postgres-meta for the same script
    assert error.formatted == 'ERROR:  42601: syntax error at or near "SELEC"\nLINE 2: SELEC 2\n        ^\n'
    assert not error.HasField("detail")
    wide = pg_pb2.PostgresError(severity="ERROR", code="42703", message="m", position="6", hint="h", where="w")
    # Character 6 is "b"; JavaScript counts the emoji as two columns, so the caret sits one further.
    caret = " " * (5 + 1 + 2 + 5) + "^"
    expected = f"ERROR:  42703: m\nLINE 1: \U0001f600 a b\n{caret}\nHINT:  h\nCONTEXT:  w\n"
    assert format_error(wide, "\U0001f600 a b") == expected
    past_the_end = pg_pb2.PostgresError(severity="ERROR", code="42601", message="m", position="9")
    assert format_error(past_the_end, "select\n") == "ERROR:  42601: m\nLINE 0: \n        ^\n"


def test_query_errors_keep_their_status_by_kind() -> None:
    """A cancelled statement is 504, a viewer's write 403, everything else Postgres says 400;
    each carries Postgres's fields."""
    cancelled = query_error(asyncpg.QueryCanceledError("canceling statement"), "x", 0, read_only=False)
    assert isinstance(cancelled, DeadlineExceeded)
    write = query_error(asyncpg.ReadOnlySQLTransactionError("read-only"), "x", 0, read_only=True)
    assert isinstance(write, PermissionDenied)
    missing = query_error(asyncpg.UndefinedTableError("no"), "x", 0, read_only=False)
    assert isinstance(missing, InvalidArgument)
    assert missing.attachment(pg_pb2.PostgresError) is not None


def test_error_bodies_by_route_family() -> None:
    """The API's routes answer {message, error: {code, message, details}}; postgres-meta's answer
    its body (every Postgres field, in node-postgres's order) or {error, message}."""
    refused = postgres_error(_syntax_error(), "select 1;\nSELEC 2", 10)
    error = InvalidArgument(refused.message, attachments=[refused])
    body = postgres_meta_body(error)
    assert list(body) == [
        "error",
        "length",
        "name",
        "severity",
        "code",
        "position",
        "file",
        "line",
        "routine",
        "message",
        "formattedError",
    ]
    assert body["error"] == body["formattedError"] == refused.formatted
    assert postgres_meta_body(NotFound("gone")) == {"error": "gone", "message": "gone"}
    assert api_body(NotFound("gone")) == {
        "message": "gone",
        "error": {"code": "not_found", "message": "gone", "details": {}},
    }
    assert speaks_postgres_meta("/api/platform/pg-meta/abc/query")
    assert speaks_postgres_meta("/api/platform/pg-meta/abc/generators/typescript")
    assert not speaks_postgres_meta("/api/platform/pg-meta/abc/connections")
    assert not speaks_postgres_meta("/api/platform/pg-meta/abc/connections/1/test")
    assert not speaks_postgres_meta("/api/platform/redis/abc/keys")
    limited = error_response(RateLimited("slow down", details={"retry_after": 2}), "/api/platform/pg-meta/a/tables")
    assert (limited.status_code, limited.headers["retry-after"]) == (429, "2")
    assert orjson.loads(limited.body) == {"error": "slow down", "message": "slow down"}
    allowed = error_response(MethodNotAllowed("no", details={"allow": "GET"}), "/api/platform/health")
    assert (allowed.status_code, allowed.headers["allow"]) == (405, "GET")


def test_attachments_cross_the_grpc_status() -> None:
    """A PostgresError attached to an error comes back from the rich status intact."""
    from udb.errors import trailing_metadata_of

    refused = pg_pb2.PostgresError(severity="ERROR", code="22012", message="division by zero", length=65)
    metadata = trailing_metadata_of(InvalidArgument("division by zero", attachments=[refused]))

    class _Rpc(Exception):
        def code(self) -> object:
            return InvalidArgument.grpc_code

        def details(self) -> str:
            return "division by zero"

        def trailing_metadata(self) -> object:
            return metadata

    rebuilt = from_rpc_error(_Rpc())  # type: ignore[arg-type]
    assert isinstance(rebuilt, InvalidArgument)
    assert rebuilt.attachment(pg_pb2.PostgresError) == refused


def test_session_names_are_what_postgres_keeps() -> None:
    """application_name: printable ASCII only, at most 63 characters."""
    assert session_name("supabase/dashboard-query-editor") == "supabase/dashboard-query-editor"
    assert session_name("caf\u00e9\n" + "x" * 80) == "caf??" + "x" * 58
