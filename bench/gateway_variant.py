"""The gateway as a measured variant, for bench/profile_gateway.py (not a way to run the gateway).

``build()`` is the gateway app from ``Settings.from_env()``, as ``python -m gateway`` makes it
(``GATEWAY_VARIANT=gateway``, the default), or with ``GATEWAY_VARIANT=bare`` no gateway at all: one Starlette
route answering a fixed reply of the same size at the same path (the HTTP server's own floor).

    python bench/gateway_variant.py uvicorn                              # on GATEWAY_ADDR
    python -m granian --interface asgi --loop uvloop --factory gateway_variant:build ...
"""

from __future__ import annotations

import os
import sys

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

VARIANT = os.environ.get("GATEWAY_VARIANT", "gateway")
BARE_REPLY = b'{"key":"bench:small","type":"string","ttl":-1,"size":12,"encoding":"embstr","value":"hello, world"}'


def build() -> Starlette:
    """The app of the variant named by ``GATEWAY_VARIANT``."""
    if VARIANT == "bare":

        async def key(request: Request) -> Response:
            return Response(BARE_REPLY, media_type="application/json; charset=utf-8")

        return Starlette(routes=[Route("/api/platform/redis/{ref}/keys/{key:path}", key)])
    from gateway.app import create_app
    from gateway.settings import Settings

    return create_app(Settings.from_env())


def main() -> int:
    import uvicorn

    host, _, port = os.environ["GATEWAY_ADDR"].rpartition(":")
    uvicorn.run(
        build(),
        host=host,
        port=int(port),
        loop="uvloop",
        http="httptools",
        lifespan="on",
        access_log=False,
        log_config=None,
        log_level="warning",
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
