"""The processes a local stack starts: binaries, ports, readiness, and restarts.

`make dev` keeps running when one of its processes dies: the ``Supervisor`` reports it and
starts it again after a delay that doubles with each exit in a row, capped, while every other
process keeps serving. A process that stayed up a while before exiting starts again at the first
delay.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

GO_BIN = Path(os.environ.get("GOBIN") or Path(os.environ.get("GOPATH", Path.home() / "go")) / "bin")


class StackError(RuntimeError):
    """A server would not start; the message says which and where its log is."""


#: Every port this process handed out. The kernel's pick of a free port knows nothing of a port
#: handed out earlier and not bound yet: a stack's 25 or so picks held a repeat in about one stack
#: of fifty, and the second server to bind it failed to start.
_handed_out: set[int] = set()


def free_port() -> int:
    """A free loopback port, never one this process handed out before."""
    while True:
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
            sock.bind(("127.0.0.1", 0))
            port = int(sock.getsockname()[1])
        if port not in _handed_out:
            _handed_out.add(port)
            return port


def claim_port(port: int) -> bool:
    """Takes ``port`` for this process when it is free and not handed out yet (free_port will not
    give it again); whether it was."""
    if port in _handed_out or not port_is_free(port):
        return False
    _handed_out.add(port)
    return True


def port_is_free(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
        return True


def find_binary(name: str, extra_dirs: tuple[str | Path, ...] = ()) -> str:
    for directory in extra_dirs:
        candidate = Path(directory) / name
        if candidate.is_file() and os.access(candidate, os.X_OK):
            return str(candidate)
    found = shutil.which(name) or shutil.which(name, path=str(GO_BIN))
    if found is None:
        raise StackError(f"{name} is not installed: run `make install` (deploy/local/install-tools.sh)")
    return found


def log_tail(log: Path, lines: int = 15) -> str:
    """The last lines of a log, for an error message (a CI run keeps no work folder)."""
    with contextlib.suppress(OSError):
        return "\n".join(log.read_text(errors="replace").splitlines()[-lines:])
    return "(no log)"


def wait_for_port(
    port: int, process: subprocess.Popen[bytes] | None, what: str, log: Path, timeout: float = 30
) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process is not None and process.poll() is not None:
            raise StackError(f"{what} exited with {process.returncode}; see {log}:\n{log_tail(log)}")
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), timeout=0.5):
            return
        time.sleep(0.05)
    raise StackError(f"{what} did not listen on {port} within {timeout}s; see {log}")


def pid_in(pid_file: Path) -> int | None:
    """The PID on the first line of a server's PID file (Postgres's postmaster.pid), if any."""
    with contextlib.suppress(OSError, ValueError):
        return int(pid_file.read_text().split("\n", 1)[0])
    return None


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


@dataclass
class Managed:
    """A process this stack started, with how to stop it and how to start it again."""

    name: str
    pid: int
    stop_signal: int = signal.SIGTERM
    process: subprocess.Popen[bytes] | None = None
    argv: list[str] = field(default_factory=list)
    env: dict[str, str] | None = None
    log: Path | None = None
    #: The file in which the server writes its own PID, when that is not the PID of ``process``
    #: (Postgres under runuser: the postmaster is runuser's child).
    pid_file: Path | None = None


def describe_exit(returncode: int) -> str:
    """'status 3' or 'signal 9 (SIGKILL)', as Popen's returncode says."""
    if returncode >= 0:
        return f"status {returncode}"
    try:
        return f"signal {-returncode} ({signal.Signals(-returncode).name})"
    except ValueError:
        return f"signal {-returncode}"


@dataclass
class _Restarts:
    started_at: float
    exits_in_a_row: int = 0
    due_at: float | None = None


class Supervisor:
    """Restarts each exited process of a stack with a capped exponential backoff.

    ``check`` is called in the stack's own loop (no thread): it notices exits, reports them, and
    restarts what is due through ``restart``, which starts the process again in place.
    """

    def __init__(
        self,
        restart: Callable[[Managed], None],
        *,
        report: Callable[[str], None],
        first_delay_s: float = 1.0,
        max_delay_s: float = 30.0,
        stable_after_s: float = 60.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._restart = restart
        self._report = report
        self._first_delay_s = first_delay_s
        self._max_delay_s = max_delay_s
        self._stable_after_s = stable_after_s
        self._clock = clock
        self._states: dict[str, _Restarts] = {}

    def delay_s(self, exits_in_a_row: int) -> float:
        """The wait before the restart that follows the ``exits_in_a_row``-th exit (1-based)."""
        return float(min(self._max_delay_s, self._first_delay_s * 2 ** (exits_in_a_row - 1)))

    def check(self, processes: list[Managed]) -> None:
        now = self._clock()
        for managed in processes:
            if managed.process is None:
                continue
            state = self._states.setdefault(managed.name, _Restarts(started_at=now))
            if state.due_at is None:
                returncode = managed.process.poll()
                if returncode is None:
                    continue
                if now - state.started_at >= self._stable_after_s:
                    state.exits_in_a_row = 0
                state.exits_in_a_row += 1
                delay = self.delay_s(state.exits_in_a_row)
                state.due_at = now + delay
                where = f"; see {managed.log}" if managed.log else ""
                self._report(
                    f"{managed.name} (pid {managed.pid}) exited with {describe_exit(returncode)}; "
                    f"restarting in {delay:g}s (exit {state.exits_in_a_row} in a row){where}"
                )
            elif now >= state.due_at:
                state.due_at = None
                state.started_at = now
                try:
                    self._restart(managed)
                except (OSError, RuntimeError) as exc:
                    # Still the exited process: the next check schedules another, later, try.
                    self._report(f"{managed.name} could not be restarted: {exc}")
                else:
                    self._report(f"{managed.name} restarted (pid {managed.pid})")
