"""Channels to peer services and the metadata every outgoing call carries."""

from __future__ import annotations

import grpc

from udb.interceptors import OutgoingCallInterceptor
from udb.logs import request_id_var
from udb.mux.client import MuxChannel
from udb.server import grpc_options


def insecure_channel(target: str, *, max_message_bytes: int = 64 * 1024 * 1024) -> grpc.aio.Channel:
    """A channel to a peer on the internal network (TLS is Envoy's job at the edge).

    Each call on it gets at most the time left of the request it serves, and carries the trace
    context on (:class:`udb.interceptors.OutgoingCallInterceptor`). A name that resolves to
    several addresses (a headless Kubernetes Service) is balanced round-robin.
    """
    return grpc.aio.insecure_channel(
        target,
        options=[*grpc_options(max_message_bytes), ("grpc.lb_policy_name", "round_robin")],
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
