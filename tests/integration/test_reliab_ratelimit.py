"""Rate limits shared by gateway replicas through a platform Redis (gateway.ratelimit): two gateways on
one Redis hold a user to one bucket between them; a gateway whose Redis does not answer falls back to
its own buckets (still limiting, never failing)."""

from __future__ import annotations

import uuid

import devstack
import pytest
from harness import System, own_gateway

pytestmark = pytest.mark.integration

#: A burst of 4 reads, refilled at one a second.
LIMITS = {"RATE_LIMIT_READ_PER_S": "1", "RATE_LIMIT_READ_BURST": "4"}


async def test_two_gateways_on_one_redis_share_a_users_bucket(system: System) -> None:
    """Twelve reads alternating between two gateways: about the one burst passes in all (not one
    burst per gateway), and each gateway answers 429 once it is spent."""
    headers = system.headers(f"user-{uuid.uuid4().hex[:8]}")
    env = {**LIMITS, "RATE_LIMIT_REDIS_URL": system.servers.redis_url}
    async with own_gateway(system, **env) as (first, _), own_gateway(system, **env) as (second, _):
        statuses: dict[str, list[int]] = {"first": [], "second": []}
        for index in range(12):
            name, http = ("first", first) if index % 2 == 0 else ("second", second)
            statuses[name].append((await http.get("/projects", headers=headers)).status_code)
    passed = sum(status == 200 for codes in statuses.values() for status in codes)
    # One burst (4) and at most a token or two refilled while the requests ran; per process it is 8.
    assert 4 <= passed <= 6, statuses
    assert 429 in statuses["first"] and 429 in statuses["second"], statuses
    assert set(statuses["first"]) | set(statuses["second"]) <= {200, 429}


async def test_a_gateway_whose_redis_is_down_limits_per_process(system: System) -> None:
    """RATE_LIMIT_REDIS_URL on a port where nothing listens: reads are served and limited by the
    process's own bucket (the burst passes, then 429), never a 5xx."""
    headers = system.headers(f"user-{uuid.uuid4().hex[:8]}")
    dead = f"redis://127.0.0.1:{devstack.free_port()}/0"
    async with own_gateway(system, **LIMITS, RATE_LIMIT_REDIS_URL=dead) as (http, _):
        statuses = [(await http.get("/projects", headers=headers)).status_code for _ in range(8)]
    assert statuses[:4] == [200] * 4, statuses
    assert statuses.count(429) >= 3, statuses
    assert set(statuses) <= {200, 429}
