"""Bulk delete by pattern, in two steps.

The preview counts the matching keys (a full SCAN), shows a sample, and gives a token: an HMAC
over the pattern, the connection record, the caller and an expiry a few minutes away. The delete
runs only with a token that matches all four, then walks SCAN and UNLINKs what matches in
batches, reporting progress after each; the caller stops it by cancelling the stream (the batch
under way finishes, nothing after it runs). None of RedisInsight, redis-cli or Compass asks for a
confirmation bound this way.

The HMAC key is derived from the deployment's shared secret (the JWT secret, else the service
token), so that any replica of redis-svc accepts a token another one gave.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
import time
from collections.abc import AsyncIterator
from typing import Any

from redis_svc.clients import RedisHandle
from redis_svc.explorer.nodes import Nodes
from redis_svc.explorer.tree import check_limit
from redis_svc.inputs import check_pattern
from redis_svc.settings import Settings
from udb.errors import InvalidArgument, PermissionDenied
from udb.redis.v1 import explorer_pb2

TOKEN_TTL_S = 300
DEFAULT_SAMPLE = 20
MAX_SAMPLE = 100
DEFAULT_BATCH = 500
MAX_BATCH = 1000
#: SCAN's COUNT per step.
STEP = 1000
_LABEL = b"udb redis-svc bulk delete v1"


def token_key(settings: Settings) -> bytes:
    """The HMAC key of confirm tokens (a random one, good for this process only, when the
    deployment has no shared secret)."""
    secret = settings.auth.jwt_secret or settings.auth.service_token
    if secret is None:
        return os.urandom(32)
    return hmac.new(secret.reveal().encode(), _LABEL, hashlib.sha256).digest()


def check_delete_pattern(pattern: bytes) -> bytes:
    if not pattern:
        raise InvalidArgument("pattern is required (give * to delete every key)", details={"field": "pattern"})
    return check_pattern(pattern)


def _mac(key: bytes, pattern: bytes, connection_id: str, user: str, expires_at: int) -> str:
    message = b"\x00".join((pattern, connection_id.encode(), user.encode(), str(expires_at).encode()))
    digest = hmac.new(key, message, hashlib.sha256).digest()
    return base64.urlsafe_b64encode(digest).decode().rstrip("=")


def make_token(
    key: bytes, pattern: bytes, connection_id: str, user: str, *, now: float | None = None
) -> tuple[str, int]:
    expires_at = int(now if now is not None else time.time()) + TOKEN_TTL_S
    return f"{expires_at}.{_mac(key, pattern, connection_id, user, expires_at)}", expires_at


def check_token(key: bytes, token: str, pattern: bytes, connection_id: str, user: str) -> None:
    """PERMISSION_DENIED unless ``token`` is this preview's, unexpired; INVALID_ARGUMENT when absent."""
    if not token:
        raise InvalidArgument("token is required: preview the delete first", details={"field": "token"})
    expiry, _, mac = token.partition(".")
    if not expiry.isdigit() or not mac:
        raise PermissionDenied("the confirm token is not one this service gave")
    expected = _mac(key, pattern, connection_id, user, int(expiry))
    if not hmac.compare_digest(mac.encode(), expected.encode()):
        raise PermissionDenied("the confirm token is not for this pattern, connection and user")
    if int(expiry) < time.time():
        raise PermissionDenied("the confirm token has expired: preview the delete again")


async def preview(handle: RedisHandle, pattern: bytes, sample_size: int) -> tuple[int, list[bytes]]:
    """How many keys match now, and the first ``sample_size`` of them."""
    nodes = await Nodes.of(handle)
    matched, cursor = 0, ""
    sample: list[bytes] = []
    while True:
        keys, cursor = await nodes.scan(cursor, pattern, STEP)
        matched += len(keys)
        sample += keys[: max(0, sample_size - len(sample))]
        if cursor == "0":
            return matched, sample


async def delete(handle: RedisHandle, pattern: bytes, batch_size: int) -> AsyncIterator[explorer_pb2.DeleteProgress]:
    """UNLINKs the keys that match, a batch at a time, with progress after each batch."""
    nodes = await Nodes.of(handle)
    scanned = deleted = 0
    pending: list[bytes] = []
    cursor = ""
    yield explorer_pb2.DeleteProgress()
    while True:
        keys, cursor = await nodes.scan(cursor, pattern, STEP)
        scanned += len(keys)
        pending += keys
        while len(pending) >= batch_size or (cursor == "0" and pending):
            batch, pending = pending[:batch_size], pending[batch_size:]
            deleted += await _unlink(handle, batch)
            yield explorer_pb2.DeleteProgress(scanned=scanned, deleted=deleted)
        if cursor == "0":
            yield explorer_pb2.DeleteProgress(scanned=scanned, deleted=deleted, done=True)
            return


async def _unlink(handle: RedisHandle, keys: list[bytes]) -> int:
    if not handle.cluster:
        return int(await handle.ops.execute_command(b"UNLINK", *keys))
    # A cluster's keys of one batch may sit in many slots: one UNLINK per key, pipelined (the
    # cluster pipeline sends each to its node).
    async with handle.ops.pipeline(transaction=False) as pipe:
        for key in keys:
            pipe.execute_command("UNLINK", key)
        replies: list[Any] = await pipe.execute()
    return sum(int(reply) for reply in replies)


def sizes(sample_size: int, batch_size: int) -> tuple[int, int]:
    return (
        check_limit(sample_size, default=DEFAULT_SAMPLE, maximum=MAX_SAMPLE, field="sample_size"),
        check_limit(batch_size, default=DEFAULT_BATCH, maximum=MAX_BATCH, field="batch_size"),
    )
