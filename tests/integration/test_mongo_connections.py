"""MongoDB connections as mongo-svc opens them: a server that is down, mongodb+srv records,
record options, and TLS (against a FerretDB of its own with a TLS listener)."""

from __future__ import annotations

import contextlib
import datetime
import ipaddress
import subprocess
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import devstack
import grpc
import httpx
import pytest
import pytest_asyncio
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from harness import Servers, System, own_service
from mongo_svc.server import create_server
from mongo_svc.settings import Settings

from udb.common.v1 import common_pb2
from udb.errors import from_rpc_error
from udb.mongo.v1 import mongo_pb2, mongo_pb2_grpc

pytestmark = pytest.mark.integration


def error_of(reply: httpx.Response) -> dict[str, Any]:
    body: dict[str, dict[str, Any]] = reply.json()
    return body["error"]


async def test_a_server_that_is_down_is_503_promptly(system: System) -> None:
    """A connection to a port nobody listens on answers 503 within the server selection timeout."""
    ref, owner = await system.new_project()
    port = devstack.free_port()
    await system.add_connection(ref, owner, "mongodb", {"identifier": "down", "host": "127.0.0.1", "port": port})
    started = time.monotonic()
    reply = await system.http.get(f"/mongodb/{ref}/databases", headers=system.headers(owner))
    assert reply.status_code == 503
    assert error_of(reply)["code"] == "unavailable"
    assert time.monotonic() - started < 10


async def test_an_srv_record_without_dns_is_503_and_tells_why(system: System) -> None:
    """A mongodb+srv connection is accepted and parsed; when its name does not resolve the call
    is 503 saying so (this machine reaches no DNS for it)."""
    ref, owner = await system.new_project()
    record = await system.add_connection(
        ref,
        owner,
        "mongodb",
        {"identifier": "atlas", "uri": "mongodb+srv://app:secret@cluster0.example.invalid/shop?retryWrites=true"},
    )
    assert record["tls"] is True
    reply = await system.http.get(f"/mongodb/{ref}/databases", headers=system.headers(owner))
    assert reply.status_code == 503
    assert "mongodb+srv" in error_of(reply)["message"]
    assert "secret" not in reply.text


async def test_an_unsupported_connection_option_is_a_clear_error(system: System, servers: Servers) -> None:
    """A record option naming a file of the service's host is refused when the record is written; one
    this service refuses at use (another auth mechanism) is 400 naming it, and the connection test
    reports it."""
    ref, owner = await system.new_project()
    refused = await system.http.post(
        f"/mongodb/{ref}/connections",
        json={"identifier": "x", "uri": servers.mongo_url + "?tlsCertificateKeyFile=/etc/passwd"},
        headers=system.headers(owner),
    )
    assert refused.status_code == 400
    assert "tlsCertificateKeyFile" in error_of(refused)["message"]
    record = await system.add_connection(
        ref, owner, "mongodb", {"identifier": "x", "uri": servers.mongo_url + "?authMechanism=MONGODB-AWS"}
    )
    reply = await system.http.get(f"/mongodb/{ref}/databases", headers=system.headers(owner))
    assert reply.status_code == 400
    assert "MONGODB-AWS" in error_of(reply)["message"]
    tested = await system.http.post(f"/mongodb/{ref}/connections/{record['id']}/test", headers=system.headers(owner))
    assert tested.json()["ok"] is False
    assert tested.json()["error"]["code"] == "invalid_argument"


async def test_options_of_the_record_reach_the_driver(system: System, servers: Servers) -> None:
    """readPreference and authSource from the record's URI are accepted, the calls work, and the
    pooled client reads with the record's read preference."""
    ref, owner = await system.new_project()
    await system.add_connection(
        ref,
        owner,
        "mongodb",
        {"identifier": "x", "uri": servers.mongo_url + "?readPreference=secondaryPreferred&authSource=admin"},
    )
    reply = await system.http.get(f"/mongodb/{ref}/databases", headers=system.headers(owner))
    assert reply.status_code == 200, reply.text
    runtime: Any = system.servers_by_name["mongo-svc"].components["runtime"]
    target = common_pb2.ConnectionTarget(project_ref=ref)
    resolved = await runtime.registry.resolve(target, common_pb2.DATABASE_TYPE_MONGODB)
    async with runtime.hold(resolved) as client:
        assert client.read_preference.document == {"mode": "secondaryPreferred"}


@dataclass
class TlsServer:
    port: int
    ca_file: Path


def self_signed(directory: Path) -> tuple[Path, Path]:
    """A certificate for 127.0.0.1 that is its own CA, and its key (PEM files)."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "udb test ferretdb")])
    now = datetime.datetime.now(datetime.UTC)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(hours=1))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), critical=False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_file, key_file = directory / "server.pem", directory / "server.key"
    cert_file.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    return cert_file, key_file


@contextlib.contextmanager
def ferretdb(workdir: Path, *flags: str) -> Iterator[int]:
    """A FerretDB of its own (SQLite in ``workdir``) with extra flags; yields its plain port."""
    (workdir / "data").mkdir()
    port = devstack.free_port()
    log = workdir / "ferretdb.log"
    with log.open("ab") as output:
        process = subprocess.Popen(
            [
                devstack.find_binary("ferretdb"),
                "--handler=sqlite",
                f"--sqlite-url=file:{workdir / 'data'}/",
                f"--listen-addr=127.0.0.1:{port}",
                f"--state-dir={workdir}",
                "--telemetry=disable",
                "--debug-addr=-",
                "--log-level=warn",
                *flags,
            ],
            stdout=output,
            stderr=subprocess.STDOUT,
        )
    try:
        devstack.wait_for_port(port, process, "ferretdb", log)
        yield port
    finally:
        process.terminate()
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


async def retire_pooled_clients(system: System) -> None:
    """Closes the session mongo-svc's pooled clients, before one of this module's servers stops.

    PyMongo's async monitor leaks a socket when the server it watches goes away (its reconnect
    gets a socket that only the garbage collector closes), which this strict suite reports as an
    unclosed-socket error at the end of the session.
    """
    runtime: Any = system.servers_by_name["mongo-svc"].components["runtime"]
    for stats in runtime.pools.stats():
        await runtime.pools.invalidate(connection_id=stats.key.rsplit(":", 1)[1])


@pytest_asyncio.fixture(scope="module")
async def tls_server(system: System, tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[TlsServer]:
    """A FerretDB that listens with TLS (a self-signed certificate for 127.0.0.1)."""
    workdir = tmp_path_factory.mktemp("ferretdb-tls")
    cert_file, key_file = self_signed(workdir)
    tls_port = devstack.free_port()
    flags = (
        f"--listen-tls=127.0.0.1:{tls_port}",
        f"--listen-tls-cert-file={cert_file}",
        f"--listen-tls-key-file={key_file}",
    )
    with ferretdb(workdir, *flags):
        devstack.wait_for_port(tls_port, None, "ferretdb (TLS)", workdir / "ferretdb.log")
        yield TlsServer(tls_port, cert_file)
        await retire_pooled_clients(system)


@pytest_asyncio.fixture(scope="module")
async def auth_server(system: System, tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[int]:
    """A FerretDB that requires authentication, with user 'app' (password 's3cret') in 'shop'."""
    workdir = tmp_path_factory.mktemp("ferretdb-auth")
    flags = ("--test-enable-new-auth", "--setup-database=shop", "--setup-username=app", "--setup-password=s3cret")
    with ferretdb(workdir, *flags) as port:
        yield port
        await retire_pooled_clients(system)


@contextlib.asynccontextmanager
async def mongo_service(system: System, **env: str) -> AsyncIterator[mongo_pb2_grpc.MongoServiceStub]:
    """A mongo-svc of its own with extra settings, talking to the session's registry."""
    async with own_service(system, create_server, Settings, env) as channel:
        yield mongo_pb2_grpc.MongoServiceStub(channel)


@pytest_asyncio.fixture(scope="module")
async def tls_project(system: System, tls_server: TlsServer) -> str:
    ref, owner = await system.new_project()
    await system.add_connection(
        ref, owner, "mongodb", {"identifier": "tls", "host": "127.0.0.1", "port": tls_server.port, "tls": True}
    )
    return ref


async def test_tls_is_verified_against_the_configured_ca(
    system: System, tls_server: TlsServer, tls_project: str
) -> None:
    """A TLS record works with a service whose MONGO_TLS_CA_FILE holds the server's CA."""
    request = mongo_pb2.ListDatabasesRequest(target=common_pb2.ConnectionTarget(project_ref=tls_project))
    async with mongo_service(system, MONGO_TLS_CA_FILE=str(tls_server.ca_file)) as stub:
        await stub.ListDatabases(request, metadata=system.metadata())
        tested = await stub.TestConnection(
            mongo_pb2.TestConnectionRequest(target=request.target), metadata=system.metadata()
        )
    assert tested.ok, tested.error.message
    assert tested.server_version


async def test_tls_to_an_unknown_ca_is_refused(system: System, tls_project: str) -> None:
    """Without that CA the certificate is not trusted: the call fails as unreachable (503)."""
    reply = await system.http.get(
        f"/mongodb/{tls_project}/databases", headers={"authorization": f"Bearer {system.service_token}"}
    )
    assert reply.status_code == 503
    assert error_of(reply)["code"] == "unavailable"


async def test_tls_allow_invalid_certificates_is_the_records_choice(
    system: System, servers: Servers, tls_server: TlsServer
) -> None:
    """A record may opt out of verification with tlsAllowInvalidCertificates=true (its URI option)."""
    ref, owner = await system.new_project()
    await system.add_connection(
        ref,
        owner,
        "mongodb",
        {
            "identifier": "tls",
            "uri": f"mongodb://127.0.0.1:{tls_server.port}/?tls=true&tlsAllowInvalidCertificates=true",
        },
    )
    reply = await system.http.get(f"/mongodb/{ref}/databases", headers=system.headers(owner))
    assert reply.status_code == 200, reply.text


async def test_a_down_server_over_grpc_is_unavailable(system: System) -> None:
    """Over gRPC the same down server is UNAVAILABLE, and the message names no host or port."""
    ref, owner = await system.new_project()
    port = devstack.free_port()
    await system.add_connection(ref, owner, "mongodb", {"identifier": "down", "host": "127.0.0.1", "port": port})
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await system.mongo.ListDatabases(
            mongo_pb2.ListDatabasesRequest(target=common_pb2.ConnectionTarget(project_ref=ref)),
            metadata=system.metadata(owner),
        )
    assert caught.value.code() == grpc.StatusCode.UNAVAILABLE
    assert str(port) not in from_rpc_error(caught.value).message


@pytest.mark.parametrize(
    ("uri_tail", "status"),
    [
        pytest.param("app:s3cret@{host}/shop", 200, id="authsource-is-the-default-database"),
        pytest.param("app:s3cret@{host}/?authSource=shop", 200, id="explicit-authsource"),
        pytest.param("app:s3cret@{host}/shop?authSource=admin", 503, id="wrong-authsource"),
        pytest.param("app:wrong-password@{host}/shop", 503, id="wrong-password"),
        pytest.param("{host}/shop", 403, id="no-credentials"),
    ],
)
async def test_username_password_and_auth_source(system: System, auth_server: int, uri_tail: str, status: int) -> None:
    """Credentials authenticate against authSource, which defaults to the record's database (as in
    a mongodb:// URI). Refused credentials are 503 (the database cannot be used) and a user
    without the right is 403; no reply shows the password."""
    ref, owner = await system.new_project()
    uri = "mongodb://" + uri_tail.format(host=f"127.0.0.1:{auth_server}")
    await system.add_connection(ref, owner, "mongodb", {"identifier": "auth", "uri": uri})
    reply = await system.http.get(f"/mongodb/{ref}/databases/shop/collections", headers=system.headers(owner))
    assert reply.status_code == status, reply.text
    assert "s3cret" not in reply.text
    assert "wrong-password" not in reply.text
    if status == 503:
        assert "credentials" in error_of(reply)["message"]
