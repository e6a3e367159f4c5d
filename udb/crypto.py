"""AES-256-GCM for secrets at rest.

Each encryption takes a fresh 96-bit nonce; the caller binds the record's id in as associated
data, so a ciphertext copied to another row fails to decrypt. Each ciphertext is stored with the
id of its key (a fingerprint, not the key), so an old key can be kept for reading while every
record is moved to the new one, and then dropped.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import os
from collections.abc import Mapping

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from udb.config import ConfigError, Secret

NONCE_BYTES = 12
KEY_BYTES = 32


class DecryptionError(Exception):
    """A ciphertext that does not open: wrong key, wrong record, or tampered."""


def parse_key(value: Secret, name: str) -> bytes:
    """A 32-byte key from its base64 text; ConfigError naming the variable otherwise."""
    text = value.reveal().strip()
    try:
        key = base64.b64decode(text + "=" * (-len(text) % 4), altchars=b"-_" if ("-" in text or "_" in text) else None)
    except (binascii.Error, ValueError):
        raise ConfigError(f"{name} must be base64 of 32 random bytes (it is not valid base64)") from None
    if len(key) != KEY_BYTES:
        raise ConfigError(f"{name} must be base64 of 32 random bytes (it decodes to {len(key)} bytes)")
    return key


def key_id(key: bytes) -> str:
    """A stable, non-secret name for a key."""
    return hashlib.sha256(b"udb-key-id:" + key).hexdigest()[:16]


def generate_key() -> str:
    """A new key, as base64 text for DATABASE_ENCRYPTION_KEY."""
    return base64.b64encode(os.urandom(KEY_BYTES)).decode()


class SecretBox:
    """Encrypts with the current key; decrypts with any configured key, chosen by key id."""

    def __init__(self, current: bytes, *, previous: tuple[bytes, ...] = ()) -> None:
        self.current_key_id = key_id(current)
        self._ciphers: Mapping[str, AESGCM] = {key_id(k): AESGCM(k) for k in (*previous, current)}
        self._current = self._ciphers[self.current_key_id]

    @classmethod
    def from_settings(cls, current: Secret | None, previous: Secret | None = None) -> SecretBox:
        if current is None:
            raise ConfigError("DATABASE_ENCRYPTION_KEY is required (base64 of 32 random bytes)")
        old = (parse_key(previous, "DATABASE_ENCRYPTION_KEY_OLD"),) if previous is not None else ()
        return cls(parse_key(current, "DATABASE_ENCRYPTION_KEY"), previous=old)

    @property
    def key_ids(self) -> frozenset[str]:
        return frozenset(self._ciphers)

    def encrypt(self, plaintext: str, *, associated_data: bytes) -> tuple[bytes, str]:
        """``nonce || ciphertext`` and the id of the key that made it."""
        nonce = os.urandom(NONCE_BYTES)
        sealed = self._current.encrypt(nonce, plaintext.encode(), associated_data)
        return nonce + sealed, self.current_key_id

    def decrypt(self, blob: bytes, *, key_id: str, associated_data: bytes) -> str:
        cipher = self._ciphers.get(key_id)
        if cipher is None:
            raise DecryptionError(f"no configured key has id {key_id}")
        try:
            return cipher.decrypt(blob[:NONCE_BYTES], blob[NONCE_BYTES:], associated_data).decode()
        except InvalidTag:
            raise DecryptionError("ciphertext does not open with its key and record") from None
