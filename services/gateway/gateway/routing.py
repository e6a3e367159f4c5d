"""Routing by the path's first segment: Starlette's router, without trying every route in turn.

Starlette's :class:`~starlette.routing.Router` matches a request against each route in order, a
regular expression each: with the whole API (dozens of routes) that was the largest single cost
of a Redis GET in the gateway's profile. :class:`PrefixRouter` keeps the same routes and order
but first picks those that can match at all, by the first segment of the path: the routes whose
first segment is that literal, and those whose first segment is a parameter (``/{engine}/...``),
in their order in the list. A request no group matches (a 404, a redirect) goes through
Starlette's own loop over every route, so what answers is always what Starlette would answer.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from starlette._utils import get_route_path
from starlette.routing import BaseRoute, Match, Router
from starlette.types import Receive, Scope, Send

_LITERAL_SEGMENT = re.compile(r"^/([^/{}]+)(?:/|$)")


def first_segment(path: str) -> str | None:
    """The path's first segment when it is literal text (None for a parameter or the root)."""
    found = _LITERAL_SEGMENT.match(path)
    return found.group(1) if found else None


class PrefixRouter(Router):
    """A router over ``routes`` that tries only the routes of the request's first segment."""

    def __init__(self, routes: Sequence[BaseRoute]) -> None:
        super().__init__(routes=list(routes))
        literal = {segment for route in self.routes if (segment := _segment_of(route)) is not None}
        #: For each literal first segment, the routes that can match it, in the list's order.
        self.groups: dict[str, list[BaseRoute]] = {
            segment: [route for route in self.routes if _segment_of(route) in (segment, None)] for segment in literal
        }
        self.unsegmented: list[BaseRoute] = [route for route in self.routes if _segment_of(route) is None]

    async def app(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await super().app(scope, receive, send)
            return
        scope.setdefault("router", self)
        segment = first_segment(get_route_path(scope))
        candidates = self.groups.get(segment, self.unsegmented) if segment is not None else self.unsegmented
        partial: BaseRoute | None = None
        partial_scope: Scope = {}
        for route in candidates:
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


def _segment_of(route: BaseRoute) -> str | None:
    path = getattr(route, "path", None)
    return first_segment(path) if isinstance(path, str) else None
