"""Fixtures the MongoDB test modules share."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from typing import Any

import pytest_asyncio
from harness import Servers
from pymongo import AsyncMongoClient


@pytest_asyncio.fixture(scope="module")
async def raw(servers: Servers) -> AsyncIterator[AsyncMongoClient[dict[str, Any]]]:
    """PyMongo straight to the server, to arrange data and check what the API did."""
    client: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(servers.mongo_url, tz_aware=True)
    yield client
    await client.close()


@pytest_asyncio.fixture
async def db(raw: AsyncMongoClient[dict[str, Any]]) -> AsyncIterator[str]:
    """A fresh database name for one test, dropped after it."""
    name = f"t_{uuid.uuid4().hex[:12]}"
    yield name
    await raw.drop_database(name)
