"""The gateway's view of the system: token checking, cached access decisions, service stubs.

Every service's unary methods ride one multiplexed stream per service (:func:`udb.clients.multiplexed_channel`);
its streaming methods (pub/sub) and health checks use the plain channel inside it. Routes call
through :func:`gateway.calls.call`.
"""

from __future__ import annotations

import asyncio
import re
from dataclasses import dataclass

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc
from starlette.requests import HTTPConnection

from gateway.pubsub import PubSubHub
from gateway.settings import Settings
from udb.auth import Principal, ServiceCredentials, TokenVerifier, bearer_token
from udb.clients import bearer_metadata, insecure_channel, multiplexed_channel
from udb.common.v1 import common_pb2
from udb.errors import InvalidArgument, Unauthenticated
from udb.mongo.v1 import explorer_pb2_grpc, mongo_pb2_grpc
from udb.pg.v1 import catalog_pb2_grpc, explain_pb2_grpc, pg_pb2_grpc
from udb.redis.v1 import explorer_pb2_grpc as redis_explorer_pb2_grpc
from udb.redis.v1 import redis_pb2_grpc
from udb.registry.v1 import registry_pb2_grpc
from udb.registry_client import Access, RegistryClient

#: Where the guard middleware leaves the caller it authenticated (for the routes and the access log).
PRINCIPAL_KEY = "udb.principal"

_REF_RE = re.compile(r"^[a-z0-9-]{3,64}$")


@dataclass(frozen=True, slots=True)
class Caller:
    """An authenticated, authorized request: who, their access, and the metadata for peers."""

    principal: Principal
    access: Access | None  # None on the registry's routes: the registry decides
    target: common_pb2.ConnectionTarget
    metadata: tuple[tuple[str, str], ...]


class Backends:
    """Channels and stubs to every service, the token verifier and the cached registry client."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.verifier = TokenVerifier(settings.auth)
        self.credentials = ServiceCredentials(settings.auth, settings.name)
        size = settings.max_message_bytes
        self.channels: dict[str, grpc.aio.Channel] = {
            # The registry's calls are few (access decisions are cached) and its reads must survive
            # a replica's death: they stay unary, which grpc sends again to another replica (a
            # multiplexed stream is tied to one replica, and its calls in flight die with it).
            "registry": insecure_channel(settings.registry_address, max_message_bytes=size),
            "redis-svc": multiplexed_channel(settings.redis_address, max_message_bytes=size),
            "mongo-svc": multiplexed_channel(settings.mongo_address, max_message_bytes=size),
            "pg-svc": multiplexed_channel(settings.pg_address, max_message_bytes=size),
        }
        self.registry = registry_pb2_grpc.RegistryServiceStub(self.channels["registry"])
        self.redis = redis_pb2_grpc.RedisServiceStub(self.channels["redis-svc"])
        self.redis_explorer = redis_explorer_pb2_grpc.RedisExplorerServiceStub(self.channels["redis-svc"])
        self.mongo = mongo_pb2_grpc.MongoServiceStub(self.channels["mongo-svc"])
        self.pg = pg_pb2_grpc.PgServiceStub(self.channels["pg-svc"])
        self.pg_catalog = catalog_pb2_grpc.PgCatalogServiceStub(self.channels["pg-svc"])
        self.pg_explain = explain_pb2_grpc.PgExplainServiceStub(self.channels["pg-svc"])
        self.mongo_explorer = explorer_pb2_grpc.MongoExplorerServiceStub(self.channels["mongo-svc"])
        self.access = RegistryClient(
            self.channels["registry"], self.credentials, membership_ttl_s=settings.membership_cache_ttl_s
        )
        self.pubsub = PubSubHub(self.redis, self.credentials, self.access, share=settings.pubsub_share_streams)

    async def start(self) -> None:
        await self.access.start()

    async def close(self) -> None:
        await self.pubsub.close()
        await self.access.close()
        for channel in self.channels.values():
            await channel.close(None)

    async def authenticate(self, connection: HTTPConnection) -> Principal:
        """The caller of a request: ``Authorization: Bearer``, or ``?access_token=`` on WebSockets."""
        verified: Principal | None = connection.scope.get(PRINCIPAL_KEY)
        if verified is not None:  # the guard has checked this request's token already
            return verified
        header = connection.headers.get("authorization")
        if header is None and connection.scope["type"] == "websocket":
            token = connection.query_params.get("access_token")
            if not token:
                raise Unauthenticated("missing bearer token")
        else:
            token = bearer_token(header)
        return self.verifier.cached(token) or await self.verifier.verify(token)

    async def authorize(self, connection: HTTPConnection, required_role: int) -> Caller:
        """Authenticates the caller and checks their role on the route's project ``[ref]``.

        The target's connection is ``?connection=<id>``, or the primary one when absent.
        """
        principal = await self.authenticate(connection)
        ref = project_ref(connection)
        access = await self.access.check_access(principal, ref, required_role)
        target = common_pb2.ConnectionTarget(
            project_ref=ref, connection_id=connection.query_params.get("connection", "")
        )
        return Caller(principal, access, target, bearer_metadata(principal.token))

    async def health(self) -> dict[str, str]:
        """Each service's gRPC health status name (UNKNOWN when it does not answer)."""

        async def check(name: str, channel: grpc.aio.Channel) -> tuple[str, str]:
            stub = health_pb2_grpc.HealthStub(channel)
            try:
                reply = await stub.Check(health_pb2.HealthCheckRequest(), timeout=self.settings.health_timeout_s)
            except grpc.RpcError:
                return name, "UNKNOWN"
            return name, health_pb2.HealthCheckResponse.ServingStatus.Name(reply.status)

        results = await asyncio.gather(*(check(name, channel) for name, channel in self.channels.items()))
        return dict(results)


def project_ref(connection: HTTPConnection) -> str:
    """The route's ``[ref]``, validated."""
    ref = str(connection.path_params.get("ref", ""))
    if not _REF_RE.match(ref):
        raise InvalidArgument("project ref must be 3-64 characters of a-z, 0-9 and '-'", details={"parameter": "ref"})
    return ref
