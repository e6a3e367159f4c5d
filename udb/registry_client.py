"""The registry as the other processes use it: access decisions and resolved connections.

Both are cached in the calling process (connections for ``connection_ttl_s``, memberships for
``membership_ttl_s``) and invalidated at once through the registry's ``WatchInvalidations``
stream. The cache serves only while that stream is open: when it breaks, every entry is dropped
and each call asks the registry until the stream is back, so a change is never missed.
``udb_registry_watch_up{service}`` says which of the two holds.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import grpc

from udb import metrics
from udb.auth import Principal, ServiceCredentials
from udb.clients import outgoing_metadata
from udb.common.v1 import common_pb2
from udb.errors import DatabaseError, NotFound, PermissionDenied, from_rpc_error
from udb.registry.v1 import registry_pb2, registry_pb2_grpc
from udb.roles import ROLE_BY_VALUE
from udb.structs import struct_dict
from udb.tasks import cancel_and_wait

log = logging.getLogger("udb.registry_client")

Role = common_pb2.Role
DatabaseType = common_pb2.DatabaseType


def connection_options(connection: registry_pb2.Connection) -> dict[str, Any]:
    """A connection record's engine options as plain JSON values, whole numbers as ints."""
    return struct_dict(connection.options)


@dataclass(frozen=True, slots=True)
class Access:
    """A caller's standing on a project. ``project_id`` is empty for service-role callers."""

    project_ref: str
    project_id: str
    role: common_pb2.Role

    def allows(self, required_role: int) -> bool:
        return self.role >= required_role


#: Called with (project_id, connection_id) when a record changes; connection_id is empty when
#: every record of the project is affected.
InvalidationListener = Callable[[str, str], Awaitable[None]]
#: Called with (user_id, project_ref) when a member's access may have changed: user_id is empty
#: when every member of the project is concerned, both are empty when anyone may be (the stream
#: was broken, so changes may have been missed).
AccessListener = Callable[[str, str], Awaitable[None]]


class RegistryClient:
    """Cached ``CheckAccess`` and ``ResolveConnection`` with invalidation from the registry."""

    def __init__(
        self,
        channel: grpc.aio.Channel,
        credentials: ServiceCredentials,
        *,
        connection_ttl_s: float = 300.0,
        membership_ttl_s: float = 30.0,
        call_timeout_s: float = 5.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        #: The channel to the registry (its health is an engine's readiness: udb.readiness).
        self.channel = channel
        self.stub = registry_pb2_grpc.RegistryServiceStub(channel)
        self._credentials = credentials
        self._connection_ttl = connection_ttl_s
        self._membership_ttl = membership_ttl_s
        self._timeout = call_timeout_s
        self._clock = clock
        # (user, project_ref) -> (expires, Access or the error to raise again)
        self._memberships: dict[tuple[str, str], tuple[float, Access | DatabaseError]] = {}
        # (project_ref, db_type, connection_id or "" for primary) -> (expires, record)
        self._connections: dict[tuple[str, int, str], tuple[float, registry_pb2.ResolvedConnection]] = {}
        self._listeners: list[InvalidationListener] = []
        self._access_listeners: list[AccessListener] = []
        # Listener calls in flight: each runs on its own, so a slow one (closing a pool waits
        # for the database) never holds up the invalidations behind it.
        self._listener_tasks: set[asyncio.Task[None]] = set()
        self._watch_task: asyncio.Task[None] | None = None
        self._live = False
        # Made at once, so that a process whose stream never opens reports 0 rather than nothing.
        self._watch_up = metrics.REGISTRY_WATCH_UP.labels(credentials.service_name)
        # Bumped on every invalidation and stream change: an answer fetched across a bump may
        # predate the change and is not kept.
        self._epoch = 0
        self.ready = asyncio.Event()
        #: Registry RPCs made, by name: tests use it to prove the hot path makes none.
        self.calls: Counter[str] = Counter()

    @property
    def live(self) -> bool:
        """Whether the invalidation stream is open (and so the caches may serve)."""
        return self._live

    def add_listener(self, listener: InvalidationListener) -> None:
        """Registers a callback for changed records, such as a pool manager's invalidate."""
        self._listeners.append(listener)

    def add_access_listener(self, listener: AccessListener) -> None:
        """Registers a callback for access changes, such as ending a removed member's streams."""
        self._access_listeners.append(listener)

    async def start(self) -> None:
        if self._watch_task is None:
            self._watch_task = asyncio.create_task(self._watch(), name="registry-watch")

    async def close(self, *, listener_grace_s: float = 5.0) -> None:
        await cancel_and_wait(self._watch_task)
        self._watch_task = None
        self._set_live(False)
        self._drop_all()
        if self._listener_tasks:
            _, late = await asyncio.wait(self._listener_tasks, timeout=listener_grace_s)
            for task in late:
                task.cancel()

    async def check_access(self, principal: Principal, project_ref: str, required_role: int) -> Access:
        """The caller's access to a project, at least ``required_role``.

        Raises NotFound for a non-member (the project's existence is not revealed) and
        PermissionDenied for a member whose role is too low.
        """
        if principal.is_service:
            return Access(project_ref=project_ref, project_id="", role=Role.ROLE_OWNER)
        key = (principal.subject, project_ref)
        cached = self._memberships.get(key)
        if cached is not None and cached[0] > self._clock() and self._live:
            outcome = cached[1]
        else:
            outcome = await self._fetch_membership(principal, project_ref)
        if isinstance(outcome, DatabaseError):
            raise type(outcome)(outcome.message, details=outcome.details)
        if not outcome.allows(required_role):
            raise PermissionDenied(f"this needs the {ROLE_BY_VALUE.get(required_role, 'owner')} role")
        return outcome

    async def resolve(
        self, target: common_pb2.ConnectionTarget, db_type: common_pb2.DatabaseType
    ) -> registry_pb2.ResolvedConnection:
        """The connection record with its secret (service-role call), served from cache when live."""
        key = (target.project_ref, db_type, target.connection_id)
        cached = self._connections.get(key)
        if cached is not None and cached[0] > self._clock() and self._live:
            return cached[1]
        self.calls["ResolveConnection"] += 1
        epoch = self._epoch
        try:
            resolved: registry_pb2.ResolvedConnection = await self.stub.ResolveConnection(
                registry_pb2.ResolveConnectionRequest(target=target, database_type=db_type),
                metadata=outgoing_metadata(self._credentials.metadata()),
                timeout=self._timeout,
            )
        except grpc.RpcError as exc:
            raise from_rpc_error(exc) from None
        if self._live and epoch == self._epoch:
            self._connections[key] = (self._clock() + self._connection_ttl, resolved)
        return resolved

    async def _fetch_membership(self, principal: Principal, project_ref: str) -> Access | DatabaseError:
        self.calls["CheckAccess"] += 1
        epoch = self._epoch
        outcome: Access | DatabaseError
        try:
            # Ask for the least role and decide locally, so one entry serves every operation.
            reply: registry_pb2.CheckAccessResponse = await self.stub.CheckAccess(
                registry_pb2.CheckAccessRequest(
                    user_id=principal.subject, project_ref=project_ref, required_role=Role.ROLE_VIEWER
                ),
                metadata=outgoing_metadata(self._credentials.metadata()),
                timeout=self._timeout,
            )
            outcome = Access(project_ref=project_ref, project_id=reply.project_id, role=reply.role)
        except grpc.RpcError as exc:
            error = from_rpc_error(exc)
            if not isinstance(error, NotFound):
                raise error from None
            outcome = error
        # Only an answer fetched while the stream was open, with no invalidation in between, may
        # be kept: otherwise it could predate a change whose event has already gone by.
        if self._live and epoch == self._epoch:
            self._memberships[(principal.subject, project_ref)] = (
                self._clock() + self._membership_ttl,
                outcome,
            )
        return outcome

    async def _watch(self) -> None:
        backoff = 0.1
        broken = False
        while True:
            try:
                stream = self.stub.WatchInvalidations(
                    registry_pb2.WatchInvalidationsRequest(),
                    metadata=outgoing_metadata(self._credentials.metadata()),
                    # Opens the moment the channel reconnects, not at the next backoff step.
                    wait_for_ready=True,
                )
                async for event in stream:
                    self._epoch += 1
                    if event.kind == registry_pb2.Invalidation.KIND_READY:
                        if broken:  # changes made while it was down were not seen
                            self._notify(self._access_listeners, "", "")
                        broken = False
                        self._set_live(True)
                        self.ready.set()
                        backoff = 0.1
                    else:
                        self._apply(event)
                log.warning("registry invalidation stream ended")
            except asyncio.CancelledError:
                raise
            except grpc.RpcError as exc:
                log.warning("registry invalidation stream broken: %s", exc.code().name)
            except Exception:
                log.exception("registry invalidation stream failed")
            self._set_live(False)
            broken = True
            self._epoch += 1
            self.ready.clear()
            self._drop_all()
            await asyncio.sleep(backoff)
            # At most a second: the caches stay off until the stream is back.
            backoff = min(backoff * 2, 1.0)

    def _set_live(self, live: bool) -> None:
        # Added and taken away rather than set: in the tests several clients share a process.
        if live and not self._live:
            self._watch_up.inc()
        elif self._live and not live:
            self._watch_up.dec()
        self._live = live

    def _apply(self, event: registry_pb2.Invalidation) -> None:
        """Drops what the event makes stale, at once, and tells the listeners (in the background)."""
        kind = event.kind
        if kind == registry_pb2.Invalidation.KIND_MEMBERSHIP:
            self._memberships.pop((event.user_id, event.project_ref), None)
            self._notify(self._access_listeners, event.user_id, event.project_ref)
            return
        if kind == registry_pb2.Invalidation.KIND_PROJECT:
            for membership_key in [k for k in self._memberships if k[1] == event.project_ref]:
                del self._memberships[membership_key]
            self._notify(self._access_listeners, "", event.project_ref)
        # A connection change can move the primary, so every entry of the project goes.
        for connection_key in [k for k in self._connections if k[0] == event.project_ref]:
            del self._connections[connection_key]
        connection_id = event.connection_id if kind == registry_pb2.Invalidation.KIND_CONNECTION else ""
        self._notify(self._listeners, event.project_id, connection_id)

    def _notify(self, listeners: list[InvalidationListener], first: str, second: str) -> None:
        """Calls each listener in the background (a slow one holds up nothing)."""
        for listener in listeners:
            task = asyncio.create_task(self._call_listener(listener, first, second))
            self._listener_tasks.add(task)
            task.add_done_callback(self._listener_tasks.discard)

    @staticmethod
    async def _call_listener(listener: InvalidationListener, first: str, second: str) -> None:
        try:
            await listener(first, second)
        except Exception:
            log.exception("invalidation listener failed")

    def _drop_all(self) -> None:
        self._memberships.clear()
        self._connections.clear()
