"""udb.tasks.cancel_and_wait: a background task's cancellation is absorbed, the caller's is not."""

from __future__ import annotations

import asyncio

import pytest

from udb.tasks import cancel_and_wait


async def _forever() -> None:
    await asyncio.sleep(3600)


async def test_the_task_is_cancelled_and_waited_for() -> None:
    """The task has ended when the call returns, and its cancellation is not raised."""
    task = asyncio.create_task(_forever())
    await asyncio.sleep(0)
    await cancel_and_wait(task)
    assert task.cancelled()
    await cancel_and_wait(None)


async def test_a_cancellation_of_the_caller_is_not_swallowed() -> None:
    """A caller cancelled while it waits for a task that is slow to end is cancelled itself."""
    ending = asyncio.Event()

    async def slow_to_end() -> None:
        try:
            await asyncio.sleep(3600)
        finally:
            await ending.wait()

    task = asyncio.create_task(slow_to_end())
    await asyncio.sleep(0)
    closer = asyncio.create_task(cancel_and_wait(task))
    await asyncio.sleep(0)
    closer.cancel()
    ending.set()
    with pytest.raises(asyncio.CancelledError):
        await closer
    assert closer.cancelled()


async def test_an_error_the_task_ended_with_is_raised() -> None:
    """A task that failed on its own does not fail silently at close."""

    async def failing() -> None:
        raise RuntimeError("boom")

    task = asyncio.create_task(failing())
    await asyncio.sleep(0)
    with pytest.raises(RuntimeError, match="boom"):
        await cancel_and_wait(task)
