"""Organizations and their projects (a project's own JWT secret and API keys are made with it)."""

from __future__ import annotations

import re
import secrets
import string
import uuid

import asyncpg

from registry import audit
from registry.access import PROJECT_COLUMNS, organization_for, project_for, projects_with_role
from registry.secrets import credential_aad
from registry.store import Connection, Store, database_errors, timestamp
from udb.auth import current_principal, mint_token
from udb.common.v1 import common_pb2
from udb.crypto import SecretBox
from udb.errors import InvalidArgument, PermissionDenied
from udb.paging import decode_cursor, encode_cursor, page_limit
from udb.registry.v1 import registry_pb2
from udb.roles import role_value

Role = common_pb2.Role

_REF_ALPHABET = string.ascii_lowercase
_SLUG_RE = re.compile(r"[a-z0-9]([a-z0-9-]{1,62}[a-z0-9])")
_REF_RE = re.compile(r"[a-z0-9-]{3,64}")
#: A project's API keys are long-lived: ten years.
_KEY_TTL_S = 10 * 365 * 24 * 3600.0

_ORGANIZATIONS_PAGE = """
    SELECT o.id, o.name, o.slug, o.created_at FROM platform.organizations o
    WHERE o.slug > $1 AND ($2 OR o.id IN (
        SELECT organization_id FROM platform.organization_members WHERE user_id = $3
        UNION SELECT p.organization_id FROM platform.projects p
          JOIN platform.members m ON m.project_id = p.id WHERE m.user_id = $3))
    ORDER BY o.slug LIMIT $4
"""
_INSERT_ORGANIZATION = (
    "INSERT INTO platform.organizations (name, slug) VALUES ($1, $2) RETURNING id, name, slug, created_at"
)
_INSERT_ORGANIZATION_OWNER = (
    "INSERT INTO platform.organization_members (organization_id, user_id, role) VALUES ($1, $2, 'owner')"
)
_RENAME_ORGANIZATION = (
    "UPDATE platform.organizations SET name = $2, updated_at = now() WHERE id = $1 RETURNING id, name, slug, created_at"
)
_COUNT_PROJECTS = "SELECT count(*) FROM platform.projects WHERE organization_id = $1"
_DELETE_ORGANIZATION = "DELETE FROM platform.organizations WHERE id = $1"

_PROJECTS_PAGE = projects_with_role("$3") + (
    "WHERE p.ref > $1 AND ($2 OR m.user_id IS NOT NULL) AND ($4 = '' OR o.slug = $4) ORDER BY p.ref LIMIT $5"
)
_INSERT_PROJECT = f"""
    WITH p AS (
      INSERT INTO platform.projects (id, organization_id, ref, name) VALUES ($1, $2, $3, $4)
      RETURNING *)
    SELECT {PROJECT_COLUMNS} FROM p JOIN platform.organizations o ON o.id = p.organization_id
"""
_INSERT_PROJECT_OWNER = "INSERT INTO platform.members (project_id, user_id, role) VALUES ($1, $2, 'owner')"
_INSERT_CREDENTIALS = """
    INSERT INTO platform.credentials
      (project_id, anon_key, service_role_key_encrypted, jwt_secret_encrypted, key_id)
    VALUES ($1, $2, $3, $4, $5)
"""
_RENAME_PROJECT = f"""
    WITH p AS (UPDATE platform.projects SET name = $2, updated_at = now() WHERE id = $1 RETURNING *)
    SELECT {PROJECT_COLUMNS} FROM p JOIN platform.organizations o ON o.id = p.organization_id
"""
_DELETE_PROJECT = "DELETE FROM platform.projects WHERE id = $1"


def _check_name(value: str) -> str:
    name = value.strip()
    if not 1 <= len(name) <= 200:
        raise InvalidArgument("name must be 1-200 characters", details={"field": "name"})
    return name


def _check_slug(value: str) -> None:
    if not _SLUG_RE.fullmatch(value or ""):
        raise InvalidArgument("slug must be 3-64 characters of a-z, 0-9 and '-'", details={"field": "slug"})


def _check_ref(value: str) -> None:
    if not _REF_RE.fullmatch(value):
        raise InvalidArgument("ref must be 3-64 characters of a-z, 0-9 and '-'", details={"field": "ref"})


def _organization(row: asyncpg.Record) -> registry_pb2.Organization:
    return registry_pb2.Organization(
        id=str(row["id"]), name=row["name"], slug=row["slug"], created_at=timestamp(row["created_at"])
    )


def _project(row: asyncpg.Record, role: str | None) -> registry_pb2.Project:
    return registry_pb2.Project(
        id=str(row["id"]),
        ref=row["ref"],
        name=row["name"],
        organization_id=str(row["organization_id"]),
        organization_slug=row["organization_slug"],
        created_at=timestamp(row["created_at"]),
        caller_role=role_value(role),
    )


class Organizations:
    """The organizations' and projects' RPCs. Every change is audited (an organization's with an
    empty project ref)."""

    def __init__(self, store: Store, box: SecretBox) -> None:
        self._store = store
        self._box = box

    # ---- organizations -------------------------------------------------------------------

    async def list_organizations(
        self, request: registry_pb2.ListOrganizationsRequest
    ) -> registry_pb2.ListOrganizationsResponse:
        principal = current_principal()
        limit = page_limit(request.limit)
        after = decode_cursor(request.cursor) or ""
        with database_errors():
            rows = await self._store.pool.fetch(
                _ORGANIZATIONS_PAGE, after, principal.is_service, principal.subject, limit + 1
            )
        return registry_pb2.ListOrganizationsResponse(
            organizations=[_organization(row) for row in rows[:limit]],
            next_cursor=encode_cursor(rows[limit - 1]["slug"]) if len(rows) > limit else "",
        )

    async def get_organization(self, request: registry_pb2.GetOrganizationRequest) -> registry_pb2.Organization:
        row, _ = await organization_for(self._store.pool, current_principal(), request.slug)
        return _organization(row)

    async def create_organization(self, request: registry_pb2.CreateOrganizationRequest) -> registry_pb2.Organization:
        principal = current_principal()
        name = _check_name(request.name)
        _check_slug(request.slug)
        with database_errors():
            async with self._store.pool.acquire() as conn, conn.transaction():
                row = await conn.fetchrow(_INSERT_ORGANIZATION, name, request.slug)
                assert row is not None
                if not principal.is_service:
                    await conn.execute(_INSERT_ORGANIZATION_OWNER, row["id"], principal.subject)
                await audit.record(conn, "", "organization.create", target=request.slug)
        return _organization(row)

    async def update_organization(self, request: registry_pb2.UpdateOrganizationRequest) -> registry_pb2.Organization:
        row, standing = await organization_for(self._store.pool, current_principal(), request.slug)
        if standing != "owner":
            raise PermissionDenied("only the organization's owner may change it")
        if request.HasField("name"):
            name = _check_name(request.name)
            with database_errors():
                async with self._store.pool.acquire() as conn, conn.transaction():
                    updated = await conn.fetchrow(_RENAME_ORGANIZATION, row["id"], name)
                    await audit.record(conn, "", "organization.update", target=request.slug)
            assert updated is not None
            row = updated
        return _organization(row)

    async def delete_organization(
        self, request: registry_pb2.DeleteOrganizationRequest
    ) -> registry_pb2.DeleteOrganizationResponse:
        row, standing = await organization_for(self._store.pool, current_principal(), request.slug)
        if standing != "owner":
            raise PermissionDenied("only the organization's owner may delete it")
        with database_errors():
            async with self._store.pool.acquire() as conn, conn.transaction():
                if await conn.fetchval(_COUNT_PROJECTS, row["id"]):
                    raise InvalidArgument("the organization still has projects: delete them first")
                await conn.execute(_DELETE_ORGANIZATION, row["id"])
                await audit.record(conn, "", "organization.delete", target=request.slug)
        return registry_pb2.DeleteOrganizationResponse()

    # ---- projects ------------------------------------------------------------------------

    async def list_projects(self, request: registry_pb2.ListProjectsRequest) -> registry_pb2.ListProjectsResponse:
        principal = current_principal()
        limit = page_limit(request.limit)
        after = decode_cursor(request.cursor) or ""
        with database_errors():
            rows = await self._store.pool.fetch(
                _PROJECTS_PAGE, after, principal.is_service, principal.subject, request.organization_slug, limit + 1
            )
        return registry_pb2.ListProjectsResponse(
            projects=[_project(row, row["role"]) for row in rows[:limit]],
            next_cursor=encode_cursor(rows[limit - 1]["ref"]) if len(rows) > limit else "",
        )

    async def get_project(self, request: registry_pb2.GetProjectRequest) -> registry_pb2.Project:
        row, role = await project_for(self._store.pool, current_principal(), request.ref, Role.ROLE_VIEWER)
        return _project(row, role)

    async def create_project(self, request: registry_pb2.CreateProjectRequest) -> registry_pb2.Project:
        principal = current_principal()
        name = _check_name(request.name)
        ref = request.ref or "".join(secrets.choice(_REF_ALPHABET) for _ in range(20))
        _check_ref(ref)
        organization, standing = await organization_for(self._store.pool, principal, request.organization_slug)
        if standing not in ("owner", "member"):
            raise PermissionDenied("only members of the organization may create projects in it")
        project_id = uuid.uuid4()
        with database_errors():
            async with self._store.change() as conn:
                row = await conn.fetchrow(_INSERT_PROJECT, project_id, organization["id"], ref, name)
                assert row is not None
                await self._create_credentials(conn, str(project_id), ref)
                await audit.record(conn, ref, "project.create", target=name)
                if not principal.is_service:
                    await conn.execute(_INSERT_PROJECT_OWNER, project_id, principal.subject)
        return _project(row, None if principal.is_service else "owner")

    async def _create_credentials(self, conn: Connection, project_id: str, ref: str) -> None:
        """The project's own JWT secret and API keys (signed with it), secrets sealed."""
        jwt_secret = secrets.token_urlsafe(32)
        anon_key = mint_token(jwt_secret, subject=f"anon:{ref}", role="anon", ttl_s=_KEY_TTL_S)
        service_key = mint_token(jwt_secret, subject=f"service:{ref}", role="service_role", ttl_s=_KEY_TTL_S)
        sealed_service, key_id = self._box.encrypt(
            service_key, associated_data=credential_aad(project_id, "service_role_key_encrypted")
        )
        sealed_secret, _ = self._box.encrypt(
            jwt_secret, associated_data=credential_aad(project_id, "jwt_secret_encrypted")
        )
        await conn.execute(_INSERT_CREDENTIALS, uuid.UUID(project_id), anon_key, sealed_service, sealed_secret, key_id)

    async def update_project(self, request: registry_pb2.UpdateProjectRequest) -> registry_pb2.Project:
        row, role = await project_for(self._store.pool, current_principal(), request.ref, Role.ROLE_ADMIN)
        if request.HasField("name"):
            name = _check_name(request.name)
            with database_errors():
                async with self._store.change() as conn:
                    updated = await conn.fetchrow(_RENAME_PROJECT, row["id"], name)
                    await audit.record(conn, request.ref, "project.update", target=name)
            assert updated is not None
            row = updated
        return _project(row, role)

    async def delete_project(self, request: registry_pb2.DeleteProjectRequest) -> registry_pb2.DeleteProjectResponse:
        row, _ = await project_for(self._store.pool, current_principal(), request.ref, Role.ROLE_OWNER)
        with database_errors():
            async with self._store.change() as conn:
                await conn.execute(_DELETE_PROJECT, row["id"])
                await audit.record(conn, request.ref, "project.delete", target=request.ref)
        return registry_pb2.DeleteProjectResponse()
