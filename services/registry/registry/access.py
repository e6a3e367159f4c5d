"""Who may do what: a caller's standing on an organization or a project, read where each RPC
starts (and again inside a write's transaction, so a change acts on what was checked)."""

from __future__ import annotations

import asyncpg

from registry.store import Executor, database_errors
from udb.auth import Principal, current_principal
from udb.common.v1 import common_pb2
from udb.errors import NotFound, PermissionDenied
from udb.registry.v1 import registry_pb2
from udb.roles import ROLE_BY_VALUE, role_value

Role = common_pb2.Role

PROJECT_COLUMNS = "p.id, p.ref, p.name, p.organization_id, o.slug AS organization_slug, p.created_at"


def projects_with_role(user: str) -> str:
    """The projects with their organization's slug and the role of the user bound at ``user``
    (``$2``...; NULL for a non-member): a query to add a WHERE clause to."""
    return f"""
        SELECT {PROJECT_COLUMNS}, m.role::text AS role
        FROM platform.projects p
        JOIN platform.organizations o ON o.id = p.organization_id
        LEFT JOIN platform.members m ON m.project_id = p.id AND m.user_id = {user}
    """


_PROJECT_WITH_ROLE = projects_with_role("$2") + "WHERE p.ref = $1"

_ORGANIZATION_WITH_STANDING = """
    SELECT o.id, o.name, o.slug, o.created_at,
      (SELECT role::text FROM platform.organization_members om
        WHERE om.organization_id = o.id AND om.user_id = $2) AS org_role,
      EXISTS (SELECT 1 FROM platform.projects p JOIN platform.members m ON m.project_id = p.id
        WHERE p.organization_id = o.id AND m.user_id = $2) AS project_member
    FROM platform.organizations o WHERE o.slug = $1
"""

_MEMBER_ROLE = """
    SELECT p.id, m.role::text AS role FROM platform.projects p
    JOIN platform.members m ON m.project_id = p.id AND m.user_id = $2
    WHERE p.ref = $1
"""


def _needs(required_role: int) -> PermissionDenied:
    return PermissionDenied(f"this needs the {ROLE_BY_VALUE[required_role]} role on the project")


async def project_for(
    db: Executor, principal: Principal, ref: str, required_role: int
) -> tuple[asyncpg.Record, str | None]:
    """The project and the caller's role on it (None for a service), at least ``required_role``.

    NotFound when the project does not exist or the caller is no member of it (the two are
    indistinguishable to the caller); PermissionDenied when the role is too low.
    """
    with database_errors():
        row = await db.fetchrow(_PROJECT_WITH_ROLE, ref, principal.subject)
    if row is None or (row["role"] is None and not principal.is_service):
        raise NotFound("project not found")
    if principal.is_service:
        return row, None
    role = str(row["role"])
    if role_value(role) < required_role:
        raise _needs(required_role)
    return row, role


async def organization_for(db: Executor, principal: Principal, slug: str) -> tuple[asyncpg.Record, str]:
    """The organization and the caller's standing in it: 'owner', 'member', or
    'project-member' (who sees it through one of its projects but may not add projects);
    NotFound when the caller has none."""
    with database_errors():
        row = await db.fetchrow(_ORGANIZATION_WITH_STANDING, slug, principal.subject)
    if row is None:
        raise NotFound("organization not found")
    if principal.is_service:
        return row, "owner"
    if row["org_role"]:
        return row, str(row["org_role"])
    if row["project_member"]:
        return row, "project-member"
    raise NotFound("organization not found")


async def check_access(db: Executor, request: registry_pb2.CheckAccessRequest) -> registry_pb2.CheckAccessResponse:
    """A user's role on a project, at least the required one (viewer when unset)."""
    principal = current_principal()
    if not principal.is_service and request.user_id != principal.subject:
        raise PermissionDenied("only services may check another user's access")
    with database_errors():
        row = await db.fetchrow(_MEMBER_ROLE, request.project_ref, request.user_id)
    if row is None:
        raise NotFound("project not found")
    role = role_value(row["role"])
    required = request.required_role or Role.ROLE_VIEWER
    if role < required:
        raise _needs(required)
    return registry_pb2.CheckAccessResponse(project_id=str(row["id"]), role=role)
