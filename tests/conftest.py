"""Fixtures: real Postgres, Redis and FerretDB (from PG_URL / REDIS_URL / MONGO_URL when set,
else started here by deploy/local/devstack.py), and the five services run in this process on
real sockets.

Two Postgres clusters, as in production: the platform's (its databases only; PLATFORM_PG_URL
when set) and the tenants' (PG_URL), which every tenant connection of the tests points at. The
tenants' cluster speaks TLS too, with a certificate for ``localhost`` (``servers.pg_tls_cert``).
"""

from __future__ import annotations

import os
import secrets
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import devstack
import pytest
import pytest_asyncio
from harness import OwnRedis, Servers, System, start_system

from udb.auth import mint_token


@pytest.fixture(scope="session")
def servers(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Servers]:
    """Postgres, Redis and the MongoDB wire server, each given by env or started for the session."""
    stack = devstack.Stack.create(Path(tmp_path_factory.mktemp("stack")))
    try:
        platform_pg_url = os.environ.get("PLATFORM_PG_URL") or stack.start_postgres("platform")
        pg_url = os.environ.get("PG_URL") or stack.start_postgres(tls=True)
        redis_url = os.environ.get("REDIS_URL") or stack.start_redis()
        mongo_url = os.environ.get("MONGO_URL") or stack.start_ferretdb()
        yield Servers(
            pg_url=pg_url, platform_pg_url=platform_pg_url, redis_url=redis_url, mongo_url=mongo_url, stack=stack
        )
    finally:
        stack.stop()


@pytest.fixture(scope="session")
def jwt_secret() -> str:
    return secrets.token_urlsafe(32)


@pytest_asyncio.fixture(scope="session")
async def system(servers: Servers, jwt_secret: str, tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[System]:
    """The registry, the three engine services and the gateway, on real sockets in this process."""
    platform_url = await servers.create_platform_database(f"udb_platform_{uuid.uuid4().hex[:8]}")
    async with start_system(servers, jwt_secret=jwt_secret, platform_url=platform_url) as running:
        yield running


@pytest.fixture
def user_token(jwt_secret: str) -> str:
    """A token for a fresh user of no project."""
    return mint_token(jwt_secret, subject=f"user-{uuid.uuid4().hex[:8]}")


@pytest.fixture
def own_redis(tmp_path: Path) -> Iterator[OwnRedis]:
    """A Redis of this test's own (started; stop and start it at will)."""
    server = OwnRedis(devstack.free_port(), tmp_path)
    server.start()
    yield server
    server.stop()
