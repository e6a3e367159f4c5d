"""Channels to peer services and the metadata every outgoing call carries."""

from __future__ import annotations

import json

import grpc

from udb.interceptors import OutgoingCallInterceptor
from udb.logs import request_id_var
from udb.mux.client import MuxChannel
from udb.registry.v1 import registry_pb2
from udb.server import grpc_options

#: Reconnect quickly after a peer comes back: grpc's default backoff grows from 1 s to 120 s, so
#: a channel whose peer was down for a few seconds waited up to 10 s more after it was back. On
#: the internal network an attempt costs one SYN; at most one a second per peer address.
RECONNECT_OPTIONS: list[tuple[str, int]] = [
    ("grpc.initial_reconnect_backoff_ms", 100),
    ("grpc.max_reconnect_backoff_ms", 1000),
]


def _idempotent_registry_reads() -> list[dict[str, str]]:
    """The registry's unary reads, which may be sent again to another replica."""
    service = registry_pb2.DESCRIPTOR.services_by_name["RegistryService"]
    return [
        {"service": service.full_name, "method": method.name}
        for method in service.methods
        if method.name.startswith(("Get", "List", "Check", "Resolve")) and not method.server_streaming
    ]


#: A read that fails UNAVAILABLE (its replica died under it, or refused it while draining) is sent
#: again, to the next address of a round-robin channel; writes are never sent twice.
SERVICE_CONFIG = json.dumps(
    {
        "loadBalancingConfig": [{"round_robin": {}}],
        "methodConfig": [
            {
                "name": _idempotent_registry_reads(),
                "retryPolicy": {
                    "maxAttempts": 4,
                    "initialBackoff": "0.05s",
                    "maxBackoff": "0.4s",
                    "backoffMultiplier": 2,
                    "retryableStatusCodes": ["UNAVAILABLE"],
                },
            }
        ],
    }
)


def insecure_channel(target: str, *, max_message_bytes: int = 64 * 1024 * 1024) -> grpc.aio.Channel:
    """A channel to a peer on the internal network (TLS is Envoy's job at the edge).

    Each call on it gets at most the time left of the request it serves, and carries the trace
    context on (:class:`udb.interceptors.OutgoingCallInterceptor`). A name that resolves to
    several addresses (a headless Kubernetes Service, ``dns:///registry:50051``) or a list of
    them (``ipv4:127.0.0.1:50051,127.0.0.1:50061``) is balanced round-robin; the registry's reads
    are sent again to another replica when theirs fails (:data:`SERVICE_CONFIG`), and a lost
    peer is dialled again within a second (:data:`RECONNECT_OPTIONS`).
    """
    return grpc.aio.insecure_channel(
        target,
        options=[
            *grpc_options(max_message_bytes),
            *RECONNECT_OPTIONS,
            ("grpc.lb_policy_name", "round_robin"),
            ("grpc.service_config", SERVICE_CONFIG),
            ("grpc.enable_retries", 1),
        ],
        interceptors=[OutgoingCallInterceptor()],  # type: ignore[list-item]
    )


def multiplexed_channel(target: str, *, max_message_bytes: int = 64 * 1024 * 1024) -> MuxChannel:
    """A channel to a peer whose unary calls share one multiplexed stream (:mod:`udb.mux.client`);
    its streaming calls, health checks and reflection go as on :func:`insecure_channel`."""
    return MuxChannel(
        insecure_channel(target, max_message_bytes=max_message_bytes), max_message_bytes=max_message_bytes
    )


def outgoing_metadata(authorization: tuple[tuple[str, str], ...]) -> tuple[tuple[str, str], ...]:
    """The caller's credentials plus the current request id, so peers log the same id."""
    request_id = request_id_var.get()
    if request_id:
        return (*authorization, ("x-request-id", request_id))
    return authorization


def bearer_metadata(token: str) -> tuple[tuple[str, str], ...]:
    """Metadata that passes a caller's own token on to a peer."""
    return outgoing_metadata((("authorization", f"Bearer {token}"),))
