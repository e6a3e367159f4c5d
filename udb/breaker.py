"""A circuit breaker per target: a database known to be down fails calls at once with 503.

Without it every call to a dead target waits out its own connect or server-selection timeout
while holding a pool slot, the calls behind it queue for the slots, and the caller gets a 504
after the whole deadline instead of a prompt 503. With it:

- **closed**: calls go through. ``failure_threshold`` outages in a row (a connection refused,
  reset or timed out while connecting, a reply the driver cannot read: :func:`is_outage`) open it.
- **open**: calls fail at once with :class:`~udb.errors.Unavailable`, the last outage's message and
  a ``retry_after`` detail (the gateway's ``Retry-After``) until the open interval ends. Each
  reopening doubles the interval, up to ``open_max_s``. Each interval ends at a random point of
  its second half: a probe timed from the last failure lands in step with a driver's periodic
  work (PyMongo's monitor wakes every 0.5 s, so a probe 1, 2, 4 or 5 s after a failed check came
  just before its next check and failed as the database came back), and replicas' probes of one
  database do not come together.
- **half-open**: one call at a time goes through as a probe, the others still fail at once. A
  probe that reaches the database closes the breaker; one that meets an outage reopens it.

A database that answers with an error (a bad query, a missing key, a refused permission) is up:
that closes the breaker as a success does. A call that ran out of time or was cancelled says
nothing either way. Breakers are per connection record and process; editing or deleting the
record resets its breaker (:meth:`Breakers.reset`).
"""

from __future__ import annotations

import contextlib
import enum
import logging
import math
import random
import time
from collections import Counter
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass

from udb.errors import DatabaseError, Unavailable

log = logging.getLogger("udb.breaker")

#: An engine's translation of its driver's exceptions into the API's.


class State(enum.StrEnum):
    CLOSED = "closed"
    OPEN = "open"
    HALF_OPEN = "half_open"


@dataclass(frozen=True, kw_only=True)
class BreakerPolicy:
    """When a breaker opens and for how long (:class:`udb.config.ServiceSettings` sets them)."""

    #: Outages in a row that open the breaker.
    failure_threshold: int = 3
    #: The first open interval; each reopening without a success in between doubles it...
    open_s: float = 1.0
    #: ...up to this.
    open_max_s: float = 5.0

    def __post_init__(self) -> None:
        if self.failure_threshold < 1:
            raise ValueError("failure_threshold must be at least 1")
        if self.open_s <= 0 or self.open_max_s < self.open_s:
            raise ValueError("open_s must be positive and open_max_s at least open_s")


class Outcome(enum.Enum):
    """What a call's end says about its target."""

    #: The database answered (with a result or with an error of its own).
    ANSWERED = "answered"
    #: The database could not be reached or read.
    OUTAGE = "outage"
    #: Nothing either way: the call ran out of time, was cancelled, or failed on our side.
    UNKNOWN = "unknown"


class NotAnOutage(Unavailable):
    """An Unavailable that says nothing about the target's health (every pool slot busy, for
    example): the breaker does not count it."""


def is_outage(exc: BaseException) -> bool:
    """Whether an exception from a call means its target is down: the engines' translation of
    a connection refused, reset or timed out while connecting, of a reply that is not the
    database's protocol, or refused credentials (all :class:`Unavailable`), or a socket error
    that escaped translation."""
    if isinstance(exc, NotAnOutage):
        return False
    return isinstance(exc, Unavailable) or (isinstance(exc, OSError) and not isinstance(exc, TimeoutError))


def outcome_of(exc: BaseException | None) -> Outcome:
    if exc is None:
        return Outcome.ANSWERED
    if is_outage(exc):
        return Outcome.OUTAGE
    if isinstance(exc, DatabaseError) and exc.code not in ("deadline_exceeded", "internal", "unavailable"):
        return Outcome.ANSWERED
    return Outcome.UNKNOWN


def retry_after_s(seconds: float) -> int:
    """HTTP's ``Retry-After`` is whole seconds: rounded up, at least 1."""
    return max(1, math.ceil(seconds))


class Breaker:
    """The state of one target."""

    __slots__ = ("failures", "last_message", "open_s", "opened_until", "probing", "state")

    def __init__(self, policy: BreakerPolicy) -> None:
        self.state = State.CLOSED
        self.failures = 0
        self.open_s = policy.open_s
        self.opened_until = 0.0
        self.probing = False
        self.last_message = ""


class Breakers:
    """The breakers of one engine's targets, keyed by ``(project_id, connection_id)``."""

    def __init__(
        self,
        engine: str,
        policy: BreakerPolicy | None = None,
        *,
        clock: Callable[[], float] = time.monotonic,
        spread: Callable[[], float] = random.random,
    ) -> None:
        self.engine = engine
        self.policy = policy or BreakerPolicy()
        self._clock = clock
        #: A draw in [0, 1): where in its second half an open interval ends.
        self._spread = spread
        self._breakers: dict[tuple[str, str], Breaker] = {}
        #: Transitions into each state over the process's life (a metric's counter).
        self.transitions: Counter[State] = Counter({state: 0 for state in State})

    def state(self, project_id: str, connection_id: str) -> State:
        breaker = self._breakers.get((project_id, connection_id))
        return State.CLOSED if breaker is None else breaker.state

    def open_count(self) -> int:
        """Targets whose breaker is open or half-open (failing calls at once)."""
        return sum(1 for breaker in self._breakers.values() if breaker.state is not State.CLOSED)

    @contextlib.asynccontextmanager
    async def guard(self, project_id: str, connection_id: str) -> AsyncIterator[None]:
        """Lets a call to the target through, or fails it at once while the target is known to
        be down; records how the call ended, judged by the API's error the body raised (the
        body translates the driver's). Every Unavailable that leaves here carries a
        ``retry_after`` detail."""
        key = (project_id, connection_id)
        breaker = self._breakers.get(key)
        probe = False
        if breaker is not None and breaker.state is not State.CLOSED:
            probe = self._admit(breaker)
        try:
            yield
        except Exception as exc:
            self._record(key, outcome_of(exc), probe, exc)
            if isinstance(exc, Unavailable):
                exc.details.setdefault("retry_after", str(self._retry_after(key)))
            raise
        except BaseException as exc:  # cancelled: says nothing about the target
            self._record(key, outcome_of(exc), probe, exc)
            raise
        else:
            self._record(key, Outcome.ANSWERED, probe, None)

    def reset(self, *, connection_id: str | None = None, project_id: str | None = None) -> int:
        """Forgets the breakers of a changed or deleted record (or of every record of a project)."""
        keys = [key for key in self._breakers if key[1] == connection_id or key[0] == project_id]
        for key in keys:
            if self._breakers.pop(key).state is not State.CLOSED:
                self.transitions[State.CLOSED] += 1
        return len(keys)

    def _admit(self, breaker: Breaker) -> bool:
        """For a breaker that is not closed: True when this call is the probe, else fails it."""
        now = self._clock()
        if breaker.state is State.OPEN and now >= breaker.opened_until:
            self._move(breaker, State.HALF_OPEN)
        if breaker.state is State.HALF_OPEN and not breaker.probing:
            breaker.probing = True
            return True
        wait = max(breaker.opened_until - now, 0.0) if breaker.state is State.OPEN else self.policy.open_s
        raise Unavailable(
            f"{breaker.last_message} (failing fast: the database was unreachable moments ago)",
            details={"retry_after": retry_after_s(wait), "breaker": breaker.state.value},
        )

    def _record(self, key: tuple[str, str], outcome: Outcome, probe: bool, exc: BaseException | None) -> None:
        breaker = self._breakers.get(key)
        if probe and breaker is not None:
            breaker.probing = False
        if outcome is Outcome.ANSWERED:
            if breaker is not None:
                if breaker.state is not State.CLOSED:
                    self._move(breaker, State.CLOSED)
                del self._breakers[key]
            return
        if outcome is Outcome.UNKNOWN:
            return
        if breaker is None:
            breaker = self._breakers[key] = Breaker(self.policy)
        breaker.failures += 1
        if isinstance(exc, DatabaseError):
            breaker.last_message = exc.message
        elif not breaker.last_message:
            breaker.last_message = f"{self.engine}: the database cannot be reached"
        if breaker.state is State.HALF_OPEN and probe:
            breaker.open_s = min(breaker.open_s * 2, self.policy.open_max_s)
            self._open(breaker, key)
        elif breaker.state is State.CLOSED and breaker.failures >= self.policy.failure_threshold:
            self._open(breaker, key)

    def _open(self, breaker: Breaker, key: tuple[str, str]) -> None:
        open_for = breaker.open_s * (1 - self._spread() / 2)
        breaker.opened_until = self._clock() + open_for
        self._move(breaker, State.OPEN)
        log.warning(
            "circuit open: calls to the target fail at once",
            extra={
                "engine": self.engine,
                "project_id": key[0],
                "connection_id": key[1],
                "open_s": round(open_for, 3),
                "failures": breaker.failures,
            },
        )

    def _move(self, breaker: Breaker, state: State) -> None:
        breaker.state = state
        self.transitions[state] += 1

    def _retry_after(self, key: tuple[str, str]) -> int:
        breaker = self._breakers.get(key)
        if breaker is None or breaker.state is not State.OPEN:
            return retry_after_s(self.policy.open_s)
        return retry_after_s(breaker.opened_until - self._clock())
