"""What every engine service (redis-svc, mongo-svc, pg-svc) shares: access, resolution, pools.

A servicer asks :meth:`EngineRuntime.borrow` for the client of the call's target: that checks the
caller's role on the project (cached), resolves the connection record (cached), borrows the
pooled client for it under the target's circuit breaker (:mod:`udb.breaker`: a target known to be
down fails at once with 503), and turns whatever the driver raises in the block into the API's
error, through the engine's one ``translate``. The registry is asked only when a cache is cold or
was invalidated.
"""

from __future__ import annotations

import contextlib
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import dataclass
from typing import Generic

from udb import metrics
from udb.auth import ServiceCredentials, current_principal
from udb.breaker import BreakerPolicy, Breakers
from udb.clients import insecure_channel
from udb.common.v1 import common_pb2
from udb.config import ServiceSettings
from udb.engines import DB_TYPE_NAMES
from udb.errors import DatabaseError, Internal, Unavailable
from udb.pool import ClientCloser, ClientFactory, ClientT, PoolManager
from udb.registry.v1 import registry_pb2
from udb.registry_client import Access, RegistryClient

log = logging.getLogger("udb.engine")

#: What a driver raises when a reply is not what it expects (not its own error classes).
PARSE_ERRORS = (AttributeError, TypeError, KeyError, IndexError, ValueError)


def unreadable_reply(exc: BaseException, engine: str, *packages: str) -> Unavailable | None:
    """Unavailable when ``exc`` is a plain Python error raised inside the driver (``packages``):
    a server that answers something the driver cannot read (a hostile or broken one) makes a
    driver fail that way, and the caller should get 503, not 500. Logged with its traceback, in
    case it is a misuse of the driver instead."""
    if not isinstance(exc, PARSE_ERRORS):
        return None
    frame = exc.__traceback__
    while frame is not None and frame.tb_next is not None:
        frame = frame.tb_next
    module = str(frame.tb_frame.f_globals.get("__name__", "")) if frame is not None else ""
    if not any(module == package or module.startswith(f"{package}.") for package in packages):
        return None
    log.warning("the %s driver could not read a server's reply", engine, exc_info=exc)
    return Unavailable(f"{engine}: the server's reply could not be read")


#: An engine's driver errors -> the API's (``Internal()`` for what is not the driver's).
Translate = Callable[[Exception], DatabaseError]


@dataclass(frozen=True, slots=True)
class Borrowed(Generic[ClientT]):
    """A borrowed client, with the caller's access and the record it was built from."""

    client: ClientT
    access: Access
    resolved: registry_pb2.ResolvedConnection


class EngineRuntime(Generic[ClientT]):
    """The registry client and the pool manager of one engine service."""

    def __init__(
        self,
        settings: ServiceSettings,
        db_type: common_pb2.DatabaseType,
        factory: ClientFactory[ClientT],
        closer: ClientCloser[ClientT],
        *,
        translate: Translate,
        registry: RegistryClient | None = None,
    ) -> None:
        self.db_type = db_type
        self.translate = translate
        self.credentials = ServiceCredentials(settings.auth, settings.name)
        self._channel = None
        if registry is None:
            self._channel = insecure_channel(settings.registry_address, max_message_bytes=settings.max_message_bytes)
            registry = RegistryClient(
                self._channel,
                self.credentials,
                connection_ttl_s=settings.connection_cache_ttl_s,
                membership_ttl_s=settings.membership_cache_ttl_s,
            )
        self.registry = registry
        self.pools: PoolManager[ClientT] = PoolManager(
            DB_TYPE_NAMES[db_type],
            factory,
            closer,
            max_connections=settings.pool_max_connections,
            acquire_timeout_s=settings.pool_acquire_timeout_s,
            idle_timeout_s=settings.pool_idle_timeout_s,
            cleanup_interval_s=settings.pool_cleanup_interval_s,
        )
        self.breakers = Breakers(
            DB_TYPE_NAMES[db_type],
            BreakerPolicy(
                failure_threshold=settings.breaker_failure_threshold,
                open_s=settings.breaker_open_s,
                open_max_s=settings.breaker_open_max_s,
            ),
        )
        self.registry.add_listener(self._on_invalidation)
        metrics.track_pools(settings.name, self.pools)
        metrics.track_breakers(settings.name, self.breakers)

    async def start(self) -> None:
        await self.registry.start()
        await self.pools.start()

    async def close(self) -> None:
        await self.pools.close()
        await self.registry.close()
        if self._channel is not None:
            await self._channel.close(None)

    async def authorize(self, target: common_pb2.ConnectionTarget, required_role: int) -> Access:
        """The current caller's access to the target's project, at least ``required_role``."""
        return await self.registry.check_access(current_principal(), target.project_ref, required_role)

    async def resolve(
        self, target: common_pb2.ConnectionTarget, required_role: int
    ) -> tuple[Access, registry_pb2.ResolvedConnection]:
        """Access check, then the connection record with its secret."""
        access = await self.authorize(target, required_role)
        return access, await self.registry.resolve(target, self.db_type)

    @contextlib.asynccontextmanager
    async def borrow(self, target: common_pb2.ConnectionTarget, required_role: int) -> AsyncIterator[Borrowed[ClientT]]:
        """The pooled client of the call's target, after the access check, under its breaker. The
        driver's errors raised in the block leave it as the API's (:meth:`translating`), and the
        breaker judges the translated error (an Unavailable says the target is down)."""
        access, resolved = await self.resolve(target, required_role)
        async with self.guard(resolved):
            with self.translating():
                async with self.pools.acquire(resolved) as client:
                    yield Borrowed(client, access, resolved)

    @contextlib.asynccontextmanager
    async def hold(self, resolved: registry_pb2.ResolvedConnection) -> AsyncIterator[ClientT]:
        """The client of a record already resolved for an authorized caller, for a long-lived use
        that takes no borrower slot (a subscription, a parked cursor, a batched read): see
        :meth:`udb.pool.PoolManager.hold`. Errors as in :meth:`borrow`."""
        with self.translating():
            async with self.pools.hold(resolved) as client:
                yield client

    @contextlib.contextmanager
    def translating(self) -> Iterator[None]:
        """The engine's ``translate`` applied to what the block raises. An exception that is not
        the driver's (``translate`` answers ``Internal``) goes on as it is: the interceptor logs
        it with its traceback and answers INTERNAL."""
        try:
            yield
        except DatabaseError:
            raise
        except Exception as exc:
            error = self.translate(exc)
            if type(error) is Internal:
                raise
            raise error from None

    def guard(self, resolved: registry_pb2.ResolvedConnection) -> contextlib.AbstractAsyncContextManager[None]:
        """The record's circuit breaker (:meth:`udb.breaker.Breakers.guard`), around a use of its
        client whose errors are translated inside it: :meth:`borrow`'s, or a batched read's."""
        return self.breakers.guard(resolved.connection.project_id, resolved.connection.id)

    async def test_connection(
        self, target: common_pb2.ConnectionTarget, probe: Callable[[ClientT], Awaitable[str]]
    ) -> common_pb2.ConnectionTestResult:
        """Connects with the target's record and runs ``probe`` (which returns the server's
        version). A database that fails is a normal reply with ``ok: false``; a caller without
        the admin role or an unknown record is an RPC error."""
        access, resolved = await self.resolve(target, common_pb2.ROLE_ADMIN)
        del access
        started = time.perf_counter()
        try:
            async with self.pools.acquire(resolved) as client:
                version = await probe(client)
        except Exception as exc:  # noqa: BLE001 (any failure is the test's outcome)
            error = exc if isinstance(exc, DatabaseError) else self.translate(exc)
            return common_pb2.ConnectionTestResult(
                ok=False,
                latency_ms=(time.perf_counter() - started) * 1000,
                error=common_pb2.ErrorDetail(code=error.code, message=error.message, details=error.details),
            )
        return common_pb2.ConnectionTestResult(
            ok=True, latency_ms=(time.perf_counter() - started) * 1000, server_version=version
        )

    async def _on_invalidation(self, project_id: str, connection_id: str) -> None:
        if connection_id:
            self.breakers.reset(connection_id=connection_id)
            await self.pools.invalidate(connection_id=connection_id)
        elif project_id:
            self.breakers.reset(project_id=project_id)
            await self.pools.invalidate(project_id=project_id)
