"""Writes of roles and privileges, as postgres-meta makes them, in one transaction each. A role's
password goes into its statement as a literal and nowhere else: it is never logged, audited or
answered (pg_roles shows '********')."""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from pg_svc.ddl import Body, Change, body_list
from pg_svc.writes.objects import setting_values
from pg_svc.writes.request import Write
from udb.errors import InvalidArgument, NotFound
from udb.pg.v1 import catalog_pb2

ROLES = catalog_pb2.CATALOG_KIND_ROLES
COLUMN_PRIVILEGES = catalog_pb2.CATALOG_KIND_COLUMN_PRIVILEGES
TABLE_PRIVILEGES = catalog_pb2.CATALOG_KIND_TABLE_PRIVILEGES

#: Role attributes: (body field, keyword when true, keyword when false, postgres-meta's default
#: on create).
_ATTRIBUTES = (
    ("is_superuser", "SUPERUSER", "NOSUPERUSER", False),
    ("can_create_db", "CREATEDB", "NOCREATEDB", False),
    ("can_create_role", "CREATEROLE", "NOCREATEROLE", False),
    ("inherit_role", "INHERIT", "NOINHERIT", True),
    ("can_login", "LOGIN", "NOLOGIN", False),
    ("is_replication_role", "REPLICATION", "NOREPLICATION", False),
    ("can_bypass_rls", "BYPASSRLS", "NOBYPASSRLS", False),
)

COLUMN_PRIVILEGE_TYPES = ("ALL", "SELECT", "INSERT", "UPDATE", "REFERENCES")
TABLE_PRIVILEGE_TYPES = ("ALL", "SELECT", "INSERT", "UPDATE", "DELETE", "TRUNCATE", "REFERENCES", "TRIGGER", "MAINTAIN")
CONFIG_OPS = ("add", "replace", "remove")

# ---- roles ------------------------------------------------------------------------------------


def _role_options(body: Body, *, create: bool) -> tuple[str, list[str | None]]:
    """(template, args) of CREATE or ALTER ROLE's options: on create every attribute, with
    postgres-meta's defaults; on update those the body names."""
    template: list[str] = []
    args: list[str | None] = []
    for field, yes, no, default in _ATTRIBUTES:
        value = body.flag(field, default if create else None)
        if value is not None:
            template.append(yes if value else no)
    limit = body.integer("connection_limit")
    if limit is None and create:
        limit = -1
    if limit is not None:
        template.append(f"CONNECTION LIMIT {int(limit)}")
    for field, clause in (("password", "PASSWORD %L"), ("valid_until", "VALID UNTIL %L")):
        text = body.text(field)
        if text is not None:
            template.append(clause)
            args.append(text)
    return " ".join(template), args


def _literal_list(value: str) -> tuple[str, list[str | None]]:
    """A setting's value as comma-separated literals (postgres-meta's rule for list settings such
    as search_path)."""
    values = setting_values(value)
    return ", ".join(["%L"] * len(values)), list(values)


async def create_role(change: Change, write: Write) -> str:
    body = Body(write.body)
    name = body.required_text("name")
    options, args = _role_options(body, create=True)
    template = [f"CREATE ROLE %I WITH {options}"]
    for field, clause in (("member_of", "IN ROLE"), ("members", "ROLE"), ("admins", "ADMIN")):
        roles = body.texts(field)
        if roles:
            template.append(f"{clause} {', '.join(['%I'] * len(roles))}")
            args.extend(roles)
    change.add(" ".join(template), name, *args)
    for key, value in (body.mapping("config") or {}).items():
        if not isinstance(value, str):
            raise InvalidArgument(f"body/config/{key} must be string", details={"field": "config"})
        if key and value:
            values, value_args = _literal_list(value)
            change.add(f"ALTER ROLE %I SET %I = {values}", name, key, *value_args)
    return await change.object_named(
        ROLES, "SELECT oid FROM pg_roles WHERE rolname = $1", name, missing=f"Cannot find a role named {name}"
    )


async def update_role(change: Change, write: Write) -> str:
    body = Body(write.body)
    _, old = await change.object_fields(ROLES, write.key)
    options, args = _role_options(body, create=False)
    change.add(f"ALTER ROLE %I {options}", old["name"], *args)
    for item in body.items("config") or []:
        op = item.choice("op", CONFIG_OPS)
        path = item.text("path")
        if not path:
            raise InvalidArgument(f"Invalid config value {item.raw('value')}", details={"field": "config"})
        if op == "remove":
            change.add("ALTER ROLE %I RESET %I", old["name"], path)
        elif op is not None:
            values, value_args = _literal_list(item.text("value") or "")
            change.add(f"ALTER ROLE %I SET %I = {values}", old["name"], path, *value_args)
        else:
            raise InvalidArgument(f"Invalid config op {op}", details={"field": "config"})
    name = body.text("name")
    if name is not None:
        change.add("ALTER ROLE %I RENAME TO %I", old["name"], name)
    return await change.object(ROLES, write.key)


# ---- privileges -------------------------------------------------------------------------------

_COLUMN_ID = re.compile(r"(\d{1,10})\.(\d{1,5})")
_MAX_OID = 2**32 - 1


def _grantee(name: str) -> tuple[str, list[str | None]]:
    """PUBLIC (in any case) is the keyword; any other grantee is a role's name."""
    return ("PUBLIC", []) if name.lower() == "public" else ("%I", [name])


@dataclass(frozen=True, slots=True)
class _Privileges:
    """What grants and revokes of one kind name: how each item's target is found, and the SQL
    that names it (filled with what the lookup found)."""

    kind: int
    types: tuple[str, ...]
    #: (key of the target, arguments of ``on``), or None when the item names nothing.
    target: Callable[[Change, Body], Awaitable[tuple[Any, list[str | None]] | None]]
    on: str
    noun: str


async def _column(change: Change, item: Body) -> tuple[Any, list[str | None]] | None:
    column_id = item.required_text("column_id")
    match = _COLUMN_ID.fullmatch(column_id)
    if match is None:
        raise InvalidArgument(f'{item.path}/column_id must match pattern "^(\\d+)\\.(\\d+)$"')
    if int(match[1]) > _MAX_OID or int(match[2]) > 2**15 - 1:
        return None
    column = await change.row(
        "SELECT attname, attrelid::regclass::text AS relation FROM pg_attribute"
        " WHERE attrelid = $1::oid AND attnum = $2::int2 AND attnum > 0 AND NOT attisdropped",
        int(match[1]),
        int(match[2]),
    )
    return None if column is None else (column_id, [column["attname"], column["relation"]])


async def _relation(change: Change, item: Body) -> tuple[Any, list[str | None]] | None:
    relation_id = item.integer("relation_id", required=True)
    if relation_id is None or not 0 <= relation_id <= _MAX_OID:
        return None
    relation = await change.value("SELECT oid::regclass::text FROM pg_class WHERE oid = $1::oid", relation_id)
    return None if relation is None else (relation_id, [relation])


COLUMN_GRANTS = _Privileges(COLUMN_PRIVILEGES, COLUMN_PRIVILEGE_TYPES, _column, "(%I) ON %s", "a column with ID {}")
TABLE_GRANTS = _Privileges(TABLE_PRIVILEGES, TABLE_PRIVILEGE_TYPES, _relation, "ON TABLE %s", "a relation with ID {}")


def change_privileges(privileges: _Privileges, *, grant: bool) -> Callable[[Change, Write], Awaitable[str]]:
    """The handler of grants (or revokes) of ``privileges``: one statement per item of the
    body's array; the reply is the privileges of the targets touched, as they are after."""

    async def handler(change: Change, write: Write) -> str:
        keys: list[Any] = []
        for item in body_list(write.body):
            found = await privileges.target(change, item)
            if found is None:
                key = item.raw("column_id") if privileges is COLUMN_GRANTS else item.raw("relation_id")
                missing = "Cannot find " + privileges.noun.format(key)
                # postgres-meta answers a revoke's missing target 404, a grant's 400.
                raise InvalidArgument(missing) if grant else NotFound(missing)
            key, on_args = found
            privilege = item.choice("privilege_type", privileges.types)
            grantee, grantee_args = _grantee(item.required_text("grantee"))
            if grant:
                option = " WITH GRANT OPTION" if item.flag("is_grantable", False) else ""
                change.add(f"GRANT {privilege} {privileges.on} TO {grantee}{option}", *on_args, *grantee_args)
            else:
                change.add(f"REVOKE {privilege} {privileges.on} FROM {grantee}", *on_args, *grantee_args)
            if key not in keys:
                keys.append(key)
        return await change.objects(privileges.kind, keys)

    return handler
