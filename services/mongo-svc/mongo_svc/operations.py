"""What every mongo-svc RPC shares: the borrowed client inside the operation's time limit, and the
checks of names and inputs.

Every operation runs inside ``pymongo.timeout`` (the configured limit, or the caller's gRPC
deadline when that comes first): the driver sends the remaining time as ``maxTimeMS`` with each
command (so the server stops a runaway query, or one nobody waits for any more) and bounds the
socket reads by it. PyMongo's errors are translated by the runtime's borrow (:mod:`udb.engine`,
with :func:`mongo_svc.clients.translate`).
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any, TypeVar

import pymongo
import pymongo.errors
from pymongo import ReadPreference
from pymongo.asynchronous.collection import AsyncCollection
from pymongo.asynchronous.database import AsyncDatabase

from mongo_svc import ejson
from mongo_svc.clients import MongoClient
from mongo_svc.cursors import CursorRegistry, CursorScope
from mongo_svc.find_cursor import CursorSigner, signing_key
from mongo_svc.finds import FindPager
from mongo_svc.settings import Settings
from udb.auth import current_principal
from udb.common.v1 import common_pb2
from udb.engine import Borrowed, EngineRuntime
from udb.errors import DeadlineExceeded, InvalidArgument, NotFound, Unavailable
from udb.interceptors import deadline_var
from udb.mongo.v1 import mongo_pb2, mongo_pb2_grpc

Document = dict[str, Any]
T = TypeVar("T")

VIEWER = common_pb2.ROLE_VIEWER
DEVELOPER = common_pb2.ROLE_DEVELOPER
ADMIN = common_pb2.ROLE_ADMIN


class MongoOperations(mongo_pb2_grpc.MongoServiceServicer):
    """The state and plumbing of the RPCs (the servicer is this and its concerns' classes)."""

    def __init__(self, runtime: EngineRuntime[MongoClient], settings: Settings, cursors: CursorRegistry) -> None:
        self.runtime = runtime
        self.settings = settings
        self.cursors = cursors
        self.finds = FindPager(CursorSigner(signing_key(settings)), max_page_bytes=settings.max_page_bytes)
        self._timeout_s = settings.max_time_ms / 1000

    @contextlib.asynccontextmanager
    async def borrow(self, target: common_pb2.ConnectionTarget, role: int) -> AsyncIterator[Borrowed[MongoClient]]:
        """The runtime's borrow (role check, PyMongo's errors translated), once a server can
        serve the call, inside the operation's time limit."""
        async with self.runtime.borrow(target, role) as borrowed:
            await self._ensure_reachable(borrowed.client, write=role >= DEVELOPER)
            with time_limit(self._time_left_s()):
                yield borrowed

    def _time_left_s(self) -> float:
        """The configured limit, or less when the caller's deadline comes first (then the
        server stops the operation when the caller stops waiting for it)."""
        deadline = deadline_var.get()
        if deadline is None:
            return self._timeout_s
        return max(0.001, min(self._timeout_s, deadline - time.monotonic()))

    async def _ensure_reachable(self, client: MongoClient, *, write: bool) -> None:
        """Fails within the server selection timeout when no known server can serve the call.

        Under ``pymongo.timeout`` the driver waits for a server as long as the operation's whole
        time limit; a database that is down must answer 503 promptly instead. A server the
        driver already knows to be up costs nothing here.
        """
        description = client.topology_description
        read_preference = ReadPreference.PRIMARY if write else client.read_preference
        if description.has_readable_server(read_preference):
            return
        try:
            with pymongo.timeout(self.settings.server_selection_timeout_s):
                await client.admin.command("ping", read_preference=read_preference)
        except pymongo.errors.PyMongoError as exc:
            if exc.timeout:  # this check's own short limit ran out
                raise Unavailable("mongodb: the server does not answer") from None
            raise

    def _refuse_javascript(self, value: Any, what: str) -> None:
        if not self.settings.allow_javascript:
            ejson.refuse_javascript(value, what)

    def _parse_id(self, text: str) -> Any:
        document_id = ejson.parse_id(text)
        self._refuse_javascript(document_id, "id")
        return document_id


@contextlib.contextmanager
def time_limit(seconds: float) -> Iterator[None]:
    """``pymongo.timeout``: every command in the block carries the remaining time as maxTimeMS
    and socket reads wait no longer. A deadline that runs out while the driver is still
    selecting a server is the operation's deadline, not an unreachable server."""
    started = time.monotonic()
    try:
        with pymongo.timeout(seconds):
            yield
    except pymongo.errors.ServerSelectionTimeoutError:
        if time.monotonic() - started < seconds:
            raise
        raise DeadlineExceeded(f"mongodb: the operation ran past its time limit of {seconds:g} s") from None


def cursor_scope(borrowed: Borrowed[MongoClient]) -> CursorScope:
    return CursorScope(
        subject=current_principal().subject,
        project_ref=borrowed.access.project_ref,
        connection_id=borrowed.resolved.connection.id,
    )


def required(value: str, what: str) -> str:
    """``value``, or InvalidArgument naming the field when it is empty."""
    if not value:
        raise InvalidArgument(f"{what} is required", details={"field": what})
    return value


def named_database(client: MongoClient, name: str) -> AsyncDatabase[Document]:
    """The client's database ``name``; InvalidArgument when it is empty or not a valid name."""
    return _named(client.get_database, required(name, "database"), "database")


def named_collection(db: AsyncDatabase[Document], name: str) -> AsyncCollection[Document]:
    """The database's collection ``name``; InvalidArgument when it is empty or not a valid name."""
    return _named(db.get_collection, required(name, "collection"), "collection")


def _named(get: Callable[[str], T], name: str, what: str) -> T:
    try:
        return get(name)
    except pymongo.errors.InvalidName as exc:
        raise InvalidArgument(f"bad {what} name: {exc}", details={"field": what}) from None


def document_message(found: Document | None, mode: int) -> mongo_pb2.Document:
    if found is None:
        raise NotFound("document not found")
    return mongo_pb2.Document(document=ejson.dumps(found, ejson.json_options(mode)))
