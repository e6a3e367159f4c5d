"""What every write handler receives."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True, slots=True)
class Write:
    """One write: the key of the object it changes (empty for creates), postgres-meta's request
    body as a JSON value, and the delete's ``cascade``."""

    key: str
    body: Any
    cascade: bool = False


def drop_mode(write: Write) -> str:
    return "CASCADE" if write.cascade else "RESTRICT"
