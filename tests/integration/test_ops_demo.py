"""The demo dataset of `make dev` (deploy/local/demo.py), loaded twice into the test servers with a
tenant's own credentials, then read through the gateway as the README's curl lines read it."""

from __future__ import annotations

import secrets
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote, urlsplit, urlunsplit

import asyncpg
import demo
import devstack
import pytest
import pytest_asyncio
import redis.asyncio as redis
from harness import Servers, System, direct_mongo

pytestmark = pytest.mark.integration


@dataclass
class Loaded:
    """A project whose three connections hold the demo dataset, and what each load answered."""

    ref: str
    owner: str
    viewer: str
    owner_url: str
    reader_url: str
    prefix: str
    mongo_db: str
    first: tuple[bool, list[str], bool]
    second: tuple[bool, list[str], bool]


def _login(server_url: str, user: str, password: str, database: str) -> str:
    parts = urlsplit(server_url)
    return urlunsplit(parts._replace(netloc=f"{user}:{password}@{parts.hostname}:{parts.port}", path=f"/{database}"))


async def _tenant_database(servers: Servers, suffix: str) -> tuple[str, str, str]:
    """A database owned by a login that is no superuser, and a read-only login (what
    devstack.create_tenant_database makes for `make dev`); returns their URLs and the reader's name."""
    owner, reader, database = f"demo_owner_{suffix}", f"demo_reader_{suffix}", f"udb_demo_{suffix}"
    owner_password, reader_password = secrets.token_urlsafe(12), secrets.token_urlsafe(12)
    conn = await asyncpg.connect(servers.pg_url)
    try:
        await conn.execute(f"CREATE ROLE {owner} LOGIN PASSWORD '{owner_password}'")
        await conn.execute(f"CREATE ROLE {reader} LOGIN PASSWORD '{reader_password}' IN ROLE pg_read_all_data")
        await conn.execute(f"CREATE DATABASE {database} OWNER {owner}")
    finally:
        await conn.close()
    return (
        _login(servers.pg_url, owner, owner_password, database),
        _login(servers.pg_url, reader, reader_password, database),
        reader,
    )


@pytest_asyncio.fixture(scope="module")
async def loaded(system: System, servers: Servers) -> AsyncIterator[Loaded]:
    suffix = uuid.uuid4().hex[:8]
    owner_url, reader_url, reader = await _tenant_database(servers, suffix)
    prefix, mongo_db = f"demo-{suffix}:", f"shop_{suffix}"
    redis_client, mongo_client = redis.Redis.from_url(servers.redis_url), direct_mongo(servers.mongo_url)

    async def load() -> tuple[bool, list[str], bool]:
        return (
            await demo.load_postgres(owner_url, reader=reader),
            await demo.load_redis(redis_client, prefix=prefix),
            await demo.load_mongo(mongo_client, database=mongo_db),
        )

    first, second = await load(), await load()
    ref, owner = await system.new_project()
    viewer = f"viewer-{suffix}"
    await system.add_member(ref, owner, viewer, "viewer")
    reader_password = urlsplit(reader_url).password
    await system.add_connection(
        ref,
        owner,
        "pg-meta",
        {
            "identifier": "shop",
            "uri": owner_url,
            "options": {"read_only_role": reader, "read_only_password": reader_password},
        },
    )
    await system.add_connection(ref, owner, "redis", {"identifier": "shop", "uri": servers.redis_url})
    await system.add_connection(ref, owner, "mongodb", {"identifier": "shop", "uri": servers.mongo_url})
    yield Loaded(ref, owner, viewer, owner_url, reader_url, prefix, mongo_db, first, second)
    await redis_client.delete(*[prefix + key.name for key in demo.redis_keys()])
    await redis_client.aclose()
    await mongo_client.drop_database(mongo_db)
    await mongo_client.close()


async def _rows(url: str, sql: str) -> list[asyncpg.Record]:
    conn = await asyncpg.connect(url)
    try:
        return list(await conn.fetch(sql))
    finally:
        await conn.close()


async def test_a_second_load_writes_nothing(loaded: Loaded) -> None:
    """The first load writes every engine's data; the second finds it and writes nothing, without failing."""
    postgres, keys, mongo = loaded.first
    assert postgres is True and mongo is True
    assert sorted(keys) == sorted(loaded.prefix + key.name for key in demo.redis_keys())
    assert loaded.second == (False, [], False)


async def test_postgres_holds_the_shop_once_with_its_keys_enum_view_and_policy(loaded: Loaded) -> None:
    """Each row once, foreign keys in place, the enum's values in order; the identity continues after the
    loaded ids; the owner sees every order and the read-only login no cancelled one (row-level security)."""
    counts = await _rows(
        loaded.owner_url,
        "SELECT (SELECT count(*) FROM shop.customers) AS customers, (SELECT count(*) FROM shop.products) AS products,"
        " (SELECT count(*) FROM shop.orders) AS orders, (SELECT count(*) FROM shop.order_items) AS items",
    )
    assert dict(counts[0]) == {
        "customers": len(demo.CUSTOMERS),
        "products": len(demo.PRODUCTS),
        "orders": len(demo.ORDERS),
        "items": len(demo.ORDER_ITEMS),
    }
    foreign_keys = await _rows(
        loaded.owner_url,
        "SELECT conrelid::regclass::text AS tab, confrelid::regclass::text AS ref FROM pg_constraint"
        " WHERE contype = 'f' AND connamespace = 'shop'::regnamespace ORDER BY 1, 2",
    )
    assert [tuple(row) for row in foreign_keys] == [
        ("shop.order_items", "shop.orders"),
        ("shop.order_items", "shop.products"),
        ("shop.orders", "shop.customers"),
    ]
    labels = await _rows(loaded.owner_url, "SELECT unnest(enum_range(NULL::shop.order_status))::text AS label")
    assert [row["label"] for row in labels] == ["pending", "paid", "shipped", "delivered", "cancelled"]
    conn = await asyncpg.connect(loaded.owner_url)
    try:
        new_id = await conn.fetchval(
            "INSERT INTO shop.customers (email, name, country) VALUES ('new@example.com', 'New', 'FR') RETURNING id"
        )
        assert new_id == len(demo.CUSTOMERS) + 1
        await conn.execute("DELETE FROM shop.customers WHERE id = $1", new_id)
        owner_tables = await conn.fetch("SELECT tableowner FROM pg_tables WHERE schemaname = 'shop'")
        assert {row["tableowner"] for row in owner_tables} == {urlsplit(loaded.owner_url).username}
    finally:
        await conn.close()
    as_owner = await _rows(loaded.owner_url, "SELECT status FROM shop.order_totals")
    as_reader = await _rows(loaded.reader_url, "SELECT status FROM shop.order_totals")
    assert len(as_owner) == len(demo.ORDERS)
    assert "cancelled" in {row["status"] for row in as_owner}
    assert len(as_reader) == len(demo.ORDERS) - 1
    assert "cancelled" not in {row["status"] for row in as_reader}
    with pytest.raises(asyncpg.InsufficientPrivilegeError):
        await _rows(loaded.reader_url, "INSERT INTO shop.customers (email, name, country) VALUES ('x@y', 'x', 'xx')")


async def test_the_query_of_the_readme_answers_each_order_with_its_total(system: System, loaded: Loaded) -> None:
    """The pg-meta query of the README's third line answers one row per order with its customer,
    status, item count and total; a viewer's SQL (the read-only login) sees no cancelled order."""
    body = {"query": "select * from shop.order_totals order by order_id"}
    reply = await system.http.post(f"/pg-meta/{loaded.ref}/query", json=body, headers=system.headers(loaded.owner))
    assert reply.status_code == 200, reply.text
    rows = reply.json()
    assert [row["order_id"] for row in rows] == list(range(1, len(demo.ORDERS) + 1))
    assert rows[0] == {
        "order_id": 1,
        "customer": "ada@example.com",
        "status": "delivered",
        "placed_at": "2025-03-02 09:15:00+00",
        "items": 2,
        "total": "49.00",
    }
    as_viewer = await system.http.post(f"/pg-meta/{loaded.ref}/query", json=body, headers=system.headers(loaded.viewer))
    assert as_viewer.status_code == 200, as_viewer.text
    assert [row["order_id"] for row in as_viewer.json()] == [1, 2, 3, 4, 5, 7, 8, 9, 10]


async def test_the_catalogue_shows_the_tables_view_enum_and_policy(system: System, loaded: Loaded) -> None:
    """Studio's pages find the shop: four tables with their relationships, the view, the enum, the policy."""
    headers = system.headers(loaded.owner)

    async def get(route: str) -> Any:
        reply = await system.http.get(
            f"/pg-meta/{loaded.ref}/{route}", params={"included_schemas": "shop"}, headers=headers
        )
        assert reply.status_code == 200, reply.text
        return reply.json()

    tables = await get("tables")
    assert sorted(table["name"] for table in tables) == ["customers", "order_items", "orders", "products"]
    orders = next(table for table in tables if table["name"] == "orders")
    assert orders["rls_enabled"] is True
    assert {(r["source_table_name"], r["target_table_name"]) for r in orders["relationships"]} >= {
        ("orders", "customers"),
        ("order_items", "orders"),
    }
    assert [view["name"] for view in await get("views")] == ["order_totals"]
    enum = next(t for t in await get("types") if t["name"] == "order_status")
    assert enum["enums"] == ["pending", "paid", "shipped", "delivered", "cancelled"]
    policies = await get("policies")
    assert [(p["name"], p["table"], p["command"]) for p in policies] == [
        ("readers_see_no_cancelled_orders", "orders", "SELECT")
    ]


async def test_redis_holds_every_type_under_two_namespaces(system: System, loaded: Loaded) -> None:
    """The README's key listing finds the shop's keys of every type; the sessions expire within a day."""
    headers = system.headers(loaded.owner)
    listing = await system.http.get(
        f"/redis/{loaded.ref}/keys", params={"pattern": f"{loaded.prefix}shop:*", "count": 1000}, headers=headers
    )
    assert listing.status_code == 200, listing.text
    keys = {entry["key"].removeprefix(loaded.prefix): entry for entry in listing.json()["data"]}
    expected = {key.name: key for key in demo.redis_keys() if key.name.startswith("shop:")}
    assert set(keys) == set(expected)
    assert {entry["type"] for entry in keys.values()} == {"string", "hash", "list", "set", "zset", "stream"}
    assert all(entry["ttl"] == -1 for entry in keys.values())
    sessions = await system.http.get(
        f"/redis/{loaded.ref}/keys", params={"pattern": f"{loaded.prefix}session:*", "count": 1000}, headers=headers
    )
    session_keys = sessions.json()["data"]
    assert {entry["type"] for entry in session_keys} == {"hash", "string", "list", "set"}
    assert all(0 < entry["ttl"] <= demo.SESSION_TTL_S for entry in session_keys)
    events = await system.http.get(
        f"/redis/{loaded.ref}/keys/{quote(loaded.prefix + 'shop:events', safe='')}", headers=headers
    )
    assert events.status_code == 200, events.text
    entries = events.json()["value"]
    assert len(entries) == len(demo.ORDERS)
    assert entries[0]["fields"] == {"type": "order.placed", "order": "SO-0010", "status": "delivered"}


async def test_mongo_holds_nested_orders_with_an_index(system: System, loaded: Loaded) -> None:
    """The README's document listing answers nested orders (sub-documents, arrays, ObjectIds, dates) in
    Extended JSON; the collection has each order once and the secondary index on email and date."""
    headers = system.headers(loaded.owner)
    base = f"/mongodb/{loaded.ref}/databases/{loaded.mongo_db}/collections/orders"
    reply = await system.http.get(f"{base}/documents", params={"limit": 2, "count": "true"}, headers=headers)
    assert reply.status_code == 200, reply.text
    page = reply.json()
    assert page["count"] == len(demo.ORDERS)
    first = page["data"][0]
    assert first["_id"] == {"$oid": "65e2f0a00000000000000001"}
    assert first["placed_at"] == {"$date": "2025-03-02T09:15:00Z"}
    assert first["customer"]["_id"] == {"$oid": "65e2f0000000000000000001"}
    assert first["customer"]["address"] == {"country": "GB"}
    assert [item["sku"] for item in first["items"]] == ["COF-ETH-250", "ACC-V60"]
    assert first["total_cents"] == 2 * 1250 + 2400
    indexes = await system.http.get(f"{base}/indexes", headers=headers)
    assert indexes.status_code == 200, indexes.text
    by_name = {index["name"]: index for index in indexes.json()["data"]}
    assert by_name[demo.MONGO_INDEX]["key"] == {"customer.email": 1, "placed_at": -1}


async def test_an_engine_that_refuses_the_demo_is_reported_and_the_others_are_loaded(
    servers: Servers, loaded: Loaded
) -> None:
    """With Postgres refusing the login and Redis down, load() says so per engine (no exception) and
    still loads MongoDB."""
    wrong_password = _login(servers.pg_url, urlsplit(loaded.owner_url).username or "", "wrong", "postgres")
    closed = redis.Redis.from_url(f"redis://127.0.0.1:{devstack.free_port()}/0")
    mongo = direct_mongo(servers.mongo_url)
    try:
        await mongo.drop_database(demo.MONGO_DATABASE)
        done = await demo.load(postgres_owner_url=wrong_password, postgres_reader="nobody", redis=closed, mongo=mongo)
        assert done["postgres"].startswith("not loaded (InvalidPasswordError: ")
        assert done["redis"].startswith("not loaded (ConnectionError: ")
        assert done["mongodb"] == "shop.orders loaded"
        assert await mongo[demo.MONGO_DATABASE][demo.MONGO_COLLECTION].count_documents({}) == len(demo.ORDERS)
    finally:
        await mongo.drop_database(demo.MONGO_DATABASE)
        await mongo.close()
        await closed.aclose()
