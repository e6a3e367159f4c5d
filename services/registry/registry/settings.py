"""The registry's configuration."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Self

from udb.common.v1 import common_pb2
from udb.config import DEFAULT_ADDRESSES, ConfigError, Env, Secret, ServiceSettings

MIGRATIONS_DIR = Path(__file__).resolve().parent.parent / "database" / "migrations"


@dataclass(frozen=True, kw_only=True)
class Settings(ServiceSettings):
    """Where the platform database is, the encryption keys, the engine services.

    The guard on connection hosts is the shared ``network_policy`` (:mod:`udb.netpolicy`).
    """

    database_url: Secret
    encryption_key: Secret
    #: The previous key, kept for reading while `rotate-keys` moves every record to the new one.
    encryption_key_old: Secret | None = None
    engine_addresses: dict[int, str]
    db_pool_min: int = 1
    db_pool_max: int = 10
    #: Seconds an engine service has to answer a connection test.
    test_timeout_s: float = 10.0

    @classmethod
    def from_env(cls, env: Env | None = None) -> Self:
        env = env or Env()
        database_url = env.secret("REGISTRY_DATABASE_URL") or env.secret("DATABASE_URL")
        if database_url is None:
            raise ConfigError("REGISTRY_DATABASE_URL is required (the platform database)")
        key = env.secret("DATABASE_ENCRYPTION_KEY")
        if key is None:
            raise ConfigError("DATABASE_ENCRYPTION_KEY is required (base64 of 32 random bytes)")
        return cls(
            **cls.common_from_env(env, "registry"),
            database_url=database_url,
            encryption_key=key,
            encryption_key_old=env.secret("DATABASE_ENCRYPTION_KEY_OLD"),
            engine_addresses={
                common_pb2.DATABASE_TYPE_REDIS: env.str(*DEFAULT_ADDRESSES["redis-svc"]),
                common_pb2.DATABASE_TYPE_MONGODB: env.str(*DEFAULT_ADDRESSES["mongo-svc"]),
                common_pb2.DATABASE_TYPE_POSTGRES: env.str(*DEFAULT_ADDRESSES["pg-svc"]),
            },
            db_pool_min=env.int("REGISTRY_DB_POOL_MIN", 1),
            db_pool_max=env.int("REGISTRY_DB_POOL_MAX", 10),
            test_timeout_s=env.float("CONNECTION_TEST_TIMEOUT_S", 10.0),
        )
