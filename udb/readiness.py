"""Readiness and liveness through the standard gRPC health service.

A service is *ready* while its own dependencies answer (the registry: its platform database; an
engine: the registry), and *live* while its process serves at all. Both are read from
``grpc.health.v1.Health/Check``:

- the service name ``""`` and each proto service's full name report readiness: load balancers,
  Kubernetes readiness probes and the gateway's ``GET /api/platform/health`` ask these;
- :data:`LIVENESS` reports liveness: SERVING from start until shutdown, whatever the
  dependencies do, so that a liveness probe restarts a wedged process and never one that only
  waits for its database.

:class:`Readiness` runs every check once a second (each bounded by a timeout), changes the
reported status only when the outcome changes, and logs each change with the checks that failed.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import Any

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc

from udb.tasks import cancel_and_wait

log = logging.getLogger("udb.readiness")

#: The health service name whose status is the process's liveness, not its readiness.
LIVENESS = "liveness"

#: A dependency check: True when the dependency answers. An exception or a timeout is False.
Check = Callable[[], Awaitable[bool]]

SERVING = health_pb2.HealthCheckResponse.SERVING
NOT_SERVING = health_pb2.HealthCheckResponse.NOT_SERVING


class Readiness:
    """Keeps the health servicer's readiness statuses in step with the dependency checks."""

    def __init__(
        self,
        health: Any,
        names: Sequence[str],
        checks: Mapping[str, Check],
        *,
        interval_s: float = 1.0,
        timeout_s: float = 1.0,
    ) -> None:
        self._health = health
        self._names = ("", *names)
        self._checks = dict(checks)
        self._interval = interval_s
        self._timeout = timeout_s
        self._task: asyncio.Task[None] | None = None
        self._ready: bool | None = None
        #: The checks that failed in the last round (empty when ready).
        self.failing: tuple[str, ...] = ()

    @property
    def ready(self) -> bool:
        return bool(self._ready)

    async def start(self) -> None:
        """Reports live, runs the checks once and reports their outcome, then keeps checking."""
        await self._health.set(LIVENESS, SERVING)
        await self.probe()
        if self._checks:
            self._task = asyncio.create_task(self._loop(), name="readiness")

    async def close(self) -> None:
        await cancel_and_wait(self._task)
        self._task = None

    async def probe(self) -> bool:
        """Runs every check now and reports the outcome; returns whether the service is ready."""
        outcomes = await asyncio.gather(*(self._run(check) for check in self._checks.values()))
        failing = tuple(name for name, ok in zip(self._checks, outcomes, strict=True) if not ok)
        ready = not failing
        if ready != self._ready:
            if ready and self._ready is not None:
                log.info("ready again: every dependency answers")
            elif not ready:
                log.warning("not ready: a dependency does not answer", extra={"failing": ",".join(failing)})
            status = SERVING if ready else NOT_SERVING
            for name in self._names:
                await self._health.set(name, status)
        self._ready, self.failing = ready, failing
        return ready

    async def _run(self, check: Check) -> bool:
        try:
            return bool(await asyncio.wait_for(check(), self._timeout))
        except asyncio.CancelledError:
            raise
        except Exception:  # noqa: BLE001 (any failure, a timeout included, is "not ready")
            return False

    async def _loop(self) -> None:
        while True:
            await asyncio.sleep(self._interval)
            try:
                await self.probe()
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("readiness check failed to run")


def peer_serving(channel: grpc.aio.Channel, *, timeout_s: float = 1.0) -> Check:
    """A check that a peer service is reachable and reports itself ready (its ``""`` status)."""
    stub = health_pb2_grpc.HealthStub(channel)

    async def check() -> bool:
        reply = await stub.Check(health_pb2.HealthCheckRequest(service=""), timeout=timeout_s)
        return bool(reply.status == SERVING)

    return check
