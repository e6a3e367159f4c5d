"""The error hierarchy and the one table that maps errors to gRPC and HTTP.

Services raise these exceptions; the server interceptor turns them into a gRPC status whose
`google.rpc.ErrorInfo` detail carries the API code (``reason``) and the details (``metadata``).
The gateway reads them back with :func:`from_rpc_error` (in ``gateway.calls.call``) and answers with
each class's ``http_status`` (``gateway.errors.error_response``).
Errors that did not come from us (a dead channel, a deadline) are mapped by their gRPC code.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any, ClassVar, TypeVar

import grpc
from google.protobuf import any_pb2
from google.protobuf.message import Message
from google.rpc import error_details_pb2, status_pb2

ERROR_DOMAIN = "udb"
_STATUS_DETAILS_KEY = "grpc-status-details-bin"

M = TypeVar("M", bound=Message)


class DatabaseError(Exception):
    """Base of every error a client may see: an API code, a gRPC code and an HTTP status.

    The message must be safe to show: never a connection string, a password or a driver's
    ``repr``. Details are short strings (a SQLSTATE, a position, a field name). Attachments are
    typed messages that travel beside them in the gRPC status (a Postgres error's every field,
    for example), for the callers that know their type.
    """

    code: ClassVar[str] = "internal"
    grpc_code: ClassVar[grpc.StatusCode] = grpc.StatusCode.INTERNAL
    http_status: ClassVar[int] = 500
    default_message: ClassVar[str] = "internal error"

    def __init__(
        self,
        message: str = "",
        *,
        details: Mapping[str, object] | None = None,
        attachments: Iterable[Message] = (),
    ) -> None:
        self.message = message or self.default_message
        self.details: dict[str, str] = {k: str(v) for k, v in (details or {}).items() if v is not None}
        self.attachments: tuple[any_pb2.Any, ...] = tuple(_packed(item) for item in attachments)
        super().__init__(self.message)

    def attachment(self, kind: type[M]) -> M | None:
        """The first attachment of type ``kind``, or None."""
        for packed in self.attachments:
            if packed.TypeName() == kind.DESCRIPTOR.full_name:
                found = kind()
                packed.Unpack(found)
                return found
        return None


def _packed(message: Message) -> any_pb2.Any:
    if isinstance(message, any_pb2.Any):
        return message
    packed = any_pb2.Any()
    packed.Pack(message)
    return packed


class InvalidArgument(DatabaseError):
    """Bad JSON or EJSON, a bad parameter, or a query the database rejected."""

    code = "invalid_argument"
    grpc_code = grpc.StatusCode.INVALID_ARGUMENT
    http_status = 400
    default_message = "invalid argument"


class Unauthenticated(DatabaseError):
    """No, bad, expired or forged token."""

    code = "unauthenticated"
    grpc_code = grpc.StatusCode.UNAUTHENTICATED
    http_status = 401
    default_message = "authentication required"


class PermissionDenied(DatabaseError):
    """A member whose role is too low for the operation."""

    code = "permission_denied"
    grpc_code = grpc.StatusCode.PERMISSION_DENIED
    http_status = 403
    default_message = "permission denied"


class NotFound(DatabaseError):
    """A project, connection, key, database, collection, document or index that does not exist."""

    code = "not_found"
    grpc_code = grpc.StatusCode.NOT_FOUND
    http_status = 404
    default_message = "not found"


class AlreadyExists(DatabaseError):
    """A create of something that exists."""

    code = "already_exists"
    grpc_code = grpc.StatusCode.ALREADY_EXISTS
    http_status = 409
    default_message = "already exists"


class Aborted(DatabaseError):
    """A write that met a concurrent change of the same data and gave up; the caller may retry."""

    code = "aborted"
    grpc_code = grpc.StatusCode.ABORTED
    http_status = 409
    default_message = "aborted by a concurrent change; try again"


class PayloadTooLarge(DatabaseError):
    """A body or document over the configured (or the database's) size limit."""

    code = "payload_too_large"
    grpc_code = grpc.StatusCode.RESOURCE_EXHAUSTED
    http_status = 413
    default_message = "payload too large"


class RateLimited(DatabaseError):
    """Too many requests; details carry ``retry_after`` in seconds."""

    code = "rate_limited"
    grpc_code = grpc.StatusCode.RESOURCE_EXHAUSTED
    http_status = 429
    default_message = "rate limited"


class Internal(DatabaseError):
    """A bug. The message is generic; the cause is logged, never sent."""


class Unimplemented(DatabaseError):
    """An operation this deployment does not offer (for example a missing server module)."""

    code = "unimplemented"
    grpc_code = grpc.StatusCode.UNIMPLEMENTED
    http_status = 501
    default_message = "not implemented"


class Unavailable(DatabaseError):
    """The database or a service behind the gateway cannot be reached."""

    code = "unavailable"
    grpc_code = grpc.StatusCode.UNAVAILABLE
    http_status = 503
    default_message = "service unavailable"


class DeadlineExceeded(DatabaseError):
    """The operation ran past its time limit."""

    code = "deadline_exceeded"
    grpc_code = grpc.StatusCode.DEADLINE_EXCEEDED
    http_status = 504
    default_message = "deadline exceeded"


#: API code -> error class: the one table. Every class above appears exactly once.
ERRORS_BY_CODE: dict[str, type[DatabaseError]] = {
    cls.code: cls
    for cls in (
        InvalidArgument,
        Unauthenticated,
        PermissionDenied,
        NotFound,
        # Before AlreadyExists: where a status is read back as a code, 409 is already_exists.
        Aborted,
        AlreadyExists,
        PayloadTooLarge,
        RateLimited,
        Internal,
        Unimplemented,
        Unavailable,
        DeadlineExceeded,
    )
}

#: gRPC code -> error class, for statuses that carry no API code (raised by gRPC itself or
#: by a peer that is not ours).
ERRORS_BY_GRPC_CODE: dict[grpc.StatusCode, type[DatabaseError]] = {
    grpc.StatusCode.INVALID_ARGUMENT: InvalidArgument,
    grpc.StatusCode.FAILED_PRECONDITION: InvalidArgument,
    grpc.StatusCode.OUT_OF_RANGE: InvalidArgument,
    grpc.StatusCode.UNAUTHENTICATED: Unauthenticated,
    grpc.StatusCode.PERMISSION_DENIED: PermissionDenied,
    grpc.StatusCode.NOT_FOUND: NotFound,
    grpc.StatusCode.ALREADY_EXISTS: AlreadyExists,
    grpc.StatusCode.ABORTED: Aborted,
    grpc.StatusCode.RESOURCE_EXHAUSTED: RateLimited,
    grpc.StatusCode.UNIMPLEMENTED: Unimplemented,
    grpc.StatusCode.UNAVAILABLE: Unavailable,
    grpc.StatusCode.DEADLINE_EXCEEDED: DeadlineExceeded,
}


def trailing_metadata_of(error: DatabaseError) -> tuple[tuple[str, bytes], ...]:
    """The rich-status trailer (``google.rpc.Status`` with an ``ErrorInfo``) for an error."""
    info = error_details_pb2.ErrorInfo(reason=error.code, domain=ERROR_DOMAIN, metadata=error.details)
    status = status_pb2.Status(
        code=error.grpc_code.value[0], message=error.message, details=[_packed(info), *error.attachments]
    )
    return ((_STATUS_DETAILS_KEY, status.SerializeToString()),)


def from_rpc_error(error: grpc.RpcError) -> DatabaseError:
    """Rebuilds the error a peer raised, from its status and rich-status trailer."""
    code: grpc.StatusCode = error.code()
    message: str = error.details() or ""
    metadata: Any = error.trailing_metadata() or ()
    for key, value in metadata:
        if key != _STATUS_DETAILS_KEY or not isinstance(value, bytes):
            continue
        status = status_pb2.Status.FromString(value)
        for index, detail in enumerate(status.details):
            info = error_details_pb2.ErrorInfo()
            if detail.Unpack(info) and info.domain == ERROR_DOMAIN:
                cls = ERRORS_BY_CODE.get(info.reason, Internal)
                attachments = [other for position, other in enumerate(status.details) if position != index]
                return cls(status.message or message, details=dict(info.metadata), attachments=attachments)
    cls = ERRORS_BY_GRPC_CODE.get(code, Internal)
    if code == grpc.StatusCode.CANCELLED:
        # The peer cancelled the call: it was stopping and its grace ran out (a call this process
        # cancels never gets here). Safe to send again, elsewhere: 503, not 500.
        cls = Unavailable
    if cls is Internal:
        # A status we did not raise ourselves: its text may come from anywhere.
        return Internal()
    if cls is Unavailable:
        # gRPC's own text names addresses and socket errors: not for clients.
        return Unavailable("a service behind the gateway cannot be reached")
    return cls(message)
