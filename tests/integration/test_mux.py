"""The multiplexed stream (udb.mux): many unary calls on one gRPC stream per server, each through the same guard
as its unary twin. Against the real redis-svc and Redis of the session, and against a probe servicer served by
the same ``build_server`` for what needs a slow or large handler (cancellation, deadlines, drain, limits)."""

from __future__ import annotations

import asyncio
import contextlib
import subprocess
import time
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import grpc
import pytest
import pytest_asyncio
from grpc_health.v1 import health_pb2, health_pb2_grpc
from harness import Servers, System, grpcurl
from redis_svc.settings import Settings as RedisSettings

from udb import metrics
from udb.clients import multiplexed_channel
from udb.common.v1 import common_pb2
from udb.config import Env
from udb.errors import DeadlineExceeded, from_rpc_error
from udb.interceptors import deadline_var
from udb.mux.client import MuxChannel
from udb.mux.server import MuxLimits
from udb.mux.v1 import mux_pb2, mux_pb2_grpc
from udb.redis.v1 import redis_pb2, redis_pb2_grpc
from udb.server import Registration, Server, build_server

pytestmark = pytest.mark.integration

GET_KEY = "/udb.redis.v1.RedisService/GetKey"
STATUS = {code.value[0]: code for code in grpc.StatusCode}
REDIS_SERVICE = "udb.redis.v1.RedisService"


# ---- a real project on the real redis-svc ----------------------------------------------------


@dataclass
class Project:
    ref: str
    owner: str
    developer: str
    viewer: str


@pytest_asyncio.fixture(scope="module")
async def project(system: System, servers: Servers) -> Project:
    ref, owner = await system.new_project()
    developer, viewer = f"dev-{uuid.uuid4().hex[:8]}", f"view-{uuid.uuid4().hex[:8]}"
    await system.add_member(ref, owner, developer, "developer")
    await system.add_member(ref, owner, viewer, "viewer")
    await system.add_connection(ref, owner, "redis", {"identifier": "main", "uri": servers.redis_url})
    return Project(ref, owner, developer, viewer)


@contextlib.asynccontextmanager
async def mux_to(port: int, **options: Any) -> AsyncIterator[MuxChannel]:
    mux = MuxChannel(grpc.aio.insecure_channel(f"127.0.0.1:{port}"), **options)
    try:
        yield mux
    finally:
        await mux.close(1)


def create(ref: str, key: bytes, value: bytes = b"v") -> redis_pb2.CreateKeyRequest:
    request = redis_pb2.CreateKeyRequest(target=common_pb2.ConnectionTarget(project_ref=ref), key=key)
    request.value.string_value = value
    return request


def get(ref: str, key: bytes) -> redis_pb2.GetKeyRequest:
    return redis_pb2.GetKeyRequest(target=common_pb2.ConnectionTarget(project_ref=ref), key=key)


# ---- a probe servicer, for slow and large handlers ---------------------------------------------


class Probe(redis_pb2_grpc.RedisServiceServicer):
    """GetKey that sleeps (key ``slow:<seconds>``), answers ``max_bytes`` bytes (key ``big``) or echoes the key;
    it records how many ran at once and which were cancelled."""

    def __init__(self) -> None:
        self.started = asyncio.Event()
        self.cancelled: list[str] = []
        self.running = 0
        self.max_running = 0

    async def GetKey(self, request: redis_pb2.GetKeyRequest, context: grpc.aio.ServicerContext[Any, Any]) -> Any:
        key = request.key.decode()
        self.running += 1
        self.max_running = max(self.max_running, self.running)
        try:
            reply = redis_pb2.Key(key=request.key, type="string")
            if key.startswith("slow:"):
                self.started.set()
                await asyncio.sleep(float(key.partition(":")[2]))
            elif key == "big":
                reply.value.string_value = b"x" * request.max_bytes
            return reply
        except asyncio.CancelledError:
            self.cancelled.append(key)
            raise
        finally:
            self.running -= 1


@dataclass
class ProbeServer:
    server: Server
    port: int
    servicer: Probe


@contextlib.asynccontextmanager
async def probe_server(system: System, limits: MuxLimits | None = None) -> AsyncIterator[ProbeServer]:
    settings = RedisSettings.from_env(Env(environ=system.env, env_file=None))
    servicer = Probe()
    registration = Registration(redis_pb2_grpc.add_RedisServiceServicer_to_server, servicer, REDIS_SERVICE)
    server, port = build_server(settings, [registration], address="127.0.0.1:0", mux_limits=limits)
    await server.start()
    try:
        yield ProbeServer(server, port, servicer)
    finally:
        await server.stop(1)


def probe_get(key: str, max_bytes: int = 0) -> redis_pb2.GetKeyRequest:
    return redis_pb2.GetKeyRequest(key=key.encode(), max_bytes=max_bytes)


async def read_replies(call: Any, count: int) -> dict[int, mux_pb2.Reply]:
    """Reads frames until ``count`` replies have come."""
    replies: dict[int, mux_pb2.Reply] = {}
    while len(replies) < count:
        frame = await asyncio.wait_for(call.read(), 10)
        for reply in frame.replies:
            replies[reply.id] = reply
    return replies


# ---- the guard, per call -------------------------------------------------------------------------


async def test_a_viewers_write_is_refused_in_the_frame_where_a_developers_succeeds(
    system: System, project: Project
) -> None:
    """Two writes in one frame: the viewer's is PERMISSION_DENIED (the API's error, as over unary), the
    developer's creates its key."""
    key = f"mux:{uuid.uuid4().hex[:8]}".encode()
    async with mux_to(system.ports["redis-svc"]) as mux:
        stub = redis_pb2_grpc.RedisServiceStub(mux)
        viewer_write, developer_write = await asyncio.gather(
            stub.CreateKey(create(project.ref, key + b":v"), metadata=system.metadata(project.viewer), timeout=10),
            stub.CreateKey(create(project.ref, key + b":d"), metadata=system.metadata(project.developer), timeout=10),
            return_exceptions=True,
        )
        assert mux.frames_sent == 1
    assert isinstance(viewer_write, grpc.aio.AioRpcError)
    assert viewer_write.code() == grpc.StatusCode.PERMISSION_DENIED
    assert isinstance(developer_write, redis_pb2.Key)
    assert (developer_write.type, developer_write.size) == ("string", 1)
    with pytest.raises(grpc.aio.AioRpcError) as unary:
        await system.redis.CreateKey(create(project.ref, key + b":u"), metadata=system.metadata(project.viewer))
    refused, refused_unary = from_rpc_error(viewer_write), from_rpc_error(unary.value)
    assert (type(refused), refused.message, refused.details) == (
        type(refused_unary),
        refused_unary.message,
        refused_unary.details,
    )
    found = await system.redis.GetKey(get(project.ref, key + b":d"), metadata=system.metadata(project.viewer))
    assert found.value.string_value == b"v"
    with pytest.raises(grpc.aio.AioRpcError) as missing:
        await system.redis.GetKey(get(project.ref, key + b":v"), metadata=system.metadata(project.viewer))
    assert missing.value.code() == grpc.StatusCode.NOT_FOUND


async def test_unary_and_multiplexed_calls_answer_alike(system: System, project: Project) -> None:
    """The same reads over a unary stub and over the stream give equal replies, and equal errors (code, message,
    ErrorInfo details) for a missing key and for a missing token."""
    key = f"mux:{uuid.uuid4().hex[:8]}".encode()
    developer = system.metadata(project.developer)
    await system.redis.CreateKey(create(project.ref, key, b"same"), metadata=developer)
    async with mux_to(system.ports["redis-svc"]) as mux:
        stub = redis_pb2_grpc.RedisServiceStub(mux)
        assert await stub.GetKey(get(project.ref, key), metadata=developer) == await system.redis.GetKey(
            get(project.ref, key), metadata=developer
        )
        for request, metadata in ((get(project.ref, key + b":none"), developer), (get(project.ref, key), ())):
            with pytest.raises(grpc.aio.AioRpcError) as over_mux:
                await stub.GetKey(request, metadata=metadata)
            with pytest.raises(grpc.aio.AioRpcError) as over_unary:
                await system.redis.GetKey(request, metadata=metadata)
            assert over_mux.value.code() == over_unary.value.code()
            assert over_mux.value.details() == over_unary.value.details()
            mux_error, unary_error = from_rpc_error(over_mux.value), from_rpc_error(over_unary.value)
            assert (type(mux_error), mux_error.details) == (type(unary_error), unary_error.details)


async def test_each_call_in_a_stream_is_counted_and_logged_with_its_request_id_and_trace(
    system: System, project: Project, caplog: pytest.LogCaptureFixture
) -> None:
    """Every call of a frame gets its own access log line (method, code, user, request id, trace id) and its own
    count in the RPC metrics, as a unary call does."""
    caplog.set_level("INFO", logger="udb.access")
    counter = metrics.GRPC_REQUESTS.labels("redis-svc", GET_KEY, "NOT_FOUND")
    before = counter._value.get()
    trace_id = uuid.uuid4().hex
    ids = [f"req-{uuid.uuid4().hex[:8]}" for _ in range(3)]
    async with mux_to(system.ports["redis-svc"]) as mux:
        stub = redis_pb2_grpc.RedisServiceStub(mux)

        async def missing(request_id: str) -> None:
            metadata = (
                *system.metadata(project.viewer),
                ("x-request-id", request_id),
                ("traceparent", f"00-{trace_id}-{uuid.uuid4().hex[:16]}-01"),
            )
            with pytest.raises(grpc.aio.AioRpcError):
                await stub.GetKey(get(project.ref, b"mux:none:" + request_id.encode()), metadata=metadata)

        await asyncio.gather(*(missing(request_id) for request_id in ids))
        assert mux.frames_sent == 1
    lines = {r.request_id: r for r in caplog.records if getattr(r, "method", "") == GET_KEY}  # type: ignore[attr-defined]
    for request_id in ids:
        line = lines[request_id]
        assert (line.code, line.user, line.trace_id) == ("NOT_FOUND", project.viewer, trace_id)  # type: ignore[attr-defined]
    assert counter._value.get() - before == 3


# ---- calls that fail alone ---------------------------------------------------------------------


async def test_an_unknown_method_an_undecodable_request_and_a_past_deadline_fail_alone(system: System) -> None:
    """In one frame: a good call answers, an unknown method is UNIMPLEMENTED, an unimplemented RPC is
    UNIMPLEMENTED, bytes that are no request are INVALID_ARGUMENT, a call whose deadline passes is
    DEADLINE_EXCEEDED; the stream goes on serving."""
    async with probe_server(system) as probe, grpc.aio.insecure_channel(f"127.0.0.1:{probe.port}") as channel:
        call = mux_pb2_grpc.MuxServiceStub(channel).Calls()
        token = system.metadata()[0][1]
        frame = mux_pb2.CallFrame()
        good = probe_get("fine").SerializeToString()
        frame.calls.add(id=1, method=GET_KEY, request=good, authorization=token)
        frame.calls.add(id=2, method="/udb.redis.v1.RedisService/NoSuchMethod", request=good, authorization=token)
        frame.calls.add(id=3, method="/udb.redis.v1.RedisService/ScanKeys", request=b"", authorization=token)
        frame.calls.add(id=4, method=GET_KEY, request=b"\xff\xff\xff", authorization=token)
        frame.calls.add(
            id=5,
            method=GET_KEY,
            request=probe_get("slow:5").SerializeToString(),
            timeout_us=50_000,
            authorization=token,
        )
        await call.write(frame)
        replies = await read_replies(call, 5)
        assert {call_id: STATUS[reply.code] for call_id, reply in replies.items()} == {
            1: grpc.StatusCode.OK,
            2: grpc.StatusCode.UNIMPLEMENTED,
            3: grpc.StatusCode.UNIMPLEMENTED,
            4: grpc.StatusCode.INVALID_ARGUMENT,
            5: grpc.StatusCode.DEADLINE_EXCEEDED,
        }
        assert redis_pb2.Key.FromString(replies[1].response).key == b"fine"
        assert "GetKeyRequest" in replies[4].message
        assert probe.servicer.cancelled == ["slow:5"]
        frame = mux_pb2.CallFrame()
        frame.calls.add(id=6, method=GET_KEY, request=good, authorization=token)
        await call.write(frame)
        assert (await read_replies(call, 1))[6].code == 0
        call.cancel()


async def test_a_request_over_the_message_limit_fails_alone(system: System) -> None:
    """A request larger than the peers' message limit is RESOURCE_EXHAUSTED before it is sent; the next call on
    the stream answers."""
    async with probe_server(system) as probe, mux_to(probe.port, max_message_bytes=64 * 1024 + 16 * 1024) as mux:
        stub = redis_pb2_grpc.RedisServiceStub(mux)
        with pytest.raises(grpc.aio.AioRpcError) as too_large:
            await stub.GetKey(probe_get("k" * 70_000), metadata=system.metadata())
        assert too_large.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
        assert (await stub.GetKey(probe_get("small"), metadata=system.metadata())).key == b"small"


# ---- cancellation and deadlines ------------------------------------------------------------------


async def test_cancelling_a_caller_cancels_its_handler_on_the_server(
    system: System, caplog: pytest.LogCaptureFixture
) -> None:
    """A caller's task cancelled while its call runs sends a cancel: the server cancels the handler and logs the
    call CANCELLED; the stream serves the next call."""
    caplog.set_level("INFO", logger="udb.access")
    async with probe_server(system) as probe, mux_to(probe.port) as mux:
        stub = redis_pb2_grpc.RedisServiceStub(mux)
        waiting = asyncio.ensure_future(stub.GetKey(probe_get("slow:30"), metadata=system.metadata(), timeout=60))
        await asyncio.wait_for(probe.servicer.started.wait(), 10)
        waiting.cancel()
        with pytest.raises(asyncio.CancelledError):
            await waiting
        for _ in range(200):
            if probe.servicer.cancelled:
                break
            await asyncio.sleep(0.01)
        assert probe.servicer.cancelled == ["slow:30"]
        assert (await stub.GetKey(probe_get("after"), metadata=system.metadata())).key == b"after"
    codes = [r.code for r in caplog.records if getattr(r, "method", "") == GET_KEY]  # type: ignore[attr-defined]
    assert codes == ["CANCELLED", "OK"]


async def test_a_call_past_its_deadline_ends_on_both_sides(system: System, caplog: pytest.LogCaptureFixture) -> None:
    """A call's timeout ends it with DEADLINE_EXCEEDED at the client, and the server cancels its handler and logs
    DEADLINE_EXCEEDED; a request deadline (deadline_var) caps the call's timeout the same way."""
    caplog.set_level("INFO", logger="udb.access")
    async with probe_server(system) as probe, mux_to(probe.port) as mux:
        stub = redis_pb2_grpc.RedisServiceStub(mux)
        started = time.monotonic()
        with pytest.raises(grpc.aio.AioRpcError) as late:
            await stub.GetKey(probe_get("slow:30"), metadata=system.metadata(), timeout=0.2)
        assert late.value.code() == grpc.StatusCode.DEADLINE_EXCEEDED
        assert time.monotonic() - started < 5
        token = deadline_var.set(time.monotonic() + 0.2)
        try:
            with pytest.raises(grpc.aio.AioRpcError) as capped:
                await stub.GetKey(probe_get("slow:31"), metadata=system.metadata(), timeout=30)
            assert capped.value.code() == grpc.StatusCode.DEADLINE_EXCEEDED
            await asyncio.sleep(0.25)
            sent = mux.frames_sent
            with pytest.raises(DeadlineExceeded):
                await stub.GetKey(probe_get("never"), metadata=system.metadata(), timeout=30)
            assert mux.frames_sent == sent  # nothing was sent for a request with no time left
        finally:
            deadline_var.reset(token)
        for _ in range(200):
            if len(probe.servicer.cancelled) == 2:
                break
            await asyncio.sleep(0.01)
        assert sorted(probe.servicer.cancelled) == ["slow:30", "slow:31"]
    codes = [r.code for r in caplog.records if getattr(r, "method", "") == GET_KEY]  # type: ignore[attr-defined]
    assert codes == ["DEADLINE_EXCEEDED", "DEADLINE_EXCEEDED"]


# ---- bounds ------------------------------------------------------------------------------------


async def test_the_clients_bound_on_calls_in_flight_holds_callers_back(system: System) -> None:
    """With room for two calls in flight, six concurrent callers run two at a time on the server, and all answer."""
    async with probe_server(system) as probe, mux_to(probe.port, max_calls_in_flight=2) as mux:
        stub = redis_pb2_grpc.RedisServiceStub(mux)
        replies = await asyncio.gather(
            *(stub.GetKey(probe_get("slow:0.1"), metadata=system.metadata(), timeout=10) for _ in range(6))
        )
    assert [reply.key for reply in replies] == [b"slow:0.1"] * 6
    assert probe.servicer.max_running == 2


async def test_the_servers_bound_on_calls_in_flight_holds_the_stream_back(system: System) -> None:
    """A stream that sends more calls than the server runs at once is read only as calls finish; all answer."""
    async with probe_server(system, MuxLimits(max_calls_in_flight=3)) as probe, mux_to(probe.port) as mux:
        stub = redis_pb2_grpc.RedisServiceStub(mux)
        replies = await asyncio.gather(
            *(stub.GetKey(probe_get("slow:0.1"), metadata=system.metadata(), timeout=10) for _ in range(8))
        )
    assert len(replies) == 8
    assert probe.servicer.max_running == 3


async def test_a_client_that_stops_reading_is_cut_off(system: System) -> None:
    """A client that sends calls and reads none of their replies is cut off once the replies waiting for it pass
    the bound: it gets RESOURCE_EXHAUSTED after the replies the transport already held."""
    limits = MuxLimits(max_queued_reply_bytes=512 * 1024)
    async with probe_server(system, limits) as probe, grpc.aio.insecure_channel(f"127.0.0.1:{probe.port}") as channel:
        call = mux_pb2_grpc.MuxServiceStub(channel).Calls()
        token = system.metadata()[0][1]
        request = probe_get("big", max_bytes=256 * 1024).SerializeToString()
        frame = mux_pb2.CallFrame()
        for call_id in range(1, 41):  # 10 MB of replies: more than the transport holds, and than the bound
            frame.calls.add(id=call_id, method=GET_KEY, request=request, authorization=token)
        await call.write(frame)
        for _ in range(500):
            if not probe.server.mux.streams:  # type: ignore[union-attr]
                break
            await asyncio.sleep(0.02)
        assert not probe.server.mux.streams  # type: ignore[union-attr]
        assert await asyncio.wait_for(call.code(), 10) == grpc.StatusCode.RESOURCE_EXHAUSTED
        assert await call.details() == "the client does not read its replies"
        assert probe.servicer.running == 0


# ---- shutdown ----------------------------------------------------------------------------------


async def test_graceful_shutdown_drains_the_stream(system: System) -> None:
    """On stop(grace) the stream says it is draining, refuses a new call as not started (UNAVAILABLE), answers the
    call in flight, then ends with OK; a new call then finds no server (UNAVAILABLE)."""
    async with probe_server(system) as probe, grpc.aio.insecure_channel(f"127.0.0.1:{probe.port}") as channel:
        call = mux_pb2_grpc.MuxServiceStub(channel).Calls()
        token = system.metadata()[0][1]
        frame = mux_pb2.CallFrame()
        frame.calls.add(id=1, method=GET_KEY, request=probe_get("slow:0.5").SerializeToString(), authorization=token)
        await call.write(frame)
        await asyncio.wait_for(probe.servicer.started.wait(), 10)
        stopping = asyncio.ensure_future(probe.server.stop(5))
        announcement = await asyncio.wait_for(call.read(), 10)
        assert announcement.draining
        frame = mux_pb2.CallFrame()
        frame.calls.add(id=2, method=GET_KEY, request=probe_get("late").SerializeToString(), authorization=token)
        await call.write(frame)
        replies = await read_replies(call, 2)
        assert replies[1].code == 0
        assert redis_pb2.Key.FromString(replies[1].response).key == b"slow:0.5"
        assert (replies[2].code, replies[2].not_started) == (grpc.StatusCode.UNAVAILABLE.value[0], True)
        assert await asyncio.wait_for(call.read(), 10) is grpc.aio.EOF  # type: ignore[attr-defined]
        assert await call.code() == grpc.StatusCode.OK
        await stopping
        assert probe.servicer.cancelled == []


async def test_a_mux_channel_finishes_its_calls_across_a_graceful_shutdown(system: System) -> None:
    """Calls in flight through a MuxChannel when the server stops gracefully all answer; the next call, with no
    server left, is UNAVAILABLE."""
    async with probe_server(system) as probe, mux_to(probe.port) as mux:
        stub = redis_pb2_grpc.RedisServiceStub(mux)
        in_flight = [
            asyncio.ensure_future(stub.GetKey(probe_get("slow:0.3"), metadata=system.metadata(), timeout=10))
            for _ in range(5)
        ]
        await asyncio.wait_for(probe.servicer.started.wait(), 10)
        await probe.server.stop(5)
        assert [(await call).key for call in in_flight] == [b"slow:0.3"] * 5
        with pytest.raises(grpc.aio.AioRpcError) as gone:
            await stub.GetKey(probe_get("after"), metadata=system.metadata(), timeout=5)
        assert gone.value.code() == grpc.StatusCode.UNAVAILABLE


# ---- what stays as it was ------------------------------------------------------------------------


async def test_a_server_without_the_stream_is_called_unary(system: System) -> None:
    """A server that does not serve the stream (an older release) answers its calls all the same: the channel
    learns it from the UNIMPLEMENTED stream and makes unary calls from then on."""
    server = grpc.aio.server()
    redis_pb2_grpc.add_RedisServiceServicer_to_server(Probe(), server)
    port = server.add_insecure_port("127.0.0.1:0")
    await server.start()
    try:
        async with mux_to(port) as mux:
            stub = redis_pb2_grpc.RedisServiceStub(mux)
            replies = await asyncio.gather(*(stub.GetKey(probe_get(f"old:{n}"), timeout=10) for n in range(3)))
            assert [reply.key for reply in replies] == [b"old:0", b"old:1", b"old:2"]
            assert mux.unary_only
            sent = mux.frames_sent
            assert (await stub.GetKey(probe_get("next"), timeout=10)).key == b"next"
            assert mux.frames_sent == sent
    finally:
        await server.stop(1)


async def test_health_and_reflection_are_unaffected(system: System) -> None:
    """Health checks through a MuxChannel go as plain unary calls (no token needed); reflection lists the stream's
    service beside the engine's."""
    async with multiplexed_channel(f"127.0.0.1:{system.ports['redis-svc']}") as mux:
        reply = await health_pb2_grpc.HealthStub(mux).Check(health_pb2.HealthCheckRequest(), timeout=5)
        assert reply.status == health_pb2.HealthCheckResponse.SERVING
        assert mux.frames_sent == 0
    listed = await asyncio.to_thread(
        subprocess.run,
        [grpcurl(), "-plaintext", f"127.0.0.1:{system.ports['redis-svc']}", "list"],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert listed.returncode == 0, listed.stderr
    assert {"udb.mux.v1.MuxService", REDIS_SERVICE, "grpc.health.v1.Health"} <= set(listed.stdout.split())


async def test_frames_and_their_calls_are_counted_on_both_sides(system: System, project: Project) -> None:
    """udb_mux_frames and udb_mux_frame_entries count each frame and what it carries: two calls sent together
    are one client frame of two calls, and their two replies reach the client in the server's frames."""

    def counted(side: str) -> tuple[float, float]:
        return (
            metrics.MUX_FRAMES.labels(side)._value.get(),
            metrics.MUX_FRAME_ENTRIES.labels(side)._value.get(),
        )

    client_before, server_before = counted("client"), counted("server")
    key = f"mux:{uuid.uuid4().hex[:8]}".encode()
    developer = system.metadata(project.developer)
    async with mux_to(system.ports["redis-svc"]) as mux:
        stub = redis_pb2_grpc.RedisServiceStub(mux)
        await asyncio.gather(
            *(
                stub.CreateKey(create(project.ref, key + suffix), metadata=developer, timeout=10)
                for suffix in (b":1", b":2")
            )
        )
    assert mux.frames_sent == 1
    # Other streams of this process (the test gateway's rate-limit sync) may write frames meanwhile, one
    # call each: the two calls sent together show as one more entry than frames.
    client_after, server_after = counted("client"), counted("server")
    client_frames, client_calls = client_after[0] - client_before[0], client_after[1] - client_before[1]
    assert client_frames >= 1
    assert client_calls - client_frames >= 1
    assert server_after[0] - server_before[0] >= 1
    assert server_after[1] - server_before[1] >= 2
