"""Organizations, projects and members through the gateway: shapes, the owner rules, bad input that
writes nothing, service-role bootstrap, and paging of every list."""

from __future__ import annotations

import re
import uuid
from typing import Any

import asyncpg
import pytest
from harness import System

pytestmark = pytest.mark.integration


def _slug() -> str:
    return f"org-{uuid.uuid4().hex[:10]}"


async def _count(system: System, query: str, *args: object) -> int:
    conn = await asyncpg.connect(system.platform_url)
    try:
        value: int = await conn.fetchval(query, *args)
        return value
    finally:
        await conn.close()


async def test_organization_create_and_list(system: System) -> None:
    """POST /organizations answers 201 {id, name, slug, created_at}; the creator lists it; others do not."""
    user, other = f"u-{uuid.uuid4().hex[:8]}", f"u-{uuid.uuid4().hex[:8]}"
    slug = _slug()
    reply = await system.http.post(
        "/organizations", json={"name": " Acme ", "slug": slug}, headers=system.headers(user)
    )
    assert reply.status_code == 201
    created = reply.json()
    assert set(created) == {"id", "name", "slug", "created_at"}
    assert (created["name"], created["slug"]) == ("Acme", slug)
    mine = await system.http.get("/organizations", headers=system.headers(user))
    assert mine.json() == {"data": [created], "next_cursor": None}
    theirs = await system.http.get("/organizations", headers=system.headers(other))
    assert theirs.json() == {"data": [], "next_cursor": None}


@pytest.mark.parametrize(
    ("body", "status", "code"),
    [
        ({"name": "A", "slug": "taken"}, 409, "already_exists"),
        ({"name": "A", "slug": "No_Caps"}, 400, "invalid_argument"),
        ({"name": "A", "slug": "ab"}, 400, "invalid_argument"),
        ({"name": "A", "slug": "-edge-"}, 400, "invalid_argument"),
        ({"name": "", "slug": "fine-slug"}, 400, "invalid_argument"),
        ({"name": "x" * 201, "slug": "fine-slug"}, 400, "invalid_argument"),
        ({"slug": "fine-slug"}, 400, "invalid_argument"),
        ({"name": "A", "slug": "fine-slug", "extra": 1}, 400, "invalid_argument"),
        ({"name": 5, "slug": "fine-slug"}, 400, "invalid_argument"),
    ],
)
async def test_bad_organizations_are_refused_and_write_nothing(
    system: System, body: dict[str, Any], status: int, code: str
) -> None:
    """A taken or malformed slug, a bad name, unknown fields: a clear 4xx, and no organization or membership."""
    user = f"u-{uuid.uuid4().hex[:8]}"
    taken = _slug()
    assert (
        await system.http.post("/organizations", json={"name": "T", "slug": taken}, headers=system.headers(user))
    ).status_code == 201
    body = {k: (taken if v == "taken" else v) for k, v in body.items()}
    orgs = await _count(system, "SELECT count(*) FROM platform.organizations")
    memberships = await _count(system, "SELECT count(*) FROM platform.organization_members")
    reply = await system.http.post("/organizations", json=body, headers=system.headers(user))
    assert reply.status_code == status, reply.text
    assert reply.json()["error"]["code"] == code
    assert await _count(system, "SELECT count(*) FROM platform.organizations") == orgs
    assert await _count(system, "SELECT count(*) FROM platform.organization_members") == memberships


async def test_project_create_makes_the_creator_owner_and_its_credentials(system: System) -> None:
    """POST /projects answers 201 {id, ref, name, organization_slug, created_at}; a ref is made when absent; the
    creator is its only member, as owner; its credentials row exists."""
    user = f"u-{uuid.uuid4().hex[:8]}"
    headers = system.headers(user)
    slug = _slug()
    await system.http.post("/organizations", json={"name": "Acme", "slug": slug}, headers=headers)
    reply = await system.http.post("/projects", json={"organization_slug": slug, "name": "Shop"}, headers=headers)
    assert reply.status_code == 201, reply.text
    project = reply.json()
    assert {"id", "ref", "name", "organization_slug", "created_at"} <= set(project)
    assert re.fullmatch(r"[a-z]{20}", project["ref"])
    assert (project["name"], project["organization_slug"], project["role"]) == ("Shop", slug, "owner")
    members = await system.http.get(f"/projects/{project['ref']}/members", headers=headers)
    assert [(m["user_id"], m["role"]) for m in members.json()["data"]] == [(user, "owner")]
    listed = await system.http.get("/projects", headers=headers)
    assert [p["ref"] for p in listed.json()["data"]] == [project["ref"]]
    only_this_org = await system.http.get("/projects", params={"organization_slug": slug}, headers=headers)
    assert [p["ref"] for p in only_this_org.json()["data"]] == [project["ref"]]
    assert (
        await _count(
            system, "SELECT count(*) FROM platform.credentials WHERE project_id = $1", uuid.UUID(project["id"])
        )
        == 1
    )


@pytest.mark.parametrize(
    ("body", "status", "code"),
    [
        ({"organization_slug": "{org}", "name": "P", "ref": "{taken}"}, 409, "already_exists"),
        ({"organization_slug": "{org}", "name": "P", "ref": "Bad_Ref"}, 400, "invalid_argument"),
        ({"organization_slug": "{org}", "name": "P", "ref": "ab"}, 400, "invalid_argument"),
        ({"organization_slug": "{org}", "name": ""}, 400, "invalid_argument"),
        ({"organization_slug": "no-such-org-here", "name": "P"}, 404, "not_found"),
        ({"name": "P"}, 400, "invalid_argument"),
    ],
)
async def test_bad_projects_are_refused_and_write_nothing(
    system: System, body: dict[str, Any], status: int, code: str
) -> None:
    """A taken or malformed ref, an empty name, an unknown organization: a clear 4xx, and no project, member or
    credential row left behind (one transaction)."""
    ref, owner = await system.new_project()
    org = (await system.http.get("/projects", headers=system.headers(owner))).json()["data"][0]["organization_slug"]
    body = {k: v.format(org=org, taken=ref) for k, v in body.items()}
    counts = [
        await _count(system, f"SELECT count(*) FROM platform.{table}")
        for table in ("projects", "members", "credentials")
    ]
    reply = await system.http.post("/projects", json=body, headers=system.headers(owner))
    assert reply.status_code == status, reply.text
    assert reply.json()["error"]["code"] == code
    assert [
        await _count(system, f"SELECT count(*) FROM platform.{table}")
        for table in ("projects", "members", "credentials")
    ] == counts


async def test_members_add_change_remove(system: System) -> None:
    """Owners add members (201), change roles and remove them; the list shows each change at once."""
    ref, owner = await system.new_project()
    headers = system.headers(owner)
    added = await system.http.post(
        f"/projects/{ref}/members", json={"user_id": "alice", "role": "developer"}, headers=headers
    )
    assert added.status_code == 201
    assert added.json()["user_id"] == "alice"
    assert added.json()["role"] == "developer"
    changed = await system.http.put(f"/projects/{ref}/members/alice", json={"role": "admin"}, headers=headers)
    assert changed.status_code == 200
    assert changed.json()["role"] == "admin"
    listed = await system.http.get(f"/projects/{ref}/members", headers=headers)
    assert {m["user_id"]: m["role"] for m in listed.json()["data"]} == {owner: "owner", "alice": "admin"}
    removed = await system.http.delete(f"/projects/{ref}/members/alice", headers=headers)
    assert removed.status_code == 200
    assert removed.json() == {"deleted": True}
    listed = await system.http.get(f"/projects/{ref}/members", headers=headers)
    assert [m["user_id"] for m in listed.json()["data"]] == [owner]
    # alice, no longer a member, no longer sees the project.
    assert (await system.http.get(f"/redis/{ref}/connections", headers=system.headers("alice"))).status_code == 404


@pytest.mark.parametrize(
    ("method", "path", "body", "status", "code"),
    [
        ("POST", "members", {"user_id": "{member}", "role": "viewer"}, 409, "already_exists"),
        ("POST", "members", {"user_id": "bob", "role": "superuser"}, 400, "invalid_argument"),
        ("POST", "members", {"user_id": "", "role": "viewer"}, 400, "invalid_argument"),
        ("POST", "members", {"role": "viewer"}, 400, "invalid_argument"),
        ("POST", "members", {"user_id": "x" * 257, "role": "viewer"}, 400, "invalid_argument"),
        ("PUT", "members/nobody", {"role": "viewer"}, 404, "not_found"),
        ("PUT", "members/{member}", {"role": "king"}, 400, "invalid_argument"),
        ("PUT", "members/{member}", {}, 400, "invalid_argument"),
        ("DELETE", "members/nobody", None, 404, "not_found"),
        ("PUT", "members/{owner}", {"role": "admin"}, 400, "invalid_argument"),  # the last owner
        ("DELETE", "members/{owner}", None, 400, "invalid_argument"),  # the last owner
    ],
)
async def test_bad_member_changes_are_refused_and_write_nothing(
    system: System, method: str, path: str, body: dict[str, Any] | None, status: int, code: str
) -> None:
    """Duplicates, unknown roles and users, and demoting or removing the last owner: a clear 4xx, no change."""
    ref, owner = await system.new_project()
    await system.add_member(ref, owner, "member-1", "developer")
    headers = system.headers(owner)
    before = (await system.http.get(f"/projects/{ref}/members", headers=headers)).json()
    fill = {"member": "member-1", "owner": owner}
    if body is not None:
        body = {k: v.format(**fill) if isinstance(v, str) else v for k, v in body.items()}
    reply = await system.http.request(method, f"/projects/{ref}/{path.format(**fill)}", json=body, headers=headers)
    assert reply.status_code == status, reply.text
    assert reply.json()["error"]["code"] == code
    assert (await system.http.get(f"/projects/{ref}/members", headers=headers)).json() == before


async def test_a_second_owner_lets_the_first_step_down(system: System) -> None:
    """With two owners, one may demote or remove the other (a project keeps at least one)."""
    ref, owner = await system.new_project()
    await system.add_member(ref, owner, "co-owner", "owner")
    headers = system.headers("co-owner")
    assert (
        await system.http.put(f"/projects/{ref}/members/{owner}", json={"role": "admin"}, headers=headers)
    ).status_code == 200
    assert (await system.http.delete(f"/projects/{ref}/members/{owner}", headers=headers)).status_code == 200
    refused = await system.http.delete(f"/projects/{ref}/members/co-owner", headers=headers)
    assert refused.status_code == 400
    assert "owner" in refused.json()["error"]["message"]


async def test_a_service_role_caller_bootstraps_a_tenant(system: System) -> None:
    """A service-role caller creates an organization and a project (becoming no member) and adds its owner, who
    then manages it."""
    service = {"authorization": f"Bearer {system.service_token}"}
    slug = _slug()
    assert (
        await system.http.post("/organizations", json={"name": "Tenant", "slug": slug}, headers=service)
    ).status_code == 201
    created = await system.http.post("/projects", json={"organization_slug": slug, "name": "T"}, headers=service)
    assert created.status_code == 201
    ref = created.json()["ref"]
    assert "role" not in created.json()
    assert (await system.http.get(f"/projects/{ref}/members", headers=service)).json()["data"] == []
    added = await system.http.post(
        f"/projects/{ref}/members", json={"user_id": "tenant-admin", "role": "owner"}, headers=service
    )
    assert added.status_code == 201
    owner = system.headers("tenant-admin")
    listed = await system.http.get("/projects", headers=owner)
    assert [(p["ref"], p["role"]) for p in listed.json()["data"]] == [(ref, "owner")]
    assert (
        await system.http.post(f"/projects/{ref}/members", json={"user_id": "dev", "role": "developer"}, headers=owner)
    ).status_code == 201
    assert any(
        o["slug"] == slug for o in (await system.http.get("/organizations?limit=1000", headers=service)).json()["data"]
    )


async def _walk(system: System, path: str, headers: dict[str, str], key: str, limit: int = 2) -> tuple[list[str], int]:
    seen: list[str] = []
    cursor: str | None = None
    pages = 0
    while True:
        params: dict[str, str] = {"limit": str(limit)}
        if cursor:
            params["cursor"] = cursor
        reply = await system.http.get(path, params=params, headers=headers)
        assert reply.status_code == 200, reply.text
        page = reply.json()
        assert len(page["data"]) <= limit
        seen.extend(item[key] for item in page["data"])
        pages += 1
        cursor = page["next_cursor"]
        if cursor is None:
            return seen, pages


async def test_every_list_pages_with_limit_and_cursor(system: System) -> None:
    """Organizations, projects and members come in pages of `limit`, each item once, in order, the last page
    without a cursor; bad limits and cursors are 400."""
    user = f"pager-{uuid.uuid4().hex[:8]}"
    headers = system.headers(user)
    slugs = sorted(f"pg{i}-{uuid.uuid4().hex[:8]}" for i in range(5))
    for slug in slugs:
        assert (
            await system.http.post("/organizations", json={"name": slug, "slug": slug}, headers=headers)
        ).status_code == 201
    refs = sorted(f"pr{i}-{uuid.uuid4().hex[:8]}" for i in range(5))
    for ref in refs:
        reply = await system.http.post(
            "/projects", json={"organization_slug": slugs[0], "name": ref, "ref": ref}, headers=headers
        )
        assert reply.status_code == 201
    members = sorted([user, *(f"m{i}" for i in range(4))])
    for name in members:
        if name != user:
            await system.add_member(refs[0], user, name, "viewer")

    assert await _walk(system, "/organizations", headers, "slug") == (slugs, 3)
    assert await _walk(system, "/projects", headers, "ref") == (refs, 3)
    assert await _walk(system, f"/projects/{refs[0]}/members", headers, "user_id") == (members, 3)
    assert await _walk(system, "/projects", headers, "ref", limit=5) == (refs, 1)
    for path in ("/organizations", "/projects", f"/projects/{refs[0]}/members"):
        for params in ({"limit": "0"}, {"limit": "1001"}, {"limit": "ten"}, {"cursor": "!!"}):
            bad = await system.http.get(path, params=params, headers=headers)
            assert bad.status_code == 400, (path, params)
            assert bad.json()["error"]["code"] == "invalid_argument"
