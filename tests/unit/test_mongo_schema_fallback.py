"""Which server errors make the schema read the first documents instead of a $sample
(mongo_svc.explorer.schema.lacks_sample): only the server refusing $sample as unsupported."""

from __future__ import annotations

import pytest
from mongo_svc.explorer.schema import lacks_sample
from pymongo.errors import ExecutionTimeout, OperationFailure


def failure(code: int, message: str, cls: type[OperationFailure] = OperationFailure) -> OperationFailure:
    """The exception PyMongo raises for a command reply with this code and errmsg."""
    return cls(message, code, {"ok": 0.0, "errmsg": message, "code": code})


@pytest.mark.parametrize(
    ("code", "message"),
    [
        (238, '`aggregate` stage "$sample" is not implemented yet'),  # FerretDB 1.24
        (115, "$sample is not supported"),  # CommandNotSupported
        (40324, "Unrecognized pipeline stage name: '$sample'"),  # MongoDB's unknown stage
    ],
)
def test_sample_refused_as_unsupported_falls_back(code: int, message: str) -> None:
    """The unsupported codes (115, 238, 40324) with a message naming $sample mean the server lacks it."""
    assert lacks_sample(failure(code, message))


@pytest.mark.parametrize(
    "error",
    [
        failure(238, "`$bitsAllSet` is not implemented yet"),  # an unsupported filter operator
        failure(2, "unknown operator: $foo"),  # a bad filter
        failure(28747, "$sample stage 'size' argument must be positive"),  # about $sample, not unsupported
        failure(13, "not authorized on db to execute command { aggregate: ... $sample ... }"),
        failure(18, "Authentication failed."),
        failure(50, "operation exceeded time limit", ExecutionTimeout),
        OperationFailure("$sample", 238, None),  # no server message to read
    ],
)
def test_other_errors_never_fall_back(error: OperationFailure) -> None:
    """Credentials, a bad filter, a time limit, or an unsupported feature that is not $sample are
    the reply, never a reason to read other documents."""
    assert not lacks_sample(error)
