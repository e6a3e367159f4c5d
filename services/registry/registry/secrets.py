"""Sealing and opening the platform's secrets, each bound to the row that holds it."""

from __future__ import annotations

import json
import logging
import re
from dataclasses import dataclass, field
from typing import Any

import asyncpg

from udb.crypto import DecryptionError, SecretBox
from udb.errors import Internal

log = logging.getLogger("registry.secrets")


def connection_aad(connection_id: str) -> bytes:
    """Associated data of a connection record's secret: a copy in another row will not open."""
    return f"platform.database_connections:{connection_id}".encode()


def credential_aad(project_id: str, column: str) -> bytes:
    return f"platform.credentials:{project_id}:{column}".encode()


@dataclass(frozen=True)
class ConnectionSecret:
    """A record's secret document: its password and the options that hold secrets."""

    password: str | None = None
    options: dict[str, Any] = field(default_factory=dict)

    def __repr__(self) -> str:  # never print the secrets
        return f"ConnectionSecret(password={'***' if self.password else None}, options={sorted(self.options)})"


def seal_connection_secret(
    box: SecretBox, connection_id: str, secret: ConnectionSecret
) -> tuple[bytes | None, str | None]:
    """The stored form of a record's secret document, or (None, None) when it holds nothing."""
    if secret.password is None and not secret.options:
        return None, None
    document: dict[str, Any] = {"password": secret.password}
    if secret.options:
        document["options"] = secret.options
    return box.encrypt(json.dumps(document), associated_data=connection_aad(connection_id))


def open_connection_secret(box: SecretBox, row: asyncpg.Record) -> ConnectionSecret:
    """A record's secret document (empty when it has none)."""
    if row["secret_encrypted"] is None:
        return ConnectionSecret()
    try:
        document = box.decrypt(
            row["secret_encrypted"],
            key_id=row["secret_key_id"],
            associated_data=connection_aad(str(row["id"])),
        )
    except DecryptionError:
        log.error("a connection secret does not open", extra={"connection_id": str(row["id"])})
        raise Internal("the connection's secret cannot be read") from None
    parsed = json.loads(document)
    return ConnectionSecret(password=parsed.get("password"), options=dict(parsed.get("options") or {}))


async def seal_secret_options(pool: asyncpg.Pool, box: SecretBox, pattern: str) -> int:
    """Moves options whose names match ``pattern`` (names that say password, secret or token)
    out of the stored options of records written before such options were sealed, into each
    record's secret document; returns how many records changed. Run at the registry's start."""
    moved = 0
    async with pool.acquire() as conn, conn.transaction():
        rows = await conn.fetch(
            """
            SELECT id, options::text AS options, secret_encrypted, secret_key_id FROM platform.database_connections c
            WHERE EXISTS (SELECT 1 FROM jsonb_object_keys(c.options) AS k WHERE k ~* $1)
            FOR UPDATE
            """,
            pattern,
        )
        regex = re.compile(pattern, re.IGNORECASE)
        for row in rows:
            options: dict[str, Any] = json.loads(row["options"])
            secret_options = {key: options.pop(key) for key in list(options) if regex.search(key)}
            try:
                stored = open_connection_secret(box, row)
            except Internal:
                continue  # sealed with a key not configured: report_keys says which; left as it is
            secret = ConnectionSecret(stored.password, {**secret_options, **stored.options})
            sealed, key_id = seal_connection_secret(box, str(row["id"]), secret)
            await conn.execute(
                "UPDATE platform.database_connections SET options = $2::jsonb, secret_encrypted = $3, "
                "secret_key_id = $4 WHERE id = $1",
                row["id"],
                json.dumps(options),
                sealed,
                key_id,
            )
            moved += 1
    if moved:
        log.info("sealed secret options stored in the clear", extra={"connections": moved})
    return moved


class KeyRotationError(Exception):
    """Some secrets could not be opened with the configured keys; the message says which keys."""


async def rotate_keys(pool: asyncpg.Pool, box: SecretBox, *, batch: int = 100) -> int:
    """Re-encrypts every secret not sealed with the current key; returns how many were moved.

    Each batch moves in its own short transaction, so the registry keeps serving meanwhile; run
    it again after a failure and it picks up where it stopped. A record that opens with none of
    the configured keys is left as it is, and reported at the end (KeyRotationError), after
    every other record has been moved.
    """
    moved = 0
    current = box.current_key_id
    # Records that do not open, by key id: skipped on the next batches, reported at the end.
    failed: dict[str, int] = {}
    failed_connections: list[object] = []
    failed_projects: list[object] = []
    while True:
        async with pool.acquire() as conn, conn.transaction():
            rows = await conn.fetch(
                """
                SELECT id, secret_encrypted, secret_key_id FROM platform.database_connections
                WHERE secret_key_id IS NOT NULL AND secret_key_id <> $1 AND NOT (id = ANY($3::uuid[]))
                ORDER BY id LIMIT $2 FOR UPDATE SKIP LOCKED
                """,
                current,
                batch,
                failed_connections,
            )
            for row in rows:
                aad = connection_aad(str(row["id"]))
                try:
                    plaintext = box.decrypt(row["secret_encrypted"], key_id=row["secret_key_id"], associated_data=aad)
                except DecryptionError:
                    failed_connections.append(row["id"])
                    failed[row["secret_key_id"]] = failed.get(row["secret_key_id"], 0) + 1
                    continue
                sealed, key_id = box.encrypt(plaintext, associated_data=aad)
                await conn.execute(
                    "UPDATE platform.database_connections SET secret_encrypted = $2, secret_key_id = $3 WHERE id = $1",
                    row["id"],
                    sealed,
                    key_id,
                )
                moved += 1
            credentials = await conn.fetch(
                """
                SELECT project_id, service_role_key_encrypted, jwt_secret_encrypted, key_id
                FROM platform.credentials WHERE key_id <> $1 AND NOT (project_id = ANY($3::uuid[]))
                ORDER BY project_id LIMIT $2 FOR UPDATE SKIP LOCKED
                """,
                current,
                batch,
                failed_projects,
            )
            for row in credentials:
                project_id = str(row["project_id"])
                values = []
                try:
                    for column in ("service_role_key_encrypted", "jwt_secret_encrypted"):
                        aad = credential_aad(project_id, column)
                        plaintext = box.decrypt(row[column], key_id=row["key_id"], associated_data=aad)
                        values.append(box.encrypt(plaintext, associated_data=aad)[0])
                except DecryptionError:
                    failed_projects.append(row["project_id"])
                    failed[row["key_id"]] = failed.get(row["key_id"], 0) + 2
                    continue
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
                moved += 2
        if not rows and not credentials:
            break
    if failed:
        described = ", ".join(f"{count} with key id {key}" for key, count in sorted(failed.items()))
        raise KeyRotationError(
            f"{sum(failed.values())} secrets do not open with the configured keys ({described}); "
            f"{moved} others were moved. Set DATABASE_ENCRYPTION_KEY_OLD to the key they were sealed "
            "with and run rotate-keys again; do not drop that key before."
        )
    return moved


_KEYS_IN_USE = """
    SELECT secret_key_id AS key_id, count(*) AS secrets FROM platform.database_connections
    WHERE secret_key_id IS NOT NULL GROUP BY 1
    UNION ALL
    SELECT key_id, 2 * count(*) FROM platform.credentials GROUP BY 1
"""


async def report_keys(pool: asyncpg.Pool, box: SecretBox) -> None:
    """Says, at start, whether every stored secret opens with the configured keys, and when the
    old key is no longer needed."""
    in_use: dict[str, int] = {}
    for row in await pool.fetch(_KEYS_IN_USE):
        in_use[row["key_id"]] = in_use.get(row["key_id"], 0) + int(row["secrets"])
    for unknown in sorted(set(in_use) - box.key_ids):
        log.error(
            "stored secrets are sealed with a key that is not configured: set it as "
            "DATABASE_ENCRYPTION_KEY_OLD and run `python -m registry rotate-keys`",
            extra={"key_id": unknown, "secrets": in_use[unknown]},
        )
    old = box.key_ids - {box.current_key_id}
    if old and not old & set(in_use):
        log.info("no stored secret uses DATABASE_ENCRYPTION_KEY_OLD any more: it can be dropped")
    elif old & set(in_use):
        log.info(
            "secrets still use DATABASE_ENCRYPTION_KEY_OLD: run `python -m registry rotate-keys`",
            extra={"secrets": sum(in_use[k] for k in old & set(in_use))},
        )
