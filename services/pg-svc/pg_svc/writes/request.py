"""What every write handler receives, and the handler of a drop."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from pg_svc.ddl import Change


@dataclass(frozen=True, slots=True)
class Write:
    """One write: the key of the object it changes (empty for creates), postgres-meta's request
    body as a JSON value, and the delete's ``cascade``."""

    key: str
    body: Any
    cascade: bool = False


def drop_mode(write: Write) -> str:
    return "CASCADE" if write.cascade else "RESTRICT"


Handler = Callable[[Change, Write], Awaitable[str]]


def drop(kind: int, template: str, *fields: str, cascade: bool = True) -> Handler:
    """A delete as postgres-meta makes it: the object as it is (the reply), then ``template`` over
    its ``fields``, with CASCADE or RESTRICT from the request when ``cascade``."""

    async def handler(change: Change, write: Write) -> str:
        text, old = await change.object_fields(kind, write.key)
        change.add(f"{template} {drop_mode(write)}" if cascade else template, *(old[field] for field in fields))
        await change.run()
        return text

    return handler
