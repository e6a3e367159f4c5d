"""A caller's SQL that Postgres refused: the API error, carrying every field of Postgres's own.

Whatever the database says about SQL a caller wrote is a query error (400), as postgres-meta and
Studio treat it; only a time limit (504), a lost connection (503) and a viewer's write (403) keep
statuses of their own. Each error carries a :class:`udb.pg.v1.pg_pb2.PostgresError` with the
server's fields, its position counted from the start of the caller's script, and the text
postgres-meta shows (``formattedError``), so that the gateway can answer with postgres-meta's body.
"""

from __future__ import annotations

import re

import asyncpg

from udb.errors import DatabaseError, DeadlineExceeded, InvalidArgument, PermissionDenied, Unavailable
from udb.pg.v1 import pg_pb2

#: ErrorResponse field codes and asyncpg's attribute for each, in the order Postgres sends them.
_WIRE_FIELDS = (
    ("S", "severity"),
    ("V", "severity_en"),
    ("C", "sqlstate"),
    ("M", "message"),
    ("D", "detail"),
    ("H", "hint"),
    ("P", "position"),
    ("p", "internal_position"),
    ("q", "internal_query"),
    ("W", "context"),
    ("s", "schema_name"),
    ("t", "table_name"),
    ("c", "column_name"),
    ("d", "data_type_name"),
    ("n", "constraint_name"),
    ("F", "server_source_filename"),
    ("L", "server_source_line"),
    ("R", "server_source_function"),
)

#: asyncpg's attribute -> PostgresError's field, for the optional fields.
_OPTIONAL = {
    "detail": "detail",
    "hint": "hint",
    "internal_position": "internal_position",
    "internal_query": "internal_query",
    "context": "where",
    "schema_name": "schema",
    "table_name": "table",
    "column_name": "column",
    "data_type_name": "data_type",
    "constraint_name": "constraint",
    "server_source_filename": "file",
    "server_source_line": "line",
    "server_source_function": "routine",
}

#: Errors that mean the connection, not the SQL, failed (SQLSTATE class 08, and the server
#: shutting down or not accepting connections yet).
_CONNECTION_LOST = (
    asyncpg.PostgresConnectionError,
    asyncpg.AdminShutdownError,
    asyncpg.CrashShutdownError,
    asyncpg.CannotConnectNowError,
)

_READ_ONLY_VIOLATIONS = (asyncpg.ReadOnlySQLTransactionError, asyncpg.ActiveSQLTransactionError)

#: The driver's own portal, named in the context of a parameter's error: to the caller it is the
#: unnamed portal postgres-meta's single query uses.
_DRIVER_PORTAL = re.compile(r'portal "__asyncpg_\w+__" ')


def query_error(exc: asyncpg.PostgresError, script: str, offset: int, *, read_only: bool) -> DatabaseError:
    """The API error for Postgres's ``exc`` about the statement ``offset`` characters into ``script``."""
    details = postgres_error(exc, script, offset)
    summary = {
        "sqlstate": details.code,
        "position": details.position if details.HasField("position") else None,
        "hint": details.hint if details.HasField("hint") else None,
        "detail": details.detail if details.HasField("detail") else None,
    }
    message = details.message or "the database refused the statement"
    if isinstance(exc, asyncpg.QueryCanceledError):
        return DeadlineExceeded(message, details=summary, attachments=[details])
    if isinstance(exc, _CONNECTION_LOST):
        return Unavailable(f"postgres: {message}", details=summary, attachments=[details])
    if read_only and isinstance(exc, _READ_ONLY_VIOLATIONS):
        # Writing, or leaving read-only mode, from inside the viewer's transaction.
        return PermissionDenied(f"a viewer's SQL is read-only: {message}", details=summary, attachments=[details])
    return InvalidArgument(message, details=summary, attachments=[details])


def parameter_count_error(given: int, expected: int) -> InvalidArgument:
    """Postgres's answer to a Bind with the wrong number of parameters (SQLSTATE 08P01, as
    postgres-meta reports it); the driver checks the count before sending, so it is made here."""
    values = {
        "severity": "ERROR",
        "severity_en": "ERROR",
        "sqlstate": "08P01",
        "message": f'bind message supplies {given} parameters, but prepared statement "" requires {expected}',
    }
    error = pg_pb2.PostgresError(
        severity="ERROR", code="08P01", message=values["message"], length=_message_length(values)
    )
    error.formatted = format_error(error, "")
    return InvalidArgument(error.message, details={"sqlstate": error.code, "field": "parameters"}, attachments=[error])


def postgres_error(exc: asyncpg.PostgresError, script: str, offset: int) -> pg_pb2.PostgresError:
    """Postgres's fields of ``exc``, placed in the whole ``script``."""
    values: dict[str, str] = {}
    for _, attribute in _WIRE_FIELDS:
        value = getattr(exc, attribute, None)
        if value is not None:
            values[attribute] = str(value)
    if "message" not in values and exc.args:
        values["message"] = str(exc.args[0])
    position = values.get("position")
    if position is not None and position.isdigit():
        values["position"] = str(int(position) + offset)
    if "context" in values:
        values["context"] = _DRIVER_PORTAL.sub("unnamed portal ", values["context"])
    error = pg_pb2.PostgresError(
        severity=values.get("severity", ""),
        code=values.get("sqlstate", ""),
        message=values.get("message", ""),
        length=_message_length(values),
    )
    if "position" in values:
        error.position = values["position"]
    for attribute, name in _OPTIONAL.items():
        if attribute in values:
            setattr(error, name, values[attribute])
    error.formatted = format_error(error, script)
    return error


def _message_length(values: dict[str, str]) -> int:
    """The length field of the ErrorResponse that holds these values: itself (4 bytes), each
    field's code, value and terminator, and the closing zero byte."""
    return 4 + sum(2 + len(values[attribute].encode()) for _, attribute in _WIRE_FIELDS if attribute in values) + 1


def format_error(error: pg_pb2.PostgresError, script: str) -> str:
    """The error as postgres-meta formats it (after libpq): severity and SQLSTATE, the message,
    the line of ``script`` at the position with a caret under it, then DETAIL, HINT, QUERY and
    CONTEXT. Lines and offsets count UTF-16 code units, as postgres-meta's JavaScript does."""
    text = ""
    if error.severity:
        text += f"{error.severity}:  "
    if error.code:
        text += f"{error.code}: "
    text += error.message + "\n"
    if error.HasField("position") and error.position:
        position = int(error.position) - 1
        number, line, column = 0, "", 0
        start = 0
        for index, candidate in enumerate(script.split("\n")):
            width = _utf16_length(candidate)
            if start + width > position:
                number, line, column = index + 1, candidate, position - start
                break
            start += width + 1
        text += f"LINE {number}: {line}\n{' ' * (5 + len(str(number)) + 2 + column)}^\n"
    if error.HasField("detail") and error.detail:
        text += f"DETAIL:  {error.detail}\n"
    if error.HasField("hint") and error.hint:
        text += f"HINT:  {error.hint}\n"
    if error.HasField("internal_query") and error.internal_query:
        text += f"QUERY:  {error.internal_query}\n"
    if error.HasField("where") and error.where:
        text += f"CONTEXT:  {error.where}\n"
    return text


def _utf16_length(text: str) -> int:
    return len(text) + sum(1 for char in text if ord(char) > 0xFFFF)
