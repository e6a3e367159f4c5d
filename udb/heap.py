"""The cycle collector's settings for a serving process, applied once it has started.

A request's objects are freed by reference counting as soon as it ends; the cycle collector only
has to find the rare cycles (an exception's traceback, a task that holds its own future). At
Python's default threshold (700 new containers) it ran a young pass every ten or so requests, and
every tenth of those an older pass, which walked everything made at start-up too: modules,
protobuf descriptors, Starlette's routes, grpc objects. Counted in the gateway at 64 callers, over
runs of 12,000-16,000 Redis GETs: 1,398-1,816 young, 127-165 middle and 12-15 full passes,
0.80-0.97 s in all, 49-78 µs a request. :func:`settle` moves what start-up made out of the
collector's sight (``gc.freeze``) and raises the young threshold; over the same runs the gateway
then ran no pass after start-up.
"""

from __future__ import annotations

import gc

#: New containers between two passes over the youngest generation (Python's default: 700).
YOUNG_THRESHOLD = 50_000


def settle() -> None:
    """Once start-up is over: collect what it left, freeze the rest, raise the young threshold."""
    gc.collect()
    gc.freeze()
    _, middle, old = gc.get_threshold()
    gc.set_threshold(YOUNG_THRESHOLD, middle, old)
