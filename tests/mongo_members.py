"""A project for the MongoDB explorer and Data API tests: a connection to the wire server and one
member of each role, each a user of their own."""

from __future__ import annotations

import uuid

from harness import System


async def mongo_project(system: System, mongo_url: str) -> tuple[str, dict[str, str]]:
    """A new project whose primary MongoDB connection is ``mongo_url``; returns its ref and the
    user of each role (owner, developer, viewer)."""
    ref, owner = await system.new_project()
    users = {"owner": owner}
    for role in ("developer", "viewer"):
        users[role] = f"{role}-{uuid.uuid4().hex[:8]}"
        await system.add_member(ref, owner, users[role], role)
    await system.add_connection(ref, owner, "mongodb", {"identifier": "main", "uri": mongo_url})
    return ref, users
