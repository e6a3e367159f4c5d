"""MongoDB routes: `/mongodb/[ref]/...` (databases, collections, documents, aggregate, indexes)."""

from __future__ import annotations

from starlette.routing import BaseRoute

routes: list[BaseRoute] = []
