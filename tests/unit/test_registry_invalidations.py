"""The registry's invalidation hub without a database: fan-out of notifications to streams and the
barrier a write waits on (fed here by hand, as the LISTEN connection would)."""

from __future__ import annotations

import asyncio
import json

import pytest
from registry.invalidations import CHANNEL, InvalidationHub

from udb.config import Secret
from udb.registry.v1 import registry_pb2

Invalidation = registry_pb2.Invalidation


def _listening_hub(**kwargs: float) -> InvalidationHub:
    hub = InvalidationHub(Secret("postgresql://unused/db"), **kwargs)  # type: ignore[arg-type]
    hub._listening.set()  # as if the LISTEN connection were up
    return hub


def _notify(hub: InvalidationHub, payload: dict[str, object]) -> None:
    hub._on_notify(None, 0, CHANNEL, json.dumps(payload))


async def test_streams_get_ready_then_every_change_but_never_a_barrier() -> None:
    """A stream starts with READY, then carries each change; barrier notifications stay inside the registry."""
    hub = _listening_hub()
    stream = hub.stream()
    assert (await anext(stream)).kind == Invalidation.KIND_READY
    token = hub.expect()
    assert token is not None
    _notify(hub, {"kind": "membership", "project_id": "p1", "project_ref": "ref", "user_id": "u1"})
    _notify(hub, json.loads(hub.barrier_payload(token)))
    await asyncio.wait_for(hub.reached(token), 1)
    _notify(hub, {"kind": "connection", "project_id": "p1", "project_ref": "ref", "connection_id": "c1"})
    first, second = await anext(stream), await anext(stream)
    assert (first.kind, first.user_id, first.project_ref) == (Invalidation.KIND_MEMBERSHIP, "u1", "ref")
    assert (second.kind, second.connection_id) == (Invalidation.KIND_CONNECTION, "c1")
    await stream.aclose()
    assert hub.subscribers == 0


async def test_a_barrier_waits_for_its_notification() -> None:
    """reached() returns only once the barrier's own notification has come back."""
    hub = _listening_hub()
    stream = hub.stream()
    await anext(stream)
    token = hub.expect()
    waiting = asyncio.ensure_future(hub.reached(token))
    await asyncio.sleep(0.05)
    assert not waiting.done()
    _notify(hub, {"kind": "barrier", "token": "someone-elses"})
    await asyncio.sleep(0.01)
    assert not waiting.done()
    _notify(hub, json.loads(hub.barrier_payload(token or "")))
    await asyncio.wait_for(waiting, 1)
    await stream.aclose()


async def test_nothing_to_wait_for_without_listeners_or_streams() -> None:
    """With no LISTEN connection or no open stream, no cache can be stale: no barrier is set up."""
    hub = InvalidationHub(Secret("postgresql://unused/db"))
    assert hub.expect() is None
    listening = _listening_hub()
    assert listening.expect() is None  # listening, but nobody watches
    await listening.reached(None)


async def test_a_barrier_that_never_returns_ends_every_stream() -> None:
    """If the barrier does not come back in time, every stream is ended, so every client stops trusting its
    cache (and reconnects); the writer then answers."""
    hub = _listening_hub(barrier_timeout_s=0.05)
    stream = hub.stream()
    await anext(stream)
    token = hub.expect()
    await asyncio.wait_for(hub.reached(token), 1)
    with pytest.raises(StopAsyncIteration):
        await anext(stream)


async def test_a_rolled_back_change_forgets_its_barrier_and_bad_payloads_are_ignored(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """forget() drops a barrier; a payload that is not ours is logged and skipped, the stream stays open."""
    hub = _listening_hub()
    stream = hub.stream()
    await anext(stream)
    token = hub.expect()
    hub.forget(token)
    assert hub._barriers == {}
    hub._on_notify(None, 0, CHANNEL, "not json")
    _notify(hub, {"kind": "unknown"})
    assert "bad invalidation payload" in caplog.text
    _notify(hub, {"kind": "project", "project_id": "p", "project_ref": "r"})
    assert (await anext(stream)).kind == Invalidation.KIND_PROJECT
    await stream.aclose()
