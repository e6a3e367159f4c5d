"""Who may do what: every route of API.md's Connections and Projects-and-members sections, tried by every
role (viewer, developer, admin, owner, a non-member, a service-role caller), through the real gateway.
A member whose role is too low gets 403; a non-member gets 404, exactly as for a project that does not
exist."""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import grpc
import httpx
import pytest
import pytest_asyncio
from harness import Servers, System

from udb.common.v1 import common_pb2
from udb.mongo.v1 import mongo_pb2
from udb.pg.v1 import pg_pb2
from udb.redis.v1 import redis_pb2
from udb.registry.v1 import registry_pb2

pytestmark = pytest.mark.integration

ROLES = ("viewer", "developer", "admin", "owner", "non-member", "service-role")
MEMBER_ROLES = ("viewer", "developer", "admin", "owner")
ENGINES = ("redis", "mongodb", "pg-meta")
EVERYONE = frozenset(ROLES)
READERS = frozenset({"viewer", "developer", "admin", "owner", "service-role"})
ADMINS = frozenset({"admin", "owner", "service-role"})
OWNERS = frozenset({"owner", "service-role"})


@dataclass
class World:
    """A project with one member of each role, an organization, and one real connection per engine."""

    system: System
    ref: str
    org_slug: str
    users: dict[str, str]
    connections: dict[str, dict[str, Any]] = field(default_factory=dict)

    def headers(self, role: str) -> dict[str, str]:
        if role == "service-role":
            return {"authorization": f"Bearer {self.system.service_token}"}
        return self.system.headers(self.users[role])

    def metadata(self, role: str) -> tuple[tuple[str, str], ...]:
        return self.system.metadata(None if role == "service-role" else self.users[role])

    async def as_owner(self, method: str, path: str, body: dict[str, Any] | None = None) -> dict[str, Any]:
        reply = await self.system.http.request(method, path, json=body, headers=self.headers("owner"))
        assert reply.status_code in (200, 201), reply.text
        result: dict[str, Any] = reply.json()
        return result


@pytest_asyncio.fixture(scope="module")
async def world(system: System, servers: Servers) -> World:
    owner = f"owner-{uuid.uuid4().hex[:8]}"
    org_slug = f"org-{uuid.uuid4().hex[:10]}"
    headers = system.headers(owner)
    assert (
        await system.http.post("/organizations", json={"name": "Acme", "slug": org_slug}, headers=headers)
    ).status_code == 201
    ref = f"acl-{uuid.uuid4().hex[:10]}"
    project = await system.http.post(
        "/projects", json={"organization_slug": org_slug, "name": "ACL", "ref": ref}, headers=headers
    )
    assert project.status_code == 201
    users = {"owner": owner, "non-member": f"stranger-{uuid.uuid4().hex[:8]}"}
    for role in ("viewer", "developer", "admin"):
        users[role] = f"{role}-{uuid.uuid4().hex[:8]}"
        await system.add_member(ref, owner, users[role], role)
    built = World(system, ref, org_slug, users)
    uris = {"redis": servers.redis_url, "mongodb": servers.mongo_url, "pg-meta": servers.pg_url}
    for engine in ENGINES:
        built.connections[engine] = await system.add_connection(
            ref, owner, engine, {"identifier": "base", "uri": uris[engine]}
        )
    return built


Act = Callable[[World, str], Awaitable[httpx.Response]]


@dataclass(frozen=True)
class Case:
    """A route, who may use it, its success status, and how to call it (setting up as the owner first)."""

    name: str
    allowed: frozenset[str]
    success: int
    act: Act
    #: For the caller-scoped lists: whether the role should find the world's project (or organization) in it.
    lists_world: Callable[[dict[str, Any], World], bool] | None = None


def _request(method: str, path: Callable[[World], str], body: Callable[[World], Any] | None = None) -> Act:
    async def act(world: World, role: str) -> httpx.Response:
        return await world.system.http.request(
            method, path(world), json=body(world) if body else None, headers=world.headers(role)
        )

    return act


def _fresh_member_then(method: str, body: dict[str, Any] | None) -> Act:
    async def act(world: World, role: str) -> httpx.Response:
        user = f"target-{uuid.uuid4().hex[:8]}"
        await world.as_owner("POST", f"/projects/{world.ref}/members", {"user_id": user, "role": "viewer"})
        return await world.system.http.request(
            method, f"/projects/{world.ref}/members/{user}", json=body, headers=world.headers(role)
        )

    return act


def _fresh_connection_then(engine: str, method: str, suffix: str = "", body: dict[str, Any] | None = None) -> Act:
    async def act(world: World, role: str) -> httpx.Response:
        record = await world.as_owner(
            "POST",
            f"/{engine}/{world.ref}/connections",
            {"identifier": f"t{uuid.uuid4().hex[:8]}", "host": "h.internal"},
        )
        return await world.system.http.request(
            method, f"/{engine}/{world.ref}/connections/{record['id']}{suffix}", json=body, headers=world.headers(role)
        )

    return act


def _cases() -> list[Case]:
    cases = [
        Case(
            "list organizations",
            EVERYONE,
            200,
            _request("GET", lambda w: "/organizations?limit=1000"),
            lambda reply, w: any(o["slug"] == w.org_slug for o in reply["data"]),
        ),
        Case(
            "create organization",
            EVERYONE,
            201,
            _request(
                "POST", lambda w: "/organizations", lambda w: {"name": "New", "slug": f"o-{uuid.uuid4().hex[:10]}"}
            ),
        ),
        Case(
            "list projects",
            EVERYONE,
            200,
            _request("GET", lambda w: "/projects?limit=1000"),
            lambda reply, w: any(p["ref"] == w.ref for p in reply["data"]),
        ),
        Case(
            "create project in the organization",
            OWNERS,
            201,
            _request(
                "POST",
                lambda w: "/projects",
                lambda w: {"organization_slug": w.org_slug, "name": "More", "ref": f"p-{uuid.uuid4().hex[:10]}"},
            ),
        ),
        Case("list members", READERS, 200, _request("GET", lambda w: f"/projects/{w.ref}/members")),
        Case(
            "add member",
            OWNERS,
            201,
            _request(
                "POST",
                lambda w: f"/projects/{w.ref}/members",
                lambda w: {"user_id": f"new-{uuid.uuid4().hex[:8]}", "role": "developer"},
            ),
        ),
        Case("change member role", OWNERS, 200, _fresh_member_then("PUT", {"role": "developer"})),
        Case("remove member", OWNERS, 200, _fresh_member_then("DELETE", None)),
    ]
    for engine in ENGINES:
        cases += [
            Case(
                f"{engine}: list connections",
                READERS,
                200,
                _request("GET", lambda w, e=engine: f"/{e}/{w.ref}/connections"),
            ),
            Case(
                f"{engine}: create connection",
                ADMINS,
                201,
                _request(
                    "POST",
                    lambda w, e=engine: f"/{e}/{w.ref}/connections",
                    lambda w: {"identifier": f"c{uuid.uuid4().hex[:8]}", "host": "h.internal"},
                ),
            ),
            Case(
                f"{engine}: get connection",
                READERS,
                200,
                _request("GET", lambda w, e=engine: f"/{e}/{w.ref}/connections/{w.connections[e]['id']}"),
            ),
            Case(
                f"{engine}: update connection", ADMINS, 200, _fresh_connection_then(engine, "PUT", body={"port": 1234})
            ),
            Case(f"{engine}: delete connection", ADMINS, 200, _fresh_connection_then(engine, "DELETE")),
            Case(
                f"{engine}: test connection",
                ADMINS,
                200,
                _request("POST", lambda w, e=engine: f"/{e}/{w.ref}/connections/{w.connections[e]['id']}/test"),
            ),
        ]
    return cases


CASES = _cases()


@pytest.mark.parametrize("role", ROLES)
@pytest.mark.parametrize("case", CASES, ids=[case.name for case in CASES])
async def test_each_role_gets_exactly_what_api_md_allows(world: World, case: Case, role: str) -> None:
    """Allowed roles succeed; a member below the route's role gets 403; a non-member gets 404, never 403."""
    reply = await case.act(world, role)
    if role in case.allowed:
        assert reply.status_code == case.success, reply.text
        if case.lists_world is not None:
            assert case.lists_world(reply.json(), world) is (role != "non-member")
    elif role == "non-member":
        assert reply.status_code == 404, reply.text
        assert reply.json()["error"]["code"] == "not_found"
    else:
        assert reply.status_code == 403, reply.text
        assert reply.json()["error"]["code"] == "permission_denied"
        assert "role" in reply.json()["error"]["message"] or "organization" in reply.json()["error"]["message"]


async def test_a_non_member_cannot_tell_a_project_exists(world: World) -> None:
    """For a non-member, an existing project answers exactly like one that does not exist, on every route."""
    missing = f"none-{uuid.uuid4().hex[:8]}"
    headers = world.headers("non-member")
    some_id = world.connections["redis"]["id"]
    for method, path, body in [
        ("GET", "/projects/{ref}/members", None),
        ("POST", "/projects/{ref}/members", {"user_id": "x", "role": "viewer"}),
        ("PUT", "/projects/{ref}/members/" + world.users["viewer"], {"role": "admin"}),
        ("DELETE", "/projects/{ref}/members/" + world.users["viewer"], None),
        ("GET", "/redis/{ref}/connections", None),
        ("POST", "/redis/{ref}/connections", {"identifier": "x", "host": "h.internal"}),
        ("GET", "/redis/{ref}/connections/" + some_id, None),
        ("PUT", "/redis/{ref}/connections/" + some_id, {"port": 1}),
        ("DELETE", "/redis/{ref}/connections/" + some_id, None),
        ("POST", "/redis/{ref}/connections/" + some_id + "/test", None),
    ]:
        real = await world.system.http.request(method, path.format(ref=world.ref), json=body, headers=headers)
        fake = await world.system.http.request(method, path.format(ref=missing), json=body, headers=headers)
        assert real.status_code == fake.status_code == 404, (method, path)
        assert real.json() == fake.json()
    # The records are untouched.
    members = await world.as_owner("GET", f"/projects/{world.ref}/members")
    assert {m["user_id"]: m["role"] for m in members["data"]}[world.users["viewer"]] == "viewer"


ENGINE_TESTS: dict[str, Callable[[World, str, common_pb2.ConnectionTarget], Awaitable[Any]]] = {
    "redis": lambda w, role, target: w.system.redis.TestConnection(
        redis_pb2.TestConnectionRequest(target=target), metadata=w.metadata(role)
    ),
    "mongodb": lambda w, role, target: w.system.mongo.TestConnection(
        mongo_pb2.TestConnectionRequest(target=target), metadata=w.metadata(role)
    ),
    "pg-meta": lambda w, role, target: w.system.pg.TestConnection(
        pg_pb2.TestConnectionRequest(target=target), metadata=w.metadata(role)
    ),
}


@pytest.mark.parametrize("role", ROLES)
@pytest.mark.parametrize("engine", ENGINES)
async def test_engine_services_apply_the_same_rules(world: World, engine: str, role: str) -> None:
    """An engine service's TestConnection (admin) by each role: admins, owners and services pass; lower members
    get PERMISSION_DENIED; a non-member NOT_FOUND."""
    target = common_pb2.ConnectionTarget(project_ref=world.ref, connection_id=world.connections[engine]["id"])
    call = ENGINE_TESTS[engine]
    if role in ADMINS:
        assert (await call(world, role, target)).ok is True
        return
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await call(world, role, target)
    expected = grpc.StatusCode.NOT_FOUND if role == "non-member" else grpc.StatusCode.PERMISSION_DENIED
    assert caught.value.code() == expected


@pytest.mark.parametrize("role", MEMBER_ROLES)
async def test_check_access_reports_the_role_and_refuses_others(world: World, role: str) -> None:
    """CheckAccess answers a member's own role, refuses a higher requirement with PERMISSION_DENIED, and refuses
    a user asking about someone else."""
    user = world.users[role]
    levels = {"viewer": 1, "developer": 2, "admin": 3, "owner": 4}
    reply = await world.system.registry.CheckAccess(
        registry_pb2.CheckAccessRequest(user_id=user, project_ref=world.ref, required_role=common_pb2.ROLE_VIEWER),
        metadata=world.metadata(role),
    )
    assert reply.role == levels[role]
    if role != "owner":
        with pytest.raises(grpc.aio.AioRpcError) as caught:
            await world.system.registry.CheckAccess(
                registry_pb2.CheckAccessRequest(user_id=user, project_ref=world.ref, required_role=levels[role] + 1),  # type: ignore[arg-type]
                metadata=world.metadata(role),
            )
        assert caught.value.code() == grpc.StatusCode.PERMISSION_DENIED
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await world.system.registry.CheckAccess(
            registry_pb2.CheckAccessRequest(user_id=world.users["owner"], project_ref=world.ref),
            metadata=world.metadata("non-member"),
        )
    assert caught.value.code() == grpc.StatusCode.PERMISSION_DENIED
