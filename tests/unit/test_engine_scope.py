"""The engine scope (udb.engine.EngineRuntime.borrow): the driver's errors leave it translated by
the engine's one ``translate``; errors that are not the driver's leave it as they are."""

from __future__ import annotations

from typing import Any, cast

import pytest

from udb.auth import Principal, principal_var
from udb.common.v1 import common_pb2
from udb.config import AuthSettings, ServiceSettings
from udb.engine import EngineRuntime
from udb.errors import DatabaseError, Internal, NotFound, Unavailable
from udb.registry.v1 import registry_pb2
from udb.registry_client import Access, RegistryClient


class DriverError(Exception):
    """What a driver raises."""


def translate(exc: Exception) -> DatabaseError:
    return Unavailable("driver: down") if isinstance(exc, DriverError) else Internal()


class Registry:
    """The registry client's answers for one project, without a registry."""

    def add_listener(self, listener: Any) -> None:
        del listener

    async def close(self) -> None:
        pass

    async def check_access(self, principal: Principal, project_ref: str, required_role: int) -> Access:
        return Access(project_ref, "project-1", common_pb2.ROLE_OWNER)

    async def resolve(self, target: common_pb2.ConnectionTarget, db_type: int) -> registry_pb2.ResolvedConnection:
        resolved = registry_pb2.ResolvedConnection()
        resolved.connection.id, resolved.connection.project_id = "c1", "project-1"
        return resolved


async def runtime(factory_error: Exception | None = None) -> EngineRuntime[str]:
    async def factory(resolved: registry_pb2.ResolvedConnection, max_connections: int) -> str:
        if factory_error is not None:
            raise factory_error
        return "client"

    async def closer(client: str) -> None:
        del client

    settings = ServiceSettings(name="test-svc", address="127.0.0.1:0", auth=AuthSettings())
    return EngineRuntime(
        settings,
        common_pb2.DATABASE_TYPE_REDIS,
        factory,
        closer,
        translate=translate,
        registry=cast(RegistryClient, Registry()),
    )


@pytest.fixture(autouse=True)
def caller() -> Any:
    token = principal_var.set(Principal(subject="u1", role="authenticated", token="t", expires_at=0))
    yield
    principal_var.reset(token)


TARGET = common_pb2.ConnectionTarget(project_ref="p")


async def borrow_and_raise(engine: EngineRuntime[str], exc: Exception) -> None:
    async with engine.borrow(TARGET, common_pb2.ROLE_VIEWER) as borrowed:
        assert borrowed.client == "client"
        raise exc


def translate_and_raise(engine: EngineRuntime[str], exc: Exception) -> None:
    with engine.translating():
        raise exc


async def test_a_driver_error_in_the_block_leaves_translated() -> None:
    """A driver's exception raised inside borrow's block comes out as the engine's API error."""
    engine = await runtime()
    with pytest.raises(Unavailable, match="driver: down"):
        await borrow_and_raise(engine, DriverError("ECONNRESET 10.0.0.5:6379"))
    with pytest.raises(Unavailable):
        translate_and_raise(engine, DriverError("outside a borrow"))
    await engine.close()


async def test_a_failure_building_the_client_is_translated_too() -> None:
    """The driver failing while the pool builds the target's client is translated the same way."""
    engine = await runtime(factory_error=DriverError("refused"))
    with pytest.raises(Unavailable):
        await borrow_and_raise(engine, NotFound("never reached"))
    await engine.close()


async def test_api_errors_and_errors_not_the_drivers_pass_unchanged() -> None:
    """An API error raised in the block is kept; an exception that is not the driver's (translate
    answers Internal) goes on as itself, for the interceptor to log with its traceback."""
    engine = await runtime()
    with pytest.raises(NotFound, match="no such key"):
        await borrow_and_raise(engine, NotFound("no such key"))
    with pytest.raises(KeyError):
        await borrow_and_raise(engine, KeyError("a bug of ours"))
    await engine.close()
