"""Real servers on free loopback ports, in a temporary folder: for `make dev` and the tests.

    python deploy/local/devstack.py up      # the whole stack, until Ctrl-C
    python deploy/local/devstack.py certs --out deploy/envoy/certs   # a self-signed TLS pair

It starts PostgreSQL 15 (through ``runuser -u postgres`` when run as root), Redis 7, FerretDB
1.24 (the MongoDB wire protocol, SQLite backend), the five services and Envoy in front of them
(TLS on the edge with a self-signed pair made here), and stops everything it started, by PID.
``deploy/local/install-tools.sh`` (run by ``make install``) puts the binaries in place.
"""

from __future__ import annotations

import argparse
import base64
import contextlib
import datetime as dt
import ipaddress
import os
import pwd
import secrets
import shutil
import signal
import socket
import ssl
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
PG_BIN_DIRS = ("/usr/lib/postgresql/15/bin", "/usr/local/pgsql/bin")
GO_BIN = Path(os.environ.get("GOBIN") or Path(os.environ.get("GOPATH", Path.home() / "go")) / "bin")
SERVICES = ("registry", "redis-svc", "mongo-svc", "pg-svc")
#: The registry runs as two replicas; the others dial both (REGISTRY_ADDR) and balance across them.
REGISTRY_REPLICAS = ("registry", "registry-2")
MODULES = {"registry": "registry", "redis-svc": "redis_svc", "mongo-svc": "mongo_svc", "pg-svc": "pg_svc"}
ENVOY_DIR = REPO / "deploy" / "envoy"
#: The variable that names each process's metrics address (udb.config.DEFAULT_METRICS_ADDRESSES).
METRICS_VARIABLES = {
    "gateway": "GATEWAY_METRICS_ADDR",
    "registry": "REGISTRY_METRICS_ADDR",
    "redis-svc": "REDIS_SVC_METRICS_ADDR",
    "mongo-svc": "MONGO_SVC_METRICS_ADDR",
    "pg-svc": "PG_SVC_METRICS_ADDR",
}


#: Envoy's listeners (edge, internal, admin, metrics).
ENVOY_PORTS = ("envoy-tls", "envoy", "envoy-admin", "envoy-metrics")
#: What the local stack adds to ALLOWED_NETWORKS: its servers listen on loopback.
LOOPBACK_NETWORKS = "127.0.0.0/8,::1/128"

#: The postgres-meta release the Postgres engine is compared with (tests and bench/bench_pg.py).
POSTGRES_META_VERSION = "0.99.0"

#: Browser consoles ``make dev`` lets in (a local Studio on any port), unless CORS_ORIGINS says.
DEV_CORS_ORIGINS = "http://localhost:*,http://127.0.0.1:*"


class StackError(RuntimeError):
    """A server would not start; the message says which and where its log is."""


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def find_binary(name: str, extra_dirs: tuple[str | Path, ...] = ()) -> str:
    for directory in extra_dirs:
        candidate = Path(directory) / name
        if candidate.is_file() and os.access(candidate, os.X_OK):
            return str(candidate)
    found = shutil.which(name) or shutil.which(name, path=str(GO_BIN))
    if found is None:
        raise StackError(f"{name} is not installed: run `make install` (deploy/local/install-tools.sh)")
    return found


def make_tls_pair(directory: Path, *, hosts: tuple[str, ...] = ("localhost", "127.0.0.1", "::1")) -> tuple[Path, Path]:
    """A self-signed certificate (valid a year, for ``hosts``) and its key, as ``tls.crt`` and
    ``tls.key`` in ``directory``; an existing pair that is still valid for a week is kept."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    directory.mkdir(parents=True, exist_ok=True)
    cert_path, key_path = directory / "tls.crt", directory / "tls.key"
    now = dt.datetime.now(dt.UTC)
    if cert_path.is_file() and key_path.is_file():
        existing = x509.load_pem_x509_certificate(cert_path.read_bytes())
        if existing.not_valid_after_utc > now + dt.timedelta(days=7):
            return cert_path, key_path
    key = ec.generate_private_key(ec.SECP256R1())
    names: list[x509.GeneralName] = []
    for host in hosts:
        try:
            names.append(x509.IPAddress(ipaddress.ip_address(host)))
        except ValueError:
            names.append(x509.DNSName(host))
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, hosts[0])])
    certificate = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=365))
        .add_extension(x509.SubjectAlternativeName(names), critical=False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    key_path.touch(mode=0o600)
    key_path.write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    cert_path.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    # Envoy may run as another user (the envoy image's): it must be able to read the key.
    key_path.chmod(0o644 if os.geteuid() == 0 else 0o600)
    return cert_path, key_path


def render_envoy_config(output: Path, values: Mapping[str, object], template: Path = ENVOY_DIR / "envoy.yaml") -> Path:
    """The Envoy template rendered by deploy/envoy/render.sh (the one renderer of every target)."""
    env = {**os.environ, **{key: str(value) for key, value in values.items()}}
    subprocess.run(
        ["sh", str(ENVOY_DIR / "render.sh"), str(template), str(output)], env=env, check=True, capture_output=True
    )
    return output


def log_tail(log: Path, lines: int = 15) -> str:
    """The last lines of a log, for an error message (a CI run keeps no work folder)."""
    with contextlib.suppress(OSError):
        return "\n".join(log.read_text(errors="replace").splitlines()[-lines:])
    return "(no log)"


def wait_for_port(
    port: int, process: subprocess.Popen[bytes] | None, what: str, log: Path, timeout: float = 30
) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process is not None and process.poll() is not None:
            raise StackError(f"{what} exited with {process.returncode}; see {log}:\n{log_tail(log)}")
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), timeout=0.5):
            return
        time.sleep(0.05)
    raise StackError(f"{what} did not listen on {port} within {timeout}s; see {log}")


@dataclass
class Managed:
    """A process this stack started, with how to stop it."""

    name: str
    pid: int
    stop_signal: int = signal.SIGTERM
    process: subprocess.Popen[bytes] | None = None


@dataclass
class Stack:
    """Servers started in ``workdir``; ``stop()`` ends every one of them by PID."""

    workdir: Path
    processes: list[Managed] = field(default_factory=list)
    urls: dict[str, str] = field(default_factory=dict)
    ports: dict[str, int] = field(default_factory=dict)
    #: Files the stack made that clients need, such as the edge's TLS certificate ("tls-cert").
    files: dict[str, Path] = field(default_factory=dict)
    #: Folders outside the workdir to remove at stop.
    cleanup: list[Path] = field(default_factory=list)

    @classmethod
    def create(cls, workdir: Path | None = None) -> Stack:
        directory = Path(workdir or tempfile.mkdtemp(prefix="udb-stack-"))
        directory.mkdir(parents=True, exist_ok=True)
        (directory / "logs").mkdir(exist_ok=True)
        return cls(directory)

    def log(self, name: str) -> Path:
        return self.workdir / "logs" / f"{name}.log"

    def _spawn(
        self,
        name: str,
        argv: list[str],
        *,
        env: Mapping[str, str] | None = None,
        stop_signal: int = signal.SIGTERM,
    ) -> subprocess.Popen[bytes]:
        with self.log(name).open("ab") as log:  # the child keeps its own copy of the descriptor
            process = subprocess.Popen(
                argv,
                stdout=log,
                stderr=subprocess.STDOUT,
                env=dict(env) if env is not None else None,
                cwd=self.workdir,
            )
        self.processes.append(Managed(name, process.pid, stop_signal, process))
        return process

    # ---- databases -------------------------------------------------------------------------

    def start_postgres(self, name: str = "postgres", *, tls: bool = False) -> str:
        """A PostgreSQL 15 cluster with password auth on TCP; returns a superuser URL (also
        ``urls[name]``, its port ``ports[name]``). ``tls`` turns on SSL with a self-signed pair
        for ``localhost`` (``files[name + "-tls-cert"]``).

        The stack starts two: ``platform`` holds the platform database only, ``postgres`` the
        tenants' databases, so that nothing a tenant reaches shares a server with the platform.
        """
        initdb = find_binary("initdb", PG_BIN_DIRS)
        postgres = find_binary("postgres", PG_BIN_DIRS)
        as_postgres: list[str] = []
        if os.geteuid() == 0:
            # Postgres refuses to run as root: run it as the postgres user, in a folder of its
            # own (the workdir may sit under a root-only folder such as pytest's tmp).
            base = Path(tempfile.mkdtemp(prefix=f"udb-{name}-"))
            os.chown(base, pwd.getpwnam("postgres").pw_uid, -1)
            self.cleanup.append(base)
            as_postgres = ["runuser", "-u", "postgres", "--"]
        else:
            base = self.workdir / name
            base.mkdir(parents=True, exist_ok=True)
        data = base / "data"
        socket_dir = base / "run"
        password = secrets.token_urlsafe(16)
        pwfile = base / "pwfile"
        subprocess.run([*as_postgres, "mkdir", "-p", str(socket_dir)], check=True)
        subprocess.run([*as_postgres, "sh", "-c", f"umask 077 && cat > {pwfile}"], input=password.encode(), check=True)
        with self.log(name).open("ab") as log:
            subprocess.run(
                [
                    *as_postgres,
                    initdb,
                    "-D",
                    str(data),
                    "-U",
                    "postgres",
                    f"--pwfile={pwfile}",
                    "-A",
                    "scram-sha-256",
                    "--auth-local=trust",
                    "-E",
                    "UTF8",
                    "--locale=C.UTF-8",
                    "--no-sync",
                ],
                check=True,
                stdout=subprocess.DEVNULL,
                stderr=log,
            )
        port = free_port()
        ssl_settings: list[str] = []
        if tls:
            cert, key = make_tls_pair(base / "tls", hosts=("localhost",))
            if as_postgres:
                os.chown(base / "tls", pwd.getpwnam("postgres").pw_uid, -1)
                for path in (cert, key):
                    os.chown(path, pwd.getpwnam("postgres").pw_uid, -1)
            key.chmod(0o600)
            ssl_settings = ["-c", "ssl=on", "-c", f"ssl_cert_file={cert}", "-c", f"ssl_key_file={key}"]
            self.files[f"{name}-tls-cert"] = cert
        process = self._spawn(
            name,
            [
                *as_postgres,
                postgres,
                "-D",
                str(data),
                "-p",
                str(port),
                "-k",
                str(socket_dir),
                "-c",
                "listen_addresses=127.0.0.1",
                "-c",
                "fsync=off",
                "-c",
                "synchronous_commit=off",
                "-c",
                "full_page_writes=off",
                "-c",
                "max_connections=300",
                "-c",
                "shared_buffers=128MB",
                *ssl_settings,
            ],
            stop_signal=signal.SIGINT,  # fast shutdown
        )
        wait_for_port(port, process, name, self.log(name))
        # Accepting TCP is not yet accepting logins: wait for a real one.
        deadline = time.monotonic() + 30
        psql = find_binary("psql", PG_BIN_DIRS)
        while subprocess.run(
            [*as_postgres, psql, "-h", str(socket_dir), "-p", str(port), "-U", "postgres", "-c", "select 1"],
            capture_output=True,
        ).returncode:
            if time.monotonic() > deadline:
                raise StackError(f"{name} does not accept logins; see {self.log(name)}")
            time.sleep(0.1)
        # runuser does not pass signals on: stop the postmaster by its own PID.
        postmaster_pid = int((data / "postmaster.pid").read_text().split("\n", 1)[0])
        self.processes[-1].pid = postmaster_pid
        self.ports[name] = port
        url = f"postgresql://postgres:{password}@127.0.0.1:{port}/postgres"
        self.urls[name] = url
        return url

    def create_database(self, name: str, *, cluster: str = "postgres") -> str:
        """A new database on one of the stack's Postgres clusters; returns its superuser URL."""
        return self.run_sql(cluster, f'CREATE DATABASE "{name}"').rsplit("/", 1)[0] + f"/{name}"

    def run_sql(self, cluster: str, *statements: str, database: str = "postgres") -> str:
        """Runs statements, each on its own, as the superuser of a cluster; returns the URL used."""
        import asyncio

        import asyncpg

        url = self.urls[cluster].rsplit("/", 1)[0] + f"/{database}"

        async def run() -> None:
            conn = await asyncpg.connect(url)
            try:
                for statement in statements:
                    await conn.execute(statement)
            finally:
                await conn.close()

        asyncio.run(run())
        return url

    def create_tenant_database(self, name: str, *, owner: str, reader: str) -> tuple[str, str, str]:
        """A tenant's database as a production deployment has one: owned by a role that is no
        superuser (``owner``, who may log in and create objects in it), and a read-only login
        (``reader``, granted pg_read_all_data) for viewers' SQL. Returns (the owner's URL, the
        reader's name, the reader's password)."""
        owner_password, reader_password = secrets.token_urlsafe(16), secrets.token_urlsafe(16)
        self.run_sql(
            "postgres",
            f"CREATE ROLE \"{owner}\" LOGIN PASSWORD '{owner_password}'",
            f"CREATE ROLE \"{reader}\" LOGIN PASSWORD '{reader_password}' IN ROLE pg_read_all_data",
            f'CREATE DATABASE "{name}" OWNER "{owner}"',
            "REVOKE CONNECT ON DATABASE postgres FROM PUBLIC",
        )
        self.run_sql("postgres", f'ALTER SCHEMA public OWNER TO "{owner}"', database=name)
        port = self.ports["postgres"]
        return f"postgresql://{owner}:{owner_password}@127.0.0.1:{port}/{name}", reader, reader_password

    def start_redis(self) -> str:
        port = free_port()
        process = self._spawn(
            "redis",
            [
                find_binary("redis-server"),
                "--port",
                str(port),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
                "--dir",
                str(self.workdir),
                "--protected-mode",
                "yes",
            ],
        )
        wait_for_port(port, process, "redis", self.log("redis"))
        self.ports["redis"] = port
        self.urls["redis"] = f"redis://127.0.0.1:{port}/0"
        return self.urls["redis"]

    def start_ferretdb(self) -> str:
        """FerretDB 1.24 on SQLite: the MongoDB wire protocol (no MongoDB server installs here)."""
        port = free_port()
        state = self.workdir / "ferretdb"
        (state / "data").mkdir(parents=True, exist_ok=True)
        process = self._spawn(
            "ferretdb",
            [
                find_binary("ferretdb"),
                "--handler=sqlite",
                f"--sqlite-url=file:{state / 'data'}/",
                f"--listen-addr=127.0.0.1:{port}",
                f"--state-dir={state}",
                "--telemetry=disable",
                "--debug-addr=-",
                "--log-level=warn",
            ],
        )
        wait_for_port(port, process, "ferretdb", self.log("ferretdb"))
        self.ports["ferretdb"] = port
        self.urls["mongodb"] = f"mongodb://127.0.0.1:{port}/"
        return self.urls["mongodb"]

    def start_postgres_meta(self, db_url: str) -> str:
        """Supabase postgres-meta (npm) against ``db_url``, for comparisons; returns its URL."""
        server = ensure_postgres_meta()
        while True:  # postgres-meta also listens on port + 1 (its admin app)
            port = free_port()
            with contextlib.suppress(OSError), socket.socket() as probe:
                probe.bind(("127.0.0.1", port + 1))
                break
        env = {**os.environ, "PG_META_DB_URL": db_url, "PG_META_HOST": "127.0.0.1", "PG_META_PORT": str(port)}
        process = self._spawn("postgres-meta", [find_binary("node"), str(server)], env=env)
        wait_for_port(port, process, "postgres-meta", self.log("postgres-meta"))
        self.urls["postgres-meta"] = f"http://127.0.0.1:{port}"
        return self.urls["postgres-meta"]

    # ---- the system ------------------------------------------------------------------------

    def service_env(self, *, jwt_secret: str, encryption_key: str, platform_url: str) -> dict[str, str]:
        """The environment every service of this stack runs with.

        Its servers all listen on loopback, which production refuses as a tenant's host: this
        stack allows it explicitly (``ALLOWED_NETWORKS``). The platform's own ports stay refused
        (the platform database by REGISTRY_DATABASE_URL, the services by their addresses, and
        Envoy's by ``PLATFORM_ENDPOINTS``).
        """
        for name in (*SERVICES, *REGISTRY_REPLICAS, "gateway", "gateway-grpc", "registry-2-metrics"):
            self.ports.setdefault(name, free_port())
        for name in METRICS_VARIABLES:
            self.ports.setdefault(f"{name}-metrics", free_port())
        for name in ENVOY_PORTS:
            self.ports.setdefault(name, free_port())
        env = {key: value for key, value in os.environ.items() if not key.startswith(("PG_", "REDIS_", "MONGO_"))}
        env.update(
            JWT_SECRET=jwt_secret,
            DATABASE_ENCRYPTION_KEY=encryption_key,
            REGISTRY_DATABASE_URL=platform_url,
            REGISTRY_ADDR="ipv4:" + ",".join(f"127.0.0.1:{self.ports[name]}" for name in REGISTRY_REPLICAS),
            REDIS_SVC_ADDR=f"127.0.0.1:{self.ports['redis-svc']}",
            MONGO_SVC_ADDR=f"127.0.0.1:{self.ports['mongo-svc']}",
            PG_SVC_ADDR=f"127.0.0.1:{self.ports['pg-svc']}",
            GATEWAY_ADDR=f"127.0.0.1:{self.ports['gateway']}",
            GATEWAY_GRPC_ADDR=f"127.0.0.1:{self.ports['gateway-grpc']}",
            ALLOWED_NETWORKS=LOOPBACK_NETWORKS,
            PLATFORM_ENDPOINTS=",".join(f"127.0.0.1:{self.ports[name]}" for name in ENVOY_PORTS),
            PYTHONUNBUFFERED="1",
        )
        for name, variable in METRICS_VARIABLES.items():
            env[variable] = f"127.0.0.1:{self.ports[name + '-metrics']}"
        return env

    def start_services(self, env: Mapping[str, str]) -> None:
        """The registry, the engine services and the gateway, each a process, waited for."""
        for name in (*REGISTRY_REPLICAS, *SERVICES[1:]):
            process = self._spawn(name, self.service_argv(name), env=self.process_env(name, env))
            wait_for_port(self.ports[name], process, name, self.log(name))
        gateway = self._spawn("gateway", [sys.executable, "-m", "gateway"], env=env)
        wait_for_port(self.ports["gateway"], gateway, "gateway", self.log("gateway"))
        self.urls["gateway"] = f"http://127.0.0.1:{self.ports['gateway']}/api/platform"

    @staticmethod
    def service_argv(name: str) -> list[str]:
        """The command line of a service (or registry replica) of the stack."""
        base = name.removesuffix("-2")
        return [sys.executable, "-m", MODULES.get(base, base)]

    def process_env(self, name: str, env: Mapping[str, str]) -> dict[str, str]:
        """``env`` with where this registry replica listens and serves its metrics."""
        if name not in REGISTRY_REPLICAS:
            return dict(env)
        metrics = self.ports[f"{name}-metrics"]
        return {
            **env,
            "REGISTRY_LISTEN_ADDR": f"127.0.0.1:{self.ports[name]}",
            "REGISTRY_METRICS_ADDR": f"127.0.0.1:{metrics}",
        }

    def start_envoy(
        self, *, tls_dir: Path | None = None, rate_limit_per_s: int = 2000, rate_limit_burst: int = 4000
    ) -> str:
        """Envoy in front of the gateway (HTTP and WebSocket, TLS on the edge listener) and the
        services (gRPC, on the internal listener); returns the edge's https base URL.

        ``urls["envoy-tls"]`` is the edge (its certificate is ``files["tls-cert"]``) and
        ``urls["envoy"]`` the internal plaintext listener, which also serves /api/platform.
        """
        cert, key = make_tls_pair(tls_dir or self.workdir / "tls")
        for name in ENVOY_PORTS:
            self.ports.setdefault(name, free_port())
        config = render_envoy_config(
            self.workdir / "envoy.yaml",
            {
                "LISTEN_ADDRESS": "127.0.0.1",
                "EDGE_PORT": self.ports["envoy-tls"],
                "INTERNAL_PORT": self.ports["envoy"],
                "ADMIN_PORT": self.ports["envoy-admin"],
                "METRICS_PORT": self.ports["envoy-metrics"],
                "TLS_CERT_FILE": cert,
                "TLS_KEY_FILE": key,
                "GATEWAY_HOST": "127.0.0.1",
                "GATEWAY_PORT": self.ports["gateway"],
                "REGISTRY_HOST": "127.0.0.1",
                "REGISTRY_PORT": self.ports["registry"],
                "REDIS_SVC_HOST": "127.0.0.1",
                "REDIS_SVC_PORT": self.ports["redis-svc"],
                "MONGO_SVC_HOST": "127.0.0.1",
                "MONGO_SVC_PORT": self.ports["mongo-svc"],
                "PG_SVC_HOST": "127.0.0.1",
                "PG_SVC_PORT": self.ports["pg-svc"],
                "EDGE_RATE_LIMIT_PER_S": rate_limit_per_s,
                "EDGE_RATE_LIMIT_BURST": rate_limit_burst,
            },
        )
        process = self._spawn(
            "envoy",
            [
                find_binary("envoy"),
                "-c",
                str(config),
                "--use-dynamic-base-id",
                "--log-level",
                "warn",
                "--disable-hot-restart",
            ],
        )
        for name in ("envoy-tls", "envoy"):
            wait_for_port(self.ports[name], process, "envoy", self.log("envoy"))
        self.files["tls-cert"] = cert
        self.urls["envoy"] = f"http://127.0.0.1:{self.ports['envoy']}/api/platform"
        self.urls["envoy-tls"] = f"https://localhost:{self.ports['envoy-tls']}/api/platform"
        return self.urls["envoy-tls"]

    def wait_healthy(self, base_url: str, timeout: float = 30, *, cafile: Path | None = None) -> None:
        deadline = time.monotonic() + timeout
        last = ""
        context = ssl.create_default_context(cafile=str(cafile)) if cafile is not None else None
        while time.monotonic() < deadline:
            try:
                with urllib.request.urlopen(f"{base_url}/health", timeout=2, context=context) as reply:
                    if reply.status == 200:
                        return
            except OSError as exc:
                last = str(exc)
            time.sleep(0.1)
        raise StackError(f"{base_url}/health did not answer 200 within {timeout}s ({last})")

    def stop(self) -> None:
        """Stops every process this stack started, newest first, by PID."""
        for managed in reversed(self.processes):
            with contextlib.suppress(ProcessLookupError):
                os.kill(managed.pid, managed.stop_signal)
        deadline = time.monotonic() + 15
        for managed in reversed(self.processes):
            if managed.process is None:
                continue
            try:
                managed.process.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(managed.pid, signal.SIGKILL)
                managed.process.wait()
        self.processes.clear()
        for path in self.cleanup:
            shutil.rmtree(path, ignore_errors=True)
        self.cleanup.clear()


@contextlib.contextmanager
def databases(workdir: Path | None = None) -> Iterator[Stack]:
    """Postgres, Redis and FerretDB, stopped on exit."""
    stack = Stack.create(workdir)
    try:
        stack.start_postgres()
        stack.start_redis()
        stack.start_ferretdb()
        yield stack
    finally:
        stack.stop()


def ensure_postgres_meta() -> Path:
    """postgres-meta's server script, installed with npm on first use into
    ``$POSTGRES_META_DIR`` (default ``~/.cache/udb/postgres-meta-<version>``), outside the repo."""
    default = Path.home() / ".cache" / "udb" / f"postgres-meta-{POSTGRES_META_VERSION}"
    prefix = Path(os.environ.get("POSTGRES_META_DIR") or default)
    server = prefix / "node_modules" / "@supabase" / "postgres-meta" / "dist" / "server" / "server.js"
    if server.is_file():
        return server
    npm = find_binary("npm")
    prefix.mkdir(parents=True, exist_ok=True)
    installed = subprocess.run(
        [
            npm,
            "install",
            "--prefix",
            str(prefix),
            "--no-audit",
            "--no-fund",
            "--loglevel=error",
            f"@supabase/postgres-meta@{POSTGRES_META_VERSION}",
        ],
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    if installed.returncode != 0 or not server.is_file():
        raise StackError(f"npm could not install @supabase/postgres-meta: {installed.stderr.strip()[-500:]}")
    return server


def new_encryption_key() -> str:
    return base64.b64encode(secrets.token_bytes(32)).decode()


def _up(args: argparse.Namespace) -> int:
    sys.path[:0] = [str(REPO)]
    from udb.auth import mint_token

    jwt_secret = os.environ.get("JWT_SECRET") or secrets.token_urlsafe(32)
    encryption_key = os.environ.get("DATABASE_ENCRYPTION_KEY") or new_encryption_key()
    workdir = Path(args.workdir) if args.workdir else None
    stack = Stack.create(workdir)
    try:
        print(f"devstack: starting in {stack.workdir}", flush=True)
        stack.start_postgres("platform")
        stack.start_postgres()
        stack.start_redis()
        stack.start_ferretdb()
        platform_url = stack.create_database("udb_platform", cluster="platform")
        env = stack.service_env(jwt_secret=jwt_secret, encryption_key=encryption_key, platform_url=platform_url)
        env["CORS_ORIGINS"] = env.get("CORS_ORIGINS") or DEV_CORS_ORIGINS
        stack.start_services(env)
        base_url = stack.start_envoy(tls_dir=Path(args.tls_dir) if args.tls_dir else None)
        cert = stack.files["tls-cert"]
        stack.wait_healthy(base_url, cafile=cert)
        token = mint_token(jwt_secret, subject="dev-user", ttl_s=7 * 24 * 3600)
        service_token = mint_token(jwt_secret, subject="dev-operator", role="service_role", ttl_s=7 * 24 * 3600)
        _bootstrap(stack, token)
        metrics = ", ".join(f"{n} 127.0.0.1:{stack.ports[n + '-metrics']}" for n in METRICS_VARIABLES)
        print(
            "\nUnified Database API is up.\n"
            f"  base URL (Envoy, TLS):  {base_url}\n"
            f"  its certificate:        {cert}   (self-signed: curl --cacert it)\n"
            f"  internal (Envoy, h2c):  {stack.urls['envoy']}  and gRPC by package path\n"
            f"  gateway (direct):       {stack.urls['gateway']}\n"
            f"  CORS (browser consoles): {env['CORS_ORIGINS']}\n"
            f"  gRPC services:          "
            + ", ".join(f"{n} 127.0.0.1:{stack.ports[n]}" for n in (*REGISTRY_REPLICAS, *SERVICES[1:]))
            + "\n"
            f"  metrics (/metrics):     {metrics}, envoy 127.0.0.1:{stack.ports['envoy-metrics']}/stats/prometheus\n"
            f"  dev token (user dev-user, owner of project 'dev-project'):\n    {token}\n"
            f"  service-role token:\n    {service_token}\n"
            f"  try: curl --cacert {cert} -H 'Authorization: Bearer {token[:12]}...' {base_url}/projects\n"
            f"  logs: {stack.workdir / 'logs'}\n"
            "Ctrl-C stops everything.",
            flush=True,
        )
        stop = False

        def on_signal(signum: int, frame: object) -> None:
            nonlocal stop
            stop = True

        signal.signal(signal.SIGINT, on_signal)
        signal.signal(signal.SIGTERM, on_signal)
        while not stop:
            time.sleep(0.5)
            for managed in stack.processes:
                if managed.process is not None and managed.process.poll() is not None:
                    print(f"devstack: {managed.name} exited; see {stack.log(managed.name)}", file=sys.stderr)
                    stop = True
    except StackError as exc:
        print(f"devstack: {exc}", file=sys.stderr)
        return 1
    finally:
        print("devstack: stopping", flush=True)
        stack.stop()
    return 0


def _bootstrap(stack: Stack, token: str) -> None:
    """An organization, a project owned by dev-user, and connections to the local databases."""
    import json

    def call(method: str, path: str, body: object) -> None:
        request = urllib.request.Request(
            f"{stack.urls['gateway']}{path}",
            data=json.dumps(body).encode(),
            method=method,
            headers={"authorization": f"Bearer {token}", "content-type": "application/json"},
        )
        with urllib.request.urlopen(request, timeout=10):
            pass

    call("POST", "/organizations", {"name": "Dev", "slug": "dev"})
    call("POST", "/projects", {"organization_slug": "dev", "name": "Dev project", "ref": "dev-project"})
    call("POST", "/redis/dev-project/connections", {"identifier": "local", "uri": stack.urls["redis"]})
    call("POST", "/mongodb/dev-project/connections", {"identifier": "local", "uri": stack.urls["mongodb"]})
    # The dev project's database is owned by a role that is no superuser, with a read-only login
    # for viewers' SQL: what a production tenant database looks like.
    owner_url, reader, reader_password = stack.create_tenant_database("dev", owner="dev_owner", reader="dev_reader")
    call(
        "POST",
        "/pg-meta/dev-project/connections",
        {
            "identifier": "local",
            "uri": owner_url,
            "options": {"read_only_role": reader, "read_only_password": reader_password},
        },
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)
    up = sub.add_parser("up", help="run the whole stack until Ctrl-C")
    up.add_argument("--workdir", help="folder for data and logs (default: a new temporary one)")
    up.add_argument("--tls-dir", help="folder with tls.crt and tls.key for Envoy (made there when missing)")
    certs = sub.add_parser("certs", help="make a self-signed TLS pair for Envoy (tls.crt, tls.key)")
    certs.add_argument("--out", default=str(ENVOY_DIR / "certs"), help="the folder to write them to")
    certs.add_argument("--host", action="append", help="a name or address the certificate is for (repeatable)")
    args = parser.parse_args(argv)
    if args.command == "certs":
        hosts = tuple(args.host or ("localhost", "127.0.0.1", "::1"))
        cert, key = make_tls_pair(Path(args.out), hosts=hosts)
        print(f"certificate {cert}\nkey         {key}")
        return 0
    return _up(args)


if __name__ == "__main__":
    sys.exit(main())
