"""PostgreSQL clusters of a local stack: where they live, how they are made, SQL as their superuser.

As root, Postgres runs as the postgres user (it refuses root), so its folder must be one that user
can reach: a fresh cluster goes to a temporary folder of its own (the work folder may sit under a
root-only folder such as pytest's tmp); a kept one (``make dev``) to ``workdir/<name>`` when the
postgres user can reach it, else to a folder under /var/tmp that ``workdir/<name>`` links to.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import os
import pwd
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from processes import StackError, alive, find_binary, pid_in

PG_BIN_DIRS = ("/usr/lib/postgresql/15/bin", "/usr/local/pgsql/bin")
#: How to run a Postgres binary: as the postgres user when this process is root.
AS_POSTGRES = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []
#: Where kept clusters go when the postgres user cannot reach the work folder.
KEPT_ELSEWHERE = Path("/var/tmp")


def cluster_folder(workdir: Path, name: str, *, keep: bool) -> tuple[Path, bool]:
    """The folder of cluster ``name`` and whether it is temporary (to remove at stop)."""
    link = workdir / name
    if not AS_POSTGRES:
        link.mkdir(parents=True, exist_ok=True)
        return link, False
    temporary = not keep
    if temporary:
        base = Path(tempfile.mkdtemp(prefix=f"udb-{name}-"))
    elif link.is_symlink():
        base = link.resolve()
    elif link.is_dir() or _reachable_by_postgres(workdir):
        base = link
    else:
        base = kept_elsewhere(workdir) / name
        link.symlink_to(base, target_is_directory=True)
    base.mkdir(parents=True, exist_ok=True)
    os.chown(base, pwd.getpwnam("postgres").pw_uid, -1)
    return base, temporary


def kept_elsewhere(workdir: Path) -> Path:
    """The folder under /var/tmp that holds ``workdir``'s kept clusters, when they live there."""
    digest = hashlib.sha256(str(workdir.resolve()).encode()).hexdigest()[:12]
    return KEPT_ELSEWHERE / f"udb-devstack-{digest}"


def _reachable_by_postgres(folder: Path) -> bool:
    return subprocess.run([*AS_POSTGRES, "test", "-x", str(folder)], check=False).returncode == 0


def initdb(data: Path, pwfile: Path, password: str, log: Path) -> None:
    """A new cluster in ``data`` whose superuser ``postgres`` logs in with ``password`` over TCP
    (kept in ``pwfile``, readable by its owner only, for the next start)."""
    subprocess.run([*AS_POSTGRES, "sh", "-c", f"umask 077 && cat > {pwfile}"], input=password.encode(), check=True)
    with log.open("ab") as output:
        subprocess.run(
            [
                *AS_POSTGRES,
                find_pg_binary("initdb"),
                "-D",
                str(data),
                "-U",
                "postgres",
                f"--pwfile={pwfile}",
                "-A",
                "scram-sha-256",
                "--auth-local=trust",
                "-E",
                "UTF8",
                "--locale=C.UTF-8",
                "--no-sync",
            ],
            check=True,
            stdout=subprocess.DEVNULL,
            stderr=output,
        )


def find_pg_binary(name: str) -> str:
    return find_binary(name, PG_BIN_DIRS)


def stop_orphan_postmaster(data: Path, timeout: float = 30) -> None:
    """Stops a postmaster an earlier run left on ``data`` (its parent was killed): a new one
    cannot start there while it runs."""
    pid = pid_in(data / "postmaster.pid")
    if pid is None or not alive(pid):
        return
    with contextlib.suppress(OSError):
        if b"postgres" not in Path(f"/proc/{pid}/cmdline").read_bytes():
            return  # a stale file, its PID reused by another program
    print(f"devstack: stopping postgres (pid {pid}) left running on {data} by an earlier run", file=sys.stderr)
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGINT)
    deadline = time.monotonic() + timeout
    while alive(pid):
        if time.monotonic() > deadline:
            raise StackError(f"postgres (pid {pid}) still runs on {data}: stop it, then start again")
        time.sleep(0.1)


def run_on(url: str, work: Callable[[Any], Awaitable[object]]) -> object:
    """``work`` with one connection to ``url``, on an event loop of its own; returns its result."""
    import asyncpg

    async def run() -> object:
        conn = await asyncpg.connect(url)
        try:
            return await work(conn)
        finally:
            await conn.close()

    return asyncio.run(run())


def execute(url: str, *statements: str) -> None:
    """Runs statements, each on its own, on one connection to ``url``."""

    async def each(conn: Any) -> None:
        for statement in statements:
            await conn.execute(statement)

    run_on(url, each)


def database_exists(url: str, name: str) -> bool:
    return run_on(url, lambda conn: conn.fetchval("SELECT 1 FROM pg_database WHERE datname = $1", name)) is not None
