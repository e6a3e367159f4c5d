"""Project roles: their names (in the API and the platform database) and their values (in the protos).

One pair of conversions, one rule for both directions: a name or value that is no role is
InvalidArgument, and "no role" (``None`` as a name, ``ROLE_UNSPECIFIED`` as a value: what a
service caller holds) converts to the other side's "no role".
"""

from __future__ import annotations

from udb.common.v1 import common_pb2
from udb.errors import InvalidArgument

Role = common_pb2.Role

ROLE_NAMES: dict[str, common_pb2.Role] = {
    "viewer": Role.ROLE_VIEWER,
    "developer": Role.ROLE_DEVELOPER,
    "admin": Role.ROLE_ADMIN,
    "owner": Role.ROLE_OWNER,
}
ROLE_BY_VALUE: dict[int, str] = {int(value): name for name, value in ROLE_NAMES.items()}


def _not_a_role() -> InvalidArgument:
    return InvalidArgument("role must be viewer, developer, admin or owner", details={"field": "role"})


def role_value(name: object) -> common_pb2.Role:
    """The role a name stands for; ``None`` is ROLE_UNSPECIFIED (no role)."""
    if name is None:
        return Role.ROLE_UNSPECIFIED
    if not isinstance(name, str) or name not in ROLE_NAMES:
        raise _not_a_role()
    return ROLE_NAMES[name]


def role_name(value: int) -> str | None:
    """The name of a role; ``None`` for ROLE_UNSPECIFIED (no role)."""
    if value == Role.ROLE_UNSPECIFIED:
        return None
    name = ROLE_BY_VALUE.get(value)
    if name is None:
        raise _not_a_role()
    return name


def required_role_name(value: int) -> str:
    """The name of a role that must be given (a member's): ROLE_UNSPECIFIED is InvalidArgument too."""
    name = role_name(value)
    if name is None:
        raise _not_a_role()
    return name
