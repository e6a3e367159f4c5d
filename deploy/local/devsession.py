"""`make dev`: the whole stack in a work folder kept across runs, with a demo dataset and an env file.

    python deploy/local/devstack.py up [--workdir DIR]     # DIR: .dev in the repository by default
    python deploy/local/devstack.py reset [--workdir DIR]  # `make dev-reset`: forget it all

The work folder holds the two Postgres clusters, Redis's append-only file, FerretDB's SQLite
files, the TLS pair, the logs, and ``secrets.json``: what the next start needs again (the JWT
secret unless JWT_SECRET is set, the encryption key unless DATABASE_ENCRYPTION_KEY is set, the
tenant logins' passwords). Each start takes the ports of the last one when they are free, makes
or brings up to date the dev organization, project and connections, loads the demo dataset
where it is absent (``demo.py``), writes ``env`` for a shell to source, and then restarts any
process that exits until Ctrl-C.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import fcntl
import json
import os
import secrets
import shlex
import shutil
import signal
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import demo
import devstack
import pgcluster
from processes import StackError, Supervisor, claim_port

DEFAULT_WORKDIR = devstack.REPO / ".dev"
DEV_USER = "dev-user"
PROJECT_REF = "dev-project"
#: The dev token outlives a working day (and a weekend); each start writes a new one.
TOKEN_TTL_S = 7 * 24 * 3600
#: The lines `make dev` prints and the README's first screen shows, after `source <env file>`:
#: each engine's demo data, through the edge, as pasted (tests/integration/test_ops_devstack.py).
_CURL = 'curl -sS --cacert "$UDB_CACERT" -H "Authorization: Bearer $UDB_TOKEN"'
CURL_LINES = (
    f'{_CURL} "$UDB_URL/redis/$UDB_REF/keys?pattern=shop:*"',
    f'{_CURL} "$UDB_URL/mongodb/$UDB_REF/databases/shop/collections/orders/documents?limit=2"',
    f"{_CURL} \"$UDB_URL/pg-meta/$UDB_REF/query\" -H 'content-type: application/json'"
    """ -d '{"query": "select * from shop.order_totals order by order_id"}'""",
)


@dataclass(frozen=True)
class DevSecrets:
    jwt_secret: str
    encryption_key: str
    owner_password: str
    reader_password: str


class WorkFolder:
    """The folder of one `make dev`, which one running stack at a time may use."""

    def __init__(self, path: Path) -> None:
        self.path = path.resolve()
        self.env_file = self.path / "env"

    @contextlib.contextmanager
    def locked(self) -> Iterator[None]:
        """Holds the folder's lock; a second stack on the same folder is refused with a clear error."""
        self.path.mkdir(parents=True, exist_ok=True)
        with (self.path / "lock").open("a+") as lock:
            try:
                fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                lock.seek(0)
                holder = lock.read().strip() or "?"
                raise StackError(f"a stack (pid {holder}) runs in {self.path}: stop it first") from None
            lock.truncate(0)
            lock.write(str(os.getpid()))
            lock.flush()
            yield

    def secrets(self) -> DevSecrets:
        """The secrets of earlier starts (made on the first), the environment's where it sets them."""
        path = self.path / "secrets.json"
        stored: dict[str, str] = json.loads(path.read_text()) if path.is_file() else {}
        made: dict[str, Callable[[], str]] = {
            "jwt_secret": lambda: secrets.token_urlsafe(32),
            "encryption_key": devstack.new_encryption_key,
            "owner_password": lambda: secrets.token_urlsafe(16),
            "reader_password": lambda: secrets.token_urlsafe(16),
        }
        if not made.keys() <= stored.keys():
            stored = {name: stored.get(name) or make() for name, make in made.items()}
            self.path.mkdir(parents=True, exist_ok=True)
            path.touch(mode=0o600)
            path.write_text(json.dumps(stored, indent=2) + "\n")
        return DevSecrets(
            jwt_secret=os.environ.get("JWT_SECRET") or stored["jwt_secret"],
            encryption_key=os.environ.get("DATABASE_ENCRYPTION_KEY") or stored["encryption_key"],
            owner_password=stored["owner_password"],
            reader_password=stored["reader_password"],
        )

    def free_ports_of_last_start(self) -> dict[str, int]:
        path = self.path / "ports.json"
        ports: dict[str, int] = json.loads(path.read_text()) if path.is_file() else {}
        return {name: port for name, port in ports.items() if claim_port(port)}

    def save_ports(self, ports: dict[str, int]) -> None:
        (self.path / "ports.json").write_text(json.dumps(ports, indent=2, sort_keys=True) + "\n")

    def write_env(self, values: dict[str, str], comments: dict[str, str]) -> None:
        """``env``: one ``export NAME=value`` a line (values shell-quoted), readable by its owner only."""
        lines = ["# Written by `make dev` at each start (deploy/local/devsession.py): `source` this file."]
        for name, value in values.items():
            if name in comments:
                lines.append(f"# {comments[name]}")
            lines.append(f"export {name}={shlex.quote(value)}")
        temporary = self.env_file.with_suffix(".tmp")
        temporary.touch(mode=0o600)
        temporary.write_text("\n".join(lines) + "\n")
        temporary.replace(self.env_file)  # a reader never sources half a file


def up(workdir: Path, *, tls_dir: Path | None = None) -> int:
    """Runs the stack in ``workdir`` until SIGINT or SIGTERM; returns the exit status."""
    folder = WorkFolder(workdir)
    serving = False
    stop = False

    def on_signal(signum: int, frame: object) -> None:
        nonlocal stop
        stop = True
        if not serving:
            raise KeyboardInterrupt  # still starting: unwind, and stop what has started

    signal.signal(signal.SIGINT, on_signal)
    signal.signal(signal.SIGTERM, on_signal)
    try:
        with folder.locked():
            stack = devstack.Stack.create(folder.path, keep_data=True)
            try:
                print(f"devstack: starting in {folder.path}", flush=True)
                summary = _start(stack, folder, tls_dir)
                print(summary, flush=True)
                serving = True
                supervisor = Supervisor(stack.restart, report=_report)
                while not stop:
                    time.sleep(0.2)
                    if not stop:
                        supervisor.check(stack.processes)
            finally:
                # A second Ctrl-C must not cut the stop short and leave servers behind.
                signal.signal(signal.SIGINT, signal.SIG_IGN)
                signal.signal(signal.SIGTERM, signal.SIG_IGN)
                print("devstack: stopping", flush=True)
                stack.stop()
    except StackError as exc:
        print(f"devstack: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130
    return 0


def _report(message: str) -> None:
    print(f"devstack: {message}", file=sys.stderr, flush=True)


def _start(stack: devstack.Stack, folder: WorkFolder, tls_dir: Path | None) -> str:
    """Starts everything, brings the dev project up to date, loads the demo, writes the env file;
    returns what to print."""
    sys.path[:0] = [str(devstack.REPO)]
    from udb.auth import mint_token

    dev = folder.secrets()
    stack.ports.update(folder.free_ports_of_last_start())
    stack.start_postgres("platform")
    stack.start_postgres()
    stack.start_redis()
    stack.start_ferretdb()
    platform_url = stack.create_database("udb_platform", cluster="platform", exist_ok=True)
    env = stack.service_env(jwt_secret=dev.jwt_secret, encryption_key=dev.encryption_key, platform_url=platform_url)
    env["CORS_ORIGINS"] = env.get("CORS_ORIGINS") or devstack.DEV_CORS_ORIGINS
    # No shared rate-limit counters (RATE_LIMIT_REDIS_URL): the dev stack runs one gateway, and its
    # one Redis is the tenants', which redis-svc refuses to dial for a tenant once it holds counters.
    stack.start_services(env)
    base_url = stack.start_envoy(tls_dir=tls_dir)
    folder.save_ports(stack.ports)
    cert = stack.files["tls-cert"]
    stack.wait_healthy(base_url, cafile=cert)
    token = mint_token(dev.jwt_secret, subject=DEV_USER, ttl_s=TOKEN_TTL_S)
    service_token = mint_token(dev.jwt_secret, subject="dev-operator", role="service_role", ttl_s=TOKEN_TTL_S)
    targets = _bootstrap(stack, token, dev)
    loaded = asyncio.run(demo.load_targets(targets))
    until = (dt.datetime.now(dt.UTC) + dt.timedelta(seconds=TOKEN_TTL_S)).strftime("%Y-%m-%d %H:%M UTC")
    folder.write_env(
        {
            "UDB_URL": base_url,
            "UDB_TOKEN": token,
            "UDB_CACERT": str(cert),
            "UDB_REF": PROJECT_REF,
            "UDB_SERVICE_TOKEN": service_token,
        },
        {
            "UDB_URL": "The edge (Envoy, TLS with the self-signed certificate UDB_CACERT).",
            "UDB_TOKEN": f"User {DEV_USER}, owner of project {PROJECT_REF}; valid until {until}.",
            "UDB_SERVICE_TOKEN": f"The service role (owner rights on every project); valid until {until}.",
        },
    )
    metrics = ", ".join(f"{n} 127.0.0.1:{stack.ports[n + '-metrics']}" for n in devstack.METRICS_VARIABLES)
    demo_state = "; ".join(f"{engine}: {state}" for engine, state in loaded.items())
    paste = "\n".join(f"  {line}" for line in (f"source {shlex.quote(str(folder.env_file))}", *CURL_LINES))
    return (
        "\nUnified Database API is up.\n"
        f"  base URL (Envoy, TLS):   {base_url}\n"
        f"  its certificate:         {cert}   (self-signed: curl --cacert it)\n"
        f"  internal (Envoy, h2c):   {stack.urls['envoy']}  and gRPC by package path\n"
        f"  gateway (direct):        {stack.urls['gateway']}\n"
        f"  OpenAPI document:        {base_url}/openapi.json\n"
        f"  CORS (browser consoles): {env['CORS_ORIGINS']}\n"
        f"  gRPC services:           "
        + ", ".join(f"{n} 127.0.0.1:{stack.ports[n]}" for n in (*devstack.REGISTRY_REPLICAS, *devstack.SERVICES[1:]))
        + "\n"
        f"  metrics (/metrics):      {metrics}, envoy 127.0.0.1:{stack.ports['envoy-metrics']}/stats/prometheus\n"
        f"  dev token (user {DEV_USER}, owner of project '{PROJECT_REF}', valid until {until}):\n    {token}\n"
        f"  service-role token:\n    {service_token}\n"
        f"  demo data:               {demo_state}\n"
        f"  work folder:             {folder.path}  (kept across runs; `make dev-reset` forgets it)\n"
        f"  logs:                    {stack.workdir / 'logs'}\n"
        f"In another shell, these show each engine's demo data:\n{paste}\n"
        "Ctrl-C stops everything; a process that exits is restarted."
    )


class _Api:
    """The gateway, called as the dev user."""

    def __init__(self, base_url: str, token: str) -> None:
        self.base_url = base_url
        self.token = token

    def call(self, method: str, path: str, body: object = None, *, exists_ok: bool = False) -> Any:
        request = urllib.request.Request(
            f"{self.base_url}{path}",
            data=None if body is None else json.dumps(body).encode(),
            method=method,
            headers={"authorization": f"Bearer {self.token}", "content-type": "application/json"},
        )
        try:
            with urllib.request.urlopen(request, timeout=10) as reply:
                return json.loads(reply.read() or b"null")
        except urllib.error.HTTPError as exc:
            if exists_ok and exc.code == 409:
                return None
            raise StackError(f"{method} {path} answered {exc.code}: {exc.read().decode(errors='replace')}") from None

    def put_connection(self, engine: str, identifier: str, body: dict[str, Any]) -> None:
        """The project's connection ``identifier`` of ``engine`` made, or changed to ``body``
        (the servers' ports, and so the records, may differ from the last start's)."""
        listing = self.call("GET", f"/{engine}/{PROJECT_REF}/connections")
        found = [c["id"] for c in listing["data"] if c["identifier"] == identifier]
        if found:
            self.call("PUT", f"/{engine}/{PROJECT_REF}/connections/{found[0]}", body)
        else:
            self.call("POST", f"/{engine}/{PROJECT_REF}/connections", {"identifier": identifier, **body})


def _bootstrap(stack: devstack.Stack, token: str, dev: DevSecrets) -> demo.Targets:
    """An organization, a project owned by the dev user, and one connection per engine to the
    local servers; returns where the demo dataset goes, with the tenant's own credentials."""
    api = _Api(stack.urls["gateway"], token)
    api.call("POST", "/organizations", {"name": "Dev", "slug": "dev"}, exists_ok=True)
    api.call(
        "POST", "/projects", {"organization_slug": "dev", "name": "Dev project", "ref": PROJECT_REF}, exists_ok=True
    )
    api.put_connection("redis", "local", {"uri": stack.urls["redis"]})
    api.put_connection("mongodb", "local", {"uri": stack.urls["mongodb"]})
    # The dev project's database is owned by a role that is no superuser, with a read-only login
    # for viewers' SQL: what a production tenant database looks like.
    owner_url, reader, reader_password = stack.create_tenant_database(
        "dev",
        owner="dev_owner",
        reader="dev_reader",
        owner_password=dev.owner_password,
        reader_password=dev.reader_password,
    )
    api.put_connection(
        "pg-meta",
        "local",
        {"uri": owner_url, "options": {"read_only_role": reader, "read_only_password": reader_password}},
    )
    return demo.Targets(owner_url, reader, stack.urls["redis"], stack.urls["mongodb"])


def reset(workdir: Path) -> int:
    """Deletes a work folder of `up` (and the clusters kept for it elsewhere) unless a stack runs in it."""
    folder = WorkFolder(workdir)
    if not folder.path.exists():
        print(f"devstack: {folder.path} does not exist: nothing to reset")
        return 0
    if not (folder.path / "secrets.json").is_file() and not (folder.path / "lock").is_file():
        print(f"devstack: {folder.path} is no work folder of `make dev`: left alone", file=sys.stderr)
        return 1
    try:
        with folder.locked():
            elsewhere = pgcluster.kept_elsewhere(folder.path)
            shutil.rmtree(elsewhere, ignore_errors=True)
            shutil.rmtree(folder.path)
    except StackError as exc:
        print(f"devstack: {exc}", file=sys.stderr)
        return 1
    print(f"devstack: {folder.path} deleted; the next `make dev` starts afresh")
    return 0


def main(argv: list[str] | None = None) -> int:
    """The command line of deploy/local/devstack.py."""
    import argparse

    parser = argparse.ArgumentParser(description=devstack.__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)
    run = sub.add_parser("up", help="run the whole stack with the demo dataset until Ctrl-C")
    run.add_argument("--workdir", help=f"data, logs and the env file, kept across runs (default {DEFAULT_WORKDIR})")
    run.add_argument("--tls-dir", help="folder with tls.crt and tls.key for Envoy (made there when missing)")
    forget = sub.add_parser("reset", help="delete the work folder of `up` (which must not be running)")
    forget.add_argument("--workdir", help=f"the folder to delete (default {DEFAULT_WORKDIR})")
    certs = sub.add_parser("certs", help="make a self-signed TLS pair for Envoy (tls.crt, tls.key)")
    certs.add_argument("--out", default=str(devstack.ENVOY_DIR / "certs"), help="the folder to write them to")
    certs.add_argument("--host", action="append", help="a name or address the certificate is for (repeatable)")
    args = parser.parse_args(argv)
    if args.command == "certs":
        hosts = tuple(args.host or ("localhost", "127.0.0.1", "::1"))
        cert, key = devstack.make_tls_pair(Path(args.out), hosts=hosts)
        print(f"certificate {cert}\nkey         {key}")
        return 0
    workdir = Path(args.workdir) if args.workdir else DEFAULT_WORKDIR
    if args.command == "reset":
        return reset(workdir)
    return up(workdir, tls_dir=Path(args.tls_dir) if args.tls_dir else None)
