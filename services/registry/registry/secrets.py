"""Sealing and opening the platform's secrets, each bound to the row that holds it."""

from __future__ import annotations

import json
import logging

import asyncpg

from udb.crypto import DecryptionError, SecretBox
from udb.errors import Internal

log = logging.getLogger("registry.secrets")


def connection_aad(connection_id: str) -> bytes:
    """Associated data of a connection record's secret: a copy in another row will not open."""
    return f"platform.database_connections:{connection_id}".encode()


def credential_aad(project_id: str, column: str) -> bytes:
    return f"platform.credentials:{project_id}:{column}".encode()


def seal_connection_secret(box: SecretBox, connection_id: str, password: str | None) -> tuple[bytes | None, str | None]:
    """The stored form of a record's secret document, or (None, None) when it has no password."""
    if password is None:
        return None, None
    return box.encrypt(json.dumps({"password": password}), associated_data=connection_aad(connection_id))


def open_connection_secret(box: SecretBox, row: asyncpg.Record) -> str:
    """A record's password ("" when it has none)."""
    if row["secret_encrypted"] is None:
        return ""
    try:
        document = box.decrypt(
            row["secret_encrypted"],
            key_id=row["secret_key_id"],
            associated_data=connection_aad(str(row["id"])),
        )
    except DecryptionError:
        log.error("a connection secret does not open", extra={"connection_id": str(row["id"])})
        raise Internal("the connection's secret cannot be read") from None
    password: str = json.loads(document)["password"]
    return password


async def rotate_keys(pool: asyncpg.Pool, box: SecretBox, *, batch: int = 100) -> int:
    """Re-encrypts every secret not sealed with the current key; returns how many were moved.

    Each row moves in its own short transaction, so the registry keeps serving meanwhile; run
    it again after a failure and it picks up where it stopped.
    """
    moved = 0
    current = box.current_key_id
    while True:
        async with pool.acquire() as conn, conn.transaction():
            rows = await conn.fetch(
                """
                SELECT id, secret_encrypted, secret_key_id FROM platform.database_connections
                WHERE secret_key_id IS NOT NULL AND secret_key_id <> $1
                ORDER BY id LIMIT $2 FOR UPDATE SKIP LOCKED
                """,
                current,
                batch,
            )
            for row in rows:
                aad = connection_aad(str(row["id"]))
                plaintext = box.decrypt(row["secret_encrypted"], key_id=row["secret_key_id"], associated_data=aad)
                sealed, key_id = box.encrypt(plaintext, associated_data=aad)
                await conn.execute(
                    "UPDATE platform.database_connections SET secret_encrypted = $2, secret_key_id = $3 WHERE id = $1",
                    row["id"],
                    sealed,
                    key_id,
                )
            credentials = await conn.fetch(
                """
                SELECT project_id, service_role_key_encrypted, jwt_secret_encrypted, key_id
                FROM platform.credentials WHERE key_id <> $1 ORDER BY project_id LIMIT $2 FOR UPDATE SKIP LOCKED
                """,
                current,
                batch,
            )
            for row in credentials:
                project_id = str(row["project_id"])
                values = []
                for column in ("service_role_key_encrypted", "jwt_secret_encrypted"):
                    aad = credential_aad(project_id, column)
                    plaintext = box.decrypt(row[column], key_id=row["key_id"], associated_data=aad)
                    values.append(box.encrypt(plaintext, associated_data=aad)[0])
                await conn.execute(
                    """
                    UPDATE platform.credentials
                    SET service_role_key_encrypted = $2, jwt_secret_encrypted = $3, key_id = $4, updated_at = now()
                    WHERE project_id = $1
                    """,
                    row["project_id"],
                    values[0],
                    values[1],
                    current,
                )
        moved += len(rows) + len(credentials)
        if not rows and not credentials:
            return moved
