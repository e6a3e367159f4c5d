"""``python -m pg_svc``."""

import sys

from pg_svc.server import create_server
from pg_svc.settings import Settings
from udb.server import main

if __name__ == "__main__":
    sys.exit(main(Settings.from_env, create_server))
