"""The audit log: what a write or admin action was, and the writer that ships events in batches.

An event is described from the route that served the request (its template and path parameters),
so every route is covered without knowing it: ``POST /redis/[ref]/keys/[key]`` is ``key.create``
on target ``[key]``, ``DELETE /mongodb/[ref]/databases/[db]/collections/[coll]`` is
``collection.delete`` on ``db.coll``. An event never holds a value or a secret: only names.

:class:`AuditLog` queues events without waiting and writes them to the registry in batches from a
background task. A batch that fails stays queued and is tried again; an event is only ever given
up on with an error log line that carries the event itself, and every outcome is counted.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import re
from collections import deque
from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import Any

from google.protobuf import json_format, timestamp_pb2

from udb import metrics
from udb.engines import DB_TYPE_NAMES, ENGINE_SEGMENTS
from udb.errors import ERRORS_BY_CODE
from udb.registry.v1 import registry_pb2
from udb.tasks import cancel_and_wait

log = logging.getLogger("gateway.audit")

#: An engine route's first segment, and the engine's name in audit events.
ENGINE_NAMES = {segment: DB_TYPE_NAMES[db_type] for segment, db_type in ENGINE_SEGMENTS.items()}
PLATFORM = "platform"

#: Names whose general rule reads badly, by method and route (``*`` for each parameter).
OPERATION_OVERRIDES: dict[tuple[str, str], str] = {
    ("POST", "/projects/*/members"): "member.add",
    ("DELETE", "/projects/*/members/*"): "member.remove",
    ("POST", "/pg-meta/*/query"): "sql.query",
    ("GET", "/projects/*/audit"): "audit.read",
    ("POST", "/pg-meta/*/column-privileges"): "column_privilege.grant",
    ("DELETE", "/pg-meta/*/column-privileges"): "column_privilege.revoke",
    ("POST", "/pg-meta/*/table-privileges"): "table_privilege.grant",
    ("DELETE", "/pg-meta/*/table-privileges"): "table_privilege.revoke",
    ("POST", "/redis/*/streams/entries"): "stream_entry.add",
    ("DELETE", "/redis/*/streams/entries"): "stream_entry.delete",
    ("DELETE", "/redis/*/slowlog"): "slowlog.reset",
    ("GET", "/redis/*/clients"): "client.list",
}

#: A request body's JSON -> the name of the target it writes ("" when it names none).
BodyTarget = Callable[[Any], str]


def _field(name: str) -> BodyTarget:
    """The body's string field ``name``."""

    def target(document: Any) -> str:
        value = document.get(name) if isinstance(document, dict) else None
        return value if isinstance(value, str) else ""

    return target


def _joined(*names: str, schema: bool = False) -> BodyTarget:
    """The body's fields ``names`` joined by dots, after its schema (postgres-meta's default,
    public) when ``schema``: ``public.users``, ``16384.email``."""

    def target(document: Any) -> str:
        if not isinstance(document, dict):
            return ""
        parts = [document.get("schema") or "public"] if schema else []
        parts.extend(document.get(name) for name in names)
        if not all(isinstance(part, str | int) and not isinstance(part, bool) for part in parts):
            return ""
        return ".".join(str(part) for part in parts)

    return target


def _grants(key: str) -> BodyTarget:
    """What an array of grants or revokes touches: ``<relation or column id>:<grantee>`` each."""

    def target(document: Any) -> str:
        if not isinstance(document, list):
            return ""
        items = [item for item in document if isinstance(item, dict)]
        return ",".join(f"{item.get(key)}:{item.get('grantee')}" for item in items)

    return target


_DATA_API_ACTIONS = (
    "findOne", "find", "aggregate", "insertOne", "insertMany", "updateOne", "updateMany", "replaceOne",
    "deleteOne", "deleteMany",
)  # fmt: skip


def _command_name(document: Any) -> str:
    """A workbench command's name (its first word), never its arguments."""
    command = document.get("command") if isinstance(document, dict) else None
    first = command[0] if isinstance(command, list) and command else command
    return first.split(maxsplit=1)[0][:64].upper() if isinstance(first, str) and first.strip() else ""


#: Operations whose target is named in the request body (the name of what is created). Only
#: names: a document's or a message's fields are values, and a role's password is never read.
BODY_TARGETS: dict[str, BodyTarget] = {
    "member.add": _field("user_id"),
    "connection.create": _field("identifier"),
    "organization.create": _field("slug"),
    "project.create": _field("ref"),
    "collection.create": _field("name"),
    "pubsub.publish": _field("channel"),
    "command": _command_name,
    "bulk-delete": _field("pattern"),
    "bulk-delete.preview": _field("pattern"),
    **dict.fromkeys(
        ("stream_entry.add", "stream_entry.delete", "stream.trim", "stream.ack", "stream.claim"), _field("key")
    ),
    "table.create": _joined("name", schema=True),
    "function.create": _joined("name", schema=True),
    "policy.create": _joined("table", "name", schema=True),
    "trigger.create": _joined("table", "name", schema=True),
    "column.create": _joined("table_id", "name"),
    "schema.create": _field("name"),
    "extension.create": _field("name"),
    "publication.create": _field("name"),
    "role.create": _field("name"),
    "column_privilege.grant": _grants("column_id"),
    "column_privilege.revoke": _grants("column_id"),
    "table_privilege.grant": _grants("relation_id"),
    "table_privilege.revoke": _grants("relation_id"),
    # The Atlas Data API's actions (routes/mongo_dataapi.py) name their namespace in the body.
    **{f"action.{name}": _joined("database", "collection") for name in _DATA_API_ACTIONS},
}

_ITEM_VERBS = {"GET": "read", "POST": "create", "PUT": "update", "PATCH": "update", "DELETE": "delete"}
_COLLECTION_VERBS = {"GET": "list", "POST": "create", "PUT": "update", "PATCH": "update", "DELETE": "delete"}
_PARAM = re.compile(r"\{[^}]*\}")


def _singular(word: str) -> str:
    if word.endswith("xes"):
        return word[:-2]
    if word.endswith("ies"):
        return word[:-3] + "y"
    return word.removesuffix("s")


def _operation(method: str, segments: Sequence[str]) -> str:
    if not segments:
        return method.lower()
    last = segments[-1]
    literals = [segment for segment in segments if segment != "*"]
    if last == "*":  # one item of a collection: keys/[key]
        resource = _singular(literals[-1]) if literals else "item"
        return f"{resource}.{_ITEM_VERBS.get(method, method.lower())}"
    if last.endswith("s"):  # a collection: keys, documents, members
        return f"{_singular(last)}.{_COLLECTION_VERBS.get(method, method.lower())}"
    # An action on what precedes it: keys/[key]/expire, connections/[id]/test, pubsub/publish
    previous = literals[:-1]
    return f"{_singular(previous[-1])}.{last}" if previous else last


def describe(method: str, template: str, params: Mapping[str, Any]) -> tuple[str, str, str]:
    """(engine, operation, target) of a request, from its route's template (relative to the
    API's base path) and its path parameters."""
    first = template.strip("/").split("/", 1)[0]
    engine_segment = str(params.get("engine", "")) if first.startswith("{") else first
    engine = ENGINE_NAMES.get(engine_segment, PLATFORM)
    operation = _operation_of(method, template, engine != PLATFORM)
    target = ".".join(str(value) for key, value in params.items() if key not in ("engine", "ref"))
    return engine, operation, target


@functools.lru_cache(maxsize=1024)
def _operation_of(method: str, template: str, engine_route: bool) -> str:
    """The operation of a route (remembered: routes are few and every write asks)."""
    normalized = _PARAM.sub("*", template)
    segments = [segment for segment in normalized.strip("/").split("/") if segment]
    # An engine route starts with the engine and the project: /redis/[ref]/...
    rest = segments[2:] if engine_route else segments
    return OPERATION_OVERRIDES.get((method, normalized)) or _operation(method, rest)


_CODES_BY_STATUS = {cls.http_status: code for code, cls in ERRORS_BY_CODE.items()}


def outcome_of(status: int) -> str:
    """``ok``, or the API error code of a status (``http_<status>`` for one outside the table)."""
    if status < 400:
        return "ok"
    return _CODES_BY_STATUS.get(status, f"http_{status}")


def event_json(event: registry_pb2.AuditEvent) -> dict[str, Any]:
    """An event as the API and the logs show it."""
    return {
        "id": event.id or None,
        "time": event.time.ToJsonString() if event.HasField("time") else None,
        "user_id": event.user_id,
        "project_ref": event.project_ref,
        "engine": event.engine,
        "connection_id": event.connection_id,
        "operation": event.operation,
        "target": event.target,
        "outcome": event.outcome,
        "request_id": event.request_id,
    }


Sink = Callable[[Sequence[registry_pb2.AuditEvent]], Awaitable[None]]


class AuditLog:
    """A queue of audit events and the background task that writes them in batches."""

    def __init__(
        self,
        sink: Sink,
        *,
        batch_size: int = 200,
        flush_interval_s: float = 1.0,
        max_queue: int = 50_000,
        max_backoff_s: float = 30.0,
    ) -> None:
        self._sink = sink
        self._batch_size = max(1, batch_size)
        self._interval = flush_interval_s
        self._max_queue = max(1, max_queue)
        self._max_backoff = max_backoff_s
        self._queue: deque[registry_pb2.AuditEvent] = deque()
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._failures = 0
        self._lock = asyncio.Lock()

    def __len__(self) -> int:
        return len(self._queue)

    def record(self, event: registry_pb2.AuditEvent) -> None:
        """Queues an event; never waits. A full queue gives up its oldest event, loudly."""
        if len(self._queue) >= self._max_queue:
            self._give_up([self._queue.popleft()], "the audit queue is full")
        self._queue.append(event)
        metrics.AUDIT_EVENTS.labels("queued").inc()
        metrics.AUDIT_QUEUE.set(len(self._queue))
        if len(self._queue) >= self._batch_size:
            self._wake.set()

    async def start(self) -> None:
        if self._task is None:
            self._task = asyncio.create_task(self._run(), name="audit-writer")

    async def close(self, timeout_s: float = 5.0) -> None:
        """Stops the writer and writes what is queued (within ``timeout_s``); what cannot be
        written is logged event by event."""
        await cancel_and_wait(self._task)
        self._task = None
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(timeout_s):
                while self._queue and await self.flush():
                    pass
        if self._queue:
            self._give_up(list(self._queue), "the gateway stopped before the registry took them")
            self._queue.clear()
            metrics.AUDIT_QUEUE.set(0)

    async def flush(self) -> bool:
        """Writes queued events, a batch at a time; False when a batch failed (it stays queued)."""
        async with self._lock:
            while self._queue:
                batch = [self._queue[i] for i in range(min(self._batch_size, len(self._queue)))]
                try:
                    await self._sink(batch)
                except Exception as exc:  # noqa: BLE001 (any failure keeps the batch for a retry)
                    self._failures += 1
                    metrics.AUDIT_EVENTS.labels("failed").inc(len(batch))
                    log.error(
                        "audit events not written; kept for a retry",
                        extra={"events": len(batch), "queued": len(self._queue), "error": type(exc).__name__},
                    )
                    return False
                for _ in batch:
                    self._queue.popleft()
                self._failures = 0
                metrics.AUDIT_EVENTS.labels("written").inc(len(batch))
                metrics.AUDIT_QUEUE.set(len(self._queue))
        return True

    async def _run(self) -> None:
        while True:
            if self._failures:
                # The registry failed: back off, whatever is queued meanwhile.
                await asyncio.sleep(min(self._max_backoff, self._interval * 2**self._failures))
            else:
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(self._interval):
                        await self._wake.wait()
            self._wake.clear()
            try:
                await self.flush()
            except Exception:
                log.exception("audit writer failed")

    @staticmethod
    def _give_up(events: Sequence[registry_pb2.AuditEvent], reason: str) -> None:
        metrics.AUDIT_EVENTS.labels("dropped").inc(len(events))
        for event in events:
            # The log line carries the whole event, so that the record survives in the logs.
            log.error("audit event dropped: %s", reason, extra={"audit": json_format.MessageToDict(event)})


def registry_sink(stub: Any, metadata: Callable[[], tuple[tuple[str, str], ...]], timeout_s: float = 10.0) -> Sink:
    """Writes a batch with the registry's ``RecordAuditEvents`` as this service."""

    async def write(events: Sequence[registry_pb2.AuditEvent]) -> None:
        await stub.RecordAuditEvents(
            registry_pb2.RecordAuditEventsRequest(events=events), metadata=metadata(), timeout=timeout_s
        )

    return write


def timestamp_ns(nanoseconds: int) -> timestamp_pb2.Timestamp:
    stamp = timestamp_pb2.Timestamp()
    stamp.FromNanoseconds(nanoseconds)
    return stamp
