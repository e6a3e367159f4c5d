"""Writes of roles and privileges, as postgres-meta makes them, in one transaction each. A role's
password goes into its statement as a literal and nowhere else: it is never logged, audited or
answered (pg_roles shows '********')."""

from __future__ import annotations

import re

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


async def delete_role(change: Change, write: Write) -> str:
    text, old = await change.object_fields(ROLES, write.key)
    change.add("DROP ROLE %I", old["name"])
    await change.run()
    return text


# ---- privileges -------------------------------------------------------------------------------

_COLUMN_ID = re.compile(r"(\d{1,10})\.(\d{1,5})")


def _grantee(name: str) -> tuple[str, list[str | None]]:
    """PUBLIC (in any case) is the keyword; any other grantee is a role's name."""
    return ("PUBLIC", []) if name.lower() == "public" else ("%I", [name])


async def _change_column_privileges(change: Change, write: Write, *, grant: bool) -> str:
    ids: list[str] = []
    for item in body_list(write.body):
        column_id = item.required_text("column_id")
        match = _COLUMN_ID.fullmatch(column_id)
        if match is None:
            raise InvalidArgument(f'{item.path}/column_id must match pattern "^(\\d+)\\.(\\d+)$"')
        privilege = item.choice("privilege_type", COLUMN_PRIVILEGE_TYPES)
        grantee, grantee_args = _grantee(item.required_text("grantee"))
        column = await change.row(
            "SELECT attname, attrelid::regclass::text AS relation FROM pg_attribute"
            " WHERE attrelid = $1::oid AND attnum = $2::int2 AND attnum > 0 AND NOT attisdropped",
            int(match[1]),
            int(match[2]),
        )
        if column is None:
            missing = f"Cannot find a column with ID {column_id}"
            raise NotFound(missing) if not grant else InvalidArgument(missing)
        if grant:
            option = " WITH GRANT OPTION" if item.flag("is_grantable", False) else ""
            template = f"GRANT {privilege} (%I) ON %s TO {grantee}{option}"
        else:
            template = f"REVOKE {privilege} (%I) ON %s FROM {grantee}"
        change.add(template, column["attname"], column["relation"], *grantee_args)
        if column_id not in ids:
            ids.append(column_id)
    return await change.objects(COLUMN_PRIVILEGES, ids)


async def grant_column_privileges(change: Change, write: Write) -> str:
    return await _change_column_privileges(change, write, grant=True)


async def revoke_column_privileges(change: Change, write: Write) -> str:
    return await _change_column_privileges(change, write, grant=False)


async def _change_table_privileges(change: Change, write: Write, *, grant: bool) -> str:
    ids: list[int] = []
    for item in body_list(write.body):
        relation_id = item.integer("relation_id", required=True) or 0
        privilege = item.choice("privilege_type", TABLE_PRIVILEGE_TYPES)
        grantee, grantee_args = _grantee(item.required_text("grantee"))
        relation: str | None = await change.value(
            "SELECT oid::regclass::text FROM pg_class WHERE oid = $1::oid", relation_id
        )
        if relation is None:
            missing = f"Cannot find a relation with ID {relation_id}"
            raise NotFound(missing) if not grant else InvalidArgument(missing)
        if grant:
            option = " WITH GRANT OPTION" if item.flag("is_grantable", False) else ""
            template = f"GRANT {privilege} ON TABLE %s TO {grantee}{option}"
        else:
            template = f"REVOKE {privilege} ON TABLE %s FROM {grantee}"
        change.add(template, relation, *grantee_args)
        if relation_id not in ids:
            ids.append(relation_id)
    return await change.objects(TABLE_PRIVILEGES, ids)


async def grant_table_privileges(change: Change, write: Write) -> str:
    return await _change_table_privileges(change, write, grant=True)


async def revoke_table_privileges(change: Change, write: Write) -> str:
    return await _change_table_privileges(change, write, grant=False)
