from udb.common.v1 import common_pb2 as _common_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class TypesLanguage(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    TYPES_LANGUAGE_UNSPECIFIED: _ClassVar[TypesLanguage]
    TYPES_LANGUAGE_TYPESCRIPT: _ClassVar[TypesLanguage]
    TYPES_LANGUAGE_GO: _ClassVar[TypesLanguage]
    TYPES_LANGUAGE_SWIFT: _ClassVar[TypesLanguage]
    TYPES_LANGUAGE_PYTHON: _ClassVar[TypesLanguage]
TYPES_LANGUAGE_UNSPECIFIED: TypesLanguage
TYPES_LANGUAGE_TYPESCRIPT: TypesLanguage
TYPES_LANGUAGE_GO: TypesLanguage
TYPES_LANGUAGE_SWIFT: TypesLanguage
TYPES_LANGUAGE_PYTHON: TypesLanguage

class QueryRequest(_message.Message):
    __slots__ = ("target", "query", "parameters", "statement_timeout_ms", "application_name")
    TARGET_FIELD_NUMBER: _ClassVar[int]
    QUERY_FIELD_NUMBER: _ClassVar[int]
    PARAMETERS_FIELD_NUMBER: _ClassVar[int]
    STATEMENT_TIMEOUT_MS_FIELD_NUMBER: _ClassVar[int]
    APPLICATION_NAME_FIELD_NUMBER: _ClassVar[int]
    target: _common_pb2.ConnectionTarget
    query: str
    parameters: bytes
    statement_timeout_ms: int
    application_name: str
    def __init__(self, target: _Optional[_Union[_common_pb2.ConnectionTarget, _Mapping]] = ..., query: _Optional[str] = ..., parameters: _Optional[bytes] = ..., statement_timeout_ms: _Optional[int] = ..., application_name: _Optional[str] = ...) -> None: ...

class QueryResponse(_message.Message):
    __slots__ = ("rows", "truncated", "row_count")
    ROWS_FIELD_NUMBER: _ClassVar[int]
    TRUNCATED_FIELD_NUMBER: _ClassVar[int]
    ROW_COUNT_FIELD_NUMBER: _ClassVar[int]
    rows: bytes
    truncated: bool
    row_count: int
    def __init__(self, rows: _Optional[bytes] = ..., truncated: _Optional[bool] = ..., row_count: _Optional[int] = ...) -> None: ...

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

class PostgresError(_message.Message):
    __slots__ = ("severity", "code", "message", "detail", "hint", "position", "internal_position", "internal_query", "where", "schema", "table", "column", "data_type", "constraint", "file", "line", "routine", "length", "formatted")
    SEVERITY_FIELD_NUMBER: _ClassVar[int]
    CODE_FIELD_NUMBER: _ClassVar[int]
    MESSAGE_FIELD_NUMBER: _ClassVar[int]
    DETAIL_FIELD_NUMBER: _ClassVar[int]
    HINT_FIELD_NUMBER: _ClassVar[int]
    POSITION_FIELD_NUMBER: _ClassVar[int]
    INTERNAL_POSITION_FIELD_NUMBER: _ClassVar[int]
    INTERNAL_QUERY_FIELD_NUMBER: _ClassVar[int]
    WHERE_FIELD_NUMBER: _ClassVar[int]
    SCHEMA_FIELD_NUMBER: _ClassVar[int]
    TABLE_FIELD_NUMBER: _ClassVar[int]
    COLUMN_FIELD_NUMBER: _ClassVar[int]
    DATA_TYPE_FIELD_NUMBER: _ClassVar[int]
    CONSTRAINT_FIELD_NUMBER: _ClassVar[int]
    FILE_FIELD_NUMBER: _ClassVar[int]
    LINE_FIELD_NUMBER: _ClassVar[int]
    ROUTINE_FIELD_NUMBER: _ClassVar[int]
    LENGTH_FIELD_NUMBER: _ClassVar[int]
    FORMATTED_FIELD_NUMBER: _ClassVar[int]
    severity: str
    code: str
    message: str
    detail: str
    hint: str
    position: str
    internal_position: str
    internal_query: str
    where: str
    schema: str
    table: str
    column: str
    data_type: str
    constraint: str
    file: str
    line: str
    routine: str
    length: int
    formatted: str
    def __init__(self, severity: _Optional[str] = ..., code: _Optional[str] = ..., message: _Optional[str] = ..., detail: _Optional[str] = ..., hint: _Optional[str] = ..., position: _Optional[str] = ..., internal_position: _Optional[str] = ..., internal_query: _Optional[str] = ..., where: _Optional[str] = ..., schema: _Optional[str] = ..., table: _Optional[str] = ..., column: _Optional[str] = ..., data_type: _Optional[str] = ..., constraint: _Optional[str] = ..., file: _Optional[str] = ..., line: _Optional[str] = ..., routine: _Optional[str] = ..., length: _Optional[int] = ..., formatted: _Optional[str] = ...) -> None: ...

class GenerateTypesRequest(_message.Message):
    __slots__ = ("target", "language", "included_schemas", "excluded_schemas", "detect_one_to_one_relationships", "postgrest_version", "swift_access_control")
    TARGET_FIELD_NUMBER: _ClassVar[int]
    LANGUAGE_FIELD_NUMBER: _ClassVar[int]
    INCLUDED_SCHEMAS_FIELD_NUMBER: _ClassVar[int]
    EXCLUDED_SCHEMAS_FIELD_NUMBER: _ClassVar[int]
    DETECT_ONE_TO_ONE_RELATIONSHIPS_FIELD_NUMBER: _ClassVar[int]
    POSTGREST_VERSION_FIELD_NUMBER: _ClassVar[int]
    SWIFT_ACCESS_CONTROL_FIELD_NUMBER: _ClassVar[int]
    target: _common_pb2.ConnectionTarget
    language: TypesLanguage
    included_schemas: _containers.RepeatedScalarFieldContainer[str]
    excluded_schemas: _containers.RepeatedScalarFieldContainer[str]
    detect_one_to_one_relationships: bool
    postgrest_version: str
    swift_access_control: str
    def __init__(self, target: _Optional[_Union[_common_pb2.ConnectionTarget, _Mapping]] = ..., language: _Optional[_Union[TypesLanguage, str]] = ..., included_schemas: _Optional[_Iterable[str]] = ..., excluded_schemas: _Optional[_Iterable[str]] = ..., detect_one_to_one_relationships: _Optional[bool] = ..., postgrest_version: _Optional[str] = ..., swift_access_control: _Optional[str] = ...) -> None: ...

class GenerateTypesResponse(_message.Message):
    __slots__ = ("text",)
    TEXT_FIELD_NUMBER: _ClassVar[int]
    text: str
    def __init__(self, text: _Optional[str] = ...) -> None: ...
