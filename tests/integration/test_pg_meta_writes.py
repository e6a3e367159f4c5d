"""postgres-meta's writes, side by side: each case of tests/pg_meta_cases.py is sent to postgres-meta
on one database and to us on its twin (both cloned from one template holding postgres-meta's test
schema and ours). Every reply must be the same (status, and the JSON with object ids set aside, or
the error's message), our replies must pass postgres-meta's own assertions where the case ports
them, and afterwards the two databases must be the same (their pg_dump --schema-only). Cases that
change roles, which belong to the cluster, run on one side and then the other, and compare the
roles they leave after every step."""

from __future__ import annotations

import re
import subprocess
import uuid
from collections.abc import AsyncIterator
from typing import Any

import asyncpg
import devstack
import pytest
import pytest_asyncio
from harness import System
from pg_meta import POSTGRES_META_SQL, SHOP_SQL, PgDatabase, PostgresMetaServers, error_text, ours, theirs
from pg_meta_cases import CASES, Case, Step

pytestmark = [pytest.mark.integration, pytest.mark.postgres_meta]

#: Fields that hold an object's oid: new objects get other oids on the other side.
_OID_FIELDS = frozenset({"id", "table_id", "relation_id", "type_id", "return_type_id", "type_relation_id"})
_FIRST_USER_OID = 16384
_COLUMN_ID = re.compile(r"^(\d+)\.(\d+)$")
#: An oid of a user object in a message ("Cannot find a table with ID 16390").
_OID_IN_TEXT = re.compile(r"\b(?:1[6-9]\d{3}|[2-9]\d{4}|\d{6,})\b")


def normalized(value: Any) -> Any:
    """A reply with the oids of user objects (and of the columns' "oid.number" ids) set aside, and
    without the counters of the moment (a role's active connections)."""
    if isinstance(value, list):
        return sorted((normalized(item) for item in value), key=repr)
    if not isinstance(value, dict):
        return value
    out: dict[str, Any] = {}
    for key, item in value.items():
        if key == "active_connections":
            continue
        if key in _OID_FIELDS and isinstance(item, int) and item >= _FIRST_USER_OID:
            item = "<oid>"
        elif key in ("id", "column_id") and isinstance(item, str) and _COLUMN_ID.match(item):
            item = _COLUMN_ID.sub(lambda m: f"<oid>.{m[2]}" if int(m[1]) >= _FIRST_USER_OID else m[0], item)
        out[key] = normalized(item)
    return out


def matches(actual: Any, expected: Any) -> bool:
    """``expected`` is a subset of ``actual``: its keys with equal values, arrays of one length
    matched item by item (postgres-meta's toMatchObject)."""
    if isinstance(expected, dict):
        return isinstance(actual, dict) and all(k in actual and matches(actual[k], v) for k, v in expected.items())
    if isinstance(expected, list):
        if not isinstance(actual, list) or len(actual) != len(expected):
            return False
        key = repr
        return all(
            matches(a, e) for a, e in zip(sorted(actual, key=key), sorted(expected, key=key), strict=True)
        ) or all(matches(a, e) for a, e in zip(actual, expected, strict=True))
    return bool(actual == expected)


# ---- the two sides ---------------------------------------------------------------------------

_LOOKUPS = {
    "rel": (
        "SELECT c.oid::int8 FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace"
        " WHERE n.nspname = $1 AND c.relname = $2",
        2,
    ),
    "col": (
        "SELECT a.attrelid::text || '.' || a.attnum::text FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid"
        " JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = $1 AND c.relname = $2"
        " AND a.attname = $3 AND NOT a.attisdropped",
        3,
    ),
    "schema": ("SELECT oid::int8 FROM pg_namespace WHERE nspname = $1", 1),
    "fn": (
        "SELECT p.oid::int8 FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace"
        " WHERE n.nspname = $1 AND p.proname = $2",
        2,
    ),
    "policy": (
        "SELECT p.oid::int8 FROM pg_policy p JOIN pg_class c ON c.oid = p.polrelid JOIN pg_namespace n"
        " ON n.oid = c.relnamespace WHERE n.nspname = $1 AND c.relname = $2 AND p.polname = $3",
        3,
    ),
    "trigger": (
        "SELECT t.oid::int8 FROM pg_trigger t JOIN pg_class c ON c.oid = t.tgrelid JOIN pg_namespace n"
        " ON n.oid = c.relnamespace WHERE n.nspname = $1 AND c.relname = $2 AND t.tgname = $3",
        3,
    ),
    "pub": ("SELECT oid::int8 FROM pg_publication WHERE pubname = $1", 1),
    "role": ("SELECT oid::int8 FROM pg_roles WHERE rolname = $1", 1),
}
_PLACEHOLDER = re.compile(r"\{([a-z]+:)?([^{}]+)\}")


class Side:
    """One side of a case: a database, how requests reach it, and the ids its steps saved."""

    def __init__(self, name: str, database: PgDatabase, system: System) -> None:
        self.name = name
        self.database = database
        self.system = system
        self.saved: dict[str, Any] = {}

    async def resolve(self, text: str) -> Any:
        """A placeholder's value on this side (a whole placeholder keeps its JSON type)."""

        async def value(match: re.Match[str]) -> Any:
            kind, name = (match[1] or "").rstrip(":"), match[2]
            if not kind:
                return self.saved[name]
            sql, parts = _LOOKUPS[kind]
            found = await self.database.fetchval(sql, *name.split(".", parts - 1))
            assert found is not None, f"{self.name}: nothing named {match[0]}"
            return found

        whole = _PLACEHOLDER.fullmatch(text)
        if whole:
            return await value(whole)
        pieces, last = [], 0
        for match in _PLACEHOLDER.finditer(text):
            pieces.extend([text[last : match.start()], str(await value(match))])
            last = match.end()
        return "".join([*pieces, text[last:]])

    async def body(self, value: Any) -> Any:
        if isinstance(value, str):
            return await self.resolve(value)
        if isinstance(value, list):
            return [await self.body(item) for item in value]
        if isinstance(value, dict):
            return {key: await self.body(item) for key, item in value.items()}
        return value

    async def send(self, step: Step) -> tuple[int, Any]:
        route = await self.resolve(step.route)
        kwargs: dict[str, Any] = {} if step.body is None else {"json": await self.body(step.body)}
        if self.name == "postgres-meta":
            reply = await theirs(self.database, step.method, route, **kwargs)
        else:
            reply = await ours(self.system, self.database, step.method, route, **kwargs)
        body = reply.json() if reply.content else None
        if step.save and reply.status_code == 200:
            self.saved[step.save] = body["id"]
        return reply.status_code, body


def dump(db_url: str) -> str:
    """The database's schema as pg_dump writes it (nothing of its oids), without the random
    \\restrict key of newer pg_dump releases."""
    pg_dump = devstack.find_binary("pg_dump", devstack.PG_BIN_DIRS)
    text = subprocess.run(
        [pg_dump, "--schema-only", "--dbname", db_url], capture_output=True, text=True, check=True
    ).stdout
    return "\n".join(line for line in text.splitlines() if not line.startswith(("\\restrict", "\\unrestrict")))


_ROLE_STATE = """
SELECT coalesce(json_agg(json_build_object(
    'name', r.rolname, 'super', r.rolsuper, 'inherit', r.rolinherit, 'createrole', r.rolcreaterole,
    'createdb', r.rolcreatedb, 'login', r.rolcanlogin, 'replication', r.rolreplication,
    'bypassrls', r.rolbypassrls, 'connlimit', r.rolconnlimit, 'valid_until', r.rolvaliduntil::text,
    'has_password', r.rolpassword IS NOT NULL,
    'settings', (SELECT setconfig FROM pg_db_role_setting s WHERE s.setrole = r.oid AND s.setdatabase = 0),
    'member_of', ARRAY(SELECT g.rolname || ':' || m.admin_option FROM pg_auth_members m
                       JOIN pg_roles g ON g.oid = m.roleid WHERE m.member = r.oid ORDER BY 1),
    'members', ARRAY(SELECT u.rolname || ':' || m.admin_option FROM pg_auth_members m
                     JOIN pg_roles u ON u.oid = m.member WHERE m.roleid = r.oid ORDER BY 1))
    ORDER BY r.rolname), '[]')::text
FROM pg_authid r WHERE r.oid <> ALL ($1::oid[])"""


# ---- fixtures --------------------------------------------------------------------------------


@pytest_asyncio.fixture(scope="module")
async def twins(system: System, postgres_meta: PostgresMetaServers) -> AsyncIterator[tuple[PgDatabase, PgDatabase]]:
    """(postgres-meta's database, ours): clones of one template with postgres-meta's test schema
    and ours; ours is the primary connection of a project."""
    suffix = uuid.uuid4().hex[:8]
    template_url = await system.servers.create_database(f"udb_wtpl_{suffix}")
    connection = await asyncpg.connect(template_url)
    try:
        for sql_file in (*POSTGRES_META_SQL, *SHOP_SQL):
            await connection.execute(sql_file.read_text())
    finally:
        await connection.close()
    admin = await asyncpg.connect(system.servers.pg_url)
    try:
        for side in ("a", "b"):
            await admin.execute(f'CREATE DATABASE "udb_w{side}_{suffix}" TEMPLATE "udb_wtpl_{suffix}"')
    finally:
        await admin.close()
    base = system.servers.pg_url.rsplit("/", 1)[0]
    theirs_db = PgDatabase("", "", f"{base}/udb_wa_{suffix}")
    postgres_meta.serve(theirs_db)
    ref, owner = await system.new_project()
    await system.add_connection(ref, owner, "pg-meta", {"identifier": "twin", "uri": f"{base}/udb_wb_{suffix}"})
    yield theirs_db, PgDatabase(ref, owner, f"{base}/udb_wb_{suffix}")


async def _run(case: Case, step: Step, their: Side, mine: Side, index: int) -> None:
    """One step on both sides; its replies compared."""
    where = f"{case.name}, step {index} ({step.method} {step.route})"
    if step.method in ("SQL", "SQL_ONCE"):
        for side in (their, mine) if step.method == "SQL" else (mine,):
            connection = await asyncpg.connect(side.database.db_url)
            try:
                await connection.execute(step.route)
            finally:
                await connection.close()
        return
    their_status, their_body = await their.send(step)
    my_status, my_body = await mine.send(step)
    _check(where, step, (their_status, their_body), (my_status, my_body))


def _check(where: str, step: Step, their: tuple[int, Any], mine: tuple[int, Any]) -> None:
    (their_status, their_body), (my_status, my_body) = their, mine
    assert my_status == step.status, f"{where}: {my_status} {my_body}"
    expected = step.status if step.their_status is None else step.their_status
    assert their_status == expected, f"{where}: postgres-meta {their_status} {their_body}, we {my_status} {my_body}"
    if my_status == 200:
        assert normalized(my_body) == normalized(their_body), where
        if step.expect is not None:
            assert matches(my_body, step.expect), f"{where}: {my_body} does not match {step.expect}"
        return
    message = error_text(my_body)
    if step.error:
        assert re.search(step.error, message), f"{where}: {message!r} does not match {step.error!r}"
    if step.same_error:
        assert _OID_IN_TEXT.sub("<oid>", message) == _OID_IN_TEXT.sub("<oid>", error_text(their_body)), where


@pytest.mark.parametrize("case", [c for c in CASES if not c.roles], ids=lambda case: case.name)
async def test_write_equals_postgres_meta(system: System, twins: tuple[PgDatabase, PgDatabase], case: Case) -> None:
    """The case's writes answer as postgres-meta's and leave the twin databases the same."""
    their, mine = Side("postgres-meta", twins[0], system), Side("ours", twins[1], system)
    for index, step in enumerate(case.steps):
        await _run(case, step, their, mine, index)
    assert dump(twins[1].db_url) == dump(twins[0].db_url)


@pytest.mark.parametrize("case", [c for c in CASES if c.roles], ids=lambda case: case.name)
async def test_role_writes_equal_postgres_meta(
    system: System, twins: tuple[PgDatabase, PgDatabase], case: Case
) -> None:
    """The case's role writes answer as postgres-meta's and leave the same roles after every step
    (run on postgres-meta, then on us: roles belong to the whole cluster)."""
    existing = await twins[1].fetchval("SELECT array_agg(oid) FROM pg_authid")
    runs: dict[str, list[tuple[int, Any, str]]] = {}
    for side in (Side("postgres-meta", twins[0], system), Side("ours", twins[1], system)):
        runs[side.name] = []
        for step in case.steps:
            status, body = await side.send(step)
            runs[side.name].append((status, body, await twins[1].fetchval(_ROLE_STATE, existing)))
    for index, (step, their, mine) in enumerate(zip(case.steps, runs["postgres-meta"], runs["ours"], strict=True)):
        where = f"{case.name}, step {index} ({step.method} {step.route})"
        _check(where, step, their[:2], mine[:2])
        assert mine[2] == their[2], f"{where}: the roles differ"
