"""Every value crosses the wire as Postgres text, read and written by :mod:`pg_svc.values`.

asyncpg decodes most types from their binary form into Python objects and builds the codecs of
a type it has not met by querying the catalogue; its public ``set_type_codec`` cannot make a
record, composite, range or array travel as text. postgres-meta's typing needs each value's text
(a record is its text form, an enum array its literal), so every connection here gets a text
codec for every type: the builtin ones when the connection opens, any other the first time a
statement shows it, in place of asyncpg's introspection (a new type costs no query either).
Both go through asyncpg's codec registry (``ConnectionSettings.add_python_codec``, the call that
``set_type_codec`` makes itself); tests/unit/test_pg_values.py pins that it still works.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, cast

import asyncpg
from asyncpg.protocol import protocol as asyncpg_protocol

from pg_svc import read_limit
from pg_svc.values import DECODERS, decoder_for, to_text

#: The types asyncpg has codecs of its own for, and those with a decoder of ours.
BUILTIN_OIDS: frozenset[int] = frozenset(asyncpg_protocol.BUILTIN_TYPE_OID_MAP) | frozenset(DECODERS)


class _NoQuery:
    """What asyncpg expects back from its introspection: the statement it ran. None ran, so the
    statement being prepared needs no second Parse (asyncpg re-prepares after an anonymous one)."""

    name = "udb-text-codecs"


class TextConnection(asyncpg.Connection):
    """An asyncpg connection on which every type is exchanged as text (see the module's docstring),
    its received bytes counted for :func:`pg_svc.read_limit.bounded`."""

    def __init__(self, protocol: Any, transport: Any, *args: Any, **kwargs: Any) -> None:
        try:
            super().__init__(protocol, transport, *args, **kwargs)
        except BaseException:
            # A server that answers with a version asyncpg cannot parse fails __init__ half way,
            # and asyncpg leaves its socket open: close it, and let __del__ know it is closed.
            transport.abort()
            self._aborted = True
            self._source_traceback = None
            raise
        self.read_counter = read_limit.attach(protocol, transport)

    async def _introspect_types(self, typeoids: Iterable[int], timeout: float | None) -> tuple[list[Any], Any]:  # noqa: ASYNC109 (asyncpg's signature)
        register(self, typeoids)
        return [], _NoQuery()


def register(connection: asyncpg.Connection, oids: Iterable[int]) -> None:
    """Text codecs for ``oids`` on ``connection``: parameters through :func:`to_text`, results
    through the type's decoder."""
    settings = cast(Any, connection)._protocol.get_settings()
    for oid in oids:
        settings.add_python_codec(oid, f"oid{oid}", "pg_catalog", [], "scalar", to_text, decoder_for(oid), "text")


async def setup(connection: asyncpg.Connection) -> None:
    """The pool's ``init``: text codecs for the builtin types, before any statement."""
    register(connection, BUILTIN_OIDS)
