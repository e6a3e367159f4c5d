"""The shared conversions of udb: role names and values (udb.roles), Struct numbers (udb.structs)."""

from __future__ import annotations

import pytest
from google.protobuf import struct_pb2

from udb.common.v1 import common_pb2
from udb.errors import InvalidArgument
from udb.roles import ROLE_NAMES, required_role_name, role_name, role_value
from udb.structs import struct_dict


@pytest.mark.parametrize("name", list(ROLE_NAMES))
def test_role_names_and_values_convert_both_ways(name: str) -> None:
    """Every role's name gives its value and its value gives the name back, on both conversions."""
    assert role_name(role_value(name)) == name
    assert required_role_name(role_value(name)) == name


def test_no_role_converts_to_no_role() -> None:
    """None (a service caller's role) is ROLE_UNSPECIFIED and back; a member's role may not be unspecified."""
    assert role_value(None) == common_pb2.ROLE_UNSPECIFIED
    assert role_name(common_pb2.ROLE_UNSPECIFIED) is None
    with pytest.raises(InvalidArgument) as caught:
        required_role_name(common_pb2.ROLE_UNSPECIFIED)
    assert caught.value.details == {"field": "role"}


@pytest.mark.parametrize("bad", ["", "Owner", "superuser", 3, ["owner"]])
def test_a_name_that_is_no_role_is_invalid(bad: object) -> None:
    """A name that is no role (another spelling, another type) is InvalidArgument on the role field."""
    with pytest.raises(InvalidArgument) as caught:
        role_value(bad)
    assert caught.value.details == {"field": "role"}


@pytest.mark.parametrize("bad", [-1, 5, 99])
def test_a_value_that_is_no_role_is_invalid(bad: int) -> None:
    """A value that is no role is InvalidArgument on both name conversions (never a silent None)."""
    for convert in (role_name, required_role_name):
        with pytest.raises(InvalidArgument):
            convert(bad)


def test_struct_numbers_come_out_whole_where_they_are_whole() -> None:
    """A Struct's whole numbers come out as ints, through nested objects and lists; fractions, numbers
    past 2**53 and other values stay as they are."""
    struct = struct_pb2.Struct()
    struct.update({"a": 5, "b": [1, 2.5, {"c": 3}], "d": {"e": 2.0**60}, "f": "6", "g": True, "h": None})
    values = struct_dict(struct)
    assert values == {"a": 5, "b": [1, 2.5, {"c": 3}], "d": {"e": 2.0**60}, "f": "6", "g": True, "h": None}
    assert type(values["a"]) is int
    assert type(values["b"][2]["c"]) is int
    assert type(values["d"]["e"]) is float
