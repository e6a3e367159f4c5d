"""udb.heap: what start-up made leaves the collector's sight, young objects are collected less often,
and cycles made after it are still collected."""

from __future__ import annotations

import gc
import weakref
from collections.abc import Iterator

import pytest

from udb import heap


@pytest.fixture
def restored_gc() -> Iterator[None]:
    threshold = gc.get_threshold()
    try:
        yield
    finally:
        gc.unfreeze()
        gc.set_threshold(*threshold)


class _Node:
    def __init__(self) -> None:
        self.me = self


def test_settle_freezes_start_up_and_raises_the_young_threshold(restored_gc: None) -> None:
    _, middle, old = gc.get_threshold()
    made_at_start = [_Node() for _ in range(10)]
    heap.settle()
    assert gc.get_freeze_count() >= len(made_at_start)
    assert gc.get_threshold() == (heap.YOUNG_THRESHOLD, middle, old)


def test_a_cycle_made_after_settle_is_still_collected(restored_gc: None) -> None:
    heap.settle()
    cycle = _Node()
    gone = weakref.ref(cycle)
    del cycle
    assert gone() is not None  # a cycle: reference counting alone does not free it
    gc.collect()
    assert gone() is None
