from udb.common.v1 import common_pb2 as _common_pb2
from udb.pg.v1 import pg_pb2 as _pg_pb2
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class CatalogKind(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    CATALOG_KIND_UNSPECIFIED: _ClassVar[CatalogKind]
    CATALOG_KIND_TABLES: _ClassVar[CatalogKind]
    CATALOG_KIND_VIEWS: _ClassVar[CatalogKind]
    CATALOG_KIND_MATERIALIZED_VIEWS: _ClassVar[CatalogKind]
    CATALOG_KIND_FOREIGN_TABLES: _ClassVar[CatalogKind]
    CATALOG_KIND_COLUMNS: _ClassVar[CatalogKind]
    CATALOG_KIND_SCHEMAS: _ClassVar[CatalogKind]
    CATALOG_KIND_FUNCTIONS: _ClassVar[CatalogKind]
    CATALOG_KIND_TYPES: _ClassVar[CatalogKind]
    CATALOG_KIND_POLICIES: _ClassVar[CatalogKind]
    CATALOG_KIND_TRIGGERS: _ClassVar[CatalogKind]
    CATALOG_KIND_EXTENSIONS: _ClassVar[CatalogKind]
    CATALOG_KIND_PUBLICATIONS: _ClassVar[CatalogKind]
    CATALOG_KIND_ROLES: _ClassVar[CatalogKind]
    CATALOG_KIND_INDEXES: _ClassVar[CatalogKind]
    CATALOG_KIND_COLUMN_PRIVILEGES: _ClassVar[CatalogKind]
    CATALOG_KIND_TABLE_PRIVILEGES: _ClassVar[CatalogKind]
    CATALOG_KIND_CONFIG: _ClassVar[CatalogKind]
    CATALOG_KIND_VERSION: _ClassVar[CatalogKind]

class WriteAction(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    WRITE_ACTION_UNSPECIFIED: _ClassVar[WriteAction]
    WRITE_ACTION_CREATE: _ClassVar[WriteAction]
    WRITE_ACTION_UPDATE: _ClassVar[WriteAction]
    WRITE_ACTION_DELETE: _ClassVar[WriteAction]
    WRITE_ACTION_GRANT: _ClassVar[WriteAction]
    WRITE_ACTION_REVOKE: _ClassVar[WriteAction]
CATALOG_KIND_UNSPECIFIED: CatalogKind
CATALOG_KIND_TABLES: CatalogKind
CATALOG_KIND_VIEWS: CatalogKind
CATALOG_KIND_MATERIALIZED_VIEWS: CatalogKind
CATALOG_KIND_FOREIGN_TABLES: CatalogKind
CATALOG_KIND_COLUMNS: CatalogKind
CATALOG_KIND_SCHEMAS: CatalogKind
CATALOG_KIND_FUNCTIONS: CatalogKind
CATALOG_KIND_TYPES: CatalogKind
CATALOG_KIND_POLICIES: CatalogKind
CATALOG_KIND_TRIGGERS: CatalogKind
CATALOG_KIND_EXTENSIONS: CatalogKind
CATALOG_KIND_PUBLICATIONS: CatalogKind
CATALOG_KIND_ROLES: CatalogKind
CATALOG_KIND_INDEXES: CatalogKind
CATALOG_KIND_COLUMN_PRIVILEGES: CatalogKind
CATALOG_KIND_TABLE_PRIVILEGES: CatalogKind
CATALOG_KIND_CONFIG: CatalogKind
CATALOG_KIND_VERSION: CatalogKind
WRITE_ACTION_UNSPECIFIED: WriteAction
WRITE_ACTION_CREATE: WriteAction
WRITE_ACTION_UPDATE: WriteAction
WRITE_ACTION_DELETE: WriteAction
WRITE_ACTION_GRANT: WriteAction
WRITE_ACTION_REVOKE: WriteAction

class ListObjectsRequest(_message.Message):
    __slots__ = ("target", "kind", "filter", "include_columns", "include_array_types", "include_default_roles", "table_id", "first")
    TARGET_FIELD_NUMBER: _ClassVar[int]
    KIND_FIELD_NUMBER: _ClassVar[int]
    FILTER_FIELD_NUMBER: _ClassVar[int]
    INCLUDE_COLUMNS_FIELD_NUMBER: _ClassVar[int]
    INCLUDE_ARRAY_TYPES_FIELD_NUMBER: _ClassVar[int]
    INCLUDE_DEFAULT_ROLES_FIELD_NUMBER: _ClassVar[int]
    TABLE_ID_FIELD_NUMBER: _ClassVar[int]
    FIRST_FIELD_NUMBER: _ClassVar[int]
    target: _common_pb2.ConnectionTarget
    kind: CatalogKind
    filter: _pg_pb2.CatalogFilter
    include_columns: bool
    include_array_types: bool
    include_default_roles: bool
    table_id: int
    first: bool
    def __init__(self, target: _Optional[_Union[_common_pb2.ConnectionTarget, _Mapping]] = ..., kind: _Optional[_Union[CatalogKind, str]] = ..., filter: _Optional[_Union[_pg_pb2.CatalogFilter, _Mapping]] = ..., include_columns: _Optional[bool] = ..., include_array_types: _Optional[bool] = ..., include_default_roles: _Optional[bool] = ..., table_id: _Optional[int] = ..., first: _Optional[bool] = ...) -> None: ...

class GetObjectRequest(_message.Message):
    __slots__ = ("target", "kind", "key")
    TARGET_FIELD_NUMBER: _ClassVar[int]
    KIND_FIELD_NUMBER: _ClassVar[int]
    KEY_FIELD_NUMBER: _ClassVar[int]
    target: _common_pb2.ConnectionTarget
    kind: CatalogKind
    key: str
    def __init__(self, target: _Optional[_Union[_common_pb2.ConnectionTarget, _Mapping]] = ..., kind: _Optional[_Union[CatalogKind, str]] = ..., key: _Optional[str] = ...) -> None: ...

class WriteObjectRequest(_message.Message):
    __slots__ = ("target", "kind", "action", "key", "body", "cascade")
    TARGET_FIELD_NUMBER: _ClassVar[int]
    KIND_FIELD_NUMBER: _ClassVar[int]
    ACTION_FIELD_NUMBER: _ClassVar[int]
    KEY_FIELD_NUMBER: _ClassVar[int]
    BODY_FIELD_NUMBER: _ClassVar[int]
    CASCADE_FIELD_NUMBER: _ClassVar[int]
    target: _common_pb2.ConnectionTarget
    kind: CatalogKind
    action: WriteAction
    key: str
    body: bytes
    cascade: bool
    def __init__(self, target: _Optional[_Union[_common_pb2.ConnectionTarget, _Mapping]] = ..., kind: _Optional[_Union[CatalogKind, str]] = ..., action: _Optional[_Union[WriteAction, str]] = ..., key: _Optional[str] = ..., body: _Optional[bytes] = ..., cascade: _Optional[bool] = ...) -> None: ...

class CatalogReply(_message.Message):
    __slots__ = ("json",)
    JSON_FIELD_NUMBER: _ClassVar[int]
    json: str
    def __init__(self, json: _Optional[str] = ...) -> None: ...
