"""`GET /pg-meta/[ref]/generators/{typescript,go,swift,python}` beside the real postgres-meta 0.99
(the npm package) on the same database: byte for byte the same text, on postgres-meta's own test
database (tests/data/postgres-meta) and on our realistic schema (test_pg_catalog's shop), with
postgres-meta's parameters."""

from __future__ import annotations

import pathlib
import uuid
from collections.abc import AsyncIterator, Iterator

import httpx
import pytest
import pytest_asyncio
from harness import System
from pg_meta import SHOP_SQL, database_with, postgres_meta, postgres_meta_test_schema

pytestmark = pytest.mark.integration

#: Each generator with postgres-meta's parameters (its own names).
REQUESTS = [
    "typescript",
    "typescript?detect_one_to_one_relationships=true&postgrest_version=12.2.3",
    "typescript?included_schemas=public",
    "go",
    "go?excluded_schemas=public",
    "swift",
    "swift?access_control=public",
    "python",
]
SHOP_REQUESTS = [
    *REQUESTS,
    "typescript?included_schemas=shop,audit",
    "typescript?excluded_schemas=audit&detect_one_to_one_relationships=true",
    "go?included_schemas=shop",
    "swift?included_schemas=shop,audit&access_control=private",
    "python?included_schemas=shop",
]


class Target:
    def __init__(self, system: System, ref: str, owner: str, meta_url: str) -> None:
        self.system, self.ref, self.owner, self.meta_url = system, ref, owner, meta_url

    async def both(self, request: str) -> tuple[httpx.Response, httpx.Response]:
        ours = await self.system.http.get(
            f"/pg-meta/{self.ref}/generators/{request}", headers=self.system.headers(self.owner)
        )
        async with httpx.AsyncClient(timeout=60) as client:
            theirs = await client.get(f"{self.meta_url}/generators/{request}")
        return ours, theirs


async def _project(system: System, db_url: str) -> tuple[str, str]:
    ref, owner = await system.new_project()
    await system.add_connection(ref, owner, "pg-meta", {"identifier": "types", "uri": db_url})
    return ref, owner


@pytest_asyncio.fixture(scope="module")
async def meta_test_db(system: System) -> AsyncIterator[tuple[str, str, str]]:
    db_url = await database_with(system, "typegen_meta", postgres_meta_test_schema())
    yield (db_url, *(await _project(system, db_url)))


@pytest_asyncio.fixture(scope="module")
async def shop_db(system: System) -> AsyncIterator[tuple[str, str, str]]:
    db_url = await database_with(system, "typegen_shop", [path.read_text() for path in SHOP_SQL])
    yield (db_url, *(await _project(system, db_url)))


def _beside_postgres_meta(system: System, db: tuple[str, str, str], workdir: pathlib.Path) -> Iterator[Target]:
    db_url, ref, owner = db
    with postgres_meta(db_url, workdir) as url:
        yield Target(system, ref, owner, url)


@pytest.fixture(scope="module")
def on_meta_test_db(
    system: System, meta_test_db: tuple[str, str, str], tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Target]:
    yield from _beside_postgres_meta(system, meta_test_db, tmp_path_factory.mktemp("postgres-meta-typegen"))


@pytest.fixture(scope="module")
def on_shop(
    system: System, shop_db: tuple[str, str, str], tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Target]:
    yield from _beside_postgres_meta(system, shop_db, tmp_path_factory.mktemp("postgres-meta-typegen-shop"))


def _assert_same(ours: httpx.Response, theirs: httpx.Response) -> None:
    assert (ours.status_code, theirs.status_code) == (200, 200), (ours.text[:500], theirs.text[:500])
    assert ours.headers["content-type"] == theirs.headers["content-type"] == "text/plain; charset=utf-8"
    assert ours.text.splitlines() == theirs.text.splitlines()
    assert ours.content == theirs.content


@pytest.mark.postgres_meta
@pytest.mark.parametrize("request_", REQUESTS)
async def test_same_text_as_postgres_meta_on_its_test_database(on_meta_test_db: Target, request_: str) -> None:
    """Every generator writes byte for byte what postgres-meta writes for its own test database."""
    _assert_same(*await on_meta_test_db.both(request_))


@pytest.mark.postgres_meta
@pytest.mark.parametrize("request_", SHOP_REQUESTS)
async def test_same_text_as_postgres_meta_on_a_realistic_schema(on_shop: Target, request_: str) -> None:
    """Every generator writes byte for byte what postgres-meta writes for several schemas with
    keys, views, a partitioned table, RLS, enums, composites, domains and functions."""
    _assert_same(*await on_shop.both(request_))


async def test_generators_for_members_only_and_known_languages(
    system: System, shop_db: tuple[str, str, str], user_token: str
) -> None:
    """A viewer may generate types; a stranger gets 404, an unknown language 404 and an unknown
    Swift access level 400, each in postgres-meta's error body with a message."""
    _, ref, owner = shop_db
    viewer = f"viewer-{uuid.uuid4().hex[:8]}"
    await system.add_member(ref, owner, viewer, "viewer")
    reply = await system.http.get(f"/pg-meta/{ref}/generators/go", headers=system.headers(viewer))
    assert reply.status_code == 200 and reply.text.startswith("package database")
    stranger = await system.http.get(f"/pg-meta/{ref}/generators/go", headers={"authorization": f"Bearer {user_token}"})
    assert stranger.status_code == 404
    for path, status in (("generators/rust", 404), ("generators/swift?access_control=open", 400)):
        reply = await system.http.get(f"/pg-meta/{ref}/{path}", headers=system.headers(owner))
        assert reply.status_code == status, reply.text
        assert reply.json()["message"] == reply.json()["error"]
    none = await system.http.get(
        f"/pg-meta/{ref}/generators/typescript", params={"included_schemas": ""}, headers=system.headers(owner)
    )
    assert "export type Database = {}" in none.text
