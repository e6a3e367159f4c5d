"""The cycle collector's settings for a serving process, applied once it has started.

A request's objects are freed by reference counting as soon as it ends; the cycle collector only
has to find the rare cycles (an exception's traceback, a task that holds its own future). At
Python's default threshold it ran every 700 new containers (every few requests), and each of its
older passes walked everything made at start-up too: modules, protobuf descriptors, Starlette's
routes, grpc objects. :func:`settle` moves what start-up made out of its sight (``gc.freeze``)
and lets young objects pile up for longer, so a pass runs every few hundred requests.
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
