"""``python -m gateway``: the gateway on uvicorn with uvloop and httptools."""

from __future__ import annotations

import sys

import uvicorn
from starlette.types import ASGIApp

from gateway.app import create_app
from gateway.settings import Settings
from gateway.shutdown import GatewayServer
from udb.config import ConfigError
from udb.logs import configure_logging
from udb.tracing import configure_tracing


def server_config(app: ASGIApp, settings: Settings, *, host: str, port: int, loop: str) -> uvicorn.Config:
    """The HTTP server's settings: here, and for the tests' gateway (their loop is their own)."""
    return uvicorn.Config(
        app,
        host=host,
        port=port,
        loop=loop,
        http="httptools",
        ws="websockets-sansio",
        lifespan="on",
        access_log=False,
        log_config=None,
        proxy_headers=False,
        timeout_keep_alive=max(1, round(settings.keep_alive_s)),
    )


def main() -> int:
    try:
        settings = Settings.from_env()
        configure_tracing(settings.name)
    except ConfigError as exc:
        print(f"gateway: configuration error: {exc}", file=sys.stderr)
        return 2
    configure_logging(settings.name, level=settings.log_level, json_lines=settings.log_json)
    app = create_app(settings, serve_metrics=True)
    config = server_config(app, settings, host=settings.host, port=settings.port, loop="uvloop")
    # The client's address is found by gateway.clientaddr (FORWARDED_ALLOW_IPS), once.

    async def close_ports() -> None:
        close = getattr(app.state, "close_ports", None)
        if close is not None:
            await close()

    server = GatewayServer(
        config, grace_s=settings.shutdown_grace_s, in_flight=app.state.in_flight, close_ports=close_ports
    )
    server.run()
    return 0


if __name__ == "__main__":
    sys.exit(main())
