"""The gateway keeps idle HTTP connections longer than the proxy in front of it does."""

from __future__ import annotations

import re
from pathlib import Path

from gateway.__main__ import server_config
from gateway.app import create_app
from gateway.settings import Settings

from udb.config import Env

_ENV = {"JWT_SECRET": "x" * 32, "SERVICE_TOKEN": "y" * 32}
ENVOY = Path(__file__).resolve().parents[2] / "deploy" / "envoy" / "envoy.yaml"


def _gateway_cluster_idle_timeout_s() -> float:
    text = ENVOY.read_text()
    cluster = text[text.index("  - name: gateway\n") :]
    cluster = cluster[: cluster.index("\n  - name: ", 1)]
    found = re.search(r"idle_timeout: (\d+)s", cluster)
    assert found, "Envoy's gateway cluster sets no idle_timeout"
    return float(found.group(1))


def test_the_gateway_outlasts_envoys_idle_upstream_connections() -> None:
    """Envoy closes an idle connection to the gateway before the gateway would: a server closing a
    kept-alive connection races the client's next request on it (which then fails)."""
    settings = Settings.from_env(Env(_ENV, env_file=None))
    config = server_config(create_app(settings), settings, host="127.0.0.1", port=0, loop="none")
    assert config.timeout_keep_alive > _gateway_cluster_idle_timeout_s()


def test_the_keep_alive_is_configurable() -> None:
    """HTTP_KEEP_ALIVE_S sets the gateway's idle connection time."""
    settings = Settings.from_env(Env({**_ENV, "HTTP_KEEP_ALIVE_S": "120"}, env_file=None))
    config = server_config(create_app(settings), settings, host="127.0.0.1", port=0, loop="none")
    assert config.timeout_keep_alive == 120
