"""Running a caller's SQL: read-only for viewers, a time limit on every statement, and a result
cut at the configured rows or bytes instead of being held whole in memory.

A script of several statements runs whole, like Postgres's simple query protocol: in one
transaction, unless it manages transactions itself (BEGIN, COMMIT...) or holds a statement that
refuses a transaction block (VACUUM, CREATE DATABASE...), in which case each statement runs on
its own as the script says. The reply holds the rows of the last statement whose result has at
least one row (postgres-meta's rule), or none.

Every statement goes through the extended protocol (one statement per Parse), so a statement can
never smuggle a second one past the checks here.
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterable, Sequence
from dataclasses import dataclass
from typing import Any, NamedTuple, cast

import asyncpg
from asyncpg.cursor import CursorFactory, CursorIterator
from asyncpg.pool import PoolConnectionProxy

from pg_svc import session
from pg_svc.pooled import lost
from pg_svc.read_limit import bounded, counter_of
from pg_svc.settings import Limits
from pg_svc.sql_errors import parameter_count_error, query_error
from pg_svc.statements import Kind, Statement, split
from pg_svc.values import encode_row
from udb.errors import InvalidArgument, PermissionDenied

#: A connection, or the pool's proxy of one.
Connection = asyncpg.Connection | PoolConnectionProxy

_COPY = re.compile(r"\s*COPY\b", re.IGNORECASE)

#: Rows fetched from a cursor per round trip.
_PREFETCH = 500


class Result(NamedTuple):
    """The rows as a JSON array, and whether they were cut."""

    rows: bytes
    row_count: int
    truncated: bool


@dataclass
class StatementError(Exception):
    """A Postgres error of the statement that starts ``offset`` characters into the script."""

    error: asyncpg.PostgresError
    offset: int


_EMPTY = Result(b"[]", 0, False)


def _latest(result: Result | None, earlier: Result) -> Result:
    """A script's reply so far: a statement's rows replace the earlier ones only when it has some."""
    return result if result is not None and (result.row_count or result.truncated) else earlier


def session_name(name: str) -> str:
    """``name`` as Postgres keeps an application_name: printable ASCII (others become "?"), at
    most 63 bytes."""
    return "".join(char if " " <= char <= "~" else "?" for char in name)[:63]


def _set_application_name(name: str) -> str:
    # An E'' literal reads the same whatever standard_conforming_strings says.
    literal = session_name(name).replace("\\", "\\\\").replace("'", "''")
    return f"SET application_name = E'{literal}'; "


class _PortalToTransactionEnd(CursorIterator):
    """asyncpg's cursor iterator, except that a portal read to its end is left for the
    transaction's end to close (COMMIT and ROLLBACK close every portal) instead of costing a
    Close round trip of its own."""

    __slots__ = ()

    async def _close_portal(self, timeout: float | None) -> None:  # noqa: ASYNC109 (asyncpg's signature)
        self._portal_name = None


def _prefetch(limits: Limits) -> int:
    """Rows fetched per round trip: no more than the row limit needs to see it passed."""
    return min(_PREFETCH, limits.max_rows + 1)


def _rows(factory: CursorFactory[asyncpg.Record], limits: Limits) -> CursorIterator[asyncpg.Record]:
    """The rows of ``factory``'s statement, fetched a batch at a time in the open transaction."""
    made = cast(Any, factory)  # the fields asyncpg's own CursorFactory.__aiter__ passes on
    return _PortalToTransactionEnd(
        made._connection, made._query, made._state, made._args, made._record_class, _prefetch(limits), limits.backstop_s
    )


async def _collect(records: AsyncIterable[asyncpg.Record], limits: Limits) -> Result:
    parts: list[bytes] = []
    size = 2
    truncated = False
    async for record in records:
        if len(parts) >= limits.max_rows:
            truncated = True
            break
        encoded = encode_row(record)
        size += len(encoded) + 1
        if size > limits.max_bytes:
            truncated = True
            break
        parts.append(encoded)
    return Result(b"[" + b",".join(parts) + b"]", len(parts), truncated)


async def run(
    connection: Connection,
    script: str,
    parameters: Sequence[Any] | None,
    *,
    read_only: bool,
    limits: Limits,
    application_name: str = "",
) -> Result:
    """Runs ``script`` on ``connection`` and returns the rows of its last statement with rows.

    A Postgres error about a statement is the caller's query error (:func:`query_error`, with the
    statement's place in the script); a script this API refuses is its own
    :class:`udb.errors.DatabaseError`. Other driver errors go to the engine's translation.
    """
    statements = split(script)
    if not statements:
        return _EMPTY
    if parameters and len(statements) > 1:
        raise InvalidArgument(
            "parameters need a single statement; this script has several", details={"field": "parameters"}
        )
    if read_only and any(s.kind is Kind.TRANSACTION_CONTROL for s in statements):
        raise PermissionDenied("a viewer's SQL runs in a read-only transaction: transaction control is not allowed")
    if read_only and any(_COPY.match(s.text) for s in statements):
        # COPY ... TO a file or a program passes Postgres's read-only check but writes on the server.
        raise PermissionDenied("a viewer's SQL may not use COPY")
    if len(statements) == 1:
        # The whole text, so that Postgres's error positions count from its start.
        statements = [Statement(script, 0, statements[0].kind)]
    # Session-wide: the cleanup below restores the configured values.
    session_setup = f"SET statement_timeout = {int(limits.statement_timeout_ms)}; " if limits.lowered else ""
    if application_name:
        session_setup += _set_application_name(application_name)
    manages_transactions = any(s.kind is not Kind.PLAIN for s in statements)
    # Taken now: a connection cut for reading too much is gone from its proxy afterwards.
    read_counter = counter_of(connection)
    try:
        if not read_only and manages_transactions:
            if session_setup:
                await connection.execute(session_setup)
            result = await _run_autocommit(connection, statements, parameters, limits=limits)
            # A transaction the script left open is rolled back, as a disconnect would.
            await session.reset(connection, "ROLLBACK; " if connection.is_in_transaction() else "", script)
            return result
        # A read-only transaction takes its snapshot at once: "SET TRANSACTION READ WRITE" is
        # refused only after the first query. It ends in a rollback: a viewer keeps nothing.
        # A viewer's connection comes already in it (pg_svc.viewer, with its check of rights).
        begin = "BEGIN READ ONLY; SELECT 1" if read_only else "BEGIN"
        for attempt in (1, 2):
            if not (read_only and connection.is_in_transaction()):
                await connection.execute(session_setup + begin)
            elif session_setup:
                await connection.execute(session_setup)
            try:
                result = await _run_in_transaction(
                    connection, statements, parameters, read_only=read_only, limits=limits
                )
            except StatementError as exc:
                # A cached statement whose table changed since: the transaction is rolled back
                # whole, so running again, freshly prepared, is safe.
                if attempt == 2 or not isinstance(exc.error, asyncpg.InvalidCachedStatementError):
                    raise
                await connection.execute("ROLLBACK")
                await connection.reload_schema_state()
                continue
            await session.reset(connection, "ROLLBACK; " if read_only else "COMMIT; ", script)
            return result
        raise AssertionError("unreachable")
    except StatementError as exc:
        await _abandon(connection, script)
        read_counter.check(limits.max_read_bytes)
        raise query_error(exc.error, script, exc.offset, read_only=read_only) from None
    except BaseException:
        await _abandon(connection, script)
        read_counter.check(limits.max_read_bytes)
        raise


async def _abandon(connection: Connection, script: str) -> None:
    """After a failure: roll back and reset, or close a connection too broken for that."""
    if lost(connection):
        return
    try:
        await session.reset(connection, "ROLLBACK; ", script)
    except Exception:  # noqa: BLE001 (whatever went wrong, this connection is not reused)
        connection.terminate()


async def _run_in_transaction(
    connection: Connection,
    statements: list[Statement],
    parameters: Sequence[Any] | None,
    *,
    read_only: bool,
    limits: Limits,
) -> Result:
    if len(statements) == 1:
        return await _single(connection, statements[0], parameters, limits)
    result = _EMPTY
    for statement in statements:
        if read_only and not connection.is_in_transaction():
            # Defence in depth: nothing may run after the read-only transaction ended.
            raise PermissionDenied("a viewer's SQL must stay in its read-only transaction")
        result = _latest(await _prepared(connection, statement, limits), result)
    return result


async def _run_autocommit(
    connection: Connection,
    statements: list[Statement],
    parameters: Sequence[Any] | None,
    *,
    limits: Limits,
) -> Result:
    if len(statements) == 1 and not connection.is_in_transaction() and statements[0].kind is not Kind.PLAIN:
        statement = statements[0]
        try:
            with bounded(counter_of(connection), limits.max_read_bytes):
                prepared = await _prepare(connection, statement, parameters, limits)
                records = await prepared.fetch(*(parameters or ()), timeout=limits.backstop_s)
        except asyncpg.PostgresError as exc:
            raise StatementError(exc, statement.offset) from None
        return await _collect(_iterate(records), limits)
    result = _EMPTY
    for statement in statements:
        if statement.kind is Kind.PLAIN and not connection.is_in_transaction():
            # A cursor lives in a transaction: give this statement one of its own.
            async with connection.transaction():
                result = _latest(await _prepared(connection, statement, limits), result)
        else:
            rows = await _prepared(connection, statement, limits, cursor=connection.is_in_transaction())
            result = _latest(rows, result)
    return result


async def _iterate(records: list[asyncpg.Record]) -> AsyncIterable[asyncpg.Record]:
    for record in records:
        yield record


async def _prepare(
    connection: Connection, statement: Statement, parameters: Sequence[Any] | None, limits: Limits
) -> asyncpg.prepared_stmt.PreparedStatement:
    """``statement`` prepared, once its placeholders and the parameters given agree. A statement
    with placeholders but no parameters gets Postgres's own error ("there is no parameter $1"),
    as postgres-meta's simple-protocol query does."""
    prepared = await connection.prepare(statement.text, timeout=limits.backstop_s)
    expected = len(prepared.get_parameters())
    given = len(parameters or ())
    if expected != given:
        if not given:
            await connection.execute(statement.text, timeout=limits.backstop_s)
        raise parameter_count_error(given, expected)
    return prepared


async def _single(
    connection: Connection, statement: Statement, parameters: Sequence[Any] | None, limits: Limits
) -> Result:
    """One statement in a transaction, its rows from a cursor. Each parameter goes as text,
    converted as node-postgres converts it (pg_svc.values)."""
    try:
        with bounded(counter_of(connection), limits.max_read_bytes):
            if parameters or "$" in statement.text:
                prepared = await _prepare(connection, statement, parameters, limits)
                return await _collect(_rows(prepared.cursor(*(parameters or ())), limits), limits)
            # Without placeholders, through the connection's statement cache.
            return await _collect(_rows(connection.cursor(statement.text), limits), limits)
    except asyncpg.PostgresError as exc:
        raise StatementError(exc, statement.offset) from None


async def _prepared(
    connection: Connection, statement: Statement, limits: Limits, *, cursor: bool = True
) -> Result | None:
    """One statement of a script; None when it returns no row set."""
    try:
        with bounded(counter_of(connection), limits.max_read_bytes):
            prepared = await _prepare(connection, statement, None, limits)
            if not prepared.get_attributes():
                await prepared.fetch(timeout=limits.backstop_s)
                return None
            if cursor:
                return await _collect(prepared.cursor(prefetch=_prefetch(limits), timeout=limits.backstop_s), limits)
            return await _collect(_iterate(await prepared.fetch(timeout=limits.backstop_s)), limits)
    except asyncpg.PostgresError as exc:
        raise StatementError(exc, statement.offset) from None
