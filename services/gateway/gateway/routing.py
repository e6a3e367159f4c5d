"""Routing by the path's literal segments: Starlette's router, without trying every route in turn.

Starlette's :class:`~starlette.routing.Router` matches a request against each route in order, a
regular expression each: with the whole API (over a hundred routes) that was the largest single
cost of a Redis GET in the gateway's profile. :class:`PrefixRouter` keeps the same routes and
order but first sets aside those that cannot match at all: a route whose first or third segment
is literal text (``/redis/{ref}/keys/...``) can only match a path with that text there. What is
left, in the list's order, is tried as Starlette would try it, so the first full match is the one
Starlette would find. A request that nothing left matches (a 404, a 405, a redirect) goes through
Starlette's own loop over every route, so what answers is always what Starlette would answer.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence

from starlette._utils import get_route_path
from starlette.routing import BaseRoute, Match, Route, Router, WebSocketRoute
from starlette.types import Receive, Scope, Send

#: The positions of the segments that sort routes (the engine or resource, then what follows [ref]).
_SORTING_POSITIONS = (0, 2)


class _Any:
    """A route's segment that is a parameter: it matches any text."""


class _Absent:
    """A path or route with no segment at that position."""


class _Other:
    """A path's segment whose text no route names (only routes with a parameter there fit)."""


ANY = _Any()
ABSENT = _Absent()
OTHER = _Other()
Segment = str | _Any | _Absent | _Other


def path_segments(path: str) -> tuple[Segment, ...]:
    """A request path's segments at the sorting positions (``ABSENT`` past its end)."""
    parts = path.split("/", _SORTING_POSITIONS[-1] + 2)[1:]
    return tuple(parts[i] if i < len(parts) else ABSENT for i in _SORTING_POSITIONS)


def route_segments(template: str) -> tuple[Segment, ...]:
    """A route template's segments at the sorting positions: literal text, ``ANY`` for a parameter
    (and for every position from a ``{name:path}`` on, which spans slashes), ``ABSENT`` past its end."""
    parts = template.split("/")[1:]
    spans = next((i for i, part in enumerate(parts) if part.startswith("{") and ":path}" in part), len(parts))
    found: list[Segment] = []
    for i in _SORTING_POSITIONS:
        if i >= spans:
            found.append(ANY)
        elif i >= len(parts):
            found.append(ABSENT)
        else:
            found.append(ANY if "{" in parts[i] else parts[i])
    return tuple(found)


def _may_match(route: tuple[Segment, ...], path: tuple[Segment, ...]) -> bool:
    return all(r is ANY or r == p for r, p in zip(route, path, strict=True))


class PrefixRouter(Router):
    """A router over ``routes`` that tries only the routes whose literal segments fit the path."""

    def __init__(self, routes: Sequence[BaseRoute]) -> None:
        super().__init__(routes=list(routes))
        shapes = [_shape_of(route) for route in self.routes]
        # Every combination of literal texts the routes name, plus "none of them" (OTHER) and
        # "no segment" at each position: a path maps to exactly one of these keys.
        choices: list[set[Segment]] = [
            {shape[i] for shape in shapes if isinstance(shape[i], str)} | {OTHER, ABSENT}
            for i in range(len(_SORTING_POSITIONS))
        ]
        self._known = choices
        #: For each key, the routes that can match such a path, in the list's order.
        self.groups: dict[tuple[Segment, ...], list[BaseRoute]] = {}
        for key in itertools.product(*choices):
            fitting = zip(self.routes, shapes, strict=True)
            self.groups[key] = [route for route, shape in fitting if _may_match(shape, key)]

    def candidates(self, path: str) -> list[BaseRoute]:
        """The routes, in order, that can match ``path`` (relative to the router)."""
        segments = path_segments(path)
        key = tuple(
            segment if segment is ABSENT or segment in known else OTHER
            for segment, known in zip(segments, self._known, strict=True)
        )
        return self.groups[key]

    async def app(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await super().app(scope, receive, send)
            return
        scope.setdefault("router", self)
        partial: BaseRoute | None = None
        partial_scope: Scope = {}
        for route in self.candidates(get_route_path(scope)):
            match, child_scope = route.matches(scope)
            if match is Match.FULL:
                scope["route"] = route
                scope.update(child_scope)
                await route.handle(scope, receive, send)
                return
            if match is Match.PARTIAL and partial is None:
                partial, partial_scope = route, child_scope
        if partial is not None:
            scope["route"] = partial
            scope.update(partial_scope)
            await partial.handle(scope, receive, send)
            return
        await super().app(scope, receive, send)  # no route: Starlette's redirect or 404


def _shape_of(route: BaseRoute) -> tuple[Segment, ...]:
    # A mount (or any other kind of route) may match below its own path: it fits every path.
    if isinstance(route, Route | WebSocketRoute):
        return route_segments(route.path)
    return (ANY,) * len(_SORTING_POSITIONS)
