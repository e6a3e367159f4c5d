"""``udbctl``: the operator's command line for a Unified Database API deployment.

    udbctl migrate                                   apply the platform schema's migrations
    udbctl org create --name Acme --slug acme        an organization
    udbctl project create --org acme --name Shop [--ref shop] [--owner user-1]
    udbctl member add --project shop --user user-2 --role developer
    udbctl token --user user-1 [--service-role] [--ttl 3600]   a token, for local use
    udbctl key generate                              a new DATABASE_ENCRYPTION_KEY
    udbctl key rotate                                re-encrypt every secret with the current key
    udbctl health [--json] [--address HOST:PORT]     gRPC health of every service

It reads the services' own settings from the environment (and ``.env``): ``REGISTRY_ADDR`` and the
other addresses, ``JWT_SECRET`` (or ``SERVICE_TOKEN``) to act as a service, and for ``migrate`` and
``key rotate`` the registry's ``REGISTRY_DATABASE_URL`` and keys. Those two run the registry's own
commands (``python -m registry migrate|rotate-keys``), so the schema and the encryption stay the
registry's business. Exit status: 0 done, 1 failed, 2 bad configuration or usage.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import subprocess
import sys
from collections.abc import Sequence
from typing import Any

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc

from udb.auth import SERVICE_ROLE, ServiceCredentials, mint_token
from udb.clients import insecure_channel
from udb.config import DEFAULT_ADDRESSES, AuthSettings, ConfigError, Env
from udb.crypto import generate_key
from udb.errors import DatabaseError, from_rpc_error
from udb.registry.v1 import registry_pb2, registry_pb2_grpc
from udb.roles import ROLE_NAMES

#: The services ``health`` checks, with the variable of each address and its default.
HEALTH_TARGETS: dict[str, tuple[str, str]] = {
    **DEFAULT_ADDRESSES,
    "gateway": ("GATEWAY_GRPC_ADDR", "127.0.0.1:50050"),
}


def _registry(
    env: Env,
) -> tuple[grpc.aio.Channel, registry_pb2_grpc.RegistryServiceAsyncStub, tuple[tuple[str, str], ...]]:
    credentials = ServiceCredentials(AuthSettings.from_env(env), "udbctl")
    channel = insecure_channel(env.str(*DEFAULT_ADDRESSES["registry"]))
    return channel, registry_pb2_grpc.RegistryServiceStub(channel), credentials.metadata()


async def _create_org(env: Env, args: argparse.Namespace) -> dict[str, Any]:
    channel, registry, metadata = _registry(env)
    async with channel:
        org = await registry.CreateOrganization(
            registry_pb2.CreateOrganizationRequest(name=args.name, slug=args.slug), metadata=metadata, timeout=30
        )
    return {"id": org.id, "name": org.name, "slug": org.slug}


async def _create_project(env: Env, args: argparse.Namespace) -> dict[str, Any]:
    channel, registry, metadata = _registry(env)
    async with channel:
        project = await registry.CreateProject(
            registry_pb2.CreateProjectRequest(organization_slug=args.org, name=args.name, ref=args.ref or ""),
            metadata=metadata,
            timeout=30,
        )
        if args.owner:
            await registry.AddMember(
                registry_pb2.AddMemberRequest(project_ref=project.ref, user_id=args.owner, role=ROLE_NAMES["owner"]),
                metadata=metadata,
                timeout=30,
            )
    return {
        "id": project.id,
        "ref": project.ref,
        "name": project.name,
        "organization_slug": project.organization_slug,
        "owner": args.owner or None,
    }


async def _add_member(env: Env, args: argparse.Namespace) -> dict[str, Any]:
    channel, registry, metadata = _registry(env)
    async with channel:
        member = await registry.AddMember(
            registry_pb2.AddMemberRequest(project_ref=args.project, user_id=args.user, role=ROLE_NAMES[args.role]),
            metadata=metadata,
            timeout=30,
        )
    return {"project_ref": args.project, "user_id": member.user_id, "role": args.role}


def _token(env: Env, args: argparse.Namespace) -> str:
    secret = env.secret("JWT_SECRET")
    if secret is None:
        raise ConfigError("JWT_SECRET is required to mint a token (tokens from a JWKS issuer are minted there)")
    role = SERVICE_ROLE if args.service_role else args.role
    return mint_token(
        secret.reveal(), subject=args.user, role=role, ttl_s=args.ttl, audience=env.optional("JWT_AUDIENCE")
    )


async def check_health(targets: dict[str, str], timeout_s: float = 3.0) -> dict[str, str]:
    """Each target's gRPC health status name (``UNREACHABLE`` when it does not answer)."""

    async def check(name: str, address: str) -> tuple[str, str]:
        async with grpc.aio.insecure_channel(address) as channel:
            try:
                reply = await health_pb2_grpc.HealthStub(channel).Check(
                    health_pb2.HealthCheckRequest(), timeout=timeout_s
                )
            except grpc.RpcError:
                return name, "UNREACHABLE"
        return name, health_pb2.HealthCheckResponse.ServingStatus.Name(reply.status)

    results = await asyncio.gather(*(check(name, address) for name, address in targets.items()))
    return dict(results)


def _health(env: Env, args: argparse.Namespace) -> int:
    if args.address:
        targets = {args.service or args.address: args.address}
    else:
        targets = {name: env.str(variable, default) for name, (variable, default) in HEALTH_TARGETS.items()}
    statuses = asyncio.run(check_health(targets, args.timeout))
    healthy = all(status == "SERVING" for status in statuses.values())
    if args.json:
        print(json.dumps({"healthy": healthy, "services": statuses}))
    else:
        for name, status in statuses.items():
            print(f"{name:<10} {targets[name]:<24} {status}")
    return 0 if healthy else 1


def _registry_command(command: str) -> int:
    """Runs one of the registry's own commands with this environment."""
    return subprocess.run([sys.executable, "-m", "registry", command], check=False).returncode


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="udbctl", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("migrate", help="apply the platform schema's migrations")

    org = commands.add_parser("org", help="organizations").add_subparsers(dest="action", required=True)
    org_create = org.add_parser("create", help="create an organization")
    org_create.add_argument("--name", required=True)
    org_create.add_argument("--slug", required=True)

    project = commands.add_parser("project", help="projects").add_subparsers(dest="action", required=True)
    project_create = project.add_parser("create", help="create a project")
    project_create.add_argument("--org", required=True, help="the organization's slug")
    project_create.add_argument("--name", required=True)
    project_create.add_argument("--ref", help="3-64 of a-z, 0-9 and '-' (made when absent)")
    project_create.add_argument("--owner", help="a user id to make the project's owner")

    member = commands.add_parser("member", help="project members").add_subparsers(dest="action", required=True)
    member_add = member.add_parser("add", help="add a member to a project")
    member_add.add_argument("--project", required=True, help="the project's ref")
    member_add.add_argument("--user", required=True)
    member_add.add_argument("--role", required=True, choices=list(ROLE_NAMES))

    token = commands.add_parser("token", help="mint a token with JWT_SECRET (for local use)")
    token.add_argument("--user", required=True, help="the subject (user id)")
    token.add_argument("--role", default="authenticated", help="the role claim (default: authenticated)")
    token.add_argument("--service-role", action="store_true", help="a service-role token (owner everywhere)")
    token.add_argument("--ttl", type=float, default=3600.0, help="seconds until it expires (default 3600)")

    key = commands.add_parser("key", help="the encryption key of connection secrets").add_subparsers(
        dest="action", required=True
    )
    key.add_parser("generate", help="print a new key (base64 of 32 random bytes)")
    key.add_parser(
        "rotate",
        help="re-encrypt every secret with DATABASE_ENCRYPTION_KEY (the previous key in DATABASE_ENCRYPTION_KEY_OLD)",
    )

    health = commands.add_parser("health", help="gRPC health of every service (exit 1 unless all serve)")
    health.add_argument("--json", action="store_true", help="one JSON object instead of a table")
    health.add_argument("--address", help="check only this HOST:PORT (for container health checks)")
    health.add_argument("--service", help="the name to show for --address")
    health.add_argument("--timeout", type=float, default=3.0, help="seconds per check (default 3)")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    env = Env()
    try:
        if args.command == "migrate":
            return _registry_command("migrate")
        if args.command == "key":
            if args.action == "generate":
                print(generate_key())
                return 0
            return _registry_command("rotate-keys")
        if args.command == "health":
            return _health(env, args)
        if args.command == "token":
            print(_token(env, args))
            return 0
        actions = {"org": _create_org, "project": _create_project, "member": _add_member}
        print(json.dumps(asyncio.run(actions[args.command](env, args))))
        return 0
    except ConfigError as exc:
        print(f"udbctl: configuration error: {exc}", file=sys.stderr)
        return 2
    except grpc.RpcError as exc:
        error = from_rpc_error(exc)
        print(f"udbctl: {error.code}: {error.message}", file=sys.stderr)
        return 1
    except DatabaseError as exc:
        print(f"udbctl: {exc.code}: {exc.message}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
