"""Redis routes: `/redis/[ref]/...` (keys, pub/sub, info, stats)."""

from __future__ import annotations

from starlette.routing import BaseRoute

routes: list[BaseRoute] = []
