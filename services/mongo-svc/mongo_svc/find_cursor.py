"""The ``next_cursor`` of a find: the query it continues and where the next page starts, signed.

The cursor holds everything the next page needs (connection, database, collection, filter,
projection, sort, the position, and the last document's sort-key values), so any replica of
mongo-svc continues it and none keeps state for it. It is BSON (every value exact, an ObjectId
or a date as itself), base64url, and an HMAC-SHA256 tag over the caller's subject, the project
and the BSON: a cursor that was changed, or that another caller presents, is refused. The
content is readable by whoever holds the cursor: what the caller sent and the values of a
document they were sent.

The key is ``MONGO_CURSOR_KEY`` when set, else derived (HKDF-SHA256) from the secret every
replica already shares: ``JWT_SECRET``, or ``SERVICE_TOKEN`` where tokens are checked by JWKS.
Changing it ends every cursor given out before (the next page is a 400: run the query again).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
from dataclasses import dataclass
from typing import Any

import bson
import bson.errors
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from mongo_svc.ejson import CODEC_OPTIONS
from mongo_svc.settings import Settings
from udb.config import ConfigError
from udb.errors import InvalidArgument

Document = dict[str, Any]

_VERSION = 1
_TAG_BYTES = 16
#: A cursor longer than this was not made here (it would carry a filter past any URL limit).
MAX_CURSOR_CHARS = 64 * 1024
_CONTEXT = b"udb mongo-svc find cursor v1"


@dataclass(frozen=True, slots=True)
class FindQuery:
    """What a find asks for; a cursor continues exactly this."""

    database: str
    collection: str
    filter: Document
    projection: Document | None
    #: The caller's sort as given ((path, 1 | -1 | {"$meta": ...}), ...), or None.
    sort: list[tuple[str, Any]] | None


@dataclass(frozen=True, slots=True)
class FindCursor:
    """Where the next page of a find starts."""

    connection_id: str
    query: FindQuery
    #: Documents before the next page, counting the first page's skip.
    position: int
    #: The sort-key values of the last document sent (the keyset); None continues by position.
    after: list[Any] | None


def signing_key(settings: Settings) -> bytes:
    """The key every replica derives alike (see the module's docstring)."""
    secret = settings.cursor_key or settings.auth.jwt_secret or settings.auth.service_token
    if secret is None:
        raise ConfigError("MONGO_CURSOR_KEY, JWT_SECRET or SERVICE_TOKEN is required to sign cursors")
    return HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=_CONTEXT).derive(secret.reveal().encode())


def is_find_cursor(token: str) -> bool:
    """Whether a token has the shape of a find's cursor (an aggregate's has no dot)."""
    return "." in token


def _b64encode(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode().rstrip("=")


def _b64decode(text: str) -> bytes:
    return base64.b64decode(text + "=" * (-len(text) % 4), altchars=b"-_", validate=True)


def _refused(reason: str) -> InvalidArgument:
    return InvalidArgument(f"cursor refused: {reason}; run the query again", details={"field": "cursor"})


class CursorSigner:
    """Writes and reads signed find cursors."""

    def __init__(self, key: bytes) -> None:
        self._key = key

    def _tag(self, payload: bytes, subject: str, project_ref: str) -> bytes:
        message = b"\0".join((subject.encode(), project_ref.encode(), payload))
        return hmac.new(self._key, message, hashlib.sha256).digest()[:_TAG_BYTES]

    def encode(self, cursor: FindCursor, *, subject: str, project_ref: str) -> str:
        query = cursor.query
        payload = bson.encode(
            {
                "v": _VERSION,
                "c": cursor.connection_id,
                "d": query.database,
                "n": query.collection,
                "f": query.filter,
                "p": query.projection,
                "s": [list(pair) for pair in query.sort] if query.sort is not None else None,
                "o": cursor.position,
                "a": cursor.after,
            },
            codec_options=CODEC_OPTIONS,
        )
        return f"{_b64encode(payload)}.{_b64encode(self._tag(payload, subject, project_ref))}"

    def decode(self, token: str, *, subject: str, project_ref: str) -> FindCursor:
        """The cursor a token stands for; InvalidArgument for one this signer did not give this
        caller on this project."""
        if len(token) > MAX_CURSOR_CHARS or token.count(".") != 1:
            raise _refused("it is not a find cursor this API gave out")
        body, _, tag = token.partition(".")
        try:
            payload, given = _b64decode(body), _b64decode(tag)
        except (binascii.Error, ValueError):
            raise _refused("it is not a find cursor this API gave out") from None
        if not hmac.compare_digest(given, self._tag(payload, subject, project_ref)):
            raise _refused("it was not given to this caller for this project, or it was changed")
        try:
            fields = bson.decode(payload, codec_options=CODEC_OPTIONS)
            if fields["v"] != _VERSION:
                raise ValueError("another version")
            sort = fields["s"]
            return FindCursor(
                connection_id=str(fields["c"]),
                query=FindQuery(
                    database=str(fields["d"]),
                    collection=str(fields["n"]),
                    filter=dict(fields["f"]),
                    projection=fields["p"],
                    sort=[(str(path), direction) for path, direction in sort] if sort is not None else None,
                ),
                position=int(fields["o"]),
                after=fields["a"],
            )
        except (bson.errors.BSONError, KeyError, TypeError, ValueError):
            # Signed by us but not in this version's shape.
            raise _refused("it was made by another version of this service") from None
