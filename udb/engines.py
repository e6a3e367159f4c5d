"""The engines' names: in records and metrics (DB_TYPE_NAMES) and in the API's paths (ENGINE_SEGMENTS)."""

from __future__ import annotations

from udb.common.v1 import common_pb2

DB_TYPE_NAMES: dict[common_pb2.DatabaseType, str] = {
    common_pb2.DATABASE_TYPE_REDIS: "redis",
    common_pb2.DATABASE_TYPE_MONGODB: "mongodb",
    common_pb2.DATABASE_TYPE_POSTGRES: "postgres",
}
DB_TYPE_BY_NAME: dict[str, common_pb2.DatabaseType] = {name: value for value, name in DB_TYPE_NAMES.items()}

ENGINE_SEGMENTS: dict[str, common_pb2.DatabaseType] = {
    "redis": common_pb2.DATABASE_TYPE_REDIS,
    "mongodb": common_pb2.DATABASE_TYPE_MONGODB,
    "pg-meta": common_pb2.DATABASE_TYPE_POSTGRES,
}
