"""A viewer's SQL has no more than read rights (issue 14, finding 2), replayed against the tenants'
real Postgres 15: on a superuser connection with a read_only_role, every attack of the run (and
its variants) is refused and leaves no trace; on a superuser connection without one, a viewer's
SQL is refused with 403 saying what to configure; developers keep their rights.

Refusals are 403 (read-only, transaction control, COPY) or the database's own error (400 once
SQL errors take postgres-meta's body); either way the attack's effect is checked to be absent."""

from __future__ import annotations

import asyncio
import os
import secrets
import urllib.parse
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import asyncpg
import pytest
import pytest_asyncio
from harness import System

pytestmark = pytest.mark.integration


@dataclass
class Setup:
    ref: str
    owner: str
    viewer: str
    developer: str
    database: str
    superuser_url: str
    owner_url: str
    reader: str
    connections: dict[str, str] = field(default_factory=dict)


def url_as(url: str, user: str, password: str, database: str | None = None) -> str:
    split = urllib.parse.urlsplit(url)
    path = f"/{database}" if database else split.path
    return split._replace(netloc=f"{user}:{password}@{split.hostname}:{split.port}", path=path).geturl()


@pytest_asyncio.fixture(scope="module")
async def setup(system: System) -> AsyncIterator[Setup]:
    """A database with dblink and a superuser's security-definer function; logins: the reader
    (pg_read_all_data), an owner that is no superuser, and a member of pg_signal_backend; a project whose
    connections use them (each by identifier), with a viewer and a developer."""
    name = f"udb_sec_{uuid.uuid4().hex[:8]}"
    database_url = await system.servers.create_database(name)
    suffix = uuid.uuid4().hex[:8]
    owner_role, signaller = f"owner_{suffix}", f"signaller_{suffix}"
    password = secrets.token_urlsafe(12)
    reader = await system.servers.create_reader()
    conn = await asyncpg.connect(database_url)
    try:
        await conn.execute(
            f"""
            CREATE ROLE {owner_role} LOGIN PASSWORD '{password}';
            CREATE ROLE {signaller} LOGIN PASSWORD '{password}' IN ROLE pg_signal_backend;
            CREATE EXTENSION dblink;
            CREATE TABLE notes (v text);
            INSERT INTO notes VALUES ('one');
            ALTER TABLE notes OWNER TO {owner_role};
            GRANT ALL ON SCHEMA public TO {owner_role};
            CREATE FUNCTION escape_role() RETURNS text LANGUAGE plpgsql SECURITY DEFINER AS $$
              BEGIN PERFORM set_config('role', 'none', false); RETURN current_user; END $$;
            """
        )
    finally:
        await conn.close()
    ref, owner = await system.new_project()
    viewer, developer = f"viewer-{suffix}", f"dev-{suffix}"
    await system.add_member(ref, owner, viewer, "viewer")
    await system.add_member(ref, owner, developer, "developer")
    superuser_password = urllib.parse.urlsplit(database_url).password or ""
    bodies = {
        "super": {"uri": database_url},
        "guarded": {"uri": database_url, "options": reader},
        "owner": {"uri": url_as(database_url, owner_role, password)},  # the same as owner_url
        "signaller": {"uri": url_as(database_url, signaller, password)},
        "misconfigured": {
            "uri": database_url,
            "options": {"read_only_role": "postgres", "read_only_password": superuser_password},
        },
    }
    owner_url = url_as(database_url, owner_role, password)
    made = Setup(ref, owner, viewer, developer, name, database_url, owner_url, reader["read_only_role"])
    for identifier, body in bodies.items():
        record = await system.add_connection(ref, owner, "pg-meta", {"identifier": identifier, **body})
        made.connections[identifier] = record["id"]
    yield made


async def query(system: System, setup: Setup, connection: str, user: str, sql: str) -> tuple[int, Any]:
    reply = await system.http.post(
        f"/pg-meta/{setup.ref}/query",
        params={"connection": setup.connections[connection]},
        json={"query": sql},
        headers=system.headers(user),
    )
    return reply.status_code, reply.json()


async def superuser_fetch(setup: Setup, sql: str) -> Any:
    conn = await asyncpg.connect(setup.superuser_url)
    try:
        return await conn.fetchval(sql)
    finally:
        await conn.close()


async def test_viewer_sql_on_a_superuser_connection_needs_a_read_only_role(system: System, setup: Setup) -> None:
    """Without a read_only_role, a viewer's SQL on a superuser's (or pg_signal_backend member's) connection is
    403 naming what to configure; the viewer still reads the catalogue, and a developer keeps the owner's
    rights there (it is the owner's database)."""
    for connection, what in (("super", "is a superuser"), ("signaller", "pg_signal_backend")):
        status, body = await query(system, setup, connection, setup.viewer, "SELECT 1 AS one")
        assert status == 403, body
        # postgres-meta's error body on its routes: {"error", "message"}, the text saying what to configure.
        message = body["message"]
        assert body == {"error": message, "message": message}
        assert what in message and "read_only_role" in message and "read_only_password" in message
        assert message.startswith("viewers' SQL is refused on this connection")
    schemas = await system.http.get(
        f"/pg-meta/{setup.ref}/schemas",
        params={"connection": setup.connections["super"]},
        headers=system.headers(setup.viewer),
    )
    assert schemas.status_code == 200
    status, rows = await query(system, setup, "super", setup.developer, "SELECT current_setting('is_superuser') AS s")
    assert (status, rows) == (200, [{"s": "on"}])
    status, rows = await query(
        system, setup, "super", setup.developer, "SELECT length(pg_read_file('PG_VERSION')) > 0 AS r"
    )
    assert (status, rows) == (200, [{"r": True}])


async def test_a_read_only_role_that_can_do_more_is_refused(system: System, setup: Setup) -> None:
    """A read_only_role that is itself a superuser gives viewers nothing: 403 saying so."""
    status, body = await query(system, setup, "misconfigured", setup.viewer, "SELECT 1")
    assert status == 403
    assert body["message"].startswith("viewers' SQL is refused: the connection's read_only_role is a superuser")


async def test_a_viewer_runs_as_the_read_only_role_and_reads(system: System, setup: Setup) -> None:
    """On the guarded connection a viewer's session user and current user are the read-only role, and it
    reads every table; switching back is impossible (RESET ROLE returns to the read-only login)."""
    status, rows = await query(
        system, setup, "guarded", setup.viewer, "SELECT session_user::text AS s, current_user::text AS c"
    )
    assert (status, rows) == (200, [{"s": setup.reader, "c": setup.reader}])
    assert (await query(system, setup, "guarded", setup.viewer, "SELECT v FROM notes")) == (200, [{"v": "one"}])
    status, rows = await query(
        system,
        setup,
        "guarded",
        setup.viewer,
        "RESET ROLE; SELECT current_user::text AS c, current_setting('is_superuser') AS su",
    )
    assert (status, rows) == (200, [{"c": setup.reader, "su": "off"}])


# Each attack of the run, and variants, as a viewer on the guarded (superuser) connection.
ATTACKS = {
    "read a server file": "SELECT pg_read_file('/etc/hostname')",
    "read a server file, binary": "SELECT pg_read_binary_file('PG_VERSION')",
    "stat a server file": "SELECT pg_stat_file('PG_VERSION')",
    "list a server folder": "SELECT pg_ls_dir('.')",
    "list the log folder": "SELECT * FROM pg_ls_logdir()",
    "import a server file": "SELECT lo_import('/etc/hostname')",
    "export to a server file": "SELECT lo_export(0, '/tmp/udb-viewer-export')",
    "reload the configuration": "SELECT pg_reload_conf()",
    "rotate the log": "SELECT pg_rotate_logfile()",
    "set the role": "SELECT set_config('role', 'postgres', false)",
    "set the session user": "SELECT set_config('session_authorization', 'postgres', false)",
    "SET ROLE": "SET ROLE postgres",
    "SET LOCAL ROLE": "SET LOCAL ROLE postgres",
    "SET SESSION AUTHORIZATION": "SET SESSION AUTHORIZATION postgres",
    "reset, then read a file": "RESET ROLE; SELECT pg_read_file('/etc/hostname')",
    "a security-definer function switching role": "SELECT escape_role()",
    "a DO block reading a file": "DO $$ BEGIN PERFORM pg_read_file('/etc/hostname'); END $$",
    "a DO block switching role": (
        "DO $$ BEGIN EXECUTE 'SET ROLE postgres'; PERFORM pg_read_file('/etc/hostname'); END $$"
    ),
    "query_to_xml switching role": (
        "SELECT query_to_xml('SELECT set_config(''role'', ''postgres'', true)', true, false, '')"
    ),
    "dblink to this database": "SELECT * FROM dblink('dbname={db}', 'SELECT 1') AS t(x int)",
    "dblink_exec a committed insert": "SELECT dblink_exec('dbname={db}', 'INSERT INTO notes VALUES (''dblink'')')",
    "dblink to the platform": (
        "SELECT * FROM dblink('host=127.0.0.1 port={platform} dbname=postgres user=postgres', 'SELECT 1') AS t(x int)"
    ),
    "dblink_connect_u": "SELECT dblink_connect_u('c', 'dbname={db}')",
    "COPY TO PROGRAM": "COPY (SELECT 1) TO PROGRAM 'touch {marker}'",
    "COPY FROM PROGRAM": "COPY notes FROM PROGRAM 'touch {marker}'",
    "COPY TO PROGRAM in a DO block": "DO $$ BEGIN EXECUTE 'COPY (SELECT 1) TO PROGRAM ''touch {marker}'''; END $$",
    "LOCK TABLE": "LOCK TABLE notes IN ACCESS EXCLUSIVE MODE",
    "write": "INSERT INTO notes VALUES ('viewer')",
    "write after COMMIT": "COMMIT; INSERT INTO notes VALUES ('viewer')",
    "write after ROLLBACK": "ROLLBACK; INSERT INTO notes VALUES ('viewer')",
    "read-write transaction": "SET TRANSACTION READ WRITE; INSERT INTO notes VALUES ('viewer')",
    "a second statement": "SELECT 1; SELECT pg_read_file('/etc/hostname')",
    "terminate a superuser's backend": "SELECT pg_terminate_backend({pid})",
    "terminate another role's backend": "SELECT pg_terminate_backend({owner_pid})",
    "cancel a backend": "SELECT pg_cancel_backend({pid})",
    "create a role": "CREATE ROLE intruder SUPERUSER",
    "grant itself a role": "GRANT pg_read_server_files TO CURRENT_USER",
}


#: What the refusals say (ours, or the database's).
REFUSALS = (
    "permission denied",
    "read-only",
    "must be",
    "not allowed",
    "may not",
    "password",
    "cannot",
    "COPY",
    "transaction control",
)


@pytest.mark.parametrize("attack", list(ATTACKS))
async def test_each_attack_of_a_viewer_is_refused_and_leaves_no_trace(
    system: System, setup: Setup, attack: str
) -> None:
    """The attack is refused (403, or the database's own refusal), and its effect is absent: the other
    sessions live, no row was added, no file was made, no large object imported, no role created."""
    marker = f"/tmp/udb-viewer-{uuid.uuid4().hex[:8]}"
    platform = urllib.parse.urlsplit(system.platform_url).port
    bystander = await asyncpg.connect(setup.superuser_url)
    owners_session = await asyncpg.connect(setup.owner_url)
    try:
        pid = await bystander.fetchval("SELECT pg_backend_pid()")
        owner_pid = await owners_session.fetchval("SELECT pg_backend_pid()")
        before = await bystander.fetchval("SELECT count(*) FROM pg_largeobject_metadata")
        sql = ATTACKS[attack].format(db=setup.database, platform=platform, marker=marker, pid=pid, owner_pid=owner_pid)
        status, body = await query(system, setup, "guarded", setup.viewer, sql)
        assert status in (400, 403), (attack, status, body)
        assert any(word in str(body) for word in REFUSALS), (attack, body)
        assert await bystander.fetchval("SELECT 1") == 1  # still alive
        assert await owners_session.fetchval("SELECT 1") == 1
        assert await bystander.fetchval("SELECT count(*) FROM notes") == 1
        assert await bystander.fetchval("SELECT count(*) FROM pg_largeobject_metadata") == before
        assert not await bystander.fetchval("SELECT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'intruder')")
    finally:
        await bystander.close()
        await owners_session.close()
    assert not await asyncio.to_thread(os.path.exists, marker)
    status, rows = await query(system, setup, "guarded", setup.viewer, "SELECT current_user::text AS c")
    assert (status, rows) == (200, [{"c": setup.reader}])


async def test_a_viewer_on_an_owner_connection_reads_but_does_no_more(system: System, setup: Setup) -> None:
    """A connection whose user is no superuser needs no read_only_role: the viewer reads, and file reads,
    writes and role switches are refused by the database."""
    assert await query(system, setup, "owner", setup.viewer, "SELECT v FROM notes") == (200, [{"v": "one"}])
    for sql in (
        "SELECT pg_read_file('/etc/hostname')",
        "SELECT lo_import('/etc/hostname')",
        "INSERT INTO notes VALUES ('x')",
        "SET ROLE postgres",
    ):
        status, body = await query(system, setup, "owner", setup.viewer, sql)
        assert status in (400, 403), (sql, body)
    assert await superuser_fetch(setup, "SELECT count(*) FROM notes") == 1
