"""``google.protobuf.Struct`` as plain JSON values.

A Struct holds every number as a double: without :func:`plain_numbers`, ``{"maxPoolSize": 5}``
would reach a driver (and the API's reply) as ``5.0``. Every reader of a Struct goes through here.
"""

from __future__ import annotations

from typing import Any

from google.protobuf import json_format, struct_pb2

#: Past 2**53 a double no longer holds every whole number: such a value stays a float.
_EXACT = 2**53


def plain_numbers(value: Any) -> Any:
    """The value with whole floats as ints, through dicts and lists."""
    if isinstance(value, float) and value.is_integer() and abs(value) < _EXACT:
        return int(value)
    if isinstance(value, dict):
        return {key: plain_numbers(item) for key, item in value.items()}
    if isinstance(value, list):
        return [plain_numbers(item) for item in value]
    return value


def struct_dict(struct: struct_pb2.Struct) -> dict[str, Any]:
    """A Struct as a dict of plain JSON values, whole numbers as ints."""
    values: dict[str, Any] = plain_numbers(json_format.MessageToDict(struct))
    return values
