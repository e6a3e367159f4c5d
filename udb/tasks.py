"""Background tasks of a long-lived object (a pool's cleanup, a watch, a sync loop)."""

from __future__ import annotations

import asyncio
from typing import Any


async def cancel_and_wait(task: asyncio.Task[Any] | None) -> None:
    """Cancels ``task`` and waits until it has ended (nothing when None).

    Its cancellation is expected and not raised; a cancellation of the caller itself still is
    (``suppress(CancelledError)`` around the wait would swallow that one too). An error the task
    ended with is raised.
    """
    if task is None:
        return
    task.cancel()
    try:
        await task
    except asyncio.CancelledError:
        current = asyncio.current_task()
        if current is not None and current.cancelling():
            raise
