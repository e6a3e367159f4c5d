"""The real `make dev` (deploy/local/devstack.py up, as a subprocess in a work folder of its own):
the README's first curl lines, pasted as written after sourcing its env file, answer the demo data;
a process killed with SIGKILL is restarted while the others keep serving; a signal stops everything
it started; and a second start on the same folder keeps the data without duplicating it."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import demo
import devsession
import jwt
import pytest
from readme_lines import readme_curl_lines

pytestmark = pytest.mark.integration

DEVSTACK = Path(devsession.__file__).with_name("devstack.py")
JWT_SECRET = "a-fixed-secret-of-the-dev-stack-test-0123456789"
READY = "Ctrl-C stops everything"


@dataclass
class DevStack:
    """One run of `devstack.py up`."""

    workdir: Path
    process: subprocess.Popen[bytes]
    output: Path

    @property
    def env_file(self) -> Path:
        return self.workdir / "env"

    def printed(self) -> str:
        return self.output.read_text()

    def curl(self, line: str) -> tuple[int, Any]:
        """Runs one of the README's lines with bash, as written, after sourcing the env file; curl
        also writes the status code after the body (a function in front of the real curl)."""
        script = f'source "$1"\ncurl() {{ command curl --write-out "\\n%{{http_code}}" "$@"; }}\n{line}\n'
        done = subprocess.run(
            ["bash", "-c", script, "-", str(self.env_file)], capture_output=True, text=True, timeout=60, check=False
        )
        assert done.returncode == 0, done.stderr
        body, _, status = done.stdout.rpartition("\n")
        try:
            return int(status), json.loads(body)
        except json.JSONDecodeError:
            return int(status), body

    def pids(self) -> dict[str, int]:
        """The PID of each process it started (Postgres: its postmaster, under runuser)."""
        found = {}
        for pid in descendants(self.process.pid):
            argv = _argv(pid)
            if "-m" in argv:
                found[argv[argv.index("-m") + 1]] = pid
            elif argv and (program := Path(argv[0].split()[0]).name) in ("redis-server", "ferretdb", "envoy"):
                found[program] = pid  # redis-server rewrites its argv[0] to "path host:port"
        return found


def _argv(pid: int) -> list[str]:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().decode(errors="replace").split("\0")[:-1]
    except OSError:
        return []


def descendants(root: int) -> set[int]:
    """Every live process under ``root``, read from /proc."""
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                # The parent is the 2nd field after the parenthesised command, which may hold spaces.
                parent = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
            children.setdefault(parent, []).append(int(entry.name))
    found: set[int] = set()
    pending = [root]
    while pending:
        for child in children.get(pending.pop(), []):
            found.add(child)
            pending.append(child)
    return found


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"  # a zombie has ended; only its parent's wait is missing


def start(workdir: Path, output: Path) -> DevStack:
    env = {**os.environ, "JWT_SECRET": JWT_SECRET}
    env.pop("DATABASE_ENCRYPTION_KEY", None)
    with output.open("wb") as out:
        process = subprocess.Popen(
            [sys.executable, str(DEVSTACK), "up", "--workdir", str(workdir)],
            stdout=out,
            stderr=subprocess.STDOUT,
            env=env,
        )
    stack = DevStack(workdir, process, output)
    deadline = time.monotonic() + 240  # two cores shared with other runs; alone, well under a minute
    while READY not in stack.printed():
        assert process.poll() is None, f"devstack exited with {process.returncode}:\n{stack.printed()}"
        assert time.monotonic() < deadline, f"devstack was not up in time:\n{stack.printed()}"
        time.sleep(0.5)
    return stack


def stop(stack: DevStack) -> int:
    if stack.process.poll() is None:
        stack.process.send_signal(signal.SIGTERM)
    return stack.process.wait(timeout=60)


@pytest.fixture(scope="module")
def workdir(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """A work folder for the module's runs, deleted (with what it keeps elsewhere) at the end."""
    folder = tmp_path_factory.mktemp("dev") / "work"
    yield folder
    subprocess.run([sys.executable, str(DEVSTACK), "reset", "--workdir", str(folder)], check=False)


@pytest.fixture(scope="module")
def first_run(workdir: Path) -> Iterator[DevStack]:
    stack = start(workdir, workdir.parent / "first.out")
    yield stack
    stop(stack)


def check_demo_data(stack: DevStack) -> None:
    """The README's three lines, as written: the shop's Redis keys, two nested orders, every order's total."""
    redis_line, mongo_line, pg_line = readme_curl_lines()
    status, keys = stack.curl(redis_line)
    assert status == 200, keys
    names = {entry["key"]: entry["type"] for entry in keys["data"]}
    assert names == {key.name: key.type for key in demo.redis_keys() if key.name.startswith("shop:")}
    status, orders = stack.curl(mongo_line)
    assert status == 200, orders
    assert [order["number"] for order in orders["data"]] == ["SO-0001", "SO-0002"]
    assert orders["data"][0]["customer"]["email"] == "ada@example.com"
    assert orders["data"][0]["placed_at"] == {"$date": "2025-03-02T09:15:00Z"}
    status, totals = stack.curl(pg_line)
    assert status == 200, totals
    assert [row["order_id"] for row in totals] == list(range(1, len(demo.ORDERS) + 1))
    assert totals[0]["total"] == "49.00"


def test_the_readme_curl_lines_answer_the_demo_data_as_pasted(first_run: DevStack) -> None:
    """After `source` of the env file, each of the README's first three curl lines, run by bash as
    written, answers 200 with its engine's demo data; `make dev` printed those same lines."""
    check_demo_data(first_run)
    printed = first_run.printed()
    assert f"  source {first_run.env_file}\n" in printed
    for line in readme_curl_lines():
        assert f"  {line}\n" in printed
    assert "demo data:               postgres: schema shop loaded; redis: " in printed
    assert " keys written; mongodb: shop.orders loaded\n" in printed


def test_the_token_is_signed_with_jwt_secret_for_a_working_week(first_run: DevStack) -> None:
    """The env file's token is the whole token (nothing cut), for dev-user, signed with JWT_SECRET
    from the environment, valid for 7 days."""
    values = dict(
        line.removeprefix("export ").split("=", 1)
        for line in first_run.env_file.read_text().splitlines()
        if line.startswith("export ")
    )
    assert set(values) == {"UDB_URL", "UDB_TOKEN", "UDB_CACERT", "UDB_REF", "UDB_SERVICE_TOKEN"}
    claims = jwt.decode(values["UDB_TOKEN"], JWT_SECRET, algorithms=["HS256"])
    assert claims["sub"] == "dev-user"
    assert claims["exp"] - claims["iat"] == devsession.TOKEN_TTL_S == 7 * 24 * 3600
    assert values["UDB_TOKEN"] in first_run.printed()
    assert values["UDB_REF"] == "dev-project"
    assert Path(values["UDB_CACERT"]).is_file()


def test_a_killed_service_is_restarted_while_the_others_keep_serving(first_run: DevStack) -> None:
    """SIGKILL to redis-svc: it is reported and started again (a new PID) and serves within seconds;
    no other process was restarted, and the Mongo listing answered 200 all along."""
    redis_line, mongo_line, _ = readme_curl_lines()
    before = first_run.pids()
    assert {"redis_svc", "mongo_svc", "pg_svc", "registry", "gateway", "redis-server", "envoy"} <= set(before)
    os.kill(before["redis_svc"], signal.SIGKILL)
    deadline = time.monotonic() + 60
    mongo_statuses = []
    while True:
        mongo_statuses.append(first_run.curl(mongo_line)[0])
        if (
            first_run.curl(redis_line)[0] == 200
            and first_run.pids().get("redis_svc", before["redis_svc"]) != (before["redis_svc"])
        ):
            break
        assert time.monotonic() < deadline, first_run.printed()
        time.sleep(0.3)
    after = first_run.pids()
    assert after["redis_svc"] != before["redis_svc"]
    assert {name: pid for name, pid in after.items() if name != "redis_svc"} == {
        name: pid for name, pid in before.items() if name != "redis_svc"
    }
    assert set(mongo_statuses) == {200}
    printed = first_run.printed()
    assert f"redis-svc (pid {before['redis_svc']}) exited with signal 9 (SIGKILL); restarting in 1s" in printed
    assert f"redis-svc restarted (pid {after['redis_svc']})" in printed


def test_a_signal_stops_every_process_it_started(first_run: DevStack) -> None:
    """SIGTERM to devstack alone: it stops every process it started (servers, services, Envoy,
    Postgres's backends) and exits 0, leaving none behind."""
    started = descendants(first_run.process.pid)
    assert len(started) >= 10
    assert stop(first_run) == 0
    deadline = time.monotonic() + 10
    while (left := {pid: _argv(pid) for pid in started if _alive(pid)}) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert left == {}


def test_a_second_start_keeps_the_data_and_loads_nothing_twice(first_run: DevStack, workdir: Path) -> None:
    """Started again on the same work folder (after the first run stopped): the same base URL, the
    demo data found and not loaded again, and the README's lines answer the same data, no duplicate."""
    assert first_run.process.poll() is not None, "runs after test_a_signal_stops_every_process_it_started"
    url = first_run.env_file.read_text().split("export UDB_URL=", 1)[1].split("\n", 1)[0]
    second = start(workdir, workdir.parent / "second.out")
    try:
        printed = second.printed()
        assert (
            "postgres: schema shop already there; redis: every key already there; mongodb: shop.orders already there"
        ) in printed
        assert f"export UDB_URL={url}\n" in second.env_file.read_text()
        check_demo_data(second)
    finally:
        assert stop(second) == 0
