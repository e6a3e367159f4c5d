"""pg-svc's Query on the wire, without a database: what the gateway and pg-svc spend on a query's
bind parameters and on its rows, per call, for each way the proto could carry them.

    python bench/bench_pg_wire.py        # BENCH_SECONDS=1 for a longer run per figure

Parameters (gateway: from the body's parsed list; pg-svc: back to Python values):
  json-string  the list dumped to JSON in a proto ``string``, parsed again (the design before)
  json-bytes   the same JSON in a proto ``bytes`` (no UTF-8 decode and check)
  list-value   a ``google.protobuf.ListValue`` (typed; every number becomes a double on the way)
Rows (pg-svc: its JSON bytes; gateway: the HTTP body's bytes):
  string       the JSON decoded into a proto ``string``, encoded again for the body
  bytes        the JSON as a proto ``bytes``, passed through as it is
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from typing import Any

import orjson
from google.protobuf import json_format, struct_pb2, wrappers_pb2

SECONDS = float(os.environ.get("BENCH_SECONDS", "0.3"))

PARAMETERS: dict[str, list[Any]] = {
    "3 scalars": [42, "alice@example.com", True],
    "12 mixed": [1, 2.5, "x" * 40, None, False, [1, 2, 3], {"a": 1, "b": [True, None]}, "é", 7, 8, 9, "z"],
}


def rows_of(count: int) -> bytes:
    row = {"id": 1, "name": "a name of some length", "email": "someone@example.com", "amount": "12.50", "doc": None}
    return orjson.dumps([{**row, "id": n} for n in range(count)])


ROWS = {"10 rows": rows_of(10), "1,000 rows": rows_of(1000), "20,000 rows": rows_of(20_000)}


def per_call_us(work: Callable[[], object]) -> float:
    calls = 0
    started = time.perf_counter()
    while (elapsed := time.perf_counter() - started) < SECONDS:
        for _ in range(20):
            work()
        calls += 20
    return elapsed / calls * 1e6


def params_json_string(values: list[Any]) -> Callable[[], object]:
    def run() -> object:
        wire = wrappers_pb2.StringValue(value=orjson.dumps(values).decode()).SerializeToString()
        return orjson.loads(wrappers_pb2.StringValue.FromString(wire).value)

    return run


def params_json_bytes(values: list[Any]) -> Callable[[], object]:
    def run() -> object:
        wire = wrappers_pb2.BytesValue(value=orjson.dumps(values)).SerializeToString()
        return orjson.loads(wrappers_pb2.BytesValue.FromString(wire).value)

    return run


def params_list_value(values: list[Any]) -> Callable[[], object]:
    def run() -> object:
        message = struct_pb2.ListValue()
        message.extend(values)
        wire = message.SerializeToString()
        return json_format.MessageToDict(struct_pb2.ListValue.FromString(wire))

    return run


def rows_string(body: bytes) -> Callable[[], object]:
    def run() -> object:
        wire = wrappers_pb2.StringValue(value=body.decode()).SerializeToString()
        return wrappers_pb2.StringValue.FromString(wire).value.encode()

    return run


def rows_bytes(body: bytes) -> Callable[[], object]:
    def run() -> object:
        wire = wrappers_pb2.BytesValue(value=body).SerializeToString()
        return wrappers_pb2.BytesValue.FromString(wire).value

    return run


def main() -> None:
    print(f"{'parameters':<12} {'json-string':>12} {'json-bytes':>12} {'list-value':>12}   (us per call)")
    for name, values in PARAMETERS.items():
        figures = [per_call_us(f(values)) for f in (params_json_string, params_json_bytes, params_list_value)]
        print(f"{name:<12} " + " ".join(f"{v:>12.2f}" for v in figures))
    exact = json_format.MessageToDict(struct_pb2.ListValue(values=[struct_pb2.Value(number_value=2**53 + 1)]))
    print(f"list-value keeps 2**53 + 1 as {exact[0]!r} (JSON keeps {2**53 + 1})")
    print(f"\n{'rows':<12} {'size':>10} {'string':>12} {'bytes':>12} {'ratio':>8}   (us per call)")
    for name, body in ROWS.items():
        as_string, as_bytes = per_call_us(rows_string(body)), per_call_us(rows_bytes(body))
        print(f"{name:<12} {len(body):>10,} {as_string:>12.2f} {as_bytes:>12.2f} {as_string / as_bytes:>7.1f}x")


if __name__ == "__main__":
    main()
