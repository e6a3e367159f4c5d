"""Supabase postgres-meta (npm), which the tests and bench/bench_pg.py compare the Postgres engine with."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

from processes import StackError, find_binary

#: The postgres-meta release the Postgres engine is compared with (tests and bench/bench_pg.py).
POSTGRES_META_VERSION = "0.99.0"


def ensure_postgres_meta() -> Path:
    """postgres-meta's server script, installed with npm on first use into
    ``$POSTGRES_META_DIR`` (default ``~/.cache/udb/postgres-meta-<version>``), outside the repo."""
    default = Path.home() / ".cache" / "udb" / f"postgres-meta-{POSTGRES_META_VERSION}"
    prefix = Path(os.environ.get("POSTGRES_META_DIR") or default)
    server = prefix / "node_modules" / "@supabase" / "postgres-meta" / "dist" / "server" / "server.js"
    if server.is_file():
        return server
    npm = find_binary("npm")
    prefix.mkdir(parents=True, exist_ok=True)
    installed = subprocess.run(
        [
            npm,
            "install",
            "--prefix",
            str(prefix),
            "--no-audit",
            "--no-fund",
            "--loglevel=error",
            f"@supabase/postgres-meta@{POSTGRES_META_VERSION}",
        ],
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    if installed.returncode != 0 or not server.is_file():
        raise StackError(f"npm could not install @supabase/postgres-meta: {installed.stderr.strip()[-500:]}")
    return server
