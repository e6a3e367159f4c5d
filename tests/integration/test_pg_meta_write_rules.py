"""The rules around postgres-meta's writes on `/pg-meta/[ref]`: who may make them, what the audit
log keeps of them, that a failed write changes nothing, and that hostile names and expressions
stay what they are."""

from __future__ import annotations

import uuid
from typing import Any

import pytest
import pytest_asyncio
from harness import System, audit_rows
from pg_meta import SHOP_SQL, PgDatabase, error_text, new_database

pytestmark = pytest.mark.integration

#: Every write route, with a body that would do something: (method, route, body, admin only).
WRITES: list[tuple[str, str, Any, bool]] = [
    ("POST", "tables", {"name": "w_refused"}, False),
    ("PATCH", "tables/{notes}", {"comment": "refused"}, False),
    ("DELETE", "tables/{notes}", None, False),
    ("POST", "columns", {"table_id": "{notes}", "name": "refused", "type": "text"}, False),
    ("PATCH", "columns/{notes}.2", {"comment": "refused"}, False),
    ("DELETE", "columns/{notes}.2", None, False),
    ("POST", "schemas", {"name": "w_refused"}, False),
    ("PATCH", "schemas/{schema}", {"name": "w_refused"}, False),
    ("DELETE", "schemas/{schema}", None, False),
    ("POST", "functions", {"name": "w_refused", "definition": "select 1", "return_type": "int"}, False),
    ("PATCH", "functions/{function}", {"definition": "select 2"}, False),
    ("DELETE", "functions/{function}", None, False),
    ("POST", "policies", {"name": "w_refused", "schema": "public", "table": "notes"}, False),
    ("PATCH", "policies/{policy}", {"name": "w_refused"}, False),
    ("DELETE", "policies/{policy}", None, False),
    (
        "POST",
        "triggers",
        {
            "name": "w_refused",
            "table": "orders",
            "schema": "shop",
            "function_schema": "shop",
            "function_name": "touch",
            "activation": "AFTER",
            "events": ["INSERT"],
        },
        False,
    ),
    ("PATCH", "triggers/{trigger}", {"enabled_mode": "DISABLED"}, False),
    ("DELETE", "triggers/{trigger}", None, False),
    ("POST", "extensions", {"name": "hstore"}, False),
    ("PATCH", "extensions/citext", {"schema": "shop"}, False),
    ("DELETE", "extensions/citext", None, False),
    ("POST", "publications", {"name": "w_refused", "tables": []}, False),
    ("PATCH", "publications/{publication}", {"name": "w_refused"}, False),
    ("DELETE", "publications/{publication}", None, False),
    ("POST", "roles", {"name": "w_refused"}, True),
    ("PATCH", "roles/{role}", {"connection_limit": 1}, True),
    ("DELETE", "roles/{role}", None, True),
    (
        "POST",
        "column-privileges",
        [{"column_id": "{notes}.2", "grantee": "udb_shop_reader", "privilege_type": "SELECT"}],
        True,
    ),
    (
        "DELETE",
        "column-privileges",
        [{"column_id": "{notes}.2", "grantee": "udb_shop_reader", "privilege_type": "SELECT"}],
        True,
    ),
    (
        "POST",
        "table-privileges",
        [{"relation_id": "{notes}", "grantee": "udb_shop_reader", "privilege_type": "SELECT"}],
        True,
    ),
    (
        "DELETE",
        "table-privileges",
        [{"relation_id": "{notes}", "grantee": "udb_shop_reader", "privilege_type": "SELECT"}],
        True,
    ),
]


@pytest_asyncio.fixture(scope="module")
async def scratch(system: System) -> PgDatabase:
    """A database with our realistic schema that these tests change, with a viewer, a developer
    and an admin, and the ids of a few of its objects."""
    database = await new_database(system, "udb_wrules", SHOP_SQL)
    for role in ("viewer", "developer", "admin"):
        user = f"{role}-{uuid.uuid4().hex[:6]}"
        await system.add_member(database.ref, database.owner, user, role)
        database.names[role] = user
    await database.fetchval(
        "DO $$ BEGIN CREATE ROLE udb_rules_role NOLOGIN; EXCEPTION WHEN duplicate_object THEN NULL; END $$"
    )
    ids = {
        "notes": "SELECT 'public.notes'::regclass::oid::int8",
        "schema": "SELECT oid::int8 FROM pg_namespace WHERE nspname = 'audit'",
        "function": "SELECT 'shop.order_count'::regproc::oid::int8",
        "policy": "SELECT oid::int8 FROM pg_policy WHERE polname = 'orders_read'",
        "trigger": "SELECT oid::int8 FROM pg_trigger WHERE tgname = 'orders_paid'",
        "publication": "SELECT oid::int8 FROM pg_publication WHERE pubname = 'shop_nothing'",
        "role": "SELECT oid::int8 FROM pg_roles WHERE rolname = 'udb_rules_role'",
    }
    for name, sql in ids.items():
        database.names[name] = await database.fetchval(sql)
    return database


def _filled(value: Any, names: dict[str, Any]) -> Any:
    if isinstance(value, str):
        filled = value.format(**names)
        return int(filled) if value.startswith("{") and value.endswith("}") and filled.isdigit() else filled
    if isinstance(value, list):
        return [_filled(item, names) for item in value]
    if isinstance(value, dict):
        return {key: _filled(item, names) for key, item in value.items()}
    return value


async def _send(system: System, db: PgDatabase, user: str, method: str, route: str, body: Any) -> Any:
    kwargs = {} if body is None else {"json": _filled(body, db.names)}
    return await system.http.request(method, db.path(_filled(route, db.names)), headers=system.headers(user), **kwargs)


@pytest.mark.parametrize(("method", "route", "body", "admin_only"), WRITES, ids=lambda v: str(v)[:30])
async def test_roles_decide_who_writes(
    system: System, scratch: PgDatabase, method: str, route: str, body: Any, admin_only: bool
) -> None:
    """A viewer is refused every write (403) and a stranger does not see the project (404); a
    developer is refused roles and privileges; nothing changes for a refused write."""
    state = "SELECT (SELECT count(*) FROM pg_class) || '/' || (SELECT count(*) FROM pg_roles)"
    before = await scratch.fetchval(state)
    refused = ["viewer", "developer"] if admin_only else ["viewer"]
    for role in refused:
        reply = await _send(system, scratch, scratch.names[role], method, route, body)
        assert reply.status_code == 403, (role, reply.text)
    stranger = await _send(system, scratch, f"stranger-{uuid.uuid4().hex[:6]}", method, route, body)
    assert stranger.status_code == 404, stranger.text
    unauthenticated = await system.http.request(method, scratch.path(_filled(route, scratch.names)))
    assert unauthenticated.status_code == 401
    assert await scratch.fetchval(state) == before


async def test_developer_changes_the_schema_and_admin_the_roles(system: System, scratch: PgDatabase) -> None:
    """A developer creates, changes and drops a table and its column; an admin creates and drops
    a role and grants and revokes a privilege."""
    developer, admin = scratch.names["developer"], scratch.names["admin"]
    table = await _send(system, scratch, developer, "POST", "tables", {"name": "w_dev", "comment": "mine"})
    assert table.status_code == 200, table.text
    table_id = table.json()["id"]
    column = await _send(
        system, scratch, developer, "POST", "columns", {"table_id": table_id, "name": "c", "type": "int4"}
    )
    assert column.status_code == 200, column.text
    assert (await _send(system, scratch, developer, "PATCH", f"tables/{table_id}", {"name": "w_dev2"})).json()[
        "name"
    ] == "w_dev2"
    role = await _send(system, scratch, admin, "POST", "roles", {"name": f"w_role_{uuid.uuid4().hex[:6]}"})
    assert role.status_code == 200, role.text
    grant = [{"relation_id": table_id, "grantee": role.json()["name"], "privilege_type": "SELECT"}]
    granted = await _send(system, scratch, admin, "POST", "table-privileges", grant)
    assert granted.status_code == 200, granted.text
    assert {"grantee": role.json()["name"], "privilege_type": "SELECT"}.items() <= next(
        p for p in granted.json()[0]["privileges"] if p["grantee"] == role.json()["name"]
    ).items()
    assert (await _send(system, scratch, admin, "DELETE", "table-privileges", grant)).status_code == 200
    assert (await _send(system, scratch, developer, "DELETE", f"tables/{table_id}", None)).status_code == 200
    assert (await _send(system, scratch, admin, "DELETE", f"roles/{role.json()['id']}", None)).status_code == 200


async def test_writes_are_audited_with_names_and_no_password(system: System, scratch: PgDatabase) -> None:
    """Each write leaves an audit row whose operation is the kind and verb (table.create,
    role.update, table_privilege.grant, ...) and whose target names the object, never a role's
    password; a refused write is audited with its outcome."""
    admin = scratch.names["admin"]
    secret = f"pw-{uuid.uuid4().hex}"
    suffix = uuid.uuid4().hex[:6]
    table = (
        await _send(system, scratch, admin, "POST", "tables", {"name": f"w_audit_{suffix}", "schema": "shop"})
    ).json()
    await _send(system, scratch, admin, "POST", "columns", {"table_id": table["id"], "name": "c", "type": "text"})
    role = (
        await _send(system, scratch, admin, "POST", "roles", {"name": f"w_audit_{suffix}", "password": secret})
    ).json()
    await _send(system, scratch, admin, "PATCH", f"roles/{role['id']}", {"password": secret + "2"})
    grant = [{"relation_id": table["id"], "grantee": role["name"], "privilege_type": "SELECT"}]
    await _send(system, scratch, admin, "POST", "table-privileges", grant)
    await _send(system, scratch, admin, "DELETE", "table-privileges", grant)
    await _send(system, scratch, scratch.names["viewer"], "DELETE", f"tables/{table['id']}", None)
    await _send(system, scratch, admin, "DELETE", f"tables/{table['id']}?cascade=true", None)
    await _send(system, scratch, admin, "DELETE", f"roles/{role['id']}", None)
    expected = {
        ("table.create", f"shop.w_audit_{suffix}", "ok"),
        ("column.create", f"{table['id']}.c", "ok"),
        ("role.create", f"w_audit_{suffix}", "ok"),
        ("role.update", str(role["id"]), "ok"),
        ("table_privilege.grant", f"{table['id']}:w_audit_{suffix}", "ok"),
        ("table_privilege.revoke", f"{table['id']}:w_audit_{suffix}", "ok"),
        ("table.delete", str(table["id"]), "permission_denied"),
        ("table.delete", str(table["id"]), "ok"),
        ("role.delete", str(role["id"]), "ok"),
    }
    rows = await audit_rows(
        system,
        scratch.ref,
        scratch.owner,
        until=lambda rows: expected <= {(r["operation"], r["target"], r["outcome"]) for r in rows},
    )
    assert all(r["engine"] == "postgres" for r in rows if r["operation"].startswith(("table", "role", "column")))
    assert secret not in str(rows)


async def test_a_failed_write_changes_nothing(system: System, scratch: PgDatabase) -> None:
    """A write whose last statement fails (a rename, then a replica identity by a missing index)
    leaves the table as it was: every statement of a write runs in one transaction."""
    owner = scratch.owner
    table = (await _send(system, scratch, owner, "POST", "tables", {"name": "w_atomic"})).json()
    reply = await _send(
        system,
        scratch,
        owner,
        "PATCH",
        f"tables/{table['id']}",
        {
            "rls_enabled": True,
            "comment": "changed",
            "replica_identity": "INDEX",
            "replica_identity_index": "missing",
            "name": "w_renamed",
        },
    )
    assert reply.status_code == 400, reply.text
    assert error_text(reply.json()) == 'index "missing" for table "w_atomic" does not exist'
    now = (await _send(system, scratch, owner, "GET", f"tables/{table['id']}", None)).json()
    assert (now["name"], now["rls_enabled"], now["comment"]) == ("w_atomic", False, None)
    await _send(system, scratch, owner, "DELETE", f"tables/{table['id']}", None)


async def test_hostile_names_are_quoted_and_expressions_stay_single_statements(
    system: System, scratch: PgDatabase
) -> None:
    """Names with quotes, semicolons and comments become those exact names; an expression cannot
    end its statement and start another, nor can an option name SQL of its own."""
    owner = scratch.owner
    hostile = 'w"; DROP TABLE public.notes; --'
    table = await _send(
        system, scratch, owner, "POST", "tables", {"name": hostile, "schema": "public", "comment": "x'; --"}
    )
    assert table.status_code == 200, table.text
    assert (table.json()["name"], table.json()["comment"]) == (hostile, "x'; --")
    column = await _send(
        system, scratch, owner, "POST", "columns", {"table_id": table.json()["id"], "name": 'c") --', "type": "int4"}
    )
    assert column.status_code == 200, column.text
    smuggled = await _send(
        system,
        scratch,
        owner,
        "POST",
        "columns",
        {"table_id": table.json()["id"], "name": "d", "type": "int4", "check": "d > 0); DROP TABLE public.notes; --"},
    )
    assert smuggled.status_code == 400
    assert "cannot insert multiple commands" in error_text(smuggled.json())
    for field, value in (("language", "sql; DROP TABLE public.notes"), ("behavior", "VOLATILE; DROP")):
        function = await _send(
            system, scratch, owner, "POST", "functions", {"name": "w_f", "definition": "select 1", field: value}
        )
        assert function.status_code == 400, function.text
    policy = await _send(
        system,
        scratch,
        owner,
        "POST",
        "policies",
        {"name": "w_p", "table": "notes", "action": "PERMISSIVE; DROP TABLE public.notes"},
    )
    assert policy.status_code == 400
    assert await scratch.fetchval("SELECT to_regclass('public.notes') IS NOT NULL")
    await _send(system, scratch, owner, "DELETE", f"tables/{table.json()['id']}", None)


async def test_bodies_are_checked(system: System, scratch: PgDatabase) -> None:
    """A body that is not JSON, not an object, lacks a required field or has one of the wrong
    type is 400 naming the field, as postgres-meta's schemas name it."""
    owner = scratch.owner
    cases = [
        (b"{not json", "the body is not valid JSON"),
        (b"[1, 2]", "body must be object"),
        (b'{"comment": "x"}', "body must have required property 'name'"),
        (b'{"name": 5}', "body/name must be string"),
        (b'{"name": "w", "comment": true}', "body/comment must be string"),
    ]
    for body, message in cases:
        reply = await system.http.post(scratch.path("tables"), content=body, headers=system.headers(owner))
        assert reply.status_code == 400, reply.text
        assert error_text(reply.json()).startswith(message), reply.text
    empty = await system.http.post(scratch.path("tables"), headers=system.headers(owner))
    assert empty.status_code == 400


async def test_settings_postgres_meta_cannot_write_back_are_kept(system: System, scratch: PgDatabase) -> None:
    """A function's settings whose values are not SQL tokens (64MB, an empty search_path) survive
    a change of its body (postgres-meta writes them back unquoted, and fails), and a function whose
    arguments have defaults is answered once made (postgres-meta looks it up by its arguments' last
    words, and fails)."""
    owner = scratch.owner
    made = await _send(
        system,
        scratch,
        owner,
        "POST",
        "functions",
        {
            "name": "w_settings",
            "args": ["a int", "b double precision DEFAULT 1.5"],
            "definition": "select 1",
            "return_type": "int",
            "config_params": {"work_mem": "64MB", "search_path": '""'},
        },
    )
    assert made.status_code == 200, made.text
    assert made.json()["config_params"] == {"work_mem": "64MB", "search_path": '""'}
    changed = await _send(system, scratch, owner, "PATCH", f"functions/{made.json()['id']}", {"definition": "select 2"})
    assert changed.status_code == 200, changed.text
    assert (changed.json()["definition"], changed.json()["config_params"]) == (
        "select 2",
        {"work_mem": "64MB", "search_path": '""'},
    )
    assert changed.json()["argument_types"] == "a integer, b double precision DEFAULT 1.5"
    await _send(system, scratch, owner, "DELETE", f"functions/{made.json()['id']}", None)


async def test_identity_generation_is_kept_when_not_named(system: System, scratch: PgDatabase) -> None:
    """Changing an ALWAYS identity column's comment leaves it ALWAYS (postgres-meta sets every
    identity column it changes to BY DEFAULT unless told otherwise)."""
    owner = scratch.owner
    table = (await _send(system, scratch, owner, "POST", "tables", {"name": "w_identity"})).json()
    body = {"table_id": table["id"], "name": "i", "type": "int8", "is_identity": True, "identity_generation": "ALWAYS"}
    column = (await _send(system, scratch, owner, "POST", "columns", body)).json()
    changed = await _send(system, scratch, owner, "PATCH", f"columns/{column['id']}", {"comment": "kept"})
    assert (changed.json()["identity_generation"], changed.json()["comment"]) == ("ALWAYS", "kept")
    await _send(system, scratch, owner, "DELETE", f"tables/{table['id']}", None)


async def test_grants_of_what_does_not_exist(system: System, scratch: PgDatabase) -> None:
    """A grant naming a relation or column that does not exist (or an id past any oid) is 400, a
    revoke 404, as postgres-meta's routes answer them; nothing is granted."""
    admin = scratch.names["admin"]
    for route, item, message in (
        ("table-privileges", {"relation_id": 2**40}, f"Cannot find a relation with ID {2**40}"),
        ("table-privileges", {"relation_id": 4294967295}, "Cannot find a relation with ID 4294967295"),
        ("column-privileges", {"column_id": f"{scratch.names['notes']}.99"}, "Cannot find a column with ID"),
    ):
        body = [{**item, "grantee": "udb_shop_reader", "privilege_type": "SELECT"}]
        granted = await _send(system, scratch, admin, "POST", route, body)
        assert (granted.status_code, error_text(granted.json()).startswith(message)) == (400, True), granted.text
        revoked = await _send(system, scratch, admin, "DELETE", route, body)
        assert (revoked.status_code, error_text(revoked.json()).startswith(message)) == (404, True), revoked.text
