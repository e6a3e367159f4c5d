from udb.common.v1 import common_pb2 as _common_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class QueryRequest(_message.Message):
    __slots__ = ("target", "query", "parameters", "statement_timeout_ms")
    TARGET_FIELD_NUMBER: _ClassVar[int]
    QUERY_FIELD_NUMBER: _ClassVar[int]
    PARAMETERS_FIELD_NUMBER: _ClassVar[int]
    STATEMENT_TIMEOUT_MS_FIELD_NUMBER: _ClassVar[int]
    target: _common_pb2.ConnectionTarget
    query: str
    parameters: str
    statement_timeout_ms: int
    def __init__(self, target: _Optional[_Union[_common_pb2.ConnectionTarget, _Mapping]] = ..., query: _Optional[str] = ..., parameters: _Optional[str] = ..., statement_timeout_ms: _Optional[int] = ...) -> None: ...

class QueryResponse(_message.Message):
    __slots__ = ("rows", "truncated", "row_count")
    ROWS_FIELD_NUMBER: _ClassVar[int]
    TRUNCATED_FIELD_NUMBER: _ClassVar[int]
    ROW_COUNT_FIELD_NUMBER: _ClassVar[int]
    rows: str
    truncated: bool
    row_count: int
    def __init__(self, rows: _Optional[str] = ..., truncated: _Optional[bool] = ..., row_count: _Optional[int] = ...) -> None: ...

class CatalogFilter(_message.Message):
    __slots__ = ("include_system_schemas", "included_schemas", "excluded_schemas", "limit", "offset")
    INCLUDE_SYSTEM_SCHEMAS_FIELD_NUMBER: _ClassVar[int]
    INCLUDED_SCHEMAS_FIELD_NUMBER: _ClassVar[int]
    EXCLUDED_SCHEMAS_FIELD_NUMBER: _ClassVar[int]
    LIMIT_FIELD_NUMBER: _ClassVar[int]
    OFFSET_FIELD_NUMBER: _ClassVar[int]
    include_system_schemas: bool
    included_schemas: _containers.RepeatedScalarFieldContainer[str]
    excluded_schemas: _containers.RepeatedScalarFieldContainer[str]
    limit: int
    offset: int
    def __init__(self, include_system_schemas: _Optional[bool] = ..., included_schemas: _Optional[_Iterable[str]] = ..., excluded_schemas: _Optional[_Iterable[str]] = ..., limit: _Optional[int] = ..., offset: _Optional[int] = ...) -> None: ...

class TestConnectionRequest(_message.Message):
    __slots__ = ("target",)
    TARGET_FIELD_NUMBER: _ClassVar[int]
    target: _common_pb2.ConnectionTarget
    def __init__(self, target: _Optional[_Union[_common_pb2.ConnectionTarget, _Mapping]] = ...) -> None: ...
