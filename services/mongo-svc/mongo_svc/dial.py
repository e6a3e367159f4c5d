"""Every connection PyMongo opens, checked by the network policy first.

A client dials far more than the record's host: the targets of a ``mongodb+srv`` name, the
replica-set members its servers announce (at any time), for its monitors as for operations.
PyMongo offers no hook on those dials (no socket factory, no resolver setting), but it opens
every one of them through a single module function, ``pymongo.pool_shared.
_async_create_connection(address, options)``. :func:`install` replaces that function, once per
process, with :func:`_guarded_create_connection`, which

- finds the :class:`DialPolicy` among the event listeners of the client the pool belongs to
  (PyMongo hands a client's listeners to every pool it builds, the monitors' included),
- resolves the host and checks every address (:class:`udb.dialing.DialGuard`), refusing the dial
  when one is denied, and
- connects to the checked addresses only; TLS is then set up by PyMongo for the host name it
  asked for, so certificates are still verified against the name.

A client without a policy dials nothing (the replacement fails closed), and :func:`install`
refuses to start when PyMongo no longer has the function it replaces, so an upgrade that moves it
stops the service rather than silently unguarding it. The least bad of the choices: a listener
cannot veto a dial, and resolving the seeds ourselves would miss every host discovered later.
"""

from __future__ import annotations

import asyncio
import inspect
from collections.abc import Awaitable, Callable
from typing import Any

import pymongo.pool_shared as pool_shared
from pymongo.monitoring import (
    TopologyClosedEvent,
    TopologyDescriptionChangedEvent,
    TopologyListener,
    TopologyOpenedEvent,
)
from pymongo.pool_options import PoolOptions

from udb.dialing import AddressDenied, DialGuard

#: What PyMongo's own function looks like: (host, port) and the pool's options to a socket.
_CreateConnection = Callable[[tuple[str, int], PoolOptions], Awaitable[Any]]

_original: _CreateConnection | None = None


class DialPolicy(TopologyListener):
    """Carries a client's dial guard in its event listeners. As a listener it does nothing (a
    topology listener: its events are rare, unlike a pool listener's)."""

    def __init__(self, guard: DialGuard) -> None:
        self.guard = guard

    def opened(self, event: TopologyOpenedEvent) -> None:
        """Nothing."""

    def description_changed(self, event: TopologyDescriptionChangedEvent) -> None:
        """Nothing."""

    def closed(self, event: TopologyClosedEvent) -> None:
        """Nothing."""


def install() -> None:
    """Routes every PyMongo dial of this process through the policy check (idempotent)."""
    global _original
    if _original is not None:
        return
    original = getattr(pool_shared, "_async_create_connection", None)
    if original is None or not inspect.iscoroutinefunction(original):
        raise RuntimeError(
            "pymongo.pool_shared._async_create_connection is gone: this PyMongo cannot be guarded "
            "by the network policy (see mongo_svc/dial.py)"
        )
    _original = original
    pool_shared._async_create_connection = _guarded_create_connection  # type: ignore[assignment]


def _guard_of(options: PoolOptions) -> DialGuard | None:
    listeners = options._event_listeners
    for listener in listeners.event_listeners() if listeners is not None else ():
        if isinstance(listener, DialPolicy):
            return listener.guard
    return None


async def _guarded_create_connection(address: tuple[str, int], options: PoolOptions) -> Any:
    """PyMongo's connect, to the addresses of ``address`` that the client's policy allows."""
    assert _original is not None
    guard = _guard_of(options)
    if guard is None:
        raise AddressDenied("a client without a network policy")
    original = _original
    host, port = address
    # Addresses only, never the name: PyMongo would dial a name ending in ".sock" as a Unix
    # socket, and the guard refuses those (and any path) outright.
    return await guard.dial(host, port, lambda allowed: _connect(original, (allowed, port), options))


async def _connect(original: _CreateConnection, address: tuple[str, int], options: PoolOptions) -> Any:
    """PyMongo's connect, left to finish when its caller is cancelled (a deadline, a closing
    client): PyMongo closes its socket on a failed connect but not on a cancelled one, which
    would leak it. A connect finished after its caller left is closed at once."""
    connecting = asyncio.ensure_future(original(address, options))
    try:
        return await asyncio.shield(connecting)
    except asyncio.CancelledError:
        connecting.add_done_callback(_close_orphan)
        raise


def _close_orphan(connecting: asyncio.Future[Any]) -> None:
    if not connecting.cancelled() and connecting.exception() is None:
        connecting.result().close()
