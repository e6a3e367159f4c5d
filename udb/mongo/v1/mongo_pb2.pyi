from udb.common.v1 import common_pb2 as _common_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class JsonMode(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    JSON_MODE_UNSPECIFIED: _ClassVar[JsonMode]
    JSON_MODE_RELAXED: _ClassVar[JsonMode]
    JSON_MODE_CANONICAL: _ClassVar[JsonMode]
JSON_MODE_UNSPECIFIED: JsonMode
JSON_MODE_RELAXED: JsonMode
JSON_MODE_CANONICAL: JsonMode

class Database(_message.Message):
    __slots__ = ("name", "size_on_disk", "empty")
    NAME_FIELD_NUMBER: _ClassVar[int]
    SIZE_ON_DISK_FIELD_NUMBER: _ClassVar[int]
    EMPTY_FIELD_NUMBER: _ClassVar[int]
    name: str
    size_on_disk: int
    empty: bool
    def __init__(self, name: _Optional[str] = ..., size_on_disk: _Optional[int] = ..., empty: _Optional[bool] = ...) -> None: ...

class ListDatabasesRequest(_message.Message):
    __slots__ = ("target",)
    TARGET_FIELD_NUMBER: _ClassVar[int]
    target: _common_pb2.ConnectionTarget
    def __init__(self, target: _Optional[_Union[_common_pb2.ConnectionTarget, _Mapping]] = ...) -> None: ...

class ListDatabasesResponse(_message.Message):
    __slots__ = ("databases",)
    DATABASES_FIELD_NUMBER: _ClassVar[int]
    databases: _containers.RepeatedCompositeFieldContainer[Database]
    def __init__(self, databases: _Optional[_Iterable[_Union[Database, _Mapping]]] = ...) -> None: ...

class GetDatabaseStatsRequest(_message.Message):
    __slots__ = ("target", "database", "json_mode")
    TARGET_FIELD_NUMBER: _ClassVar[int]
    DATABASE_FIELD_NUMBER: _ClassVar[int]
    JSON_MODE_FIELD_NUMBER: _ClassVar[int]
    target: _common_pb2.ConnectionTarget
    database: str
    json_mode: JsonMode
    def __init__(self, target: _Optional[_Union[_common_pb2.ConnectionTarget, _Mapping]] = ..., database: _Optional[str] = ..., json_mode: _Optional[_Union[JsonMode, str]] = ...) -> None: ...

class GetDatabaseStatsResponse(_message.Message):
    __slots__ = ("stats",)
    STATS_FIELD_NUMBER: _ClassVar[int]
    stats: str
    def __init__(self, stats: _Optional[str] = ...) -> None: ...

class Collection(_message.Message):
    __slots__ = ("name", "type", "options")
    NAME_FIELD_NUMBER: _ClassVar[int]
    TYPE_FIELD_NUMBER: _ClassVar[int]
    OPTIONS_FIELD_NUMBER: _ClassVar[int]
    name: str
    type: str
    options: str
    def __init__(self, name: _Optional[str] = ..., type: _Optional[str] = ..., options: _Optional[str] = ...) -> None: ...

class ListCollectionsRequest(_message.Message):
    __slots__ = ("target", "database", "limit", "cursor")
    TARGET_FIELD_NUMBER: _ClassVar[int]
    DATABASE_FIELD_NUMBER: _ClassVar[int]
    LIMIT_FIELD_NUMBER: _ClassVar[int]
    CURSOR_FIELD_NUMBER: _ClassVar[int]
    target: _common_pb2.ConnectionTarget
    database: str
    limit: int
    cursor: str
    def __init__(self, target: _Optional[_Union[_common_pb2.ConnectionTarget, _Mapping]] = ..., database: _Optional[str] = ..., limit: _Optional[int] = ..., cursor: _Optional[str] = ...) -> None: ...

class ListCollectionsResponse(_message.Message):
    __slots__ = ("collections", "next_cursor")
    COLLECTIONS_FIELD_NUMBER: _ClassVar[int]
    NEXT_CURSOR_FIELD_NUMBER: _ClassVar[int]
    collections: _containers.RepeatedCompositeFieldContainer[Collection]
    next_cursor: str
    def __init__(self, collections: _Optional[_Iterable[_Union[Collection, _Mapping]]] = ..., next_cursor: _Optional[str] = ...) -> None: ...

class CreateCollectionRequest(_message.Message):
    __slots__ = ("target", "database", "name", "options")
    TARGET_FIELD_NUMBER: _ClassVar[int]
    DATABASE_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    OPTIONS_FIELD_NUMBER: _ClassVar[int]
    target: _common_pb2.ConnectionTarget
    database: str
    name: str
    options: str
    def __init__(self, target: _Optional[_Union[_common_pb2.ConnectionTarget, _Mapping]] = ..., database: _Optional[str] = ..., name: _Optional[str] = ..., options: _Optional[str] = ...) -> None: ...

class DropCollectionRequest(_message.Message):
    __slots__ = ("target", "database", "name")
    TARGET_FIELD_NUMBER: _ClassVar[int]
    DATABASE_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    target: _common_pb2.ConnectionTarget
    database: str
    name: str
    def __init__(self, target: _Optional[_Union[_common_pb2.ConnectionTarget, _Mapping]] = ..., database: _Optional[str] = ..., name: _Optional[str] = ...) -> None: ...

class DropCollectionResponse(_message.Message):
    __slots__ = ("dropped",)
    DROPPED_FIELD_NUMBER: _ClassVar[int]
    dropped: bool
    def __init__(self, dropped: _Optional[bool] = ...) -> None: ...

class FindDocumentsRequest(_message.Message):
    __slots__ = ("target", "database", "collection", "filter", "projection", "sort", "skip", "limit", "count", "json_mode", "cursor")
    TARGET_FIELD_NUMBER: _ClassVar[int]
    DATABASE_FIELD_NUMBER: _ClassVar[int]
    COLLECTION_FIELD_NUMBER: _ClassVar[int]
    FILTER_FIELD_NUMBER: _ClassVar[int]
    PROJECTION_FIELD_NUMBER: _ClassVar[int]
    SORT_FIELD_NUMBER: _ClassVar[int]
    SKIP_FIELD_NUMBER: _ClassVar[int]
    LIMIT_FIELD_NUMBER: _ClassVar[int]
    COUNT_FIELD_NUMBER: _ClassVar[int]
    JSON_MODE_FIELD_NUMBER: _ClassVar[int]
    CURSOR_FIELD_NUMBER: _ClassVar[int]
    target: _common_pb2.ConnectionTarget
    database: str
    collection: str
    filter: str
    projection: str
    sort: str
    skip: int
    limit: int
    count: bool
    json_mode: JsonMode
    cursor: str
    def __init__(self, target: _Optional[_Union[_common_pb2.ConnectionTarget, _Mapping]] = ..., database: _Optional[str] = ..., collection: _Optional[str] = ..., filter: _Optional[str] = ..., projection: _Optional[str] = ..., sort: _Optional[str] = ..., skip: _Optional[int] = ..., limit: _Optional[int] = ..., count: _Optional[bool] = ..., json_mode: _Optional[_Union[JsonMode, str]] = ..., cursor: _Optional[str] = ...) -> None: ...

class FindDocumentsResponse(_message.Message):
    __slots__ = ("documents", "count", "truncated", "next_cursor", "paged_by")
    DOCUMENTS_FIELD_NUMBER: _ClassVar[int]
    COUNT_FIELD_NUMBER: _ClassVar[int]
    TRUNCATED_FIELD_NUMBER: _ClassVar[int]
    NEXT_CURSOR_FIELD_NUMBER: _ClassVar[int]
    PAGED_BY_FIELD_NUMBER: _ClassVar[int]
    documents: _containers.RepeatedScalarFieldContainer[str]
    count: int
    truncated: bool
    next_cursor: str
    paged_by: str
    def __init__(self, documents: _Optional[_Iterable[str]] = ..., count: _Optional[int] = ..., truncated: _Optional[bool] = ..., next_cursor: _Optional[str] = ..., paged_by: _Optional[str] = ...) -> None: ...

class InsertDocumentsRequest(_message.Message):
    __slots__ = ("target", "database", "collection", "documents", "json_mode")
    TARGET_FIELD_NUMBER: _ClassVar[int]
    DATABASE_FIELD_NUMBER: _ClassVar[int]
    COLLECTION_FIELD_NUMBER: _ClassVar[int]
    DOCUMENTS_FIELD_NUMBER: _ClassVar[int]
    JSON_MODE_FIELD_NUMBER: _ClassVar[int]
    target: _common_pb2.ConnectionTarget
    database: str
    collection: str
    documents: _containers.RepeatedScalarFieldContainer[str]
    json_mode: JsonMode
    def __init__(self, target: _Optional[_Union[_common_pb2.ConnectionTarget, _Mapping]] = ..., database: _Optional[str] = ..., collection: _Optional[str] = ..., documents: _Optional[_Iterable[str]] = ..., json_mode: _Optional[_Union[JsonMode, str]] = ...) -> None: ...

class InsertDocumentsResponse(_message.Message):
    __slots__ = ("inserted_ids",)
    INSERTED_IDS_FIELD_NUMBER: _ClassVar[int]
    inserted_ids: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, inserted_ids: _Optional[_Iterable[str]] = ...) -> None: ...

class GetDocumentRequest(_message.Message):
    __slots__ = ("target", "database", "collection", "id", "json_mode")
    TARGET_FIELD_NUMBER: _ClassVar[int]
    DATABASE_FIELD_NUMBER: _ClassVar[int]
    COLLECTION_FIELD_NUMBER: _ClassVar[int]
    ID_FIELD_NUMBER: _ClassVar[int]
    JSON_MODE_FIELD_NUMBER: _ClassVar[int]
    target: _common_pb2.ConnectionTarget
    database: str
    collection: str
    id: str
    json_mode: JsonMode
    def __init__(self, target: _Optional[_Union[_common_pb2.ConnectionTarget, _Mapping]] = ..., database: _Optional[str] = ..., collection: _Optional[str] = ..., id: _Optional[str] = ..., json_mode: _Optional[_Union[JsonMode, str]] = ...) -> None: ...

class Document(_message.Message):
    __slots__ = ("document",)
    DOCUMENT_FIELD_NUMBER: _ClassVar[int]
    document: str
    def __init__(self, document: _Optional[str] = ...) -> None: ...

class ReplaceDocumentRequest(_message.Message):
    __slots__ = ("target", "database", "collection", "id", "document", "json_mode")
    TARGET_FIELD_NUMBER: _ClassVar[int]
    DATABASE_FIELD_NUMBER: _ClassVar[int]
    COLLECTION_FIELD_NUMBER: _ClassVar[int]
    ID_FIELD_NUMBER: _ClassVar[int]
    DOCUMENT_FIELD_NUMBER: _ClassVar[int]
    JSON_MODE_FIELD_NUMBER: _ClassVar[int]
    target: _common_pb2.ConnectionTarget
    database: str
    collection: str
    id: str
    document: str
    json_mode: JsonMode
    def __init__(self, target: _Optional[_Union[_common_pb2.ConnectionTarget, _Mapping]] = ..., database: _Optional[str] = ..., collection: _Optional[str] = ..., id: _Optional[str] = ..., document: _Optional[str] = ..., json_mode: _Optional[_Union[JsonMode, str]] = ...) -> None: ...

class UpdateDocumentRequest(_message.Message):
    __slots__ = ("target", "database", "collection", "id", "update", "json_mode")
    TARGET_FIELD_NUMBER: _ClassVar[int]
    DATABASE_FIELD_NUMBER: _ClassVar[int]
    COLLECTION_FIELD_NUMBER: _ClassVar[int]
    ID_FIELD_NUMBER: _ClassVar[int]
    UPDATE_FIELD_NUMBER: _ClassVar[int]
    JSON_MODE_FIELD_NUMBER: _ClassVar[int]
    target: _common_pb2.ConnectionTarget
    database: str
    collection: str
    id: str
    update: str
    json_mode: JsonMode
    def __init__(self, target: _Optional[_Union[_common_pb2.ConnectionTarget, _Mapping]] = ..., database: _Optional[str] = ..., collection: _Optional[str] = ..., id: _Optional[str] = ..., update: _Optional[str] = ..., json_mode: _Optional[_Union[JsonMode, str]] = ...) -> None: ...

class DeleteDocumentRequest(_message.Message):
    __slots__ = ("target", "database", "collection", "id")
    TARGET_FIELD_NUMBER: _ClassVar[int]
    DATABASE_FIELD_NUMBER: _ClassVar[int]
    COLLECTION_FIELD_NUMBER: _ClassVar[int]
    ID_FIELD_NUMBER: _ClassVar[int]
    target: _common_pb2.ConnectionTarget
    database: str
    collection: str
    id: str
    def __init__(self, target: _Optional[_Union[_common_pb2.ConnectionTarget, _Mapping]] = ..., database: _Optional[str] = ..., collection: _Optional[str] = ..., id: _Optional[str] = ...) -> None: ...

class DeleteDocumentResponse(_message.Message):
    __slots__ = ("deleted",)
    DELETED_FIELD_NUMBER: _ClassVar[int]
    deleted: int
    def __init__(self, deleted: _Optional[int] = ...) -> None: ...

class AggregateRequest(_message.Message):
    __slots__ = ("target", "database", "collection", "pipeline", "options", "json_mode", "limit", "cursor")
    TARGET_FIELD_NUMBER: _ClassVar[int]
    DATABASE_FIELD_NUMBER: _ClassVar[int]
    COLLECTION_FIELD_NUMBER: _ClassVar[int]
    PIPELINE_FIELD_NUMBER: _ClassVar[int]
    OPTIONS_FIELD_NUMBER: _ClassVar[int]
    JSON_MODE_FIELD_NUMBER: _ClassVar[int]
    LIMIT_FIELD_NUMBER: _ClassVar[int]
    CURSOR_FIELD_NUMBER: _ClassVar[int]
    target: _common_pb2.ConnectionTarget
    database: str
    collection: str
    pipeline: str
    options: str
    json_mode: JsonMode
    limit: int
    cursor: str
    def __init__(self, target: _Optional[_Union[_common_pb2.ConnectionTarget, _Mapping]] = ..., database: _Optional[str] = ..., collection: _Optional[str] = ..., pipeline: _Optional[str] = ..., options: _Optional[str] = ..., json_mode: _Optional[_Union[JsonMode, str]] = ..., limit: _Optional[int] = ..., cursor: _Optional[str] = ...) -> None: ...

class AggregateResponse(_message.Message):
    __slots__ = ("documents", "truncated", "next_cursor")
    DOCUMENTS_FIELD_NUMBER: _ClassVar[int]
    TRUNCATED_FIELD_NUMBER: _ClassVar[int]
    NEXT_CURSOR_FIELD_NUMBER: _ClassVar[int]
    documents: _containers.RepeatedScalarFieldContainer[str]
    truncated: bool
    next_cursor: str
    def __init__(self, documents: _Optional[_Iterable[str]] = ..., truncated: _Optional[bool] = ..., next_cursor: _Optional[str] = ...) -> None: ...

class Index(_message.Message):
    __slots__ = ("name", "spec")
    NAME_FIELD_NUMBER: _ClassVar[int]
    SPEC_FIELD_NUMBER: _ClassVar[int]
    name: str
    spec: str
    def __init__(self, name: _Optional[str] = ..., spec: _Optional[str] = ...) -> None: ...

class ListIndexesRequest(_message.Message):
    __slots__ = ("target", "database", "collection")
    TARGET_FIELD_NUMBER: _ClassVar[int]
    DATABASE_FIELD_NUMBER: _ClassVar[int]
    COLLECTION_FIELD_NUMBER: _ClassVar[int]
    target: _common_pb2.ConnectionTarget
    database: str
    collection: str
    def __init__(self, target: _Optional[_Union[_common_pb2.ConnectionTarget, _Mapping]] = ..., database: _Optional[str] = ..., collection: _Optional[str] = ...) -> None: ...

class ListIndexesResponse(_message.Message):
    __slots__ = ("indexes",)
    INDEXES_FIELD_NUMBER: _ClassVar[int]
    indexes: _containers.RepeatedCompositeFieldContainer[Index]
    def __init__(self, indexes: _Optional[_Iterable[_Union[Index, _Mapping]]] = ...) -> None: ...

class CreateIndexRequest(_message.Message):
    __slots__ = ("target", "database", "collection", "keys", "options")
    TARGET_FIELD_NUMBER: _ClassVar[int]
    DATABASE_FIELD_NUMBER: _ClassVar[int]
    COLLECTION_FIELD_NUMBER: _ClassVar[int]
    KEYS_FIELD_NUMBER: _ClassVar[int]
    OPTIONS_FIELD_NUMBER: _ClassVar[int]
    target: _common_pb2.ConnectionTarget
    database: str
    collection: str
    keys: str
    options: str
    def __init__(self, target: _Optional[_Union[_common_pb2.ConnectionTarget, _Mapping]] = ..., database: _Optional[str] = ..., collection: _Optional[str] = ..., keys: _Optional[str] = ..., options: _Optional[str] = ...) -> None: ...

class CreateIndexResponse(_message.Message):
    __slots__ = ("name",)
    NAME_FIELD_NUMBER: _ClassVar[int]
    name: str
    def __init__(self, name: _Optional[str] = ...) -> None: ...

class DropIndexRequest(_message.Message):
    __slots__ = ("target", "database", "collection", "name")
    TARGET_FIELD_NUMBER: _ClassVar[int]
    DATABASE_FIELD_NUMBER: _ClassVar[int]
    COLLECTION_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    target: _common_pb2.ConnectionTarget
    database: str
    collection: str
    name: str
    def __init__(self, target: _Optional[_Union[_common_pb2.ConnectionTarget, _Mapping]] = ..., database: _Optional[str] = ..., collection: _Optional[str] = ..., name: _Optional[str] = ...) -> None: ...

class DropIndexResponse(_message.Message):
    __slots__ = ("dropped",)
    DROPPED_FIELD_NUMBER: _ClassVar[int]
    dropped: bool
    def __init__(self, dropped: _Optional[bool] = ...) -> None: ...

class TestConnectionRequest(_message.Message):
    __slots__ = ("target",)
    TARGET_FIELD_NUMBER: _ClassVar[int]
    target: _common_pb2.ConnectionTarget
    def __init__(self, target: _Optional[_Union[_common_pb2.ConnectionTarget, _Mapping]] = ...) -> None: ...
