"""PyMongo's waits inside an operation's time limit, bounded as they are outside one.

Every operation here runs under ``pymongo.timeout(<the caller's deadline>)`` (Client Side
Operations Timeout). Under it PyMongo 4.x changes two things that make a database that is down,
or that cuts its replies, hold the call (and its pool slot) for the caller's whole 30 s and
answer 504 instead of a prompt 503:

- server selection waits the whole remaining time, where the CSOT specification bounds it by
  ``computedServerSelectionTimeout = min(serverSelectionTimeoutMS, remaining timeoutMS)`` (as
  the Java and Node drivers do). Here it is bounded so, and shorter still (``RECHECK_S``) while
  every server of the deployment is one the driver saw fail moments ago (a refused or lost
  connection): that selection only gives the woken monitor time to re-check, and a deployment
  that has not been contacted yet keeps the whole timeout for its first handshake;
- a retryable read or write is retried any number of times until the time is up, where outside
  a time limit it is retried once: a server whose monitor check passes but whose replies are cut
  is retried in a loop.

:func:`install` restores both bounds (selection by ``serverSelectionTimeoutMS``, one retry), once
per process; it refuses to start when PyMongo no longer has what it replaces, so an upgrade that
moves them stops the service rather than silently bringing the 30 s waits back.
"""

from __future__ import annotations

import functools
import inspect
from typing import Any

import pymongo.asynchronous.mongo_client as mongo_client
from pymongo import _csot
from pymongo.asynchronous.topology import Topology

#: The bound of a selection on a deployment whose every server was seen failing. PyMongo's selection
#: asks the monitors to check again and sleeps until the topology changes or one step
#: (``MIN_HEARTBEAT_INTERVAL``, 0.5 s) passes, then gives up if the bound is past. A woken monitor
#: checks at its next poll, within one step; so with a bound this short the selection ends at that
#: check, served if the database is back and failed if not, or after one step if the check is
#: slow: within about 0.5 s. A bound of a whole step made it wait for one check more (up to 1.0 s).
RECHECK_S = 0.05

_installed = False


def _bounded_selection_timeout(self: Topology) -> float:
    bound: float = self._settings.server_selection_timeout
    servers = self._description.server_descriptions().values()
    if servers and all(server.error is not None for server in servers):
        bound = min(bound, RECHECK_S)
    remaining = _csot.remaining()
    return bound if remaining is None else min(bound, remaining)


def install() -> None:
    """Bounds server selection and retries of this process's async clients (idempotent)."""
    global _installed
    if _installed:
        return
    retryable = getattr(mongo_client, "_ClientConnectionRetryable", None)
    selection = getattr(Topology, "get_server_selection_timeout", None)
    if (
        retryable is None
        or selection is None
        or inspect.iscoroutinefunction(selection)
        or not hasattr(retryable, "_max_retries")
    ):
        raise RuntimeError("this PyMongo's server selection or retries cannot be bounded (see mongo_svc/failfast.py)")
    original_init = retryable.__init__

    @functools.wraps(original_init)
    def init_with_one_retry(self: Any, *args: Any, **kwargs: Any) -> None:
        original_init(self, *args, **kwargs)
        self._max_retries = min(self._max_retries, 1)

    retryable.__init__ = init_with_one_retry
    Topology.get_server_selection_timeout = _bounded_selection_timeout  # type: ignore[assignment,method-assign]
    _installed = True
