"""The audit log: the registry's own changes, recorded in their transaction; the batches the gateway
sends (every other write); and the project's log, newest first, for its admins."""

from __future__ import annotations

import datetime as dt

from registry.access import project_for
from registry.store import Connection, Store, database_errors, timestamp
from udb.auth import current_principal
from udb.common.v1 import common_pb2
from udb.errors import InvalidArgument, PermissionDenied
from udb.logs import request_id_var
from udb.paging import decode_cursor, encode_cursor, page_limit
from udb.registry.v1 import registry_pb2

#: The most events one RecordAuditEvents call may carry.
MAX_EVENTS_PER_CALL = 10_000

_COLUMNS = ("time", "user_id", "project_ref", "engine", "connection_id", "operation", "target", "outcome", "request_id")

_RECORD = """
    INSERT INTO platform.audit_log (user_id, project_ref, engine, connection_id, operation, target, outcome,
                                    request_id)
    VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
"""

_PAGE = """
    SELECT * FROM platform.audit_log
    WHERE project_ref = $1 AND ($2::bigint IS NULL OR id < $2)
      AND ($3 = '' OR user_id = $3) AND ($4 = '' OR operation = $4) AND ($5 = '' OR engine = $5)
      AND ($6::timestamptz IS NULL OR time >= $6) AND ($7::timestamptz IS NULL OR time < $7)
    ORDER BY id DESC LIMIT $8
"""


async def record(
    conn: Connection,
    project_ref: str,
    operation: str,
    *,
    target: str = "",
    engine: str = "platform",
    connection_id: str = "",
    outcome: str = "ok",
) -> None:
    """Records a platform change by the current caller, in the change's own transaction (so only
    what happened is recorded). Names and ids only, never a value or a secret. An organization's
    changes have no project: their ``project_ref`` is empty."""
    await conn.execute(
        _RECORD,
        current_principal().subject,
        project_ref,
        engine,
        connection_id,
        operation,
        target,
        outcome,
        request_id_var.get(),
    )


class AuditLog:
    """The RPCs that write and read the audit log."""

    def __init__(self, store: Store) -> None:
        self._store = store

    async def record_events(
        self, request: registry_pb2.RecordAuditEventsRequest
    ) -> registry_pb2.RecordAuditEventsResponse:
        """Writes a batch of the services' events (each field cut to its column's size)."""
        if not current_principal().is_service:
            raise PermissionDenied("only services may record audit events")
        if len(request.events) > MAX_EVENTS_PER_CALL:
            raise InvalidArgument(f"at most {MAX_EVENTS_PER_CALL} events per call")
        now = dt.datetime.now(dt.UTC)
        records = [
            (
                event.time.ToDatetime(dt.UTC) if event.HasField("time") else now,
                event.user_id[:256],
                event.project_ref[:64],
                event.engine[:32],
                event.connection_id[:64],
                event.operation[:64],
                event.target[:1024],
                event.outcome[:64],
                event.request_id[:128],
            )
            for event in request.events
        ]
        with database_errors():
            async with self._store.pool.acquire() as conn:
                await conn.copy_records_to_table(
                    "audit_log", schema_name="platform", columns=list(_COLUMNS), records=records
                )
        return registry_pb2.RecordAuditEventsResponse(recorded=len(records))

    async def list_events(self, request: registry_pb2.ListAuditEventsRequest) -> registry_pb2.ListAuditEventsResponse:
        """A project's events, newest first (admins and owners)."""
        await project_for(self._store.pool, current_principal(), request.project_ref, common_pb2.ROLE_ADMIN)
        limit = page_limit(request.limit)
        before = decode_cursor(request.cursor)
        before_id = int(before) if before and before.isdigit() else None
        if before is not None and before_id is None:
            raise InvalidArgument("cursor is not one this API gave out", details={"field": "cursor"})
        with database_errors():
            rows = await self._store.pool.fetch(
                _PAGE,
                request.project_ref,
                before_id,
                request.user_id,
                request.operation,
                request.engine,
                request.since.ToDatetime(dt.UTC) if request.HasField("since") else None,
                request.until.ToDatetime(dt.UTC) if request.HasField("until") else None,
                limit + 1,
            )
        return registry_pb2.ListAuditEventsResponse(
            events=[
                registry_pb2.AuditEvent(
                    id=row["id"],
                    time=timestamp(row["time"]),
                    **{column: row[column] for column in _COLUMNS if column != "time"},
                )
                for row in rows[:limit]
            ],
            next_cursor=encode_cursor(str(rows[limit - 1]["id"])) if len(rows) > limit else "",
        )
