"""Attacks on the platform's network, replayed (issue 14, findings 1 and 5): a tenant's connection
never reaches the platform database, the services' own ports, a metadata address or a Unix socket,
by any spelling, nor through any later hop of a driver (Sentinel masters, Cluster nodes,
replica-set members, SRV targets); the engines check every dial themselves, whatever the registry
let through. The refusals are 400 ``invalid_argument`` saying why (details.reason)."""

from __future__ import annotations

import asyncio
import contextlib
import urllib.parse
import uuid
from collections.abc import AsyncIterator
from typing import Any

import dns.asyncresolver
import grpc
import pytest
from harness import System, own_service
from hostile import Decoy, FakeDns, FakeMongod, RespServer
from mongo_svc.dial import DialPolicy
from mongo_svc.server import create_server as create_mongo
from mongo_svc.settings import Settings as MongoSettings
from pg_svc.server import create_server as create_pg
from pg_svc.settings import Settings as PgSettings
from pymongo import AsyncMongoClient
from pymongo.errors import ServerSelectionTimeoutError
from redis_svc.server import create_server as create_redis
from redis_svc.settings import Settings as RedisSettings
from registry.server import create_server as create_registry
from registry.settings import Settings as RegistrySettings

from udb.common.v1 import common_pb2
from udb.dialing import AddressDenied, DialGuard
from udb.mongo.v1 import mongo_pb2, mongo_pb2_grpc
from udb.netpolicy import NetworkPolicy
from udb.pg.v1 import pg_pb2, pg_pb2_grpc
from udb.redis.v1 import redis_pb2, redis_pb2_grpc
from udb.registry.v1 import registry_pb2, registry_pb2_grpc

pytestmark = pytest.mark.integration

ENGINES = ("redis", "mongodb", "pg-meta")
SCHEMES = {"redis": "redis", "mongodb": "mongodb", "pg-meta": "postgresql"}


def port_of(url: str) -> int:
    port = urllib.parse.urlsplit(url).port
    assert port is not None
    return port


async def refused(system: System, ref: str, owner: str, engine: str, body: dict[str, Any]) -> dict[str, Any]:
    """POSTs a connection that must be refused; returns the error."""
    reply = await system.http.post(f"/{engine}/{ref}/connections", json=body, headers=system.headers(owner))
    assert reply.status_code == 400, (body, reply.text)
    error: dict[str, Any] = reply.json()["error"]
    assert error["code"] == "invalid_argument"
    return error


# Every spelling of the metadata endpoint and of loopback that a resolver reads as an address.
METADATA_SPELLINGS = [
    "169.254.169.254",
    "169.254.169.254.",
    "2852039166",
    "0xa9fea9fe",
    "0xa9.0xfe.0xa9.0xfe",
    "0251.0376.0251.0376",
    "169.254.43518",
    "::ffff:169.254.169.254",
    "::ffff:a9fe:a9fe",
    "::169.254.169.254",
    "64:ff9b::a9fe:a9fe",
    "64:ff9b:1::a9fe:a9fe",
    "2002:a9fe:a9fe::1",
    "fd00:ec2::254",
    "fe80::1%eth0",
    "100.100.100.200",
    "0.0.0.0",
    "::",
]
LOOPBACK_SPELLINGS = ["127.0.0.1", "2130706433", "0x7f.1", "127.1", "0177.0.0.1", "::ffff:127.0.0.1", "localhost"]


@pytest.mark.parametrize("engine", ENGINES)
async def test_metadata_and_unspecified_addresses_are_refused_in_every_spelling(system: System, engine: str) -> None:
    """Metadata, link-local and unspecified addresses, in every IPv4 and IPv6 spelling, as a field, in a URI
    or as a MongoDB seed or Redis sentinel, are refused and nothing is written."""
    ref, owner = await system.new_project()
    for host in METADATA_SPELLINGS:
        bracketed = f"[{host}]" if ":" in host else host
        error = await refused(system, ref, owner, engine, {"identifier": "x", "host": host})
        assert error["details"]["field"] == "host"
        await refused(system, ref, owner, engine, {"identifier": "x", "uri": f"{SCHEMES[engine]}://{bracketed}:6000"})
    await refused(
        system, ref, owner, "mongodb", {"identifier": "x", "uri": "mongodb://db.example.com,[fd00:ec2::254]:27017/"}
    )
    await refused(
        system,
        ref,
        owner,
        "redis",
        {"identifier": "x", "host": "db.example.com", "options": {"sentinel_master": "m", "sentinels": ["0:26379"]}},
    )
    assert (await system.http.get(f"/{engine}/{ref}/connections", headers=system.headers(owner))).json()["data"] == []


@pytest.mark.parametrize("engine", ENGINES)
async def test_the_platform_database_and_the_services_are_refused_in_every_spelling(
    system: System, engine: str
) -> None:
    """The platform database's port and every service's port are refused on loopback, although this test
    stack allows loopback, in every spelling of 127.0.0.1 (finding 1: a connection to the platform's own
    database)."""
    ref, owner = await system.new_project()
    platform = port_of(system.platform_url)
    for host in LOOPBACK_SPELLINGS:
        for port in (platform, *system.ports.values()):
            error = await refused(system, ref, owner, engine, {"identifier": "x", "host": host, "port": port})
            assert error["details"]["reason"] == "a platform endpoint"
    user, password = "postgres", urllib.parse.urlsplit(system.platform_url).password
    uri = f"postgresql://{user}:{password}@127.0.0.1:{platform}/{system.platform_url.rsplit('/', 1)[1]}"
    await refused(system, ref, owner, "pg-meta", {"identifier": "x", "uri": uri})


@pytest.mark.parametrize(
    ("engine", "body"),
    [
        ("pg-meta", {"uri": "postgresql://postgres@db.example.com/udb_platform?host=/var/run/postgresql"}),
        ("pg-meta", {"host": "db.example.com", "options": {"hostaddr": "127.0.0.1"}}),
        ("pg-meta", {"host": "/var/run/postgresql"}),
        ("pg-meta", {"host": "%2Fvar%2Frun%2Fpostgresql"}),
        ("pg-meta", {"uri": "postgresql://postgres@%2Fvar%2Frun%2Fpostgresql/udb_platform"}),
        ("redis", {"uri": "unix:///var/run/redis/redis.sock"}),
        ("redis", {"host": "db.example.com", "options": {"unix_socket_path": "/var/run/redis/redis.sock"}}),
        ("mongodb", {"uri": "mongodb://%2Ftmp%2Fmongodb-27017.sock/"}),
        ("mongodb", {"host": "mongodb-27017.sock"}),
    ],
)
async def test_unix_sockets_are_refused(system: System, engine: str, body: dict[str, Any]) -> None:
    """A host that is a socket path, libpq's ?host=/hostaddr, redis's unix:// and socket path, and MongoDB's
    escaped socket path are all refused: the platform database listens on a socket of this host."""
    ref, owner = await system.new_project()
    await refused(system, ref, owner, engine, {"identifier": "x", **body})


async def test_the_production_default_refuses_loopback(system: System) -> None:
    """A registry with the production default (no ALLOWED_NETWORKS) refuses loopback in any spelling."""
    ref, owner = await system.new_project()
    async with own_service(system, create_registry, RegistrySettings, {"ALLOWED_NETWORKS": ""}) as channel:
        registry = registry_pb2_grpc.RegistryServiceStub(channel)
        for host in LOOPBACK_SPELLINGS:
            with pytest.raises(grpc.aio.AioRpcError) as caught:
                await registry.CreateConnection(
                    registry_pb2.CreateConnectionRequest(
                        project_ref=ref, identifier="x", host=host, database_type=common_pb2.DATABASE_TYPE_REDIS
                    ),
                    metadata=system.metadata(owner),
                )
            assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT, host


# ---- the engines check every dial themselves ------------------------------------------------------

ENGINE_SERVICES: dict[str, tuple[Any, Any, Any, Any]] = {
    "redis": (create_redis, RedisSettings, redis_pb2_grpc.RedisServiceStub, redis_pb2.TestConnectionRequest),
    "mongodb": (create_mongo, MongoSettings, mongo_pb2_grpc.MongoServiceStub, mongo_pb2.TestConnectionRequest),
    "pg-meta": (create_pg, PgSettings, pg_pb2_grpc.PgServiceStub, pg_pb2.TestConnectionRequest),
}


@contextlib.asynccontextmanager
async def engine_with(system: System, engine: str, **env: str) -> AsyncIterator[Any]:
    """An engine service of its own, with other network settings, on the session's registry."""
    create, settings_type, stub, _ = ENGINE_SERVICES[engine]
    async with own_service(system, create, settings_type, env) as channel:
        yield stub(channel)


async def check_connection(
    system: System, engine: str, service: Any, ref: str, owner: str, connection_id: str
) -> common_pb2.ConnectionTestResult:
    request = ENGINE_SERVICES[engine][3]
    target = common_pb2.ConnectionTarget(project_ref=ref, connection_id=connection_id)
    result: common_pb2.ConnectionTestResult = await service.TestConnection(
        request(target=target), metadata=system.metadata(owner)
    )
    return result


def real_uri(system: System, engine: str) -> str:
    servers = system.servers
    return {"redis": servers.redis_url, "mongodb": servers.mongo_url, "pg-meta": servers.pg_url}[engine]


@pytest.mark.parametrize("engine", ENGINES)
async def test_engines_check_every_dial_whatever_the_registry_let_through(system: System, engine: str) -> None:
    """A record the registry accepted is refused by an engine whose own policy denies it: loopback under the
    production default, and a platform endpoint the engine knows; the same record works on the session's
    engine, which allows loopback."""
    ref, owner = await system.new_project()
    uri = real_uri(system, engine)
    record = await system.add_connection(ref, owner, engine, {"identifier": "x", "uri": uri})
    assert (await check_connection(system, engine, system_engine(system, engine), ref, owner, record["id"])).ok
    endpoint = f"127.0.0.1:{port_of(uri)}"
    for env, reason in (
        ({"ALLOWED_NETWORKS": ""}, "loopback"),
        ({"PLATFORM_ENDPOINTS": endpoint}, "a platform endpoint"),
        ({"DENIED_NETWORKS": "127.0.0.0/8", "ALLOWED_NETWORKS": ""}, "loopback"),
    ):
        async with engine_with(system, engine, **env) as service:
            result = await check_connection(system, engine, service, ref, owner, record["id"])
        assert result.ok is False, env
        assert result.error.code == "invalid_argument"
        assert result.error.details["reason"] == reason


def system_engine(system: System, engine: str) -> Any:
    return {"redis": system.redis, "mongodb": system.mongo, "pg-meta": system.pg}[engine]


async def test_a_sentinel_cannot_name_a_denied_master(system: System) -> None:
    """A hostile sentinel that names the platform's port as the master: the engine refuses to dial it (400),
    and nothing connects there; the same sentinel naming an allowed address is followed (the control)."""
    ref, owner = await system.new_project()
    async with Decoy() as decoy:
        sentinel = RespServer(("127.0.0.1", decoy.port))
        async with sentinel.serve() as port:
            options = {"sentinel_master": "mymaster"}
            record = await system.add_connection(
                ref, owner, "redis", {"identifier": "s", "host": "127.0.0.1", "port": port, "options": options}
            )
            async with engine_with(system, "redis", PLATFORM_ENDPOINTS=f"127.0.0.1:{decoy.port}") as service:
                result = await check_connection(system, "redis", service, ref, owner, record["id"])
            assert [b"SENTINEL", b"MASTERS"] in sentinel.commands
            assert (result.ok, result.error.code, result.error.details["reason"]) == (
                False,
                "invalid_argument",
                "a platform endpoint",
            )
            assert decoy.accepted == 0
            control = await check_connection(system, "redis", system.redis, ref, owner, record["id"])
            assert control.ok is False and decoy.accepted >= 1


async def test_a_cluster_node_cannot_announce_a_denied_node(system: System) -> None:
    """A hostile cluster node whose CLUSTER SLOTS put every slot on the platform's port: the engine refuses to
    dial it, and nothing connects there; announcing an allowed address is followed (the control)."""
    ref, owner = await system.new_project()
    async with Decoy() as decoy:
        node = RespServer(("127.0.0.1", decoy.port), cluster=True)
        async with node.serve() as port:
            body = {"identifier": "c", "host": "127.0.0.1", "port": port, "options": {"cluster": True}}
            record = await system.add_connection(ref, owner, "redis", body)
            async with engine_with(system, "redis", PLATFORM_ENDPOINTS=f"127.0.0.1:{decoy.port}") as service:
                result = await check_connection(system, "redis", service, ref, owner, record["id"])
            assert [b"CLUSTER", b"SLOTS"] in node.commands
            assert (result.ok, result.error.details["reason"]) == (False, "a platform endpoint")
            assert decoy.accepted == 0
            control = await check_connection(system, "redis", system.redis, ref, owner, record["id"])
            assert control.ok is False and decoy.accepted >= 1


async def test_a_replica_set_cannot_announce_a_denied_member(system: System) -> None:
    """A hostile primary whose hello lists the platform's port as a member: the engine's client never dials
    that member, while the same announcement is followed by an engine that allows it (the control)."""
    ref, owner = await system.new_project()
    async with Decoy() as decoy:
        primary = FakeMongod(members=[f"127.0.0.1:{decoy.port}"])
        async with primary.serve() as port:
            body = {"identifier": "rs", "uri": f"mongodb://127.0.0.1:{port}/?replicaSet=rs0"}
            record = await system.add_connection(ref, owner, "mongodb", body)
            async with engine_with(system, "mongodb", PLATFORM_ENDPOINTS=f"127.0.0.1:{decoy.port}") as service:
                result = await check_connection(system, "mongodb", service, ref, owner, record["id"])
                await asyncio.sleep(1.0)  # the monitors of discovered members start at once
            assert result.ok is True, result
            assert decoy.accepted == 0
            async with engine_with(system, "mongodb") as control:
                await check_connection(system, "mongodb", control, ref, owner, record["id"])
                for _ in range(50):
                    if decoy.accepted:
                        break
                    await asyncio.sleep(0.1)
            assert decoy.accepted >= 1


async def test_srv_targets_go_through_the_policy(system: System) -> None:
    """Every host a mongodb+srv name yields is dialled through the client's policy, which refuses it: the
    SRV answer comes from the tenant's DNS server, and no target is dialled unchecked."""
    seen: list[tuple[str, int]] = []

    class Recording(DialGuard):
        async def addresses(self, host: str, port: int) -> list[str]:
            seen.append((host, port))
            raise AddressDenied("a denied network")

    resolver = dns.asyncresolver.Resolver(configure=False)
    async with Decoy() as decoy, FakeDns.serve([("node1.cluster.test", decoy.port)]) as (server, dns_port):
        resolver.nameservers, resolver.port = ["127.0.0.1"], dns_port
        # PyMongo's async client asks dnspython's default async resolver: the tenant's DNS, here.
        previous, dns.asyncresolver.default_resolver = dns.asyncresolver.default_resolver, resolver
        client: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(
            "mongodb+srv://cluster.test/?tls=false",
            serverSelectionTimeoutMS=1000,
            event_listeners=[DialPolicy(Recording(NetworkPolicy()))],
        )
        try:
            with pytest.raises(ServerSelectionTimeoutError) as caught:
                await client.admin.command("ping")
        finally:
            await client.close()
            dns.asyncresolver.default_resolver = previous
    assert any(query.startswith("SRV _mongodb._tcp.cluster.test") for query in server.queries)
    assert ("node1.cluster.test", decoy.port) in seen
    assert "does not connect to" in str(caught.value)
    assert decoy.accepted == 0


async def test_tls_verifies_the_name_while_the_checked_address_is_dialled(system: System) -> None:
    """pg-svc connects to the address it checked, and TLS still verifies the record's host name: the tenants'
    server has a certificate for localhost only, so verify-full passes for localhost and fails for 127.0.0.1
    (the address it was dialled at)."""
    cert = system.servers.pg_tls_cert
    if cert is None:
        pytest.skip("PG_URL names a server of its own: no certificate of ours to verify against")
    ref, owner = await system.new_project()
    split = urllib.parse.urlsplit(system.servers.pg_url)
    results = {}
    async with engine_with(system, "pg-meta", PG_TLS_CA_FILE=cert) as service:
        for host in ("localhost", "127.0.0.1"):
            uri = split._replace(netloc=f"{split.username}:{split.password}@{host}:{split.port}").geturl()
            record = await system.add_connection(
                ref,
                owner,
                "pg-meta",
                {"identifier": f"tls-{uuid.uuid4().hex[:6]}", "uri": uri + "?sslmode=verify-full"},
            )
            results[host] = await check_connection(system, "pg-meta", service, ref, owner, record["id"])
    assert results["localhost"].ok is True, results["localhost"]
    assert results["127.0.0.1"].ok is False
    assert results["127.0.0.1"].error.code == "unavailable"
