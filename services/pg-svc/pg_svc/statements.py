"""Splitting a SQL script into its statements, and what each statement needs to run.

The split uses Postgres's own parser (libpg_query, through pglast), so quotes, dollar quotes,
comments and ``BEGIN ATOMIC`` bodies are never cut. A script the parser rejects is run as one
statement, so that Postgres itself reports the error, with its position.
"""

from __future__ import annotations

import enum
import functools
import re
from dataclasses import dataclass

import pglast
from pglast.parser import ParseError


class Kind(enum.Enum):
    """How a statement must be run."""

    #: Any statement that runs inside a transaction block (SELECT, DML, most DDL).
    PLAIN = "plain"
    #: BEGIN, COMMIT, ROLLBACK, SAVEPOINT...: the script manages its own transactions.
    TRANSACTION_CONTROL = "transaction_control"
    #: VACUUM, CREATE DATABASE, CREATE INDEX CONCURRENTLY, CALL, DO...: refuses a transaction
    #: block, or may commit by itself.
    OUTSIDE_TRANSACTION = "outside_transaction"


@dataclass(frozen=True, slots=True)
class Statement:
    text: str
    #: Characters before the statement in the script (to place Postgres's error positions).
    offset: int
    kind: Kind


_TRANSACTION_CONTROL = re.compile(
    r"(BEGIN|START\s+TRANSACTION|COMMIT|END|ROLLBACK|ABORT|SAVEPOINT|RELEASE|PREPARE\s+TRANSACTION)\b",
    re.IGNORECASE,
)
_OUTSIDE_TRANSACTION = re.compile(
    r"(VACUUM|CALL|DO|CLUSTER|REINDEX|DISCARD|ALTER\s+SYSTEM"
    r"|(CREATE|DROP|ALTER)\s+(DATABASE|TABLESPACE|SUBSCRIPTION)"
    r"|CREATE\s+(UNIQUE\s+)?INDEX\s+CONCURRENTLY|DROP\s+INDEX\s+CONCURRENTLY)\b",
    re.IGNORECASE,
)


def kind_of(text: str) -> Kind:
    """The kind of one statement, from its leading keywords."""
    if _TRANSACTION_CONTROL.match(text):
        return Kind.TRANSACTION_CONTROL
    if _OUTSIDE_TRANSACTION.match(text):
        return Kind.OUTSIDE_TRANSACTION
    return Kind.PLAIN


def split(script: str) -> list[Statement]:
    """The statements of a script, in order (none for an empty or comment-only script)."""
    if ";" not in script and "--" not in script and "/*" not in script:
        # One statement or none: no need to parse (the common case, and the hot path).
        stripped = script.strip()
        return [Statement(script, 0, kind_of(stripped))] if stripped else []
    if len(script) <= _CACHED_SCRIPT_CHARS:
        return list(_parsed_cached(script))
    return list(_parsed(script))


#: Scripts up to this size keep their split in a bounded cache (a console repeats its queries):
#: at most _CACHED_SCRIPTS of them, a few MiB.
_CACHED_SCRIPT_CHARS = 4096
_CACHED_SCRIPTS = 512


def _parsed(script: str) -> tuple[Statement, ...]:
    try:
        slices = pglast.split(script, only_slices=True)
    except ParseError:
        stripped = script.strip()
        return (Statement(script, 0, kind_of(stripped)),) if stripped else ()
    return tuple(
        Statement(script[part], part.start or 0, kind_of(script[part])) for part in slices if isinstance(part, slice)
    )


_parsed_cached = functools.lru_cache(maxsize=_CACHED_SCRIPTS)(_parsed)
