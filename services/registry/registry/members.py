"""A project's members and their roles; a project always keeps an owner."""

from __future__ import annotations

import uuid

import asyncpg

from registry import audit
from registry.access import project_for
from registry.store import Connection, Store, database_errors, timestamp
from udb.auth import current_principal
from udb.common.v1 import common_pb2
from udb.errors import AlreadyExists, InvalidArgument, NotFound
from udb.paging import decode_cursor, encode_cursor, page_limit
from udb.registry.v1 import registry_pb2
from udb.roles import required_role_name, role_value

Role = common_pb2.Role

_MEMBERS_PAGE = (
    "SELECT user_id, role::text AS role, created_at FROM platform.members "
    "WHERE project_id = $1 AND user_id > $2 ORDER BY user_id LIMIT $3"
)
_INSERT_MEMBER = (
    "INSERT INTO platform.members (project_id, user_id, role) VALUES ($1, $2, $3) "
    "RETURNING user_id, role::text AS role, created_at"
)
_UPDATE_MEMBER = (
    "UPDATE platform.members SET role = $3, updated_at = now() WHERE project_id = $1 AND user_id = $2 "
    "RETURNING user_id, role::text AS role, created_at"
)
_DELETE_MEMBER = "DELETE FROM platform.members WHERE project_id = $1 AND user_id = $2"
_LOCK_MEMBERS = "SELECT user_id, role::text AS role FROM platform.members WHERE project_id = $1 FOR UPDATE"
_COUNT_OWNERS = "SELECT count(*) FROM platform.members WHERE project_id = $1 AND role = 'owner'"


def _check_user_id(value: str) -> str:
    if not value or len(value) > 256 or not value.isprintable():
        raise InvalidArgument("user_id must be 1-256 printable characters", details={"field": "user_id"})
    return value


def _member(row: asyncpg.Record) -> registry_pb2.Member:
    return registry_pb2.Member(
        user_id=row["user_id"], role=role_value(row["role"]), created_at=timestamp(row["created_at"])
    )


async def _lock_members(conn: Connection, project_id: uuid.UUID, user_id: str) -> str:
    """Locks the project's member rows (so two owners cannot demote each other at once) and
    returns the user's current role; NotFound when the user is no member."""
    for row in await conn.fetch(_LOCK_MEMBERS, project_id):
        if row["user_id"] == user_id:
            return str(row["role"])
    raise NotFound("the user is not a member of the project")


async def _keep_an_owner(conn: Connection, project_id: uuid.UUID) -> None:
    if await conn.fetchval(_COUNT_OWNERS, project_id) <= 1:
        raise InvalidArgument("a project keeps at least one owner")


class Members:
    """The members' RPCs: owners change them, every member may list them. Every change is audited."""

    def __init__(self, store: Store) -> None:
        self._store = store

    async def list_members(self, request: registry_pb2.ListMembersRequest) -> registry_pb2.ListMembersResponse:
        project, _ = await project_for(self._store.pool, current_principal(), request.project_ref, Role.ROLE_VIEWER)
        limit = page_limit(request.limit)
        after = decode_cursor(request.cursor) or ""
        with database_errors():
            rows = await self._store.pool.fetch(_MEMBERS_PAGE, project["id"], after, limit + 1)
        return registry_pb2.ListMembersResponse(
            members=[_member(row) for row in rows[:limit]],
            next_cursor=encode_cursor(rows[limit - 1]["user_id"]) if len(rows) > limit else "",
        )

    async def add_member(self, request: registry_pb2.AddMemberRequest) -> registry_pb2.Member:
        role = required_role_name(request.role)
        user_id = _check_user_id(request.user_id)
        project, _ = await project_for(self._store.pool, current_principal(), request.project_ref, Role.ROLE_OWNER)
        with database_errors():
            try:
                async with self._store.change() as conn:
                    row = await conn.fetchrow(_INSERT_MEMBER, project["id"], user_id, role)
                    await audit.record(conn, request.project_ref, "member.add", target=f"{user_id}:{role}")
            except asyncpg.UniqueViolationError:
                raise AlreadyExists("the user is already a member of the project") from None
        assert row is not None
        return _member(row)

    async def update_member(self, request: registry_pb2.UpdateMemberRequest) -> registry_pb2.Member:
        role = required_role_name(request.role)
        with database_errors():
            async with self._store.change() as conn:
                project, _ = await project_for(conn, current_principal(), request.project_ref, Role.ROLE_OWNER)
                current = await _lock_members(conn, project["id"], request.user_id)
                if current == "owner" and role != "owner":
                    await _keep_an_owner(conn, project["id"])
                row = await conn.fetchrow(_UPDATE_MEMBER, project["id"], request.user_id, role)
                await audit.record(conn, request.project_ref, "member.update", target=f"{request.user_id}:{role}")
        assert row is not None
        return _member(row)

    async def remove_member(self, request: registry_pb2.RemoveMemberRequest) -> registry_pb2.RemoveMemberResponse:
        with database_errors():
            async with self._store.change() as conn:
                project, _ = await project_for(conn, current_principal(), request.project_ref, Role.ROLE_OWNER)
                if await _lock_members(conn, project["id"], request.user_id) == "owner":
                    await _keep_an_owner(conn, project["id"])
                await conn.execute(_DELETE_MEMBER, project["id"], request.user_id)
                await audit.record(conn, request.project_ref, "member.remove", target=request.user_id)
        return registry_pb2.RemoveMemberResponse()
