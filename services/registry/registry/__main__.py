"""``python -m registry [serve|migrate|rotate-keys]``."""

from __future__ import annotations

import argparse
import asyncio
import sys

from registry.secrets import KeyRotationError, rotate_keys
from registry.server import create_server
from registry.settings import Settings
from registry.store import open_pool
from udb.config import ConfigError
from udb.crypto import SecretBox
from udb.errors import DatabaseError
from udb.logs import configure_logging
from udb.server import main as serve


async def _migrate(settings: Settings) -> None:
    pool = await open_pool(settings)  # opening applies the migrations
    await pool.close()


async def _rotate(settings: Settings) -> int:
    box = SecretBox.from_settings(settings.encryption_key, settings.encryption_key_old)
    pool = await open_pool(settings)
    try:
        return await rotate_keys(pool, box)
    finally:
        await pool.close()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="registry", description="The Unified Database API registry service.")
    parser.add_argument(
        "command",
        nargs="?",
        default="serve",
        choices=["serve", "migrate", "rotate-keys"],
        help="serve (default); migrate: apply the platform schema's migrations; rotate-keys: re-encrypt "
        "every secret with DATABASE_ENCRYPTION_KEY (DATABASE_ENCRYPTION_KEY_OLD holding the previous key)",
    )
    args = parser.parse_args(argv)
    if args.command == "serve":
        try:
            return serve(Settings.from_env, create_server)
        except DatabaseError as exc:  # the platform database cannot be reached at start
            print(f"registry: {exc.message}", file=sys.stderr)
            return 1
    try:
        settings = Settings.from_env()
        configure_logging(settings.name, level=settings.log_level, json_lines=settings.log_json)
        if args.command == "migrate":
            asyncio.run(_migrate(settings))
        else:
            moved = asyncio.run(_rotate(settings))
            print(f"re-encrypted {moved} secrets with the current key; every secret now uses it")
    except ConfigError as exc:
        print(f"registry: configuration error: {exc}", file=sys.stderr)
        return 2
    except KeyRotationError as exc:
        print(f"registry: key rotation incomplete: {exc}", file=sys.stderr)
        return 1
    except DatabaseError as exc:
        print(f"registry: {exc.message}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
