"""Postgres routes in postgres-meta's shapes: `/pg-meta/[ref]/...`."""

from __future__ import annotations

from starlette.routing import BaseRoute

routes: list[BaseRoute] = []
