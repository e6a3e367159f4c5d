"""The registry's RPCs: organizations, projects, members, connection records, access, audit."""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import logging
import re
import secrets
import string
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import replace
from typing import Any, TypeAlias

import asyncpg
import grpc
from asyncpg.pool import PoolConnectionProxy
from google.protobuf import json_format, struct_pb2, timestamp_pb2

from registry import connspec
from registry.invalidations import CHANNEL, InvalidationHub
from registry.migrations import apply_migrations
from registry.secrets import (
    ConnectionSecret,
    credential_aad,
    open_connection_secret,
    seal_connection_secret,
    seal_secret_options,
)
from registry.settings import Settings
from udb.auth import Principal, ServiceCredentials, current_principal, mint_token
from udb.clients import insecure_channel, outgoing_metadata
from udb.common.v1 import common_pb2
from udb.crypto import SecretBox
from udb.dialing import DialGuard
from udb.errors import (
    AlreadyExists,
    InvalidArgument,
    NotFound,
    PermissionDenied,
    Unavailable,
    from_rpc_error,
)
from udb.logs import request_id_var
from udb.mongo.v1 import mongo_pb2, mongo_pb2_grpc
from udb.paging import decode_cursor, encode_cursor, page_limit
from udb.pg.v1 import pg_pb2, pg_pb2_grpc
from udb.redis.v1 import redis_pb2, redis_pb2_grpc
from udb.registry.v1 import registry_pb2, registry_pb2_grpc
from udb.registry_client import ROLE_BY_VALUE, ROLE_NAMES

log = logging.getLogger("registry")

Role = common_pb2.Role
#: Anything that runs a query: a pool, a connection, or one borrowed from a pool.
Executor: TypeAlias = (
    "asyncpg.Pool[asyncpg.Record] | asyncpg.Connection[asyncpg.Record] | PoolConnectionProxy[asyncpg.Record]"
)
Connection: TypeAlias = "asyncpg.Connection[asyncpg.Record] | PoolConnectionProxy[asyncpg.Record]"
_REF_ALPHABET = string.ascii_lowercase
_SLUG_RE = re.compile(r"[a-z0-9]([a-z0-9-]{1,62}[a-z0-9])")
_REF_RE = re.compile(r"[a-z0-9-]{3,64}")
_CONNECTION_COLUMNS = """
    c.id, c.project_id, p.ref AS project_ref, c.database_type::text AS database_type, c.identifier, c.host,
    c.port, c.username, c.database, c.tls, c.options::text AS options, c.secret_encrypted, c.secret_key_id,
    c.has_password, c.is_primary, c.status, c.created_at, c.updated_at
"""
_PROJECT_COLUMNS = "p.id, p.ref, p.name, p.organization_id, o.slug AS organization_slug, p.created_at"


async def open_pool(settings: Settings) -> asyncpg.Pool:
    """A pool on the platform database, with the schema migrated."""
    try:
        pool = await asyncpg.create_pool(
            settings.database_url.reveal(),
            min_size=settings.db_pool_min,
            max_size=settings.db_pool_max,
            timeout=10,
            command_timeout=30,
        )
    except (OSError, asyncpg.PostgresError) as exc:
        raise Unavailable(f"the platform database cannot be reached ({type(exc).__name__})") from None
    async with pool.acquire() as conn:
        await apply_migrations(conn)
    return pool


def _timestamp(value: dt.datetime) -> timestamp_pb2.Timestamp:
    stamp = timestamp_pb2.Timestamp()
    stamp.FromDatetime(value)
    return stamp


@contextlib.contextmanager
def _database_errors() -> Iterator[None]:
    """The platform database's errors as API errors; the texts are ours, never the driver's."""
    try:
        yield
    except asyncpg.UniqueViolationError as exc:
        constraint = exc.constraint_name or ""
        if "one_primary" in constraint:
            raise AlreadyExists("the project already has a primary connection of this engine") from None
        raise AlreadyExists("a record with that name already exists", details={"constraint": constraint}) from None
    except (asyncpg.CheckViolationError, asyncpg.DataError) as exc:
        raise InvalidArgument(
            "a value is not valid", details={"constraint": getattr(exc, "constraint_name", "")}
        ) from None
    except asyncpg.ForeignKeyViolationError:
        raise NotFound("a referenced record does not exist") from None
    except (OSError, asyncpg.InterfaceError, asyncpg.CannotConnectNowError, asyncpg.TooManyConnectionsError):
        raise Unavailable("the platform database cannot be reached") from None


def _role_value(name: str | None) -> common_pb2.Role:
    return ROLE_NAMES.get(name or "", Role.ROLE_UNSPECIFIED)


def _role_name(value: int) -> str:
    name = ROLE_BY_VALUE.get(value)
    if name is None:
        raise InvalidArgument("role must be viewer, developer, admin or owner", details={"field": "role"})
    return name


class RegistryService(registry_pb2_grpc.RegistryServiceServicer):
    """The registry's servicer. Every RPC acts as the authenticated caller."""

    def __init__(self, settings: Settings, box: SecretBox) -> None:
        self._settings = settings
        self._box = box
        self._credentials = ServiceCredentials(settings.auth, settings.name)
        self._hub = InvalidationHub(settings.database_url)
        self._pool_or_none: asyncpg.Pool | None = None
        self._engine_channels: dict[int, grpc.aio.Channel] = {}
        self._guard = DialGuard(settings.network_policy, resolve_timeout_s=2.0)

    @property
    def _pool(self) -> asyncpg.Pool:
        assert self._pool_or_none is not None, "RegistryService.start() was not awaited"
        return self._pool_or_none

    @property
    def pool(self) -> asyncpg.Pool:
        """The platform database pool (for the admin commands and tests)."""
        return self._pool

    async def start(self) -> None:
        """Opens the platform database pool, applies migrations and starts listening for changes."""
        self._pool_or_none = await open_pool(self._settings)
        with _database_errors():
            await seal_secret_options(self._pool, self._box, connspec.SECRET_OPTION_RE.pattern)
        await self._report_keys()
        await self._hub.start()

    async def _report_keys(self) -> None:
        """Says, at start, whether every stored secret opens with the configured keys, and when
        the old key is no longer needed."""
        with _database_errors():
            rows = await self._pool.fetch(
                """
                SELECT secret_key_id AS key_id, count(*) AS secrets FROM platform.database_connections
                WHERE secret_key_id IS NOT NULL GROUP BY 1
                UNION ALL
                SELECT key_id, 2 * count(*) FROM platform.credentials GROUP BY 1
                """
            )
        in_use: dict[str, int] = {}
        for row in rows:
            in_use[row["key_id"]] = in_use.get(row["key_id"], 0) + int(row["secrets"])
        for unknown in sorted(set(in_use) - self._box.key_ids):
            log.error(
                "stored secrets are sealed with a key that is not configured: set it as "
                "DATABASE_ENCRYPTION_KEY_OLD and run `python -m registry rotate-keys`",
                extra={"key_id": unknown, "secrets": in_use[unknown]},
            )
        old = self._box.key_ids - {self._box.current_key_id}
        if old and not old & set(in_use):
            log.info("no stored secret uses DATABASE_ENCRYPTION_KEY_OLD any more: it can be dropped")
        elif old & set(in_use):
            log.info(
                "secrets still use DATABASE_ENCRYPTION_KEY_OLD: run `python -m registry rotate-keys`",
                extra={"secrets": sum(in_use[k] for k in old & set(in_use))},
            )

    @contextlib.asynccontextmanager
    async def _change(self) -> AsyncIterator[Connection]:
        """A write transaction whose RPC answers only once every watcher has been told.

        The transaction ends with a barrier notification; after the commit this waits until the
        registry has heard it back, by which time the change's own notifications (sent by the
        triggers, delivered in order) are queued for every ``WatchInvalidations`` stream. So a
        caller that deletes a connection or removes a member, and then acts on the reply, never
        meets a cache that still holds the old state.
        """
        token = self._hub.expect()
        try:
            async with self._pool.acquire() as conn, conn.transaction():
                yield conn
                if token is not None:
                    await conn.execute("SELECT pg_notify($1, $2)", CHANNEL, self._hub.barrier_payload(token))
        except BaseException:
            self._hub.forget(token)
            raise
        await self._hub.reached(token)

    @staticmethod
    async def _audit(
        conn: Connection,
        project_ref: str,
        operation: str,
        *,
        target: str = "",
        engine: str = "platform",
        connection_id: str = "",
        outcome: str = "ok",
    ) -> None:
        """Records a platform change in the audit log, in the change's own transaction (so only
        what happened is recorded). Names and ids only, never a value or a secret."""
        await conn.execute(
            """
            INSERT INTO platform.audit_log (user_id, project_ref, engine, connection_id, operation, target, outcome,
                                            request_id)
            VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
            """,
            current_principal().subject,
            project_ref,
            engine,
            connection_id,
            operation,
            target,
            outcome,
            request_id_var.get(),
        )

    async def close(self) -> None:
        await self._hub.close()
        for channel in self._engine_channels.values():
            await channel.close(None)
        self._engine_channels.clear()
        if self._pool_or_none is not None:
            await self._pool_or_none.close()
            self._pool_or_none = None

    # ---- organizations -------------------------------------------------------------------

    async def ListOrganizations(
        self, request: registry_pb2.ListOrganizationsRequest, context: grpc.aio.ServicerContext[Any, Any]
    ) -> registry_pb2.ListOrganizationsResponse:
        principal = current_principal()
        limit = page_limit(request.limit)
        after = decode_cursor(request.cursor) or ""
        with _database_errors():
            rows = await self._pool.fetch(
                """
                SELECT o.id, o.name, o.slug, o.created_at FROM platform.organizations o
                WHERE o.slug > $1 AND ($2 OR o.id IN (
                    SELECT organization_id FROM platform.organization_members WHERE user_id = $3
                    UNION SELECT p.organization_id FROM platform.projects p
                      JOIN platform.members m ON m.project_id = p.id WHERE m.user_id = $3))
                ORDER BY o.slug LIMIT $4
                """,
                after,
                principal.is_service,
                principal.subject,
                limit + 1,
            )
        return registry_pb2.ListOrganizationsResponse(
            organizations=[self._organization(row) for row in rows[:limit]],
            next_cursor=encode_cursor(rows[limit - 1]["slug"]) if len(rows) > limit else "",
        )

    async def GetOrganization(
        self, request: registry_pb2.GetOrganizationRequest, context: grpc.aio.ServicerContext[Any, Any]
    ) -> registry_pb2.Organization:
        row, _ = await self._organization_for(current_principal(), request.slug)
        return self._organization(row)

    async def CreateOrganization(
        self, request: registry_pb2.CreateOrganizationRequest, context: grpc.aio.ServicerContext[Any, Any]
    ) -> registry_pb2.Organization:
        principal = current_principal()
        name = request.name.strip()
        if not 1 <= len(name) <= 200:
            raise InvalidArgument("name must be 1-200 characters", details={"field": "name"})
        _check_slug(request.slug, "slug")
        with _database_errors():
            async with self._pool.acquire() as conn, conn.transaction():
                row = await conn.fetchrow(
                    "INSERT INTO platform.organizations (name, slug) VALUES ($1, $2) "
                    "RETURNING id, name, slug, created_at",
                    name,
                    request.slug,
                )
                assert row is not None
                if not principal.is_service:
                    await conn.execute(
                        "INSERT INTO platform.organization_members (organization_id, user_id, role) "
                        "VALUES ($1, $2, 'owner')",
                        row["id"],
                        principal.subject,
                    )
        return self._organization(row)

    async def UpdateOrganization(
        self, request: registry_pb2.UpdateOrganizationRequest, context: grpc.aio.ServicerContext[Any, Any]
    ) -> registry_pb2.Organization:
        row, role = await self._organization_for(current_principal(), request.slug)
        if role != "owner":
            raise PermissionDenied("only the organization's owner may change it")
        if request.HasField("name"):
            name = request.name.strip()
            if not 1 <= len(name) <= 200:
                raise InvalidArgument("name must be 1-200 characters", details={"field": "name"})
            with _database_errors():
                updated = await self._pool.fetchrow(
                    "UPDATE platform.organizations SET name = $2, updated_at = now() WHERE id = $1 "
                    "RETURNING id, name, slug, created_at",
                    row["id"],
                    name,
                )
            assert updated is not None
            row = updated
        return self._organization(row)

    async def DeleteOrganization(
        self, request: registry_pb2.DeleteOrganizationRequest, context: grpc.aio.ServicerContext[Any, Any]
    ) -> registry_pb2.DeleteOrganizationResponse:
        row, role = await self._organization_for(current_principal(), request.slug)
        if role != "owner":
            raise PermissionDenied("only the organization's owner may delete it")
        with _database_errors():
            async with self._pool.acquire() as conn, conn.transaction():
                if await conn.fetchval("SELECT count(*) FROM platform.projects WHERE organization_id = $1", row["id"]):
                    raise InvalidArgument("the organization still has projects: delete them first")
                await conn.execute("DELETE FROM platform.organizations WHERE id = $1", row["id"])
        return registry_pb2.DeleteOrganizationResponse()

    async def _organization_for(self, principal: Principal, slug: str) -> tuple[asyncpg.Record, str]:
        """The organization and the caller's standing in it: 'owner', 'member', or
        'project-member' (who sees it through one of its projects but may not add projects);
        NotFound when the caller has none."""
        with _database_errors():
            row = await self._pool.fetchrow(
                """
                SELECT o.id, o.name, o.slug, o.created_at,
                  (SELECT role::text FROM platform.organization_members om
                    WHERE om.organization_id = o.id AND om.user_id = $2) AS org_role,
                  EXISTS (SELECT 1 FROM platform.projects p JOIN platform.members m ON m.project_id = p.id
                    WHERE p.organization_id = o.id AND m.user_id = $2) AS project_member
                FROM platform.organizations o WHERE o.slug = $1
                """,
                slug,
                principal.subject,
            )
        if row is None:
            raise NotFound("organization not found")
        if principal.is_service:
            return row, "owner"
        if row["org_role"]:
            return row, str(row["org_role"])
        if row["project_member"]:
            return row, "project-member"
        raise NotFound("organization not found")

    @staticmethod
    def _organization(row: asyncpg.Record) -> registry_pb2.Organization:
        return registry_pb2.Organization(
            id=str(row["id"]), name=row["name"], slug=row["slug"], created_at=_timestamp(row["created_at"])
        )

    # ---- projects ------------------------------------------------------------------------

    async def ListProjects(
        self, request: registry_pb2.ListProjectsRequest, context: grpc.aio.ServicerContext[Any, Any]
    ) -> registry_pb2.ListProjectsResponse:
        principal = current_principal()
        limit = page_limit(request.limit)
        after = decode_cursor(request.cursor) or ""
        with _database_errors():
            rows = await self._pool.fetch(
                f"""
                SELECT {_PROJECT_COLUMNS}, m.role::text AS role
                FROM platform.projects p
                JOIN platform.organizations o ON o.id = p.organization_id
                LEFT JOIN platform.members m ON m.project_id = p.id AND m.user_id = $3
                WHERE p.ref > $1 AND ($2 OR m.user_id IS NOT NULL) AND ($4 = '' OR o.slug = $4)
                ORDER BY p.ref LIMIT $5
                """,
                after,
                principal.is_service,
                principal.subject,
                request.organization_slug,
                limit + 1,
            )
        return registry_pb2.ListProjectsResponse(
            projects=[self._project(row, row["role"]) for row in rows[:limit]],
            next_cursor=encode_cursor(rows[limit - 1]["ref"]) if len(rows) > limit else "",
        )

    async def GetProject(
        self, request: registry_pb2.GetProjectRequest, context: grpc.aio.ServicerContext[Any, Any]
    ) -> registry_pb2.Project:
        row, role = await self._project_for(current_principal(), request.ref, Role.ROLE_VIEWER)
        return self._project(row, role)

    async def CreateProject(
        self, request: registry_pb2.CreateProjectRequest, context: grpc.aio.ServicerContext[Any, Any]
    ) -> registry_pb2.Project:
        principal = current_principal()
        name = request.name.strip()
        if not 1 <= len(name) <= 200:
            raise InvalidArgument("name must be 1-200 characters", details={"field": "name"})
        ref = request.ref or "".join(secrets.choice(_REF_ALPHABET) for _ in range(20))
        _check_ref(ref)
        organization, standing = await self._organization_for(principal, request.organization_slug)
        if standing not in ("owner", "member"):
            raise PermissionDenied("only members of the organization may create projects in it")
        project_id = uuid.uuid4()
        with _database_errors():
            async with self._change() as conn:
                row = await conn.fetchrow(
                    f"""
                    WITH p AS (
                      INSERT INTO platform.projects (id, organization_id, ref, name) VALUES ($1, $2, $3, $4)
                      RETURNING *)
                    SELECT {_PROJECT_COLUMNS} FROM p JOIN platform.organizations o ON o.id = p.organization_id
                    """,
                    project_id,
                    organization["id"],
                    ref,
                    name,
                )
                assert row is not None
                await self._create_credentials(conn, str(project_id), ref)
                await self._audit(conn, ref, "project.create", target=name)
                if not principal.is_service:
                    await conn.execute(
                        "INSERT INTO platform.members (project_id, user_id, role) VALUES ($1, $2, 'owner')",
                        project_id,
                        principal.subject,
                    )
        return self._project(row, None if principal.is_service else "owner")

    async def _create_credentials(self, conn: Connection, project_id: str, ref: str) -> None:
        """The project's own JWT secret and API keys (signed with it), secrets sealed."""
        jwt_secret = secrets.token_urlsafe(32)
        ten_years = 10 * 365 * 24 * 3600.0
        anon_key = mint_token(jwt_secret, subject=f"anon:{ref}", role="anon", ttl_s=ten_years)
        service_key = mint_token(jwt_secret, subject=f"service:{ref}", role="service_role", ttl_s=ten_years)
        sealed_service, key_id = self._box.encrypt(
            service_key, associated_data=credential_aad(project_id, "service_role_key_encrypted")
        )
        sealed_secret, _ = self._box.encrypt(
            jwt_secret, associated_data=credential_aad(project_id, "jwt_secret_encrypted")
        )
        await conn.execute(
            """
            INSERT INTO platform.credentials
              (project_id, anon_key, service_role_key_encrypted, jwt_secret_encrypted, key_id)
            VALUES ($1, $2, $3, $4, $5)
            """,
            uuid.UUID(project_id),
            anon_key,
            sealed_service,
            sealed_secret,
            key_id,
        )

    async def UpdateProject(
        self, request: registry_pb2.UpdateProjectRequest, context: grpc.aio.ServicerContext[Any, Any]
    ) -> registry_pb2.Project:
        row, role = await self._project_for(current_principal(), request.ref, Role.ROLE_ADMIN)
        if request.HasField("name"):
            name = request.name.strip()
            if not 1 <= len(name) <= 200:
                raise InvalidArgument("name must be 1-200 characters", details={"field": "name"})
            with _database_errors():
                async with self._change() as conn:
                    updated = await conn.fetchrow(
                        f"""
                    WITH p AS (UPDATE platform.projects SET name = $2, updated_at = now() WHERE id = $1 RETURNING *)
                    SELECT {_PROJECT_COLUMNS} FROM p JOIN platform.organizations o ON o.id = p.organization_id
                    """,
                        row["id"],
                        name,
                    )
                    await self._audit(conn, request.ref, "project.update", target=name)
            assert updated is not None
            row = updated
        return self._project(row, role)

    async def DeleteProject(
        self, request: registry_pb2.DeleteProjectRequest, context: grpc.aio.ServicerContext[Any, Any]
    ) -> registry_pb2.DeleteProjectResponse:
        row, _ = await self._project_for(current_principal(), request.ref, Role.ROLE_OWNER)
        with _database_errors():
            async with self._change() as conn:
                await conn.execute("DELETE FROM platform.projects WHERE id = $1", row["id"])
                await self._audit(conn, request.ref, "project.delete", target=request.ref)
        return registry_pb2.DeleteProjectResponse()

    async def _project_for(
        self, principal: Principal, ref: str, required_role: int, conn: Connection | None = None
    ) -> tuple[asyncpg.Record, str | None]:
        """The project and the caller's role on it, at least ``required_role``.

        NotFound when the project does not exist or the caller is no member of it (the two are
        indistinguishable to the caller); PermissionDenied when the role is too low.
        """
        query = f"""
            SELECT {_PROJECT_COLUMNS}, m.role::text AS role
            FROM platform.projects p
            JOIN platform.organizations o ON o.id = p.organization_id
            LEFT JOIN platform.members m ON m.project_id = p.id AND m.user_id = $2
            WHERE p.ref = $1
        """
        with _database_errors():
            row = await (conn or self._pool).fetchrow(query, ref, principal.subject)
        if row is None or (row["role"] is None and not principal.is_service):
            raise NotFound("project not found")
        if principal.is_service:
            return row, None
        role = str(row["role"])
        if _role_value(role) < required_role:
            raise PermissionDenied(f"this needs the {ROLE_BY_VALUE[required_role]} role on the project")
        return row, role

    @staticmethod
    def _project(row: asyncpg.Record, role: str | None) -> registry_pb2.Project:
        return registry_pb2.Project(
            id=str(row["id"]),
            ref=row["ref"],
            name=row["name"],
            organization_id=str(row["organization_id"]),
            organization_slug=row["organization_slug"],
            created_at=_timestamp(row["created_at"]),
            caller_role=_role_value(role),
        )

    # ---- members -------------------------------------------------------------------------

    async def ListMembers(
        self, request: registry_pb2.ListMembersRequest, context: grpc.aio.ServicerContext[Any, Any]
    ) -> registry_pb2.ListMembersResponse:
        project, _ = await self._project_for(current_principal(), request.project_ref, Role.ROLE_VIEWER)
        limit = page_limit(request.limit)
        after = decode_cursor(request.cursor) or ""
        with _database_errors():
            rows = await self._pool.fetch(
                "SELECT user_id, role::text AS role, created_at FROM platform.members "
                "WHERE project_id = $1 AND user_id > $2 ORDER BY user_id LIMIT $3",
                project["id"],
                after,
                limit + 1,
            )
        return registry_pb2.ListMembersResponse(
            members=[self._member(row) for row in rows[:limit]],
            next_cursor=encode_cursor(rows[limit - 1]["user_id"]) if len(rows) > limit else "",
        )

    async def AddMember(
        self, request: registry_pb2.AddMemberRequest, context: grpc.aio.ServicerContext[Any, Any]
    ) -> registry_pb2.Member:
        role = _role_name(request.role)
        user_id = _check_user_id(request.user_id)
        project, _ = await self._project_for(current_principal(), request.project_ref, Role.ROLE_OWNER)
        with _database_errors():
            try:
                async with self._change() as conn:
                    row = await conn.fetchrow(
                        "INSERT INTO platform.members (project_id, user_id, role) VALUES ($1, $2, $3) "
                        "RETURNING user_id, role::text AS role, created_at",
                        project["id"],
                        user_id,
                        role,
                    )
                    await self._audit(conn, request.project_ref, "member.add", target=f"{user_id}:{role}")
            except asyncpg.UniqueViolationError:
                raise AlreadyExists("the user is already a member of the project") from None
        assert row is not None
        return self._member(row)

    async def UpdateMember(
        self, request: registry_pb2.UpdateMemberRequest, context: grpc.aio.ServicerContext[Any, Any]
    ) -> registry_pb2.Member:
        role = _role_name(request.role)
        principal = current_principal()
        with _database_errors():
            async with self._change() as conn:
                project, _ = await self._project_for(principal, request.project_ref, Role.ROLE_OWNER, conn)
                current = await self._lock_members(conn, project["id"], request.user_id)
                if current == "owner" and role != "owner":
                    await self._keep_an_owner(conn, project["id"])
                row = await conn.fetchrow(
                    "UPDATE platform.members SET role = $3, updated_at = now() WHERE project_id = $1 AND user_id = $2 "
                    "RETURNING user_id, role::text AS role, created_at",
                    project["id"],
                    request.user_id,
                    role,
                )
                await self._audit(conn, request.project_ref, "member.update", target=f"{request.user_id}:{role}")
        assert row is not None
        return self._member(row)

    async def RemoveMember(
        self, request: registry_pb2.RemoveMemberRequest, context: grpc.aio.ServicerContext[Any, Any]
    ) -> registry_pb2.RemoveMemberResponse:
        principal = current_principal()
        with _database_errors():
            async with self._change() as conn:
                project, _ = await self._project_for(principal, request.project_ref, Role.ROLE_OWNER, conn)
                if await self._lock_members(conn, project["id"], request.user_id) == "owner":
                    await self._keep_an_owner(conn, project["id"])
                await conn.execute(
                    "DELETE FROM platform.members WHERE project_id = $1 AND user_id = $2",
                    project["id"],
                    request.user_id,
                )
                await self._audit(conn, request.project_ref, "member.remove", target=request.user_id)
        return registry_pb2.RemoveMemberResponse()

    @staticmethod
    async def _lock_members(conn: Connection, project_id: uuid.UUID, user_id: str) -> str:
        """Locks the project's member rows (so two owners cannot demote each other at once) and
        returns the user's current role; NotFound when the user is no member."""
        rows = await conn.fetch(
            "SELECT user_id, role::text AS role FROM platform.members WHERE project_id = $1 FOR UPDATE",
            project_id,
        )
        for row in rows:
            if row["user_id"] == user_id:
                return str(row["role"])
        raise NotFound("the user is not a member of the project")

    @staticmethod
    async def _keep_an_owner(conn: Connection, project_id: uuid.UUID) -> None:
        owners = await conn.fetchval(
            "SELECT count(*) FROM platform.members WHERE project_id = $1 AND role = 'owner'", project_id
        )
        if owners <= 1:
            raise InvalidArgument("a project keeps at least one owner")

    @staticmethod
    def _member(row: asyncpg.Record) -> registry_pb2.Member:
        return registry_pb2.Member(
            user_id=row["user_id"], role=_role_value(row["role"]), created_at=_timestamp(row["created_at"])
        )

    # ---- connections ---------------------------------------------------------------------

    async def ListConnections(
        self, request: registry_pb2.ListConnectionsRequest, context: grpc.aio.ServicerContext[Any, Any]
    ) -> registry_pb2.ListConnectionsResponse:
        project, _ = await self._project_for(current_principal(), request.project_ref, Role.ROLE_VIEWER)
        limit = page_limit(request.limit)
        after = decode_cursor(request.cursor)
        after_type, _, after_identifier = (after or "").partition("/")
        engine = connspec.ENGINE_NAMES.get(request.database_type, "")
        with _database_errors():
            rows = await self._pool.fetch(
                f"""
                SELECT {_CONNECTION_COLUMNS} FROM platform.database_connections c
                JOIN platform.projects p ON p.id = c.project_id
                WHERE c.project_id = $1 AND ($2 = '' OR c.database_type::text = $2)
                  AND (c.database_type::text, c.identifier) > ($3, $4)
                ORDER BY c.database_type::text, c.identifier LIMIT $5
                """,
                project["id"],
                engine,
                after_type,
                after_identifier,
                limit + 1,
            )
        last = rows[limit - 1] if len(rows) > limit else None
        return registry_pb2.ListConnectionsResponse(
            connections=[self._connection(row) for row in rows[:limit]],
            next_cursor=encode_cursor(f"{last['database_type']}/{last['identifier']}") if last else "",
        )

    async def GetConnection(
        self, request: registry_pb2.GetConnectionRequest, context: grpc.aio.ServicerContext[Any, Any]
    ) -> registry_pb2.Connection:
        project, _ = await self._project_for(current_principal(), request.project_ref, Role.ROLE_VIEWER)
        row = await self._connection_row(self._pool, project["id"], request.database_type, request.id)
        return self._connection(row)

    async def CreateConnection(
        self, request: registry_pb2.CreateConnectionRequest, context: grpc.aio.ServicerContext[Any, Any]
    ) -> registry_pb2.Connection:
        principal = current_principal()
        # Access first: an unknown project is NOT_FOUND whatever the body, and a non-member
        # cannot make the registry resolve hostnames.
        await self._project_for(principal, request.project_ref, Role.ROLE_ADMIN)
        identifier = connspec.validate_identifier(request.identifier)
        spec, _ = self._spec_from(request, base=None)
        await connspec.check_host_allowed(spec, self._guard)
        engine = connspec.ENGINE_NAMES[spec.database_type]
        connection_id = uuid.uuid4()
        secret = ConnectionSecret(spec.password, spec.secret_options)
        sealed, key_id = seal_connection_secret(self._box, str(connection_id), secret)
        with _database_errors():
            async with self._change() as conn:
                project, _ = await self._project_for(principal, request.project_ref, Role.ROLE_ADMIN, conn)
                if request.HasField("is_primary"):
                    is_primary = request.is_primary
                else:
                    is_primary = not await conn.fetchval(
                        "SELECT EXISTS (SELECT 1 FROM platform.database_connections "
                        "WHERE project_id = $1 AND database_type = $2 AND is_primary)",
                        project["id"],
                        engine,
                    )
                try:
                    await conn.execute(
                        """
                        INSERT INTO platform.database_connections
                          (id, project_id, database_type, identifier, host, port, username, database, tls, options,
                           secret_encrypted, secret_key_id, is_primary, has_password)
                        VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10::jsonb, $11, $12, $13, $14)
                        """,
                        connection_id,
                        project["id"],
                        engine,
                        identifier,
                        spec.host,
                        spec.port,
                        spec.username,
                        spec.database,
                        spec.tls,
                        json.dumps(spec.options),
                        sealed,
                        key_id,
                        is_primary,
                        spec.password is not None,
                    )
                except asyncpg.UniqueViolationError as exc:
                    raise _connection_conflict(exc, engine, identifier) from None
                row = await self._connection_row(conn, project["id"], spec.database_type, str(connection_id))
                await self._audit(
                    conn,
                    request.project_ref,
                    "connection.create",
                    target=identifier,
                    engine=engine,
                    connection_id=str(connection_id),
                )
        log.info(
            "connection created",
            extra={"connection_id": str(connection_id), "project_ref": request.project_ref, "engine": engine},
        )
        return self._connection(row)

    async def UpdateConnection(
        self, request: registry_pb2.UpdateConnectionRequest, context: grpc.aio.ServicerContext[Any, Any]
    ) -> registry_pb2.Connection:
        principal = current_principal()
        with _database_errors():
            async with self._change() as conn:
                project, _ = await self._project_for(principal, request.project_ref, Role.ROLE_ADMIN, conn)
                row = await self._connection_row(conn, project["id"], request.database_type, request.id, lock=True)
                base = _row_spec(row)
                spec, password_set = self._spec_from(request, base=base)
                await connspec.check_host_allowed(spec, self._guard)
                identifier = (
                    connspec.validate_identifier(request.identifier)
                    if request.HasField("identifier")
                    else row["identifier"]
                )
                sealed, key_id, has_password = self._updated_secret(
                    row, spec, password_set, follows=connspec.target_of(spec) == connspec.target_of(base)
                )
                is_primary = request.is_primary if request.HasField("is_primary") else row["is_primary"]
                engine = row["database_type"]
                try:
                    await conn.execute(
                        """
                        UPDATE platform.database_connections SET identifier = $2, host = $3, port = $4, username = $5,
                          database = $6, tls = $7, options = $8::jsonb, secret_encrypted = $9, secret_key_id = $10,
                          is_primary = $11, has_password = $12, status = 'unknown', updated_at = now()
                        WHERE id = $1
                        """,
                        row["id"],
                        identifier,
                        spec.host,
                        spec.port,
                        spec.username,
                        spec.database,
                        spec.tls,
                        json.dumps(spec.options),
                        sealed,
                        key_id,
                        is_primary,
                        has_password,
                    )
                except asyncpg.UniqueViolationError as exc:
                    raise _connection_conflict(exc, engine, identifier) from None
                row = await self._connection_row(conn, project["id"], request.database_type, request.id)
                await self._audit(
                    conn,
                    request.project_ref,
                    "connection.update",
                    target=identifier,
                    engine=engine,
                    connection_id=str(row["id"]),
                )
        log.info(
            "connection updated",
            extra={"connection_id": str(row["id"]), "project_ref": request.project_ref, "engine": engine},
        )
        return self._connection(row)

    async def DeleteConnection(
        self, request: registry_pb2.DeleteConnectionRequest, context: grpc.aio.ServicerContext[Any, Any]
    ) -> registry_pb2.DeleteConnectionResponse:
        principal = current_principal()
        with _database_errors():
            async with self._change() as conn:
                project, _ = await self._project_for(principal, request.project_ref, Role.ROLE_ADMIN, conn)
                row = await self._connection_row(conn, project["id"], request.database_type, request.id, lock=True)
                await conn.execute("DELETE FROM platform.database_connections WHERE id = $1", row["id"])
                await self._audit(
                    conn,
                    request.project_ref,
                    "connection.delete",
                    target=row["identifier"],
                    engine=row["database_type"],
                    connection_id=str(row["id"]),
                )
        log.info(
            "connection deleted",
            extra={"connection_id": str(row["id"]), "project_ref": request.project_ref},
        )
        return registry_pb2.DeleteConnectionResponse(connection=self._connection(row))

    async def TestConnection(
        self, request: registry_pb2.TestConnectionRequest, context: grpc.aio.ServicerContext[Any, Any]
    ) -> common_pb2.ConnectionTestResult:
        project, _ = await self._project_for(current_principal(), request.project_ref, Role.ROLE_ADMIN)
        row = await self._connection_row(self._pool, project["id"], request.database_type, request.id)
        engine = connspec.ENGINE_BY_NAME[row["database_type"]]
        target = common_pb2.ConnectionTarget(project_ref=request.project_ref, connection_id=str(row["id"]))
        started = time.perf_counter()
        try:
            result = await self._engine_test(engine, target)
        except grpc.RpcError as exc:
            error = from_rpc_error(exc)
            result = common_pb2.ConnectionTestResult(
                ok=False,
                latency_ms=(time.perf_counter() - started) * 1000,
                error=common_pb2.ErrorDetail(code=error.code, message=error.message, details=error.details),
            )
        with _database_errors():
            async with self._pool.acquire() as conn, conn.transaction():
                # Status only: not announced (migration 004), so the pooled clients the test opened stay.
                await conn.execute(
                    "UPDATE platform.database_connections SET status = $2 WHERE id = $1",
                    row["id"],
                    "ok" if result.ok else "error",
                )
                await self._audit(
                    conn,
                    request.project_ref,
                    "connection.test",
                    target=row["identifier"],
                    engine=row["database_type"],
                    connection_id=str(row["id"]),
                    outcome="ok" if result.ok else result.error.code or "error",
                )
        return result

    async def _engine_test(self, engine: int, target: common_pb2.ConnectionTarget) -> common_pb2.ConnectionTestResult:
        channel = self._engine_channels.get(engine)
        if channel is None:
            channel = insecure_channel(self._settings.engine_addresses[engine])
            self._engine_channels[engine] = channel
        metadata = outgoing_metadata(self._credentials.metadata())
        timeout = self._settings.test_timeout_s
        result: common_pb2.ConnectionTestResult
        if engine == common_pb2.DATABASE_TYPE_REDIS:
            result = await redis_pb2_grpc.RedisServiceStub(channel).TestConnection(
                redis_pb2.TestConnectionRequest(target=target), metadata=metadata, timeout=timeout
            )
        elif engine == common_pb2.DATABASE_TYPE_MONGODB:
            result = await mongo_pb2_grpc.MongoServiceStub(channel).TestConnection(
                mongo_pb2.TestConnectionRequest(target=target), metadata=metadata, timeout=timeout
            )
        else:
            result = await pg_pb2_grpc.PgServiceStub(channel).TestConnection(
                pg_pb2.TestConnectionRequest(target=target), metadata=metadata, timeout=timeout
            )
        return result

    async def ResolveConnection(
        self, request: registry_pb2.ResolveConnectionRequest, context: grpc.aio.ServicerContext[Any, Any]
    ) -> registry_pb2.ResolvedConnection:
        principal = current_principal()
        if not principal.is_service:
            raise PermissionDenied("only services may resolve connections")
        engine = connspec.ENGINE_NAMES.get(request.database_type)
        if engine is None:
            raise InvalidArgument("database_type is required")
        target = request.target
        with _database_errors():
            if target.connection_id:
                connection_id = _parse_uuid(target.connection_id)
                row = await self._pool.fetchrow(
                    f"""
                    SELECT {_CONNECTION_COLUMNS} FROM platform.database_connections c
                    JOIN platform.projects p ON p.id = c.project_id
                    WHERE p.ref = $1 AND c.id = $2 AND c.database_type = $3
                    """,
                    target.project_ref,
                    connection_id,
                    engine,
                )
            else:
                row = await self._pool.fetchrow(
                    f"""
                    SELECT {_CONNECTION_COLUMNS} FROM platform.database_connections c
                    JOIN platform.projects p ON p.id = c.project_id
                    WHERE p.ref = $1 AND c.database_type = $2 AND c.is_primary
                    """,
                    target.project_ref,
                    engine,
                )
        if row is None:
            if target.connection_id:
                raise NotFound("connection not found")
            raise NotFound(f"the project has no primary {engine} connection")
        # Again here, not only at create: the deny list may have grown since, and a hostname
        # may point somewhere else now (the engines check each address again as they dial).
        await connspec.check_host_allowed(_row_spec(row), self._guard)
        secret = open_connection_secret(self._box, row)
        resolved = registry_pb2.ResolvedConnection(connection=self._connection(row), password=secret.password or "")
        resolved.secret_options.update(secret.options)
        return resolved

    async def _connection_row(
        self,
        conn: Executor,
        project_id: uuid.UUID,
        database_type: common_pb2.DatabaseType,
        connection_id: str,
        *,
        lock: bool = False,
    ) -> asyncpg.Record:
        engine = connspec.ENGINE_NAMES.get(database_type, "")
        row = await conn.fetchrow(
            f"""
            SELECT {_CONNECTION_COLUMNS} FROM platform.database_connections c
            JOIN platform.projects p ON p.id = c.project_id
            WHERE c.project_id = $1 AND c.id = $2 AND ($3 = '' OR c.database_type::text = $3)
            {"FOR UPDATE OF c" if lock else ""}
            """,
            project_id,
            _parse_uuid(connection_id),
            engine,
        )
        if row is None:
            raise NotFound("connection not found")
        return row

    def _spec_from(
        self,
        request: registry_pb2.CreateConnectionRequest | registry_pb2.UpdateConnectionRequest,
        *,
        base: connspec.ConnectionSpec | None,
    ) -> tuple[connspec.ConnectionSpec, bool]:
        """The record's spec after the request (a URI, when given, over the base; fields over
        both), validated, and whether the request sets the password (a URI with a password, or
        the password field; an empty one removes it). The spec's ``secret_options`` are those
        the request supplies (a null or empty one removes it)."""
        database_type = base.database_type if base is not None else request.database_type
        if database_type not in connspec.ENGINE_NAMES:
            raise InvalidArgument(
                "database_type must be redis, mongodb or postgres", details={"field": "database_type"}
            )
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

    def _updated_secret(
        self, row: asyncpg.Record, spec: connspec.ConnectionSpec, password_set: bool, *, follows: bool
    ) -> tuple[bytes | None, str | None, bool]:
        """The sealed secret (and key id, and whether it holds a password) of a record after an
        update: what the request supplies, over what is stored. A secret follows its target:
        when the update moves the record (``follows`` is False: another host, port, TLS, user,
        seed list...), whatever the request does not supply again is dropped, so a stored
        password only ever goes to the server it was entered for."""
        if not password_set and not spec.secret_options:
            if follows:
                # Kept as it is: it need not (and after a lost key, could not) be opened.
                return row["secret_encrypted"], row["secret_key_id"], bool(row["has_password"])
            return None, None, False
        stored = open_connection_secret(self._box, row) if follows else ConnectionSecret()
        password = spec.password if password_set else stored.password
        options = {**stored.options, **spec.secret_options}
        secret = ConnectionSecret(password, {key: value for key, value in options.items() if value not in (None, "")})
        sealed, key_id = seal_connection_secret(self._box, str(row["id"]), secret)
        return sealed, key_id, password is not None

    @staticmethod
    def _connection(row: asyncpg.Record) -> registry_pb2.Connection:
        options = struct_pb2.Struct()
        # Secrets are never in the stored options; a record written before they were sealed is
        # shown without them too (the registry seals them at its start).
        options.update(connspec.split_secret_options(json.loads(row["options"]))[0])
        return registry_pb2.Connection(
            id=str(row["id"]),
            project_id=str(row["project_id"]),
            project_ref=row["project_ref"],
            database_type=connspec.ENGINE_BY_NAME[row["database_type"]],
            identifier=row["identifier"],
            host=row["host"],
            port=row["port"],
            username=row["username"],
            database=row["database"],
            tls=row["tls"],
            options=options,
            is_primary=row["is_primary"],
            status=row["status"],
            has_password=row["has_password"],
            created_at=_timestamp(row["created_at"]),
            updated_at=_timestamp(row["updated_at"]),
        )

    # ---- access --------------------------------------------------------------------------

    async def CheckAccess(
        self, request: registry_pb2.CheckAccessRequest, context: grpc.aio.ServicerContext[Any, Any]
    ) -> registry_pb2.CheckAccessResponse:
        principal = current_principal()
        if not principal.is_service and request.user_id != principal.subject:
            raise PermissionDenied("only services may check another user's access")
        with _database_errors():
            row = await self._pool.fetchrow(
                """
                SELECT p.id, m.role::text AS role FROM platform.projects p
                JOIN platform.members m ON m.project_id = p.id AND m.user_id = $2
                WHERE p.ref = $1
                """,
                request.project_ref,
                request.user_id,
            )
        if row is None:
            raise NotFound("project not found")
        role = _role_value(row["role"])
        required = request.required_role or Role.ROLE_VIEWER
        if role < required:
            raise PermissionDenied(f"this needs the {ROLE_BY_VALUE[required]} role on the project")
        return registry_pb2.CheckAccessResponse(project_id=str(row["id"]), role=role)

    async def WatchInvalidations(
        self, request: registry_pb2.WatchInvalidationsRequest, context: grpc.aio.ServicerContext[Any, Any]
    ) -> AsyncIterator[registry_pb2.Invalidation]:
        if not current_principal().is_service:
            raise PermissionDenied("only services may watch invalidations")
        async for event in self._hub.stream():
            yield event

    # ---- audit ---------------------------------------------------------------------------

    async def RecordAuditEvents(
        self, request: registry_pb2.RecordAuditEventsRequest, context: grpc.aio.ServicerContext[Any, Any]
    ) -> registry_pb2.RecordAuditEventsResponse:
        if not current_principal().is_service:
            raise PermissionDenied("only services may record audit events")
        if len(request.events) > 10_000:
            raise InvalidArgument("at most 10000 events per call")
        now = dt.datetime.now(dt.UTC)
        records = [
            (
                event.time.ToDatetime(dt.UTC) if event.HasField("time") else now,
                event.user_id[:256],
                event.project_ref[:64],
                event.engine[:32],
                event.connection_id[:64],
                event.operation[:64],
                event.target[:1024],
                event.outcome[:64],
                event.request_id[:128],
            )
            for event in request.events
        ]
        with _database_errors():
            async with self._pool.acquire() as conn:
                await conn.copy_records_to_table(
                    "audit_log",
                    schema_name="platform",
                    columns=[
                        "time",
                        "user_id",
                        "project_ref",
                        "engine",
                        "connection_id",
                        "operation",
                        "target",
                        "outcome",
                        "request_id",
                    ],
                    records=records,
                )
        return registry_pb2.RecordAuditEventsResponse(recorded=len(records))

    async def ListAuditEvents(
        self, request: registry_pb2.ListAuditEventsRequest, context: grpc.aio.ServicerContext[Any, Any]
    ) -> registry_pb2.ListAuditEventsResponse:
        await self._project_for(current_principal(), request.project_ref, Role.ROLE_ADMIN)
        limit = page_limit(request.limit)
        before = decode_cursor(request.cursor)
        before_id = int(before) if before and before.isdigit() else None
        if before is not None and before_id is None:
            raise InvalidArgument("cursor is not one this API gave out", details={"field": "cursor"})
        with _database_errors():
            rows = await self._pool.fetch(
                """
                SELECT * FROM platform.audit_log
                WHERE project_ref = $1 AND ($2::bigint IS NULL OR id < $2)
                  AND ($3 = '' OR user_id = $3) AND ($4 = '' OR operation = $4) AND ($5 = '' OR engine = $5)
                  AND ($6::timestamptz IS NULL OR time >= $6) AND ($7::timestamptz IS NULL OR time < $7)
                ORDER BY id DESC LIMIT $8
                """,
                request.project_ref,
                before_id,
                request.user_id,
                request.operation,
                request.engine,
                request.since.ToDatetime(dt.UTC) if request.HasField("since") else None,
                request.until.ToDatetime(dt.UTC) if request.HasField("until") else None,
                limit + 1,
            )
        return registry_pb2.ListAuditEventsResponse(
            events=[
                registry_pb2.AuditEvent(
                    id=row["id"],
                    time=_timestamp(row["time"]),
                    user_id=row["user_id"],
                    project_ref=row["project_ref"],
                    engine=row["engine"],
                    connection_id=row["connection_id"],
                    operation=row["operation"],
                    target=row["target"],
                    outcome=row["outcome"],
                    request_id=row["request_id"],
                )
                for row in rows[:limit]
            ],
            next_cursor=encode_cursor(str(rows[limit - 1]["id"])) if len(rows) > limit else "",
        )


def _parse_uuid(value: str) -> uuid.UUID:
    try:
        return uuid.UUID(value)
    except ValueError:
        raise NotFound("connection not found") from None


def _check_slug(value: str, field: str) -> None:
    if not _SLUG_RE.fullmatch(value or ""):
        raise InvalidArgument(f"{field} must be 3-64 characters of a-z, 0-9 and '-'", details={"field": field})


def _check_ref(value: str) -> None:
    if not _REF_RE.fullmatch(value):
        raise InvalidArgument("ref must be 3-64 characters of a-z, 0-9 and '-'", details={"field": "ref"})


def _check_user_id(value: str) -> str:
    if not value or len(value) > 256 or not value.isprintable():
        raise InvalidArgument("user_id must be 1-256 printable characters", details={"field": "user_id"})
    return value


def _row_spec(row: asyncpg.Record) -> connspec.ConnectionSpec:
    """The stored record as a spec, without its secret."""
    return connspec.ConnectionSpec(
        database_type=connspec.ENGINE_BY_NAME[row["database_type"]],
        host=row["host"],
        port=row["port"],
        username=row["username"],
        database=row["database"],
        tls=row["tls"],
        options=json.loads(row["options"]),
    )


def _connection_conflict(exc: asyncpg.UniqueViolationError, engine: str, identifier: str) -> AlreadyExists:
    if "one_primary" in (exc.constraint_name or ""):
        return AlreadyExists(
            f"the project already has a primary {engine} connection: unset it first",
            details={"field": "is_primary"},
        )
    return AlreadyExists(f"a {engine} connection named {identifier!r} already exists", details={"field": "identifier"})
