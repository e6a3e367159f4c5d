"""Servers a hostile tenant may point a connection at: they are the tenant's own "database", so
the tests run them for real, on loopback, in the test's event loop.

- :class:`Decoy` listens and counts connections: it stands for the platform's database or a
  service's port, to prove that nothing dialled it.
- :func:`garbage_server` answers anything with bytes no database protocol reads.
- :class:`FakePostgres` asks for the password in clear text and records it.
- :class:`RespServer` speaks enough RESP to be a Redis Sentinel naming a master of its choice, or a
  Redis Cluster node announcing slots on a node of its choice.
- :class:`FakeMongod` speaks enough of MongoDB's wire protocol to be a replica-set primary that
  announces members of its choice, or to answer commands with garbage.
- :class:`FakeDns` answers SRV queries (UDP) with targets of its choice.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import struct
from collections.abc import AsyncIterator, Callable
from typing import Any

import bson
import dns.message
import dns.rdatatype
import dns.rrset
from bson.objectid import ObjectId


class Decoy:
    """A listener that counts the connections it accepts and closes them."""

    def __init__(self) -> None:
        self.accepted = 0
        self.port = 0
        self._server: asyncio.Server | None = None

    async def __aenter__(self) -> Decoy:
        self._server = await asyncio.start_server(self._accept, "127.0.0.1", 0)
        self.port = int(self._server.sockets[0].getsockname()[1])
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self._server is not None
        await close_server(self._server, set())

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.accepted += 1
        writer.close()


async def close_server(server: asyncio.Server, open_writers: set[asyncio.StreamWriter]) -> None:
    """Closes ``server`` and every connection it accepted, those accepted a moment ago included.

    Python 3.11's ``Server.close()`` breaks a connection accepted just before it whose transport
    is not made yet: making it then fails an assertion (``Server._attach``), and the half-made
    transport and its socket are left to the garbage collector, whose ResourceWarning then fails
    whichever test is running. So the listener stops accepting first, the loop runs the pending
    accepts and their handlers' first steps, and only then is the server closed.
    """
    loop = asyncio.get_running_loop()
    for sock in server.sockets:
        loop.remove_reader(sock.fileno())
    for _ in range(_ACCEPT_STEPS):
        await asyncio.sleep(0)
    server.close()
    # A connection the client left open would outlive the server (Python 3.11's wait_closed
    # does not end handlers): closed here, not by the garbage collector in a later test.
    for writer in list(open_writers):
        writer.close()
    await server.wait_closed()


#: Loop iterations enough for a socket accepted as the listener stopped to reach its handler's
#: first step (the transport is made, connection_made runs, the handler starts: four at worst).
_ACCEPT_STEPS = 6


@contextlib.asynccontextmanager
async def serve(handler: Callable[[asyncio.StreamReader, asyncio.StreamWriter], Any]) -> AsyncIterator[int]:
    """Serves ``handler`` on a free loopback port; yields the port."""

    open_writers: set[asyncio.StreamWriter] = set()

    async def guarded(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        open_writers.add(writer)
        try:
            with contextlib.suppress(ConnectionError, asyncio.IncompleteReadError, asyncio.CancelledError):
                await handler(reader, writer)
        finally:
            open_writers.discard(writer)
            writer.close()

    server = await asyncio.start_server(guarded, "127.0.0.1", 0)
    try:
        yield int(server.sockets[0].getsockname()[1])
    finally:
        await close_server(server, open_writers)


GARBAGE = b"\x00\xffnot a reply of any database\r\n\xfe" * 4


def garbage_server() -> contextlib.AbstractAsyncContextManager[int]:
    """A server that reads whatever comes and answers :data:`GARBAGE`."""

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        while await reader.read(4096):
            writer.write(GARBAGE)
            await writer.drain()

    return serve(handle)


# ---- RESP -------------------------------------------------------------------------------------


def _bulk(value: str | bytes) -> bytes:
    data = value.encode() if isinstance(value, str) else value
    return b"$%d\r\n%s\r\n" % (len(data), data)


def _array(items: list[bytes]) -> bytes:
    return b"*%d\r\n" % len(items) + b"".join(items)


def _map(fields: dict[str, bytes]) -> bytes:
    """A RESP3 map of bulk-string keys."""
    return b"%%%d\r\n" % len(fields) + b"".join(_bulk(key) + value for key, value in fields.items())


async def _read_command(reader: asyncio.StreamReader) -> list[bytes]:
    line = await reader.readline()
    if not line:
        raise ConnectionError("closed")
    if not line.startswith(b"*"):
        return line.split()
    words = []
    for _ in range(int(line[1:])):
        size = int((await reader.readline())[1:])
        words.append((await reader.readexactly(size + 2))[:-2])
    return words


class RespServer:
    """A Redis Sentinel naming ``master`` as the master of every service, or a Cluster node whose
    slots all live at ``master``, speaking RESP3 as redis-py asks; +OK to anything else."""

    def __init__(self, master: tuple[str, int], *, cluster: bool = False) -> None:
        self.master = master
        self.cluster = cluster
        #: The first two words of each command received, upper-cased.
        self.commands: list[list[bytes]] = []
        #: Every command received, whole.
        self.received: list[list[bytes]] = []

    def serve(self) -> contextlib.AbstractAsyncContextManager[int]:
        return serve(self._handle)

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        while True:
            received = await _read_command(reader)
            self.received.append(received)
            command = [word.upper() for word in received[:2]]
            self.commands.append(command)
            writer.write(self._reply(command))
            await writer.drain()

    def _reply(self, command: list[bytes]) -> bytes:
        host, port = self.master
        if command[:1] == [b"HELLO"]:
            mode = "cluster" if self.cluster else "sentinel"
            return _map(
                {"server": _bulk("redis"), "version": _bulk("7.2.4"), "proto": b":3\r\n", "id": b":1\r\n",
                 "mode": _bulk(mode), "role": _bulk("master"), "modules": b"*0\r\n"}
            )  # fmt: skip
        if command[:2] == [b"SENTINEL", b"MASTERS"]:
            state = {"name": "mymaster", "ip": host, "port": str(port), "flags": "master", "num-other-sentinels": "0"}
            return _array([_map({key: _bulk(value) for key, value in state.items()})])
        if command[:2] == [b"SENTINEL", b"GET-MASTER-ADDR-BY-NAME"]:
            return _array([_bulk(host), _bulk(str(port))])
        if command[:2] == [b"CLUSTER", b"SLOTS"]:
            node = _array([_bulk(host), b":%d\r\n" % port, _bulk("0" * 40)])
            return _array([_array([b":0\r\n", b":16383\r\n", node])])
        if command[:1] == [b"PING"]:
            return b"+PONG\r\n"
        return b"+OK\r\n"


# ---- Postgres ---------------------------------------------------------------------------------


class FakePostgres:
    """A server that refuses TLS, asks for the password in clear text (as a Postgres with
    ``password`` authentication does) and records what it gets."""

    def __init__(self) -> None:
        self.passwords: list[bytes] = []
        self.startups = 0

    def serve(self) -> contextlib.AbstractAsyncContextManager[int]:
        return serve(self._handle)

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        while True:
            length, code = struct.unpack("!ii", await reader.readexactly(8))
            if code == 80877103:  # SSLRequest
                writer.write(b"N")
                continue
            await reader.readexactly(length - 8)  # the startup parameters
            self.startups += 1
            writer.write(b"R" + struct.pack("!ii", 8, 3))  # AuthenticationCleartextPassword
            await writer.drain()
            kind = await reader.readexactly(1)
            size = struct.unpack("!i", await reader.readexactly(4))[0]
            body = await reader.readexactly(size - 4)
            if kind == b"p":
                self.passwords.append(body.rstrip(b"\x00"))
            error = b"SFATAL\x00C28P01\x00Mpassword authentication failed\x00\x00"
            writer.write(b"E" + struct.pack("!i", 4 + len(error)) + error)
            await writer.drain()
            return


def postgres_replying(reply: bytes) -> contextlib.AbstractAsyncContextManager[int]:
    """A server that refuses TLS and answers a client's startup message with ``reply``."""

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        while True:
            length, code = struct.unpack("!ii", await reader.readexactly(8))
            if code == 80877103:  # SSLRequest
                writer.write(b"N")
                continue
            await reader.readexactly(length - 8)
            writer.write(reply)
            await writer.drain()
            await reader.read()

    return serve(handle)


# ---- MongoDB's wire protocol ------------------------------------------------------------------

_OP_REPLY, _OP_QUERY, _OP_MSG = 1, 2004, 2013


class FakeMongod:
    """A primary of replica set ``rs0`` whose hello names ``members`` besides itself; other
    commands get ``{"ok": 1}``, or :data:`GARBAGE` when ``garbage_after_hello``."""

    def __init__(self, members: list[str] | None = None, *, garbage_after_hello: bool = False) -> None:
        self.members = members or []
        self.garbage_after_hello = garbage_after_hello
        self.port = 0

    @contextlib.asynccontextmanager
    async def serve(self) -> AsyncIterator[int]:
        async with serve(self._handle) as port:
            self.port = port
            yield port

    def _hello(self) -> dict[str, Any]:
        me = f"127.0.0.1:{self.port}"
        reply: dict[str, Any] = {
            "ismaster": True,
            "isWritablePrimary": True,
            "helloOk": True,
            "maxBsonObjectSize": 16 * 1024 * 1024,
            "maxMessageSizeBytes": 48_000_000,
            "maxWriteBatchSize": 100_000,
            "localTime": dt.datetime.now(dt.UTC),
            "logicalSessionTimeoutMinutes": 30,
            "connectionId": 1,
            "minWireVersion": 0,
            "maxWireVersion": 17,
            "readOnly": False,
            "ok": 1.0,
        }
        if self.members:
            reply.update(
                setName="rs0", setVersion=1, electionId=ObjectId("7fffffff0000000000000001"), me=me,
                primary=me, hosts=[me, *self.members],
            )  # fmt: skip
        return reply

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        while True:
            header = await reader.readexactly(16)
            length, request_id, _, opcode = struct.unpack("<iiii", header)
            body = await reader.readexactly(length - 16)
            if opcode == _OP_QUERY:
                query = body[4:]
                query = query[query.index(b"\x00") + 9 :]  # collection name, skip, return
                command = bson.decode(query[: struct.unpack("<i", query[:4])[0]])
            else:
                command = bson.decode(body[5 : 5 + struct.unpack("<i", body[5:9])[0]])
            name = next(iter(command)).lower()
            if name in ("hello", "ismaster"):
                reply = bson.encode(self._hello())
            elif self.garbage_after_hello:
                writer.write(GARBAGE)
                await writer.drain()
                continue
            else:
                reply = bson.encode({"ok": 1.0})
            if opcode == _OP_QUERY:
                payload = struct.pack("<iqii", 0, 0, 0, 1) + reply
                writer.write(struct.pack("<iiii", 16 + len(payload), 0, request_id, _OP_REPLY) + payload)
            else:
                payload = struct.pack("<IB", 0, 0) + reply
                writer.write(struct.pack("<iiii", 16 + len(payload), 0, request_id, _OP_MSG) + payload)
            await writer.drain()


# ---- DNS --------------------------------------------------------------------------------------


class FakeDns(asyncio.DatagramProtocol):
    """A DNS server (UDP) answering SRV queries with ``targets`` ((name, port) each); no other
    record exists."""

    def __init__(self, targets: list[tuple[str, int]]) -> None:
        self.targets = targets
        self.transport: asyncio.DatagramTransport | None = None
        self.queries: list[str] = []

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
        query = dns.message.from_wire(data)
        reply = dns.message.make_response(query)
        question = query.question[0]
        self.queries.append(f"{dns.rdatatype.to_text(question.rdtype)} {question.name}")
        if question.rdtype == dns.rdatatype.SRV:
            records = [f"0 0 {port} {name}." for name, port in self.targets]
            reply.answer.append(dns.rrset.from_text_list(question.name, 60, "IN", "SRV", records))
        assert self.transport is not None
        self.transport.sendto(reply.to_wire(), addr)

    @classmethod
    @contextlib.asynccontextmanager
    async def serve(cls, targets: list[tuple[str, int]]) -> AsyncIterator[tuple[FakeDns, int]]:
        transport, protocol = await asyncio.get_running_loop().create_datagram_endpoint(
            lambda: cls(targets), local_addr=("127.0.0.1", 0)
        )
        try:
            yield protocol, int(transport.get_extra_info("sockname")[1])
        finally:
            transport.close()
