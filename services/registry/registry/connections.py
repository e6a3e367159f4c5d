"""Connection records: their specs, their sealed secrets, and the one path that stores them.

A create and an update differ only in what the request is laid over (nothing, or the stored
record) and in where the secret comes from: both end in :meth:`Connections._store_record`, one
statement that inserts a new record or rewrites an existing one.
"""

from __future__ import annotations

import json
import logging
import uuid
from dataclasses import dataclass, replace
from typing import Any

import asyncpg
from google.protobuf import json_format, struct_pb2

from registry import audit, connspec
from registry.access import project_for
from registry.secrets import ConnectionSecret, open_connection_secret, seal_connection_secret
from registry.store import Connection, Executor, Store, database_errors, timestamp
from udb.auth import current_principal
from udb.common.v1 import common_pb2
from udb.crypto import SecretBox
from udb.dialing import DialGuard
from udb.engines import DB_TYPE_BY_NAME, DB_TYPE_NAMES
from udb.errors import AlreadyExists, InvalidArgument, NotFound, PermissionDenied
from udb.paging import decode_cursor, encode_cursor, page_limit
from udb.registry.v1 import registry_pb2

log = logging.getLogger("registry")

Role = common_pb2.Role

COLUMNS = """
    c.id, c.project_id, p.ref AS project_ref, c.database_type::text AS database_type, c.identifier, c.host,
    c.port, c.username, c.database, c.tls, c.options::text AS options, c.secret_encrypted, c.secret_key_id,
    c.has_password, c.is_primary, c.status, c.created_at, c.updated_at
"""
_FROM = "FROM platform.database_connections c JOIN platform.projects p ON p.id = c.project_id"

_PAGE = f"""
    SELECT {COLUMNS} {_FROM}
    WHERE c.project_id = $1 AND ($2 = '' OR c.database_type::text = $2)
      AND (c.database_type::text, c.identifier) > ($3, $4)
    ORDER BY c.database_type::text, c.identifier LIMIT $5
"""
_ONE = f"""
    SELECT {COLUMNS} {_FROM}
    WHERE c.project_id = $1 AND c.id = $2 AND ($3 = '' OR c.database_type::text = $3)
"""
_BY_ID = f"SELECT {COLUMNS} {_FROM} WHERE p.ref = $1 AND c.id = $2 AND c.database_type = $3"
_PRIMARY = f"SELECT {COLUMNS} {_FROM} WHERE p.ref = $1 AND c.database_type = $2 AND c.is_primary"
_HAS_PRIMARY = (
    "SELECT EXISTS (SELECT 1 FROM platform.database_connections "
    "WHERE project_id = $1 AND database_type = $2 AND is_primary)"
)
# A rewrite resets the status (the record may point somewhere else now); the triggers announce
# an insert and any rewrite but a status-only one (migrations 003 and 004).
_STORE = """
    INSERT INTO platform.database_connections
      (id, project_id, database_type, identifier, host, port, username, database, tls, options,
       secret_encrypted, secret_key_id, is_primary, has_password)
    VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10::jsonb, $11, $12, $13, $14)
    ON CONFLICT (id) DO UPDATE SET
      identifier = excluded.identifier, host = excluded.host, port = excluded.port,
      username = excluded.username, database = excluded.database, tls = excluded.tls,
      options = excluded.options, secret_encrypted = excluded.secret_encrypted,
      secret_key_id = excluded.secret_key_id, is_primary = excluded.is_primary,
      has_password = excluded.has_password, status = 'unknown', updated_at = now()
"""
_DELETE = "DELETE FROM platform.database_connections WHERE id = $1"


@dataclass(frozen=True, slots=True)
class SealedSecret:
    """A record's secret as stored: sealed, the key that sealed it, and whether it holds a password."""

    sealed: bytes | None
    key_id: str | None
    has_password: bool


def parse_uuid(value: str) -> uuid.UUID:
    try:
        return uuid.UUID(value)
    except ValueError:
        raise NotFound("connection not found") from None


def _target_fields(row: asyncpg.Record) -> dict[str, Any]:
    """The columns a record's spec and its message share: its engine and where it points."""
    return {
        "database_type": DB_TYPE_BY_NAME[row["database_type"]],
        **{column: row[column] for column in ("host", "port", "username", "database", "tls")},
    }


def row_spec(row: asyncpg.Record) -> connspec.ConnectionSpec:
    """The stored record as a spec, without its secret."""
    return connspec.ConnectionSpec(**_target_fields(row), options=json.loads(row["options"]))


def connection_message(row: asyncpg.Record) -> registry_pb2.Connection:
    """The record as the API shows it: never its secret."""
    options = struct_pb2.Struct()
    # Secrets are never in the stored options; a record written before they were sealed is
    # shown without them too (the registry seals them at its start).
    options.update(connspec.split_secret_options(json.loads(row["options"]))[0])
    return registry_pb2.Connection(
        **_target_fields(row),
        id=str(row["id"]),
        project_id=str(row["project_id"]),
        project_ref=row["project_ref"],
        identifier=row["identifier"],
        options=options,
        is_primary=row["is_primary"],
        status=row["status"],
        has_password=row["has_password"],
        created_at=timestamp(row["created_at"]),
        updated_at=timestamp(row["updated_at"]),
    )


async def connection_row(
    db: Executor,
    project_id: uuid.UUID,
    database_type: common_pb2.DatabaseType,
    connection_id: str,
    *,
    lock: bool = False,
) -> asyncpg.Record:
    """A project's record (of that engine, unless unspecified); NotFound when it has none."""
    query = f"{_ONE} FOR UPDATE OF c" if lock else _ONE
    row = await db.fetchrow(query, project_id, parse_uuid(connection_id), DB_TYPE_NAMES.get(database_type, ""))
    if row is None:
        raise NotFound("connection not found")
    return row


async def audit_record(conn: Connection, row: asyncpg.Record, operation: str, *, outcome: str = "ok") -> None:
    """Audits an operation on a stored record (``connection.create``, ``connection.test``, ...)."""
    await audit.record(
        conn,
        row["project_ref"],
        operation,
        target=row["identifier"],
        engine=row["database_type"],
        connection_id=str(row["id"]),
        outcome=outcome,
    )


def _log_fields(row: asyncpg.Record) -> dict[str, str]:
    return {"connection_id": str(row["id"]), "project_ref": row["project_ref"], "engine": row["database_type"]}


def _conflict(exc: asyncpg.UniqueViolationError, engine: str, identifier: str) -> AlreadyExists:
    if "one_primary" in (exc.constraint_name or ""):
        return AlreadyExists(
            f"the project already has a primary {engine} connection: unset it first",
            details={"field": "is_primary"},
        )
    return AlreadyExists(f"a {engine} connection named {identifier!r} already exists", details={"field": "identifier"})


def spec_from(
    request: registry_pb2.CreateConnectionRequest | registry_pb2.UpdateConnectionRequest,
    *,
    base: connspec.ConnectionSpec | None,
) -> tuple[connspec.ConnectionSpec, bool]:
    """The record's spec after the request (a URI, when given, over the base; fields over
    both), validated, and whether the request sets the password (a URI with a password, or
    the password field; an empty one removes it). The spec's ``secret_options`` are those
    the request supplies (a null or empty one removes it)."""
    database_type = base.database_type if base is not None else request.database_type
    if database_type not in DB_TYPE_NAMES:
        raise InvalidArgument("database_type must be redis, mongodb or postgres", details={"field": "database_type"})
    spec = base or connspec.ConnectionSpec(database_type=database_type, host="", port=0)
    password_set = False
    if request.uri:
        parsed = connspec.parse_uri(request.uri, database_type)
        password_set = parsed.password is not None
        spec = parsed
    creating = isinstance(request, registry_pb2.CreateConnectionRequest)
    changes: dict[str, Any] = {}
    if request.host if creating else request.HasField("host"):
        changes["host"] = request.host
    if request.port if creating else request.HasField("port"):
        changes["port"] = request.port
    for name in ("username", "database", "tls"):
        if request.HasField(name):
            changes[name] = getattr(request, name)
    if request.HasField("password"):
        changes["password"] = request.password or None
        password_set = True
    if request.HasField("options"):
        changes["options"] = json_format.MessageToDict(request.options)
    spec = replace(spec, **changes)
    if not spec.host:
        raise InvalidArgument("host (or uri) is required", details={"field": "host"})
    return connspec.validate(spec), password_set


class Connections:
    """The connection records' RPCs: admins change them, every member may read them (never a
    secret), services resolve them with their secret. Every change is audited."""

    def __init__(self, store: Store, box: SecretBox, guard: DialGuard) -> None:
        self._store = store
        self._box = box
        self._guard = guard

    async def list_connections(
        self, request: registry_pb2.ListConnectionsRequest
    ) -> registry_pb2.ListConnectionsResponse:
        project, _ = await project_for(self._store.pool, current_principal(), request.project_ref, Role.ROLE_VIEWER)
        limit = page_limit(request.limit)
        after_type, _, after_identifier = (decode_cursor(request.cursor) or "").partition("/")
        engine = DB_TYPE_NAMES.get(request.database_type, "")
        with database_errors():
            rows = await self._store.pool.fetch(_PAGE, project["id"], engine, after_type, after_identifier, limit + 1)
        last = rows[limit - 1] if len(rows) > limit else None
        return registry_pb2.ListConnectionsResponse(
            connections=[connection_message(row) for row in rows[:limit]],
            next_cursor=encode_cursor(f"{last['database_type']}/{last['identifier']}") if last else "",
        )

    async def get_connection(self, request: registry_pb2.GetConnectionRequest) -> registry_pb2.Connection:
        project, _ = await project_for(self._store.pool, current_principal(), request.project_ref, Role.ROLE_VIEWER)
        with database_errors():
            row = await connection_row(self._store.pool, project["id"], request.database_type, request.id)
        return connection_message(row)

    async def create_connection(self, request: registry_pb2.CreateConnectionRequest) -> registry_pb2.Connection:
        principal = current_principal()
        # Access first: an unknown project is NOT_FOUND whatever the body, and a non-member
        # cannot make the registry resolve hostnames.
        await project_for(self._store.pool, principal, request.project_ref, Role.ROLE_ADMIN)
        identifier = connspec.validate_identifier(request.identifier)
        spec, _ = spec_from(request, base=None)
        await connspec.check_host_allowed(spec, self._guard)
        connection_id = uuid.uuid4()
        secret = self._seal(connection_id, ConnectionSecret(spec.password, spec.secret_options))
        with database_errors():
            async with self._store.change() as conn:
                project, _ = await project_for(conn, principal, request.project_ref, Role.ROLE_ADMIN)
                is_primary = (
                    request.is_primary
                    if request.HasField("is_primary")
                    else not await conn.fetchval(_HAS_PRIMARY, project["id"], DB_TYPE_NAMES[spec.database_type])
                )
                row = await self._store_record(
                    conn, project["id"], connection_id, identifier, spec, secret, is_primary, "connection.create"
                )
        log.info("connection created", extra=_log_fields(row))
        return connection_message(row)

    async def update_connection(self, request: registry_pb2.UpdateConnectionRequest) -> registry_pb2.Connection:
        principal = current_principal()
        with database_errors():
            async with self._store.change() as conn:
                project, _ = await project_for(conn, principal, request.project_ref, Role.ROLE_ADMIN)
                row = await connection_row(conn, project["id"], request.database_type, request.id, lock=True)
                base = row_spec(row)
                spec, password_set = spec_from(request, base=base)
                await connspec.check_host_allowed(spec, self._guard)
                identifier = (
                    connspec.validate_identifier(request.identifier)
                    if request.HasField("identifier")
                    else row["identifier"]
                )
                secret = self._updated_secret(
                    row, spec, password_set, follows=connspec.target_of(spec) == connspec.target_of(base)
                )
                is_primary = request.is_primary if request.HasField("is_primary") else row["is_primary"]
                row = await self._store_record(
                    conn, project["id"], row["id"], identifier, spec, secret, is_primary, "connection.update"
                )
        log.info("connection updated", extra=_log_fields(row))
        return connection_message(row)

    async def _store_record(
        self,
        conn: Connection,
        project_id: uuid.UUID,
        connection_id: uuid.UUID,
        identifier: str,
        spec: connspec.ConnectionSpec,
        secret: SealedSecret,
        is_primary: bool,
        operation: str,
    ) -> asyncpg.Record:
        """Writes the record (a new one, or over the stored one), audits it and returns it as stored."""
        engine = DB_TYPE_NAMES[spec.database_type]
        try:
            await conn.execute(
                _STORE,
                connection_id,
                project_id,
                engine,
                identifier,
                spec.host,
                spec.port,
                spec.username,
                spec.database,
                spec.tls,
                json.dumps(spec.options),
                secret.sealed,
                secret.key_id,
                is_primary,
                secret.has_password,
            )
        except asyncpg.UniqueViolationError as exc:
            raise _conflict(exc, engine, identifier) from None
        row = await connection_row(conn, project_id, spec.database_type, str(connection_id))
        await audit_record(conn, row, operation)
        return row

    def _seal(self, connection_id: uuid.UUID, secret: ConnectionSecret) -> SealedSecret:
        sealed, key_id = seal_connection_secret(self._box, str(connection_id), secret)
        return SealedSecret(sealed, key_id, secret.password is not None)

    def _updated_secret(
        self, row: asyncpg.Record, spec: connspec.ConnectionSpec, password_set: bool, *, follows: bool
    ) -> SealedSecret:
        """The secret of a record after an update: what the request supplies, over what is
        stored. A secret follows its target: when the update moves the record (``follows`` is
        False: another host, port, TLS, user, seed list...), whatever the request does not
        supply again is dropped, so a stored password only ever goes to the server it was
        entered for."""
        if not password_set and not spec.secret_options:
            if follows:
                # Kept as it is: it need not (and after a lost key, could not) be opened.
                return SealedSecret(row["secret_encrypted"], row["secret_key_id"], bool(row["has_password"]))
            return SealedSecret(None, None, False)
        stored = open_connection_secret(self._box, row) if follows else ConnectionSecret()
        password = spec.password if password_set else stored.password
        options = {**stored.options, **spec.secret_options}
        kept = {key: value for key, value in options.items() if value not in (None, "")}
        return self._seal(row["id"], ConnectionSecret(password, kept))

    async def delete_connection(
        self, request: registry_pb2.DeleteConnectionRequest
    ) -> registry_pb2.DeleteConnectionResponse:
        with database_errors():
            async with self._store.change() as conn:
                project, _ = await project_for(conn, current_principal(), request.project_ref, Role.ROLE_ADMIN)
                row = await connection_row(conn, project["id"], request.database_type, request.id, lock=True)
                await conn.execute(_DELETE, row["id"])
                await audit_record(conn, row, "connection.delete")
        log.info("connection deleted", extra=_log_fields(row))
        return registry_pb2.DeleteConnectionResponse(connection=connection_message(row))

    async def resolve_connection(
        self, request: registry_pb2.ResolveConnectionRequest
    ) -> registry_pb2.ResolvedConnection:
        """A record with its secret, for the engine services only."""
        if not current_principal().is_service:
            raise PermissionDenied("only services may resolve connections")
        engine = DB_TYPE_NAMES.get(request.database_type)
        if engine is None:
            raise InvalidArgument("database_type is required")
        target = request.target
        with database_errors():
            if target.connection_id:
                row = await self._store.pool.fetchrow(
                    _BY_ID, target.project_ref, parse_uuid(target.connection_id), engine
                )
            else:
                row = await self._store.pool.fetchrow(_PRIMARY, target.project_ref, engine)
        if row is None:
            if target.connection_id:
                raise NotFound("connection not found")
            raise NotFound(f"the project has no primary {engine} connection")
        # Again here, not only at create: the deny list may have grown since, and a hostname
        # may point somewhere else now (the engines check each address again as they dial).
        await connspec.check_host_allowed(row_spec(row), self._guard)
        secret = open_connection_secret(self._box, row)
        resolved = registry_pb2.ResolvedConnection(connection=connection_message(row), password=secret.password or "")
        resolved.secret_options.update(secret.options)
        return resolved
