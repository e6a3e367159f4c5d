"""``python -m mongo_svc``."""

import sys

from mongo_svc.server import create_server
from mongo_svc.settings import Settings
from udb.server import main

if __name__ == "__main__":
    sys.exit(main(Settings.from_env, create_server))
