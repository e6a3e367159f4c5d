"""Page sizes and opaque cursors, the same for every list of the API."""

from __future__ import annotations

import base64
import binascii

from udb.errors import InvalidArgument

DEFAULT_LIMIT = 100
MAX_LIMIT = 1000


def page_limit(limit: int | None, *, default: int = DEFAULT_LIMIT, maximum: int = MAX_LIMIT) -> int:
    """The page size for a requested limit: the default for 0 or None, InvalidArgument past the bounds."""
    if not limit:
        return default
    if limit < 0 or limit > maximum:
        raise InvalidArgument(f"limit must be between 1 and {maximum}", details={"field": "limit"})
    return limit


def encode_cursor(position: str) -> str:
    """An opaque cursor for a position in a list."""
    return base64.urlsafe_b64encode(position.encode()).decode().rstrip("=")


def decode_cursor(cursor: str) -> str | None:
    """The position a cursor stands for; None for no cursor; InvalidArgument for a forged one."""
    if not cursor:
        return None
    try:
        return base64.b64decode(cursor + "=" * (-len(cursor) % 4), altchars=b"-_", validate=True).decode()
    except (binascii.Error, UnicodeDecodeError, ValueError):
        raise InvalidArgument("cursor is not one this API gave out", details={"field": "cursor"}) from None
