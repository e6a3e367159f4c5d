"""`make dev`'s own logic without servers: the supervisor's restarts and backoff, the work folder's
lock, secrets and env file, and the README's first curl lines being the ones `make dev` prints."""

from __future__ import annotations

import os
import re
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import devsession
import processes
import pytest
from processes import Managed, StackError, Supervisor, claim_port, free_port
from readme_lines import readme_curl_lines


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def _exited(code: int) -> subprocess.Popen[bytes]:
    process = subprocess.Popen([sys.executable, "-c", f"raise SystemExit({code})"])
    process.wait()
    return process


@pytest.fixture
def sleepers() -> Iterator[list[subprocess.Popen[bytes]]]:
    """Long-running processes the test starts; each is killed at the end."""
    started: list[subprocess.Popen[bytes]] = []
    yield started
    for process in started:
        process.kill()
        process.wait()


def test_an_exited_process_is_reported_and_restarted_after_its_delay(
    sleepers: list[subprocess.Popen[bytes]],
) -> None:
    """An exit is reported with its status and log; the restart comes after the first delay, and
    the process that kept running is left alone."""
    clock, reports = Clock(), []
    sleepers.append(subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"]))
    running = Managed("keeps-running", sleepers[0].pid, process=sleepers[0])
    failed = _exited(3)
    dead = Managed("svc", failed.pid, process=failed, log=Path("/logs/svc.log"))

    def restart(managed: Managed) -> None:
        sleepers.append(subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"]))
        managed.process, managed.pid = sleepers[-1], sleepers[-1].pid

    supervisor = Supervisor(restart, report=reports.append, first_delay_s=1, max_delay_s=30, clock=clock)
    supervisor.check([running, dead])
    assert reports == [
        f"svc (pid {failed.pid}) exited with status 3; restarting in 1s (exit 1 in a row); see /logs/svc.log"
    ]
    clock.now += 0.9
    supervisor.check([running, dead])
    assert dead.process is failed
    clock.now += 0.2
    supervisor.check([running, dead])
    assert dead.process is not failed and dead.process is not None and dead.process.poll() is None
    assert reports[-1] == f"svc restarted (pid {dead.pid})"
    assert running.process is sleepers[0] and running.pid == sleepers[0].pid
    assert len(reports) == 2


def test_the_delay_doubles_with_exits_in_a_row_up_to_its_cap_and_resets_after_a_stable_run() -> None:
    """Exits in quick succession wait 1, 2, 4, ... seconds, never more than the cap; a process that
    ran past stable_after_s before exiting starts again at the first delay."""
    clock, reports = Clock(), []
    managed = Managed("svc", 0)

    def restart(target: Managed) -> None:
        target.process = _exited(1)  # exits again at once

    supervisor = Supervisor(
        restart, report=reports.append, first_delay_s=1, max_delay_s=10, stable_after_s=60, clock=clock
    )
    managed.process = _exited(1)
    delays = []
    for _ in range(6):
        supervisor.check([managed])  # notices the exit
        delays.append(float(re.findall(r"restarting in (\S+)s", reports[-1])[0]))
        clock.now += delays[-1]
        supervisor.check([managed])  # restarts
    assert delays == [1, 2, 4, 8, 10, 10]
    clock.now += 61
    supervisor.check([managed])
    assert "restarting in 1s (exit 1 in a row)" in reports[-1]


def test_a_failed_restart_is_reported_and_tried_again_later() -> None:
    """A restart that raises (a binary gone) is reported; the process stays exited and is tried again
    after a longer delay."""
    clock, reports = Clock(), []

    def restart(target: Managed) -> None:
        raise OSError("no such file")

    managed = Managed("svc", 0, process=_exited(2))
    supervisor = Supervisor(restart, report=reports.append, first_delay_s=1, clock=clock)
    supervisor.check([managed])
    clock.now += 1
    supervisor.check([managed])
    assert reports[-1] == "svc could not be restarted: no such file"
    supervisor.check([managed])
    assert "restarting in 2s (exit 2 in a row)" in reports[-1]


def test_free_port_never_hands_out_a_port_twice() -> None:
    """The kernel's free port knows nothing of one handed out and not bound yet: 1,000 picks drawn
    from its ~14,000 would repeat one almost surely (a stack's 25 did in one stack of fifty)."""
    ports = [free_port() for _ in range(1000)]
    assert len(set(ports)) == len(ports)


def test_a_saved_port_is_claimed_once_and_only_while_free(monkeypatch: pytest.MonkeyPatch) -> None:
    """`make dev` takes its last start's ports back when they are free; free_port never gives one
    of them to another server, and a port that is taken or bound is not claimed."""
    # A process of its own, as `make dev` is: earlier tests' thousand picks would hold the kernel's
    # next pick about one run in thirty.
    monkeypatch.setattr(processes, "_handed_out", set())
    handed = free_port()
    assert not claim_port(handed)
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        assert not claim_port(listener.getsockname()[1])
    saved = handed
    while saved == handed:  # the kernel may pick the handed-out port again: it is not bound
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            saved = probe.getsockname()[1]
    assert claim_port(saved)
    assert not claim_port(saved)
    assert saved not in {free_port() for _ in range(1000)}


def test_a_work_folder_is_used_by_one_stack_at_a_time(tmp_path: Path) -> None:
    """While a stack holds the folder's lock, a second is refused with a message naming the holder;
    once released, the folder can be taken again."""
    folder = devsession.WorkFolder(tmp_path)
    with folder.locked():
        message = f"a stack (pid {os.getpid()}) runs in {tmp_path.resolve()}: stop it first"
        with pytest.raises(StackError, match=re.escape(message)), devsession.WorkFolder(tmp_path).locked():
            pass
    with folder.locked():
        pass


def test_secrets_are_made_once_and_the_environment_wins(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The first start makes the secrets (readable by the owner only) and later starts read the same;
    JWT_SECRET and DATABASE_ENCRYPTION_KEY from the environment are used instead when set."""
    monkeypatch.delenv("JWT_SECRET", raising=False)
    monkeypatch.delenv("DATABASE_ENCRYPTION_KEY", raising=False)
    folder = devsession.WorkFolder(tmp_path)
    first = folder.secrets()
    assert folder.secrets() == first
    assert (tmp_path / "secrets.json").stat().st_mode & 0o777 == 0o600
    assert len({first.jwt_secret, first.encryption_key, first.owner_password, first.reader_password}) == 4
    monkeypatch.setenv("JWT_SECRET", "from-the-environment")
    monkeypatch.setenv("DATABASE_ENCRYPTION_KEY", "a-key-of-the-environment")
    chosen = folder.secrets()
    assert (chosen.jwt_secret, chosen.encryption_key) == ("from-the-environment", "a-key-of-the-environment")
    assert chosen.owner_password == first.owner_password


def test_the_env_file_is_shell_quoted_and_private(tmp_path: Path) -> None:
    """Sourced by bash, the env file gives back each value exactly, quotes and spaces too; only its
    owner may read it (it holds a token)."""
    folder = devsession.WorkFolder(tmp_path)
    values = {"UDB_URL": "https://localhost:1/api/platform", "UDB_ODD": 'it\'s $HOME and `x` "y"'}
    folder.write_env(values, {"UDB_URL": "The edge."})
    assert folder.env_file.stat().st_mode & 0o777 == 0o600
    echoed = subprocess.run(
        ["bash", "-c", 'source "$1" && printf "%s\\n%s" "$UDB_URL" "$UDB_ODD"', "-", str(folder.env_file)],
        capture_output=True,
        text=True,
        check=True,
    )
    assert echoed.stdout.split("\n") == list(values.values())


def test_the_readme_shows_the_curl_lines_make_dev_prints() -> None:
    """The README's first shell block after `source .dev/env` is the three curl lines `make dev` prints."""
    assert readme_curl_lines() == list(devsession.CURL_LINES)


def test_reset_leaves_a_folder_of_something_else_alone(tmp_path: Path) -> None:
    """`devstack.py reset --workdir` deletes only a work folder of `make dev`, never any other folder."""
    (tmp_path / "precious").write_text("keep me")
    assert devsession.reset(tmp_path) == 1
    assert (tmp_path / "precious").read_text() == "keep me"
    devsession.WorkFolder(tmp_path / "dev").secrets()
    assert devsession.reset(tmp_path / "dev") == 0
    assert not (tmp_path / "dev").exists()
