"""The gateway's router picks, for every path and method, the route Starlette's own router would pick."""

from __future__ import annotations

import itertools
import re
from typing import Any

from gateway.app import create_app
from gateway.routing import PrefixRouter
from gateway.settings import Settings
from starlette.routing import BaseRoute, Match

from udb.config import Env

_PARAM = re.compile(r"\{([a-z_]+)(:path)?\}")


def _router() -> PrefixRouter:
    settings = Settings.from_env(Env(environ={"JWT_SECRET": "r" * 40}, env_file=None))
    app = create_app(settings)
    mount = next(route for route in app.routes if getattr(route, "path", "") == "/api/platform")
    router = mount.app  # type: ignore[attr-defined]
    assert isinstance(router, PrefixRouter)
    return router


def _starlette_choice(routes: list[BaseRoute], scope: dict[str, Any]) -> tuple[BaseRoute | None, Match]:
    """The route Starlette's Router.app would hand the request to: the first full match, else the first partial."""
    partial = None
    for route in routes:
        match, _ = route.matches(scope)
        if match is Match.FULL:
            return route, Match.FULL
        if match is Match.PARTIAL and partial is None:
            partial = route
    return partial, Match.PARTIAL if partial is not None else Match.NONE


def _paths(templates: list[str]) -> set[str]:
    """Each template filled with plain values, values with slashes for path parameters, and the near misses
    (trailing slash, one segment cut or added, unknown words where the literals were)."""
    paths = {"/", "/nothing", "/redis", "/redis/", "/redis/x", "/redis/x/", "/x/y/z", "/redis/ref/unknown/k"}
    for template in templates:
        for value, spanning in (("ref-1", "a/b/c"), ("keys", "keys/x/expire"), ("x", "x")):
            filled = _PARAM.sub(lambda m, v=value, s=spanning: s if m.group(2) else v, template)
            paths |= {filled, filled + "/", filled.rsplit("/", 1)[0], filled + "/extra"}
            paths.add("/".join("other" if i == 3 else part for i, part in enumerate(filled.split("/"))))
    return paths


def test_the_prefix_router_picks_the_route_starlette_would() -> None:
    """Over every route's paths, their near misses and every method, the router's candidates give the same
    first full (or partial) match as Starlette's loop over all routes, or none where it finds none."""
    router = _router()
    templates = [str(getattr(route, "path", "")) for route in router.routes]
    checked = 0
    for path, method in itertools.product(sorted(_paths(templates)), ("GET", "POST", "PUT", "PATCH", "DELETE")):
        for kind in ("http", "websocket"):
            scope: dict[str, Any] = {"type": kind, "path": path, "root_path": "", "method": method}
            expected = _starlette_choice(router.routes, scope)
            assert _starlette_choice(router.candidates(path), scope) == expected, (kind, method, path)
            checked += 1
    assert checked > 5000


def test_the_prefix_router_narrows_the_hot_routes() -> None:
    """A key read, a document read and a SQL query try only the few routes of their resource."""
    router = _router()
    assert len(router.candidates("/redis/ref-1/keys/k")) <= 4
    assert len(router.candidates("/pg-meta/ref-1/query")) <= 4
    assert len(router.candidates("/mongodb/ref-1/databases/db/collections/c/documents/1")) < 20
