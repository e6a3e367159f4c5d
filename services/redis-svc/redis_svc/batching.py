"""GetKey's reads, batched: the meta script of every call that reaches it in one loop turn goes
to its Redis in one pipeline round trip (:class:`udb.batching.Coalescer`).

Each call has been through the guard (authenticated, logged, counted) and is authorized here on
its own (:meth:`udb.engine.EngineRuntime.resolve`, the viewer role); only the round trip is
shared. One pipeline uses one connection, so the batched read takes no borrower slot of the
pool (``EngineRuntime.hold``): redis-py's own connection pool still bounds the connections. Redis
Cluster and servers that refuse scripts keep the unbatched path.
"""

from __future__ import annotations

import asyncio
import hashlib
from typing import Any

import redis.exceptions as rex

from redis_svc.clients import RedisHandle
from udb.batching import Coalescer
from udb.common.v1 import common_pb2
from udb.engine import EngineRuntime

#: One read: the client it goes through, the key, max_bytes.
MetaRead = tuple[RedisHandle, bytes, int]
Outcome = list[Any] | BaseException


def is_script_refusal(exc: rex.ResponseError) -> bool:
    """Whether the server refuses scripts (an ACL without EVALSHA, a managed Redis without Lua)."""
    if isinstance(exc, rex.NoPermissionError):
        return True
    message = str(exc).lower()
    return "unknown command" in message or "disabled" in message


class BatchedReads:
    """The meta script of GetKey, run for many calls at once (see the module)."""

    def __init__(self, runtime: EngineRuntime[RedisHandle], script: str) -> None:
        self._runtime = runtime
        self._script = script
        self._sha = hashlib.sha1(script.encode(), usedforsecurity=False).hexdigest()
        self._reads: Coalescer[MetaRead, list[Any]] = Coalescer(self._run)

    async def meta(self, target: common_pb2.ConnectionTarget, key: bytes, max_bytes: int) -> list[Any] | None:
        """The script's reply for one key, from a shared round trip; None when this target's
        Redis takes the unbatched path. Raises the API's errors (translated under the breaker)."""
        _, resolved = await self._runtime.resolve(target, common_pb2.ROLE_VIEWER)
        async with self._runtime.guard(resolved), self._runtime.hold(resolved) as handle:
            if handle.cluster or not handle.scripts:
                return None
            try:
                return await self._reads.submit((handle, key, max_bytes))
            except rex.ResponseError as exc:
                if not is_script_refusal(exc):
                    raise
                handle.scripts = False
                return None

    async def _run(self, reads: list[MetaRead]) -> list[Outcome]:
        """One pipeline per Redis among the reads (all at once), each read's outcome in order."""
        by_handle: dict[RedisHandle, list[int]] = {}
        for index, read in enumerate(reads):
            by_handle.setdefault(read[0], []).append(index)
        if len(by_handle) == 1:
            return await self._round_trip(reads[0][0], reads)
        outcomes: list[Outcome] = [Exception()] * len(reads)
        groups = list(by_handle.items())
        answers = await asyncio.gather(
            *(self._round_trip(handle, [reads[i] for i in indexes]) for handle, indexes in groups),
            return_exceptions=True,
        )
        for (_, indexes), answer in zip(groups, answers, strict=True):
            for position, index in enumerate(indexes):
                outcomes[index] = answer if isinstance(answer, BaseException) else answer[position]
        return outcomes

    async def _round_trip(self, handle: RedisHandle, reads: list[MetaRead]) -> list[Outcome]:
        outcomes = await self._pipeline(handle, reads)
        missing = [index for index, outcome in enumerate(outcomes) if isinstance(outcome, rex.NoScriptError)]
        if missing:
            await handle.ops.script_load(self._script)
            again = await self._pipeline(handle, [reads[index] for index in missing])
            for index, outcome in zip(missing, again, strict=True):
                outcomes[index] = outcome
        return outcomes

    async def _pipeline(self, handle: RedisHandle, reads: list[MetaRead]) -> list[Outcome]:
        async with handle.ops.pipeline(transaction=False) as pipe:
            for _, key, max_bytes in reads:
                pipe.execute_command("EVALSHA", self._sha, 1, key, max_bytes)
            outcomes: list[Outcome] = await pipe.execute(raise_on_error=False)
        return outcomes
