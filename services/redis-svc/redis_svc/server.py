"""redis-svc's server factory."""

from __future__ import annotations

from redis_svc.clients import client_factory, close_client, translate
from redis_svc.explorer.service import RedisExplorerService
from redis_svc.ratelimit import RateLimitService
from redis_svc.servicer import RedisService
from redis_svc.settings import Settings
from udb.common.v1 import common_pb2
from udb.engine import EngineRuntime
from udb.readiness import peer_serving
from udb.redis.v1 import explorer_pb2, explorer_pb2_grpc, ratelimit_pb2, ratelimit_pb2_grpc, redis_pb2, redis_pb2_grpc
from udb.server import Registration, Server, build_server

SERVICE_NAME = redis_pb2.DESCRIPTOR.services_by_name["RedisService"].full_name
EXPLORER_SERVICE_NAME = explorer_pb2.DESCRIPTOR.services_by_name["RedisExplorerService"].full_name
RATE_LIMIT_SERVICE_NAME = ratelimit_pb2.DESCRIPTOR.services_by_name["RateLimitService"].full_name


async def create_server(settings: Settings, address: str = "127.0.0.1:0") -> tuple[Server, int]:
    """redis-svc bound to ``address``, not started."""
    runtime = EngineRuntime(
        settings, common_pb2.DATABASE_TYPE_REDIS, client_factory(settings), close_client, translate=translate
    )
    servicer = RedisService(runtime, settings)
    rate_limits = RateLimitService(settings)
    return build_server(
        settings,
        [
            Registration(redis_pb2_grpc.add_RedisServiceServicer_to_server, servicer, SERVICE_NAME),
            Registration(
                explorer_pb2_grpc.add_RedisExplorerServiceServicer_to_server,
                RedisExplorerService(runtime, settings),
                EXPLORER_SERVICE_NAME,
            ),
            Registration(
                ratelimit_pb2_grpc.add_RateLimitServiceServicer_to_server, rate_limits, RATE_LIMIT_SERVICE_NAME
            ),
        ],
        address=address,
        on_start=[runtime.start],
        # Run in reverse: subscriptions end before their clients close.
        on_stop=[rate_limits.close, runtime.close, servicer.pubsub.close],
        readiness={"registry": peer_serving(runtime.registry.channel)},
        components={"runtime": runtime},
    )
