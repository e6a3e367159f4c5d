"""The coalescer that batches what concurrent calls ask of a driver (udb.batching).

The batch function here is a plain coroutine: these tests pin the grouping and the outcomes. redis-svc's
batched reads run it against a real Redis (tests/integration/test_redis_batching.py).
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

import pytest

from udb.batching import Coalescer


class Recorder:
    """Answers each item with its double (negative items fail alone) and records the batches."""

    def __init__(self, *, fail_all: Exception | None = None) -> None:
        self.batches: list[list[int]] = []
        self.fail_all = fail_all

    async def run(self, items: list[int]) -> Sequence[int | BaseException]:
        self.batches.append(items)
        await asyncio.sleep(0)
        if self.fail_all is not None:
            raise self.fail_all
        return [ValueError(f"bad {item}") if item < 0 else item * 2 for item in items]


async def test_what_is_asked_in_one_loop_turn_is_one_batch() -> None:
    """Items submitted by tasks that run in the same loop turn go out as one batch; a later turn starts another."""
    recorder = Recorder()
    coalescer: Coalescer[int, int] = Coalescer(recorder.run)
    assert await asyncio.gather(*(coalescer.submit(n) for n in range(5))) == [0, 2, 4, 6, 8]
    assert await coalescer.submit(7) == 14
    assert recorder.batches == [[0, 1, 2, 3, 4], [7]]


async def test_an_item_that_fails_fails_alone() -> None:
    """An item's own error reaches only its caller; the others of the batch get their results."""
    coalescer: Coalescer[int, int] = Coalescer(Recorder().run)
    outcomes = await asyncio.gather(*(coalescer.submit(n) for n in (1, -1, 3)), return_exceptions=True)
    assert outcomes[0] == 2
    assert isinstance(outcomes[1], ValueError)
    assert outcomes[2] == 6


async def test_a_batch_that_fails_fails_every_item() -> None:
    """When the batch itself fails (a lost connection), every caller gets that error."""
    coalescer: Coalescer[int, int] = Coalescer(Recorder(fail_all=ConnectionError("gone")).run)
    outcomes = await asyncio.gather(*(coalescer.submit(n) for n in range(3)), return_exceptions=True)
    assert all(isinstance(outcome, ConnectionError) for outcome in outcomes)


async def test_batches_are_capped() -> None:
    """More items than max_batch in one turn go out as several batches."""
    recorder = Recorder()
    coalescer: Coalescer[int, int] = Coalescer(recorder.run, max_batch=2)
    assert await asyncio.gather(*(coalescer.submit(n) for n in range(5))) == [0, 2, 4, 6, 8]
    assert recorder.batches == [[0, 1], [2, 3], [4]]


async def test_a_caller_that_gives_up_does_not_disturb_the_batch() -> None:
    """A caller cancelled while its batch runs is cancelled; the others get their results."""
    coalescer: Coalescer[int, int] = Coalescer(Recorder().run)
    first = asyncio.ensure_future(coalescer.submit(1))
    second = asyncio.ensure_future(coalescer.submit(2))
    await asyncio.sleep(0)
    first.cancel()
    assert await second == 4
    with pytest.raises(asyncio.CancelledError):
        await first
