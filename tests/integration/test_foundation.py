"""The skeleton end to end: health, reflection, authentication, errors and graceful shutdown of
every service, on real sockets against real servers."""

from __future__ import annotations

import asyncio
import json
import subprocess
import time
from typing import Any

import devstack
import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc
from harness import Servers, System, grpcurl
from openapi_spec_validator import OpenAPIV30SpecValidator

from udb.auth import mint_token
from udb.common.v1 import common_pb2
from udb.errors import from_rpc_error
from udb.mongo.v1 import mongo_pb2
from udb.pg.v1 import pg_pb2
from udb.redis.v1 import redis_pb2, redis_pb2_grpc
from udb.registry.v1 import registry_pb2
from udb.server import Registration, build_server

pytestmark = pytest.mark.integration

GRPC_SERVICES = {
    "registry": "udb.registry.v1.RegistryService",
    "redis-svc": "udb.redis.v1.RedisService",
    "mongo-svc": "udb.mongo.v1.MongoService",
    "pg-svc": "udb.pg.v1.PgService",
}


def _grpcurl(port: int, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [grpcurl(), "-plaintext", *args[:-1], f"127.0.0.1:{port}", *args[-1:]],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )


@pytest.mark.parametrize("name", [*GRPC_SERVICES, "gateway"])
async def test_every_service_answers_health_and_reflection_to_grpcurl(system: System, name: str) -> None:
    """grpcurl lists each service by reflection and gets SERVING from its health check, with no token."""
    port = system.app.state.grpc_health_port if name == "gateway" else system.ports[name]
    listed = await asyncio.to_thread(_grpcurl, port, "list")
    assert listed.returncode == 0, listed.stderr
    names = listed.stdout.split()
    assert "grpc.health.v1.Health" in names
    if name in GRPC_SERVICES:
        assert GRPC_SERVICES[name] in names
    health = await asyncio.to_thread(_grpcurl, port, "grpc.health.v1.Health/Check")
    assert health.returncode == 0, health.stderr
    assert json.loads(health.stdout) == {"status": "SERVING"}


@pytest.mark.parametrize("name", list(GRPC_SERVICES))
async def test_a_call_without_token_is_unauthenticated(system: System, name: str) -> None:
    """Every protected RPC refuses a caller without a token with UNAUTHENTICATED."""
    target = common_pb2.ConnectionTarget(project_ref="nobody")
    calls: dict[str, Any] = {
        "registry": lambda: system.registry.ListProjects(registry_pb2.ListProjectsRequest()),
        "redis-svc": lambda: system.redis.TestConnection(redis_pb2.TestConnectionRequest(target=target)),
        "mongo-svc": lambda: system.mongo.TestConnection(mongo_pb2.TestConnectionRequest(target=target)),
        "pg-svc": lambda: system.pg.TestConnection(pg_pb2.TestConnectionRequest(target=target)),
    }
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await calls[name]()
    assert caught.value.code() == grpc.StatusCode.UNAUTHENTICATED
    assert from_rpc_error(caught.value).code == "unauthenticated"


@pytest.mark.parametrize(
    "token",
    ["not-a-jwt", "expired", "forged", "no-exp"],
)
async def test_bad_tokens_are_unauthenticated_over_grpc_and_http(system: System, token: str) -> None:
    """Malformed, expired, forged and exp-less tokens get UNAUTHENTICATED and 401."""
    import jwt as pyjwt

    tokens = {
        "not-a-jwt": "not-a-jwt",
        "expired": mint_token(system.jwt_secret, subject="u", ttl_s=-60),
        "forged": mint_token("another-secret-of-enough-length-000", subject="u"),
        "no-exp": pyjwt.encode({"sub": "u"}, system.jwt_secret, algorithm="HS256"),
    }
    metadata = (("authorization", f"Bearer {tokens[token]}"),)
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await system.registry.ListProjects(registry_pb2.ListProjectsRequest(), metadata=metadata)
    assert caught.value.code() == grpc.StatusCode.UNAUTHENTICATED
    reply = await system.http.get("/projects", headers={"authorization": f"Bearer {tokens[token]}"})
    assert reply.status_code == 401
    assert reply.json()["error"]["code"] == "unauthenticated"


async def test_gateway_without_token_is_401_in_the_api_error_format(system: System) -> None:
    """A route without Authorization answers 401 with {"error": {code, message, details}}."""
    reply = await system.http.get("/projects")
    assert reply.status_code == 401
    assert reply.headers["content-type"].startswith("application/json")
    body = reply.json()
    assert body["error"]["code"] == "unauthenticated"
    assert set(body["error"]) == {"code", "message", "details"}


async def test_gateway_health_aggregates_every_service(system: System) -> None:
    """GET /health needs no token and reports each service SERVING."""
    reply = await system.http.get("/health")
    assert reply.status_code == 200
    assert reply.json() == {
        "status": "ok",
        "services": {
            "registry": "SERVING",
            "redis-svc": "SERVING",
            "mongo-svc": "SERVING",
            "pg-svc": "SERVING",
        },
    }


async def test_openapi_document_lists_the_routes(system: System) -> None:
    """The gateway serves an OpenAPI 3 document that names its routes."""
    reply = await system.http.get("/openapi.json")
    assert reply.status_code == 200
    document = reply.json()
    assert document["openapi"].startswith("3.")
    assert "/projects" in document["paths"]
    assert "/{engine}/{ref}/connections" in document["paths"]


async def test_openapi_document_is_valid_openapi_3(system: System) -> None:
    """The served document passes openapi-spec-validator's OpenAPI 3.0 checks, without a token: each
    operation has its own responses, every path parameter is declared, every parameter has a schema."""
    reply = await system.http.get("/openapi.json")
    assert reply.status_code == 200
    document = reply.json()
    validator = OpenAPIV30SpecValidator(document)
    errors = [f"{'/'.join(map(str, error.absolute_path))}: {error.message}" for error in validator.iter_errors()]
    assert errors == []
    members = document["paths"]["/projects/{ref}/members"]
    assert set(members) == {"get", "post"}
    assert "summary" in members["post"] and "post" not in members["post"]
    parameters = {p["name"]: p for p in members["get"]["parameters"]}
    assert parameters["ref"] == {"name": "ref", "in": "path", "required": True, "schema": {"type": "string"}}


async def test_a_wrong_method_is_405_with_allow_in_the_api_error_format(system: System) -> None:
    """A method a route does not serve answers 405 method_not_allowed and says which methods it does."""
    reply = await system.http.patch("/projects", headers=system.headers("someone"))
    assert reply.status_code == 405
    assert reply.json()["error"]["code"] == "method_not_allowed"
    assert set(reply.headers["allow"].replace(" ", "").split(",")) == {"GET", "HEAD", "POST"}


async def test_unknown_route_is_404_in_the_api_error_format(system: System) -> None:
    """A path the gateway does not serve is a JSON 404, not an HTML page."""
    reply = await system.http.get("/nope", headers=system.headers("someone"))
    assert reply.status_code == 404
    assert reply.json()["error"]["code"] == "not_found"


@pytest.mark.parametrize(
    ("engine", "url_of"),
    [("redis", "redis_url"), ("mongodb", "mongo_url"), ("pg-meta", "pg_url")],
)
async def test_connection_test_reaches_each_real_server(
    system: System, servers: Servers, engine: str, url_of: str
) -> None:
    """Gateway -> registry -> engine service -> real server: a test reports ok and the server version."""
    ref, owner = await system.new_project()
    record = await system.add_connection(ref, owner, engine, {"identifier": "main", "uri": getattr(servers, url_of)})
    reply = await system.http.post(f"/{engine}/{ref}/connections/{record['id']}/test", headers=system.headers(owner))
    assert reply.status_code == 200, reply.text
    result = reply.json()
    assert result["ok"] is True, result
    assert result["server_version"]
    assert result["latency_ms"] > 0


async def test_connection_test_reports_a_down_server_promptly(system: System) -> None:
    """A connection to a port nobody listens on tests ok: false with unavailable, within seconds."""
    ref, owner = await system.new_project()
    port = devstack.free_port()
    record = await system.add_connection(ref, owner, "redis", {"identifier": "down", "host": "127.0.0.1", "port": port})
    started = time.monotonic()
    reply = await system.http.post(f"/redis/{ref}/connections/{record['id']}/test", headers=system.headers(owner))
    assert reply.status_code == 200
    assert reply.json()["ok"] is False
    assert reply.json()["error"]["code"] == "unavailable"
    assert time.monotonic() - started < 10


class _SlowRedis(redis_pb2_grpc.RedisServiceServicer):
    """A servicer whose one RPC takes a while, to watch shutdown drain it."""

    async def TestConnection(
        self, request: redis_pb2.TestConnectionRequest, context: grpc.aio.ServicerContext[Any, Any]
    ) -> common_pb2.ConnectionTestResult:
        await asyncio.sleep(0.5)
        return common_pb2.ConnectionTestResult(ok=True, server_version="slow")


async def test_graceful_shutdown_drains_in_flight_calls_and_refuses_new_ones(system: System) -> None:
    """stop(grace) tells health watchers NOT_SERVING, lets a running call finish, then refuses new calls."""
    from redis_svc.settings import Settings

    from udb.config import Env

    settings = Settings.from_env(Env(environ=system.env, env_file=None))
    server, port = build_server(
        settings,
        [Registration(redis_pb2_grpc.add_RedisServiceServicer_to_server, _SlowRedis(), "udb.redis.v1.RedisService")],
        address="127.0.0.1:0",
    )
    await server.start()
    channel = grpc.aio.insecure_channel(f"127.0.0.1:{port}")
    stub = redis_pb2_grpc.RedisServiceStub(channel)
    metadata = system.metadata()
    watch = health_pb2_grpc.HealthStub(channel).Watch(health_pb2.HealthCheckRequest())
    assert (await watch.read()).status == health_pb2.HealthCheckResponse.SERVING
    in_flight = asyncio.ensure_future(stub.TestConnection(redis_pb2.TestConnectionRequest(), metadata=metadata))
    await asyncio.sleep(0.1)
    stopping = asyncio.ensure_future(server.stop(5, drain_s=0.1))
    assert (await watch.read()).status == health_pb2.HealthCheckResponse.NOT_SERVING
    assert (await in_flight).server_version == "slow"
    await stopping
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await stub.TestConnection(redis_pb2.TestConnectionRequest(), metadata=metadata, timeout=2)
    assert caught.value.code() == grpc.StatusCode.UNAVAILABLE
    await channel.close()


async def test_request_id_from_metadata_is_logged_by_the_service(
    system: System, caplog: pytest.LogCaptureFixture
) -> None:
    """The access log line of an RPC carries the caller's x-request-id."""
    caplog.set_level("INFO", logger="udb.access")
    metadata = (*system.metadata("someone"), ("x-request-id", "req-abc-123"))
    await system.registry.ListProjects(registry_pb2.ListProjectsRequest(), metadata=metadata)
    lines = [r for r in caplog.records if getattr(r, "method", "").endswith("/ListProjects")]
    assert lines
    assert lines[-1].code == "OK"  # type: ignore[attr-defined]
    assert lines[-1].request_id == "req-abc-123"  # type: ignore[attr-defined]


def test_servers_were_started_by_the_harness_or_given(servers: Servers) -> None:
    """The session talks to real servers: each URL answers on its port."""
    import socket
    from urllib.parse import urlsplit

    for url in (servers.pg_url, servers.redis_url, servers.mongo_url):
        parts = urlsplit(url)
        with socket.create_connection((parts.hostname, parts.port), timeout=2):
            pass
