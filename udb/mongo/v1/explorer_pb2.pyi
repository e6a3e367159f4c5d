from udb.common.v1 import common_pb2 as _common_pb2
from udb.mongo.v1 import mongo_pb2 as _mongo_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class ExplainVerbosity(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    EXPLAIN_VERBOSITY_UNSPECIFIED: _ClassVar[ExplainVerbosity]
    EXPLAIN_VERBOSITY_QUERY_PLANNER: _ClassVar[ExplainVerbosity]
    EXPLAIN_VERBOSITY_EXECUTION_STATS: _ClassVar[ExplainVerbosity]
    EXPLAIN_VERBOSITY_ALL_PLANS_EXECUTION: _ClassVar[ExplainVerbosity]

class SampleMethod(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    SAMPLE_METHOD_UNSPECIFIED: _ClassVar[SampleMethod]
    SAMPLE_METHOD_RANDOM: _ClassVar[SampleMethod]
    SAMPLE_METHOD_FIRST: _ClassVar[SampleMethod]
EXPLAIN_VERBOSITY_UNSPECIFIED: ExplainVerbosity
EXPLAIN_VERBOSITY_QUERY_PLANNER: ExplainVerbosity
EXPLAIN_VERBOSITY_EXECUTION_STATS: ExplainVerbosity
EXPLAIN_VERBOSITY_ALL_PLANS_EXECUTION: ExplainVerbosity
SAMPLE_METHOD_UNSPECIFIED: SampleMethod
SAMPLE_METHOD_RANDOM: SampleMethod
SAMPLE_METHOD_FIRST: SampleMethod

class UpdateDocumentsRequest(_message.Message):
    __slots__ = ("target", "database", "collection", "filter", "update", "replacement", "upsert", "many", "json_mode")
    TARGET_FIELD_NUMBER: _ClassVar[int]
    DATABASE_FIELD_NUMBER: _ClassVar[int]
    COLLECTION_FIELD_NUMBER: _ClassVar[int]
    FILTER_FIELD_NUMBER: _ClassVar[int]
    UPDATE_FIELD_NUMBER: _ClassVar[int]
    REPLACEMENT_FIELD_NUMBER: _ClassVar[int]
    UPSERT_FIELD_NUMBER: _ClassVar[int]
    MANY_FIELD_NUMBER: _ClassVar[int]
    JSON_MODE_FIELD_NUMBER: _ClassVar[int]
    target: _common_pb2.ConnectionTarget
    database: str
    collection: str
    filter: str
    update: str
    replacement: str
    upsert: bool
    many: bool
    json_mode: _mongo_pb2.JsonMode
    def __init__(self, target: _Optional[_Union[_common_pb2.ConnectionTarget, _Mapping]] = ..., database: _Optional[str] = ..., collection: _Optional[str] = ..., filter: _Optional[str] = ..., update: _Optional[str] = ..., replacement: _Optional[str] = ..., upsert: _Optional[bool] = ..., many: _Optional[bool] = ..., json_mode: _Optional[_Union[_mongo_pb2.JsonMode, str]] = ...) -> None: ...

class UpdateDocumentsResponse(_message.Message):
    __slots__ = ("matched_count", "modified_count", "upserted_id")
    MATCHED_COUNT_FIELD_NUMBER: _ClassVar[int]
    MODIFIED_COUNT_FIELD_NUMBER: _ClassVar[int]
    UPSERTED_ID_FIELD_NUMBER: _ClassVar[int]
    matched_count: int
    modified_count: int
    upserted_id: str
    def __init__(self, matched_count: _Optional[int] = ..., modified_count: _Optional[int] = ..., upserted_id: _Optional[str] = ...) -> None: ...

class DeleteDocumentsRequest(_message.Message):
    __slots__ = ("target", "database", "collection", "filter", "many")
    TARGET_FIELD_NUMBER: _ClassVar[int]
    DATABASE_FIELD_NUMBER: _ClassVar[int]
    COLLECTION_FIELD_NUMBER: _ClassVar[int]
    FILTER_FIELD_NUMBER: _ClassVar[int]
    MANY_FIELD_NUMBER: _ClassVar[int]
    target: _common_pb2.ConnectionTarget
    database: str
    collection: str
    filter: str
    many: bool
    def __init__(self, target: _Optional[_Union[_common_pb2.ConnectionTarget, _Mapping]] = ..., database: _Optional[str] = ..., collection: _Optional[str] = ..., filter: _Optional[str] = ..., many: _Optional[bool] = ...) -> None: ...

class DeleteDocumentsResponse(_message.Message):
    __slots__ = ("deleted_count",)
    DELETED_COUNT_FIELD_NUMBER: _ClassVar[int]
    deleted_count: int
    def __init__(self, deleted_count: _Optional[int] = ...) -> None: ...

class ExplainFind(_message.Message):
    __slots__ = ("filter", "projection", "sort", "skip", "limit", "hint")
    FILTER_FIELD_NUMBER: _ClassVar[int]
    PROJECTION_FIELD_NUMBER: _ClassVar[int]
    SORT_FIELD_NUMBER: _ClassVar[int]
    SKIP_FIELD_NUMBER: _ClassVar[int]
    LIMIT_FIELD_NUMBER: _ClassVar[int]
    HINT_FIELD_NUMBER: _ClassVar[int]
    filter: str
    projection: str
    sort: str
    skip: int
    limit: int
    hint: str
    def __init__(self, filter: _Optional[str] = ..., projection: _Optional[str] = ..., sort: _Optional[str] = ..., skip: _Optional[int] = ..., limit: _Optional[int] = ..., hint: _Optional[str] = ...) -> None: ...

class ExplainAggregate(_message.Message):
    __slots__ = ("pipeline",)
    PIPELINE_FIELD_NUMBER: _ClassVar[int]
    pipeline: str
    def __init__(self, pipeline: _Optional[str] = ...) -> None: ...

class ExplainRequest(_message.Message):
    __slots__ = ("target", "database", "collection", "find", "aggregate", "verbosity", "json_mode")
    TARGET_FIELD_NUMBER: _ClassVar[int]
    DATABASE_FIELD_NUMBER: _ClassVar[int]
    COLLECTION_FIELD_NUMBER: _ClassVar[int]
    FIND_FIELD_NUMBER: _ClassVar[int]
    AGGREGATE_FIELD_NUMBER: _ClassVar[int]
    VERBOSITY_FIELD_NUMBER: _ClassVar[int]
    JSON_MODE_FIELD_NUMBER: _ClassVar[int]
    target: _common_pb2.ConnectionTarget
    database: str
    collection: str
    find: ExplainFind
    aggregate: ExplainAggregate
    verbosity: ExplainVerbosity
    json_mode: _mongo_pb2.JsonMode
    def __init__(self, target: _Optional[_Union[_common_pb2.ConnectionTarget, _Mapping]] = ..., database: _Optional[str] = ..., collection: _Optional[str] = ..., find: _Optional[_Union[ExplainFind, _Mapping]] = ..., aggregate: _Optional[_Union[ExplainAggregate, _Mapping]] = ..., verbosity: _Optional[_Union[ExplainVerbosity, str]] = ..., json_mode: _Optional[_Union[_mongo_pb2.JsonMode, str]] = ...) -> None: ...

class ExplainResponse(_message.Message):
    __slots__ = ("explain",)
    EXPLAIN_FIELD_NUMBER: _ClassVar[int]
    explain: str
    def __init__(self, explain: _Optional[str] = ...) -> None: ...

class GetIndexStatsRequest(_message.Message):
    __slots__ = ("target", "database", "collection")
    TARGET_FIELD_NUMBER: _ClassVar[int]
    DATABASE_FIELD_NUMBER: _ClassVar[int]
    COLLECTION_FIELD_NUMBER: _ClassVar[int]
    target: _common_pb2.ConnectionTarget
    database: str
    collection: str
    def __init__(self, target: _Optional[_Union[_common_pb2.ConnectionTarget, _Mapping]] = ..., database: _Optional[str] = ..., collection: _Optional[str] = ...) -> None: ...

class IndexUsage(_message.Message):
    __slots__ = ("name", "ops", "since", "stats")
    NAME_FIELD_NUMBER: _ClassVar[int]
    OPS_FIELD_NUMBER: _ClassVar[int]
    SINCE_FIELD_NUMBER: _ClassVar[int]
    STATS_FIELD_NUMBER: _ClassVar[int]
    name: str
    ops: int
    since: str
    stats: str
    def __init__(self, name: _Optional[str] = ..., ops: _Optional[int] = ..., since: _Optional[str] = ..., stats: _Optional[str] = ...) -> None: ...

class GetIndexStatsResponse(_message.Message):
    __slots__ = ("indexes",)
    INDEXES_FIELD_NUMBER: _ClassVar[int]
    indexes: _containers.RepeatedCompositeFieldContainer[IndexUsage]
    def __init__(self, indexes: _Optional[_Iterable[_Union[IndexUsage, _Mapping]]] = ...) -> None: ...

class AnalyzeSchemaRequest(_message.Message):
    __slots__ = ("target", "database", "collection", "sample_size", "filter", "json_mode")
    TARGET_FIELD_NUMBER: _ClassVar[int]
    DATABASE_FIELD_NUMBER: _ClassVar[int]
    COLLECTION_FIELD_NUMBER: _ClassVar[int]
    SAMPLE_SIZE_FIELD_NUMBER: _ClassVar[int]
    FILTER_FIELD_NUMBER: _ClassVar[int]
    JSON_MODE_FIELD_NUMBER: _ClassVar[int]
    target: _common_pb2.ConnectionTarget
    database: str
    collection: str
    sample_size: int
    filter: str
    json_mode: _mongo_pb2.JsonMode
    def __init__(self, target: _Optional[_Union[_common_pb2.ConnectionTarget, _Mapping]] = ..., database: _Optional[str] = ..., collection: _Optional[str] = ..., sample_size: _Optional[int] = ..., filter: _Optional[str] = ..., json_mode: _Optional[_Union[_mongo_pb2.JsonMode, str]] = ...) -> None: ...

class SchemaType(_message.Message):
    __slots__ = ("name", "count", "probability", "examples")
    NAME_FIELD_NUMBER: _ClassVar[int]
    COUNT_FIELD_NUMBER: _ClassVar[int]
    PROBABILITY_FIELD_NUMBER: _ClassVar[int]
    EXAMPLES_FIELD_NUMBER: _ClassVar[int]
    name: str
    count: int
    probability: float
    examples: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, name: _Optional[str] = ..., count: _Optional[int] = ..., probability: _Optional[float] = ..., examples: _Optional[_Iterable[str]] = ...) -> None: ...

class SchemaField(_message.Message):
    __slots__ = ("path", "count", "probability", "types")
    PATH_FIELD_NUMBER: _ClassVar[int]
    COUNT_FIELD_NUMBER: _ClassVar[int]
    PROBABILITY_FIELD_NUMBER: _ClassVar[int]
    TYPES_FIELD_NUMBER: _ClassVar[int]
    path: str
    count: int
    probability: float
    types: _containers.RepeatedCompositeFieldContainer[SchemaType]
    def __init__(self, path: _Optional[str] = ..., count: _Optional[int] = ..., probability: _Optional[float] = ..., types: _Optional[_Iterable[_Union[SchemaType, _Mapping]]] = ...) -> None: ...

class AnalyzeSchemaResponse(_message.Message):
    __slots__ = ("sampled", "fields", "truncated", "method")
    SAMPLED_FIELD_NUMBER: _ClassVar[int]
    FIELDS_FIELD_NUMBER: _ClassVar[int]
    TRUNCATED_FIELD_NUMBER: _ClassVar[int]
    METHOD_FIELD_NUMBER: _ClassVar[int]
    sampled: int
    fields: _containers.RepeatedCompositeFieldContainer[SchemaField]
    truncated: bool
    method: SampleMethod
    def __init__(self, sampled: _Optional[int] = ..., fields: _Optional[_Iterable[_Union[SchemaField, _Mapping]]] = ..., truncated: _Optional[bool] = ..., method: _Optional[_Union[SampleMethod, str]] = ...) -> None: ...

class ExportDocumentsRequest(_message.Message):
    __slots__ = ("target", "database", "collection", "filter", "projection", "sort", "limit", "json_mode")
    TARGET_FIELD_NUMBER: _ClassVar[int]
    DATABASE_FIELD_NUMBER: _ClassVar[int]
    COLLECTION_FIELD_NUMBER: _ClassVar[int]
    FILTER_FIELD_NUMBER: _ClassVar[int]
    PROJECTION_FIELD_NUMBER: _ClassVar[int]
    SORT_FIELD_NUMBER: _ClassVar[int]
    LIMIT_FIELD_NUMBER: _ClassVar[int]
    JSON_MODE_FIELD_NUMBER: _ClassVar[int]
    target: _common_pb2.ConnectionTarget
    database: str
    collection: str
    filter: str
    projection: str
    sort: str
    limit: int
    json_mode: _mongo_pb2.JsonMode
    def __init__(self, target: _Optional[_Union[_common_pb2.ConnectionTarget, _Mapping]] = ..., database: _Optional[str] = ..., collection: _Optional[str] = ..., filter: _Optional[str] = ..., projection: _Optional[str] = ..., sort: _Optional[str] = ..., limit: _Optional[int] = ..., json_mode: _Optional[_Union[_mongo_pb2.JsonMode, str]] = ...) -> None: ...

class ExportChunk(_message.Message):
    __slots__ = ("lines", "documents")
    LINES_FIELD_NUMBER: _ClassVar[int]
    DOCUMENTS_FIELD_NUMBER: _ClassVar[int]
    lines: bytes
    documents: int
    def __init__(self, lines: _Optional[bytes] = ..., documents: _Optional[int] = ...) -> None: ...

class ImportTarget(_message.Message):
    __slots__ = ("target", "database", "collection", "stop_on_error")
    TARGET_FIELD_NUMBER: _ClassVar[int]
    DATABASE_FIELD_NUMBER: _ClassVar[int]
    COLLECTION_FIELD_NUMBER: _ClassVar[int]
    STOP_ON_ERROR_FIELD_NUMBER: _ClassVar[int]
    target: _common_pb2.ConnectionTarget
    database: str
    collection: str
    stop_on_error: bool
    def __init__(self, target: _Optional[_Union[_common_pb2.ConnectionTarget, _Mapping]] = ..., database: _Optional[str] = ..., collection: _Optional[str] = ..., stop_on_error: _Optional[bool] = ...) -> None: ...

class ImportChunk(_message.Message):
    __slots__ = ("start", "data")
    START_FIELD_NUMBER: _ClassVar[int]
    DATA_FIELD_NUMBER: _ClassVar[int]
    start: ImportTarget
    data: bytes
    def __init__(self, start: _Optional[_Union[ImportTarget, _Mapping]] = ..., data: _Optional[bytes] = ...) -> None: ...

class RefusedLine(_message.Message):
    __slots__ = ("line", "reason")
    LINE_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    line: int
    reason: str
    def __init__(self, line: _Optional[int] = ..., reason: _Optional[str] = ...) -> None: ...

class ImportDocumentsResponse(_message.Message):
    __slots__ = ("inserted", "lines", "refused", "refused_count", "stopped")
    INSERTED_FIELD_NUMBER: _ClassVar[int]
    LINES_FIELD_NUMBER: _ClassVar[int]
    REFUSED_FIELD_NUMBER: _ClassVar[int]
    REFUSED_COUNT_FIELD_NUMBER: _ClassVar[int]
    STOPPED_FIELD_NUMBER: _ClassVar[int]
    inserted: int
    lines: int
    refused: _containers.RepeatedCompositeFieldContainer[RefusedLine]
    refused_count: int
    stopped: bool
    def __init__(self, inserted: _Optional[int] = ..., lines: _Optional[int] = ..., refused: _Optional[_Iterable[_Union[RefusedLine, _Mapping]]] = ..., refused_count: _Optional[int] = ..., stopped: _Optional[bool] = ...) -> None: ...
