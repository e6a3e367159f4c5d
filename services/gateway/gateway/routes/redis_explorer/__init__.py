"""The Redis explorer's routes: the key tree, the command workbench, streams, bulk delete,
keyspace analysis, the slow log, the client list and the command monitor.

Binary-safe like the key routes: a key, prefix or pattern in the query is UTF-8, or base64url
with ``?encoding=base64``; a body's binary parts are base64 with ``"encoding": "base64"``; a
reply row whose bytes are not UTF-8 carries ``"encoding": "base64"`` and its binary parts in
base64. Writes are audited by the gateway's middleware (every POST and DELETE, by route); the
roles are checked by the gateway and again, per operation, by redis-svc.
"""

from __future__ import annotations

from starlette.routing import BaseRoute

from gateway.routes.redis_explorer import bulk, insight, keys, monitor, streams

routes: list[BaseRoute] = [*keys.ROUTES, *streams.ROUTES, *bulk.ROUTES, *insight.ROUTES, *monitor.ROUTES]
