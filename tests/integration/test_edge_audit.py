"""The audit log end to end: every write and admin action through the real gateway lands in
platform.audit_log (via the registry), without values or secrets, and owners and admins read it
back paged and filtered."""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from harness import Servers, System, audit_rows

pytestmark = pytest.mark.integration


async def test_each_kind_of_write_is_audited_without_secrets(system: System, servers: Servers) -> None:
    """Project, connection and member writes (and a refused one) each leave a row with who, what,
    target, outcome and request id, and no password appears anywhere in the log."""
    ref, owner = await system.new_project()
    secret = f"pw-{uuid.uuid4().hex}"
    developer = f"dev-{uuid.uuid4().hex[:6]}"
    headers = system.headers(owner)
    port = servers.redis_url.rsplit(":", 1)[1].split("/")[0]

    created = await system.http.post(
        f"/redis/{ref}/connections",
        json={"identifier": "cache", "uri": f"redis://:{secret}@127.0.0.1:{port}/0"},
        headers={**headers, "x-request-id": "create-conn-1"},
    )
    assert created.status_code == 201, created.text
    connection_id = created.json()["id"]
    updated = await system.http.put(
        f"/redis/{ref}/connections/{connection_id}", json={"password": secret + "-new"}, headers=headers
    )
    assert updated.status_code == 200
    tested = await system.http.post(f"/redis/{ref}/connections/{connection_id}/test", headers=headers)
    assert tested.status_code == 200
    await system.add_member(ref, owner, developer, "developer")
    promoted = await system.http.put(f"/projects/{ref}/members/{developer}", json={"role": "viewer"}, headers=headers)
    assert promoted.status_code == 200
    refused = await system.http.delete(f"/redis/{ref}/connections/{connection_id}", headers=system.headers(developer))
    assert refused.status_code == 403
    removed = await system.http.delete(f"/projects/{ref}/members/{developer}", headers=headers)
    assert removed.status_code == 200
    deleted = await system.http.delete(f"/redis/{ref}/connections/{connection_id}", headers=headers)
    assert deleted.status_code == 200

    expected = {
        "project.create",
        "connection.create",
        "connection.update",
        "connection.test",
        "member.add",
        "member.update",
        "member.remove",
        "connection.delete",
    }
    rows = await audit_rows(system, ref, owner, until=lambda rows: expected <= {r["operation"] for r in rows})
    assert secret not in str(rows)
    by_operation: dict[str, list[dict[str, Any]]] = {}
    for row in rows:
        by_operation.setdefault(row["operation"], []).append(row)
        assert row["project_ref"] == ref
        assert row["request_id"]
        assert row["time"]
    (project_row,) = by_operation["project.create"]
    assert (project_row["user_id"], project_row["engine"], project_row["target"]) == (owner, "platform", "test project")
    (create_row,) = by_operation["connection.create"]
    assert create_row["request_id"] == "create-conn-1"
    assert (create_row["engine"], create_row["target"], create_row["outcome"]) == ("redis", "cache", "ok")
    (member_row,) = by_operation["member.add"]
    assert (member_row["target"], member_row["engine"]) == (f"{developer}:developer", "platform")
    for operation in ("connection.update", "connection.test"):
        (row,) = by_operation[operation]
        assert row["connection_id"] == connection_id
    deletes = sorted((r["user_id"], r["outcome"]) for r in by_operation["connection.delete"])
    assert deletes == sorted([(developer, "permission_denied"), (owner, "ok")])
    # Newest first, by the log's own ids.
    ids = [row["id"] for row in rows]
    assert ids == sorted(ids, reverse=True)


async def test_audit_log_is_for_owners_and_admins_paged_and_filtered(system: System) -> None:
    """Admins and owners read the log (developers 403, strangers 404), a page at a time, filtered
    by operation, user and engine; reading it is itself audited."""
    ref, owner = await system.new_project()
    admin, developer = f"adm-{uuid.uuid4().hex[:6]}", f"dev-{uuid.uuid4().hex[:6]}"
    await system.add_member(ref, owner, admin, "admin")
    await system.add_member(ref, owner, developer, "developer")
    for number in range(3):
        record = await system.add_connection(
            ref, admin, "mongodb", {"identifier": f"m{number}", "host": "127.0.0.1", "port": 27017}
        )
        assert record["id"]
    await audit_rows(
        system, ref, owner, until=lambda rows: sum(r["operation"] == "connection.create" for r in rows) == 3
    )

    assert (await system.http.get(f"/projects/{ref}/audit", headers=system.headers(developer))).status_code == 403
    assert (await system.http.get(f"/projects/{ref}/audit", headers=system.headers("stranger"))).status_code == 404

    first = await system.http.get(
        f"/projects/{ref}/audit?limit=2&operation=connection.create&engine=mongodb", headers=system.headers(admin)
    )
    assert first.status_code == 200
    page_one = first.json()
    assert [row["target"] for row in page_one["data"]] == ["m2", "m1"]
    assert page_one["next_cursor"]
    second = await system.http.get(
        f"/projects/{ref}/audit?limit=2&operation=connection.create&cursor={page_one['next_cursor']}",
        headers=system.headers(admin),
    )
    assert [row["target"] for row in second.json()["data"]] == ["m0"]
    assert second.json()["next_cursor"] is None

    by_user = await audit_rows(system, ref, owner, query=f"&user_id={owner}", until=lambda rows: bool(rows))
    assert {row["user_id"] for row in by_user} == {owner}
    assert {row["operation"] for row in by_user} >= {"project.create", "member.add"}
    assert (await system.http.get(f"/projects/{ref}/audit?engine=redis", headers=system.headers(owner))).json()[
        "data"
    ] == []
    reads = await audit_rows(
        system,
        ref,
        owner,
        query="&operation=audit.read",
        until=lambda rows: {admin, owner} <= {r["user_id"] for r in rows},
    )
    assert {row["outcome"] for row in reads if row["user_id"] == admin} == {"ok"}

    bad = await system.http.get(f"/projects/{ref}/audit?since=yesterday", headers=system.headers(owner))
    assert bad.status_code == 400
    assert bad.json()["error"]["details"]["parameter"] == "since"
    future = await system.http.get(f"/projects/{ref}/audit?since=2999-01-01T00:00:00Z", headers=system.headers(owner))
    assert future.json()["data"] == []
