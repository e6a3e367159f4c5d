"""Real servers on free loopback ports, in a work folder: for `make dev` and the tests.

    python deploy/local/devstack.py up      # the whole stack with a demo dataset, until Ctrl-C
    python deploy/local/devstack.py reset   # forget the data of `up` (its work folder)
    python deploy/local/devstack.py certs --out deploy/envoy/certs   # a self-signed TLS pair

It starts PostgreSQL 15 (through ``runuser -u postgres`` when run as root), Redis 7, FerretDB
1.24 (the MongoDB wire protocol, SQLite backend), the five services and Envoy in front of them
(TLS on the edge with a self-signed pair made here), and stops everything it started, by PID.
``deploy/local/install-tools.sh`` (run by ``make install``) puts the binaries in place. What
``up`` adds (a work folder kept across runs, the demo data, the env file, restarts of a process
that exits) is in ``devsession.py``.
"""

from __future__ import annotations

import base64
import contextlib
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
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

import pgcluster
from pgcluster import AS_POSTGRES, PG_BIN_DIRS
from postgres_meta import POSTGRES_META_VERSION, ensure_postgres_meta
from processes import (
    Managed,
    StackError,
    alive,
    find_binary,
    free_port,
    log_tail,
    pid_in,
    port_is_free,
    wait_for_port,
)
from tlspair import make_tls_pair

# Where the tests, the benchmarks and the tools have always found them.
__all__ = [
    "PG_BIN_DIRS",
    "POSTGRES_META_VERSION",
    "Managed",
    "Stack",
    "StackError",
    "ensure_postgres_meta",
    "find_binary",
    "free_port",
    "log_tail",
    "make_tls_pair",
    "port_is_free",
    "wait_for_port",
]

REPO = Path(__file__).resolve().parents[2]
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

#: Browser consoles ``make dev`` lets in (a local Studio on any port), unless CORS_ORIGINS says.
DEV_CORS_ORIGINS = "http://localhost:*,http://127.0.0.1:*"


def render_envoy_config(output: Path, values: Mapping[str, object], template: Path = ENVOY_DIR / "envoy.yaml") -> Path:
    """The Envoy template rendered by deploy/envoy/render.sh (the one renderer of every target)."""
    env = {**os.environ, **{key: str(value) for key, value in values.items()}}
    subprocess.run(
        ["sh", str(ENVOY_DIR / "render.sh"), str(template), str(output)], env=env, check=True, capture_output=True
    )
    return output


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
    #: Keep the databases' data in the workdir and use it again at the next start (``make dev``);
    #: otherwise each start is a fresh one.
    keep_data: bool = False

    @classmethod
    def create(cls, workdir: Path | None = None, *, keep_data: bool = False) -> Stack:
        directory = Path(workdir or tempfile.mkdtemp(prefix="udb-stack-"))
        directory.mkdir(parents=True, exist_ok=True)
        (directory / "logs").mkdir(exist_ok=True)
        return cls(directory, keep_data=keep_data)

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
        environment = dict(env) if env is not None else None
        process = self._popen(name, argv, environment)
        self.processes.append(Managed(name, process.pid, stop_signal, process, argv, environment, self.log(name)))
        return process

    def _popen(self, name: str, argv: list[str], env: dict[str, str] | None) -> subprocess.Popen[bytes]:
        with self.log(name).open("ab") as log:  # the child keeps its own copy of the descriptor
            return subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT, env=env, cwd=self.workdir)

    def restart(self, managed: Managed) -> None:
        """Starts an exited process of this stack again, as it was started (same ports)."""
        old_pid = managed.pid
        managed.process = self._popen(managed.name, managed.argv, managed.env)
        managed.pid = managed.process.pid
        if managed.pid_file is not None:
            # The server's own PID, which stop() signals, once it has written it.
            deadline = time.monotonic() + 10
            while time.monotonic() < deadline and managed.process.poll() is None:
                pid = pid_in(managed.pid_file)
                if pid is not None and pid != old_pid and alive(pid):
                    managed.pid = pid
                    return
                time.sleep(0.1)

    def _port(self, name: str) -> int:
        """The port preset for ``name`` (a work folder's earlier one), else a free one."""
        return self.ports.get(name) or free_port()

    # ---- databases -------------------------------------------------------------------------

    def start_postgres(self, name: str = "postgres", *, tls: bool = False) -> str:
        """A PostgreSQL 15 cluster with password auth on TCP; returns a superuser URL (also
        ``urls[name]``, its port ``ports[name]``). ``tls`` turns on SSL with a self-signed pair
        for ``localhost`` (``files[name + "-tls-cert"]``).

        The stack starts two: ``platform`` holds the platform database only, ``postgres`` the
        tenants' databases, so that nothing a tenant reaches shares a server with the platform.
        With ``keep_data`` a cluster made by an earlier start is started again, as it was left.
        """
        base, temporary = pgcluster.cluster_folder(self.workdir, name, keep=self.keep_data)
        if temporary:
            self.cleanup.append(base)
        data = base / "data"
        socket_dir = base / "run"
        pwfile = base / "pwfile"
        subprocess.run([*AS_POSTGRES, "mkdir", "-p", str(socket_dir)], check=True)
        if (data / "PG_VERSION").is_file():
            password = pwfile.read_text()
            pgcluster.stop_orphan_postmaster(data)
        else:
            password = secrets.token_urlsafe(16)
            pgcluster.initdb(data, pwfile, password, self.log(name))
        port = self._port(name)
        ssl_settings: list[str] = []
        if tls:
            cert, key = make_tls_pair(base / "tls", hosts=("localhost",))
            if AS_POSTGRES:
                os.chown(base / "tls", pwd.getpwnam("postgres").pw_uid, -1)
                for path in (cert, key):
                    os.chown(path, pwd.getpwnam("postgres").pw_uid, -1)
            key.chmod(0o600)
            ssl_settings = ["-c", "ssl=on", "-c", f"ssl_cert_file={cert}", "-c", f"ssl_key_file={key}"]
            self.files[f"{name}-tls-cert"] = cert
        process = self._spawn(
            name,
            [
                *AS_POSTGRES,
                pgcluster.find_pg_binary("postgres"),
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
        psql = pgcluster.find_pg_binary("psql")
        while subprocess.run(
            [*AS_POSTGRES, psql, "-h", str(socket_dir), "-p", str(port), "-U", "postgres", "-c", "select 1"],
            capture_output=True,
        ).returncode:
            if time.monotonic() > deadline:
                raise StackError(f"{name} does not accept logins; see {self.log(name)}")
            time.sleep(0.1)
        # runuser does not pass signals on: stop the postmaster by its own PID.
        postmaster = self.processes[-1]
        postmaster.pid_file = data / "postmaster.pid"
        postmaster.pid = pid_in(postmaster.pid_file) or postmaster.pid
        self.ports[name] = port
        url = f"postgresql://postgres:{password}@127.0.0.1:{port}/postgres"
        self.urls[name] = url
        return url

    def create_database(self, name: str, *, cluster: str = "postgres", exist_ok: bool = False) -> str:
        """A new database on one of the stack's Postgres clusters (with ``exist_ok``, or the one
        there); returns its superuser URL."""
        if not (exist_ok and pgcluster.database_exists(self.urls[cluster], name)):
            self.run_sql(cluster, f'CREATE DATABASE "{name}"')
        return self.urls[cluster].rsplit("/", 1)[0] + f"/{name}"

    def run_sql(self, cluster: str, *statements: str, database: str = "postgres") -> str:
        """Runs statements, each on its own, as the superuser of a cluster; returns the URL used."""
        url = self.urls[cluster].rsplit("/", 1)[0] + f"/{database}"
        pgcluster.execute(url, *statements)
        return url

    def create_tenant_database(
        self,
        name: str,
        *,
        owner: str,
        reader: str,
        owner_password: str | None = None,
        reader_password: str | None = None,
    ) -> tuple[str, str, str]:
        """A tenant's database as a production deployment has one: owned by a role that is no
        superuser (``owner``, who may log in and create objects in it), and a read-only login
        (``reader``, granted pg_read_all_data) for viewers' SQL. Returns (the owner's URL, the
        reader's name, the reader's password).

        Idempotent: roles and database that exist are kept, and the roles get the passwords
        given (new ones when None)."""
        owner_password = owner_password or secrets.token_urlsafe(16)
        reader_password = reader_password or secrets.token_urlsafe(16)
        statements = []
        for role, password in ((owner, owner_password), (reader, reader_password)):
            statements += [
                f'DO $$ BEGIN CREATE ROLE "{role}"; EXCEPTION WHEN duplicate_object THEN NULL; END $$',
                f"ALTER ROLE \"{role}\" LOGIN PASSWORD '{password}'",
            ]
        statements.append(f'GRANT pg_read_all_data TO "{reader}"')
        if not pgcluster.database_exists(self.urls["postgres"], name):
            statements.append(f'CREATE DATABASE "{name}" OWNER "{owner}"')
        self.run_sql("postgres", *statements, "REVOKE CONNECT ON DATABASE postgres FROM PUBLIC")
        self.run_sql("postgres", f'ALTER SCHEMA public OWNER TO "{owner}"', database=name)
        port = self.ports["postgres"]
        return f"postgresql://{owner}:{owner_password}@127.0.0.1:{port}/{name}", reader, reader_password

    def start_redis(self) -> str:
        """Redis on loopback; with ``keep_data`` it writes an append-only file in ``workdir/redis``
        and reads it back at the next start, else it keeps nothing on disk."""
        port = self._port("redis")
        folder = self.workdir / "redis"
        folder.mkdir(exist_ok=True)
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
                "yes" if self.keep_data else "no",
                "--dir",
                str(folder),
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
        port = self._port("ferretdb")
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


def new_encryption_key() -> str:
    return base64.b64encode(secrets.token_bytes(32)).decode()


if __name__ == "__main__":
    import devsession  # the command line: `up`, `reset` and `certs`

    sys.exit(devsession.main())
