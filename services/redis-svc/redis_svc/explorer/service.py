"""RedisExplorerService: the explorer's RPCs, each a borrow of the target's client at the role
it needs and a call into the module that does the work."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import grpc

from redis_svc import reply_limit
from redis_svc.clients import RedisHandle
from redis_svc.explorer import analysis, bulk_delete, diagnostics, streams, tree, workbench
from redis_svc.settings import Settings
from udb.auth import current_principal
from udb.common.v1 import common_pb2
from udb.engine import EngineRuntime
from udb.errors import PayloadTooLarge
from udb.redis.v1 import explorer_pb2, explorer_pb2_grpc

Context = grpc.aio.ServicerContext[Any, Any]

VIEWER = common_pb2.ROLE_VIEWER
DEVELOPER = common_pb2.ROLE_DEVELOPER
ADMIN = common_pb2.ROLE_ADMIN


class RedisExplorerService(explorer_pb2_grpc.RedisExplorerServiceServicer):
    """The explorer of a project's Redis databases."""

    def __init__(self, runtime: EngineRuntime[RedisHandle], settings: Settings) -> None:
        self.runtime = runtime
        self.settings = settings
        self.token_key = bulk_delete.token_key(settings)

    async def ListKeyTree(
        self, request: explorer_pb2.ListKeyTreeRequest, context: Context
    ) -> explorer_pb2.ListKeyTreeResponse:
        async with self.runtime.borrow(request.target, VIEWER) as borrowed:
            return await tree.list_level(borrowed.client, request)

    async def RunCommand(
        self, request: explorer_pb2.RunCommandRequest, context: Context
    ) -> explorer_pb2.RunCommandResponse:
        args = list(request.args)
        name, role = workbench.command_name(args)
        async with self.runtime.borrow(request.target, role) as borrowed:
            with reply_limit.bounded(self.settings.max_message_bytes):
                raw, _ = await workbench.run(borrowed.client, args)
        reply = explorer_pb2.RunCommandResponse(
            command=name, reply=workbench.reply_proto(raw), write=workbench.is_write(role)
        )
        if reply.ByteSize() > self.settings.max_message_bytes // 2:
            raise PayloadTooLarge(f"the reply of {name} is too large to return: page through it (the SCAN family)")
        return reply

    # ---- streams -------------------------------------------------------------------------------

    async def ReadStream(
        self, request: explorer_pb2.ReadStreamRequest, context: Context
    ) -> explorer_pb2.ReadStreamResponse:
        async with self.runtime.borrow(request.target, VIEWER) as borrowed:
            return await streams.read(borrowed.client, request)

    async def ListStreamGroups(
        self, request: explorer_pb2.ListStreamGroupsRequest, context: Context
    ) -> explorer_pb2.ListStreamGroupsResponse:
        async with self.runtime.borrow(request.target, VIEWER) as borrowed:
            return await streams.groups(borrowed.client, request.key)

    async def ListStreamConsumers(
        self, request: explorer_pb2.ListStreamConsumersRequest, context: Context
    ) -> explorer_pb2.ListStreamConsumersResponse:
        async with self.runtime.borrow(request.target, VIEWER) as borrowed:
            return await streams.consumers(borrowed.client, request.key, request.group)

    async def ListStreamPending(
        self, request: explorer_pb2.ListStreamPendingRequest, context: Context
    ) -> explorer_pb2.ListStreamPendingResponse:
        async with self.runtime.borrow(request.target, VIEWER) as borrowed:
            return await streams.pending(borrowed.client, request)

    async def AddStreamEntry(
        self, request: explorer_pb2.AddStreamEntryRequest, context: Context
    ) -> explorer_pb2.AddStreamEntryResponse:
        async with self.runtime.borrow(request.target, DEVELOPER) as borrowed:
            return await streams.add(borrowed.client, request)

    async def DeleteStreamEntries(
        self, request: explorer_pb2.DeleteStreamEntriesRequest, context: Context
    ) -> explorer_pb2.StreamCountResponse:
        async with self.runtime.borrow(request.target, DEVELOPER) as borrowed:
            return await streams.delete(borrowed.client, request.key, list(request.ids))

    async def TrimStream(
        self, request: explorer_pb2.TrimStreamRequest, context: Context
    ) -> explorer_pb2.StreamCountResponse:
        async with self.runtime.borrow(request.target, DEVELOPER) as borrowed:
            return await streams.trim(borrowed.client, request)

    async def AckStreamEntries(
        self, request: explorer_pb2.AckStreamEntriesRequest, context: Context
    ) -> explorer_pb2.StreamCountResponse:
        async with self.runtime.borrow(request.target, DEVELOPER) as borrowed:
            return await streams.ack(borrowed.client, request)

    async def ClaimStreamEntries(
        self, request: explorer_pb2.ClaimStreamEntriesRequest, context: Context
    ) -> explorer_pb2.ReadStreamResponse:
        async with self.runtime.borrow(request.target, DEVELOPER) as borrowed:
            return await streams.claim(borrowed.client, request)

    # ---- bulk delete ---------------------------------------------------------------------------

    async def PreviewDelete(
        self, request: explorer_pb2.PreviewDeleteRequest, context: Context
    ) -> explorer_pb2.PreviewDeleteResponse:
        pattern = bulk_delete.check_delete_pattern(request.pattern)
        sample_size, _ = bulk_delete.sizes(request.sample_size, 0)
        async with self.runtime.borrow(request.target, DEVELOPER) as borrowed:
            matched, sample = await bulk_delete.preview(borrowed.client, pattern, sample_size)
            connection_id = borrowed.resolved.connection.id
        token, expires_at = bulk_delete.make_token(self.token_key, pattern, connection_id, current_principal().subject)
        return explorer_pb2.PreviewDeleteResponse(matched=matched, sample=sample, token=token, expires_at=expires_at)

    async def DeleteByPattern(
        self, request: explorer_pb2.DeleteByPatternRequest, context: Context
    ) -> AsyncIterator[explorer_pb2.DeleteProgress]:
        """The first message (all zeros) says the token held and the delete began."""
        pattern = bulk_delete.check_delete_pattern(request.pattern)
        _, batch_size = bulk_delete.sizes(0, request.batch_size)
        if not request.token:
            bulk_delete.check_token(self.token_key, "", pattern, "", "")
        async with self.runtime.borrow(request.target, DEVELOPER) as borrowed:
            bulk_delete.check_token(
                self.token_key,
                request.token,
                pattern,
                borrowed.resolved.connection.id,
                current_principal().subject,
            )
            async for progress in bulk_delete.delete(borrowed.client, pattern, batch_size):
                yield progress

    # ---- analysis ------------------------------------------------------------------------------

    async def AnalyzeKeyspace(
        self, request: explorer_pb2.AnalyzeKeyspaceRequest, context: Context
    ) -> AsyncIterator[explorer_pb2.AnalyzeKeyspaceProgress]:
        async with self.runtime.borrow(request.target, VIEWER) as borrowed:
            async for progress in analysis.analyze(borrowed.client, request):
                yield progress

    # ---- diagnostics ---------------------------------------------------------------------------

    async def GetSlowLog(
        self, request: explorer_pb2.GetSlowLogRequest, context: Context
    ) -> explorer_pb2.GetSlowLogResponse:
        async with self.runtime.borrow(request.target, VIEWER) as borrowed:
            return await diagnostics.slow_log(borrowed.client, request.count)

    async def ResetSlowLog(
        self, request: explorer_pb2.ResetSlowLogRequest, context: Context
    ) -> explorer_pb2.ResetSlowLogResponse:
        async with self.runtime.borrow(request.target, ADMIN) as borrowed:
            await diagnostics.reset_slow_log(borrowed.client)
        return explorer_pb2.ResetSlowLogResponse()

    async def ListClients(
        self, request: explorer_pb2.ListClientsRequest, context: Context
    ) -> explorer_pb2.ListClientsResponse:
        async with self.runtime.borrow(request.target, ADMIN) as borrowed:
            return await diagnostics.clients(borrowed.client)

    async def Monitor(
        self, request: explorer_pb2.MonitorRequest, context: Context
    ) -> AsyncIterator[explorer_pb2.MonitorEvent]:
        """Admins only; ends at its limits (the last message says which), or when the caller goes."""
        async with self.runtime.borrow(request.target, ADMIN) as borrowed:
            async for event in diagnostics.monitor(borrowed.client, request):
                yield event
