"""Fault helpers for tests: kill a process of a devstack.Stack by its PID and start it again on
the same ports and data, and poll gRPC health."""

from __future__ import annotations

import asyncio
import os
import signal
import time
from pathlib import Path

import devstack
import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc


def managed(stack: devstack.Stack, name: str) -> devstack.Managed:
    """The stack's (newest) process called ``name``."""
    for entry in reversed(stack.processes):
        if entry.name == name:
            return entry
    raise LookupError(name)


def kill(stack: devstack.Stack, name: str, signum: int = signal.SIGKILL, *, timeout_s: float = 30) -> None:
    """Sends ``signum`` to the process and waits until it has exited (the stack forgets it)."""
    entry = managed(stack, name)
    os.kill(entry.pid, signum)
    if entry.process is not None:
        entry.process.wait(timeout=timeout_s)
    stack.processes.remove(entry)


def restart(stack: devstack.Stack, name: str, argv: list[str], env: dict[str, str] | None = None) -> None:
    """Starts ``argv`` again as ``name`` (after :func:`kill`); returns once it listens on its port."""
    process = stack._spawn(name, argv, env=env)
    devstack.wait_for_port(stack.ports[name], process, name, stack.log(name))


def stop_postgres(stack: devstack.Stack, name: str) -> list[str]:
    """Stops a cluster of the stack (fast shutdown: every session is ended at once); returns the
    command line that starts it again on the same data and port (:func:`start_postgres`)."""
    entry = managed(stack, name)
    assert entry.process is not None
    argv = [str(arg) for arg in entry.process.args]  # type: ignore[union-attr]
    kill(stack, name, signal.SIGINT)
    return argv


def start_postgres(stack: devstack.Stack, name: str, argv: list[str]) -> None:
    """Starts a cluster stopped by :func:`stop_postgres`; returns once it accepts logins."""
    process = stack._spawn(name, argv, stop_signal=signal.SIGINT)
    devstack.wait_for_port(stack.ports[name], process, name, stack.log(name))
    data = Path(argv[argv.index("-D") + 1])
    deadline = time.monotonic() + 30
    while True:
        try:
            stack.run_sql(name, "SELECT 1")
            break
        except Exception:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.1)
    # runuser does not pass signals on: the stack stops the postmaster by its own PID.
    stack.processes[-1].pid = int((data / "postmaster.pid").read_text().split("\n", 1)[0])


async def health_status(channel: grpc.aio.Channel, service: str = "") -> str:
    """A service's health status name for ``service`` (UNREACHABLE when it does not answer)."""
    try:
        reply = await health_pb2_grpc.HealthStub(channel).Check(
            health_pb2.HealthCheckRequest(service=service), timeout=2
        )
    except grpc.RpcError:
        return "UNREACHABLE"
    return health_pb2.HealthCheckResponse.ServingStatus.Name(reply.status)


async def until_status(channel: grpc.aio.Channel, service: str, expected: str, *, limit_s: float = 20) -> float:
    """Polls until ``service`` reports ``expected``; returns the seconds it took."""
    loop = asyncio.get_running_loop()
    started = loop.time()
    last = ""
    while loop.time() - started < limit_s:
        last = await health_status(channel, service)
        if last == expected:
            return loop.time() - started
        await asyncio.sleep(0.05)
    raise AssertionError(f"health of {service!r} stayed {last}, not {expected}, for {limit_s}s")
