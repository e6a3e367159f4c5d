from udb.common.v1 import common_pb2 as _common_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class ListKeyTreeRequest(_message.Message):
    __slots__ = ("target", "prefix", "delimiter", "cursor", "scan_limit", "with_size")
    TARGET_FIELD_NUMBER: _ClassVar[int]
    PREFIX_FIELD_NUMBER: _ClassVar[int]
    DELIMITER_FIELD_NUMBER: _ClassVar[int]
    CURSOR_FIELD_NUMBER: _ClassVar[int]
    SCAN_LIMIT_FIELD_NUMBER: _ClassVar[int]
    WITH_SIZE_FIELD_NUMBER: _ClassVar[int]
    target: _common_pb2.ConnectionTarget
    prefix: bytes
    delimiter: bytes
    cursor: str
    scan_limit: int
    with_size: bool
    def __init__(self, target: _Optional[_Union[_common_pb2.ConnectionTarget, _Mapping]] = ..., prefix: _Optional[bytes] = ..., delimiter: _Optional[bytes] = ..., cursor: _Optional[str] = ..., scan_limit: _Optional[int] = ..., with_size: _Optional[bool] = ...) -> None: ...

class Namespace(_message.Message):
    __slots__ = ("prefix", "keys")
    PREFIX_FIELD_NUMBER: _ClassVar[int]
    KEYS_FIELD_NUMBER: _ClassVar[int]
    prefix: bytes
    keys: int
    def __init__(self, prefix: _Optional[bytes] = ..., keys: _Optional[int] = ...) -> None: ...

class KeyRow(_message.Message):
    __slots__ = ("key", "type", "ttl", "memory", "length")
    KEY_FIELD_NUMBER: _ClassVar[int]
    TYPE_FIELD_NUMBER: _ClassVar[int]
    TTL_FIELD_NUMBER: _ClassVar[int]
    MEMORY_FIELD_NUMBER: _ClassVar[int]
    LENGTH_FIELD_NUMBER: _ClassVar[int]
    key: bytes
    type: str
    ttl: int
    memory: int
    length: int
    def __init__(self, key: _Optional[bytes] = ..., type: _Optional[str] = ..., ttl: _Optional[int] = ..., memory: _Optional[int] = ..., length: _Optional[int] = ...) -> None: ...

class ListKeyTreeResponse(_message.Message):
    __slots__ = ("namespaces", "keys", "cursor", "scanned", "total")
    NAMESPACES_FIELD_NUMBER: _ClassVar[int]
    KEYS_FIELD_NUMBER: _ClassVar[int]
    CURSOR_FIELD_NUMBER: _ClassVar[int]
    SCANNED_FIELD_NUMBER: _ClassVar[int]
    TOTAL_FIELD_NUMBER: _ClassVar[int]
    namespaces: _containers.RepeatedCompositeFieldContainer[Namespace]
    keys: _containers.RepeatedCompositeFieldContainer[KeyRow]
    cursor: str
    scanned: int
    total: int
    def __init__(self, namespaces: _Optional[_Iterable[_Union[Namespace, _Mapping]]] = ..., keys: _Optional[_Iterable[_Union[KeyRow, _Mapping]]] = ..., cursor: _Optional[str] = ..., scanned: _Optional[int] = ..., total: _Optional[int] = ...) -> None: ...

class RunCommandRequest(_message.Message):
    __slots__ = ("target", "args")
    TARGET_FIELD_NUMBER: _ClassVar[int]
    ARGS_FIELD_NUMBER: _ClassVar[int]
    target: _common_pb2.ConnectionTarget
    args: _containers.RepeatedScalarFieldContainer[bytes]
    def __init__(self, target: _Optional[_Union[_common_pb2.ConnectionTarget, _Mapping]] = ..., args: _Optional[_Iterable[bytes]] = ...) -> None: ...

class RedisReply(_message.Message):
    __slots__ = ("bulk", "integer", "array", "null", "error", "double")
    class Array(_message.Message):
        __slots__ = ("items",)
        ITEMS_FIELD_NUMBER: _ClassVar[int]
        items: _containers.RepeatedCompositeFieldContainer[RedisReply]
        def __init__(self, items: _Optional[_Iterable[_Union[RedisReply, _Mapping]]] = ...) -> None: ...
    BULK_FIELD_NUMBER: _ClassVar[int]
    INTEGER_FIELD_NUMBER: _ClassVar[int]
    ARRAY_FIELD_NUMBER: _ClassVar[int]
    NULL_FIELD_NUMBER: _ClassVar[int]
    ERROR_FIELD_NUMBER: _ClassVar[int]
    DOUBLE_FIELD_NUMBER: _ClassVar[int]
    bulk: bytes
    integer: int
    array: RedisReply.Array
    null: bool
    error: str
    double: float
    def __init__(self, bulk: _Optional[bytes] = ..., integer: _Optional[int] = ..., array: _Optional[_Union[RedisReply.Array, _Mapping]] = ..., null: _Optional[bool] = ..., error: _Optional[str] = ..., double: _Optional[float] = ...) -> None: ...

class RunCommandResponse(_message.Message):
    __slots__ = ("command", "reply", "write")
    COMMAND_FIELD_NUMBER: _ClassVar[int]
    REPLY_FIELD_NUMBER: _ClassVar[int]
    WRITE_FIELD_NUMBER: _ClassVar[int]
    command: str
    reply: RedisReply
    write: bool
    def __init__(self, command: _Optional[str] = ..., reply: _Optional[_Union[RedisReply, _Mapping]] = ..., write: _Optional[bool] = ...) -> None: ...

class StreamField(_message.Message):
    __slots__ = ("field", "value")
    FIELD_FIELD_NUMBER: _ClassVar[int]
    VALUE_FIELD_NUMBER: _ClassVar[int]
    field: bytes
    value: bytes
    def __init__(self, field: _Optional[bytes] = ..., value: _Optional[bytes] = ...) -> None: ...

class StreamRecord(_message.Message):
    __slots__ = ("id", "fields")
    ID_FIELD_NUMBER: _ClassVar[int]
    FIELDS_FIELD_NUMBER: _ClassVar[int]
    id: str
    fields: _containers.RepeatedCompositeFieldContainer[StreamField]
    def __init__(self, id: _Optional[str] = ..., fields: _Optional[_Iterable[_Union[StreamField, _Mapping]]] = ...) -> None: ...

class ReadStreamRequest(_message.Message):
    __slots__ = ("target", "key", "start", "end", "count", "reverse")
    TARGET_FIELD_NUMBER: _ClassVar[int]
    KEY_FIELD_NUMBER: _ClassVar[int]
    START_FIELD_NUMBER: _ClassVar[int]
    END_FIELD_NUMBER: _ClassVar[int]
    COUNT_FIELD_NUMBER: _ClassVar[int]
    REVERSE_FIELD_NUMBER: _ClassVar[int]
    target: _common_pb2.ConnectionTarget
    key: bytes
    start: str
    end: str
    count: int
    reverse: bool
    def __init__(self, target: _Optional[_Union[_common_pb2.ConnectionTarget, _Mapping]] = ..., key: _Optional[bytes] = ..., start: _Optional[str] = ..., end: _Optional[str] = ..., count: _Optional[int] = ..., reverse: _Optional[bool] = ...) -> None: ...

class ReadStreamResponse(_message.Message):
    __slots__ = ("entries", "next", "length")
    ENTRIES_FIELD_NUMBER: _ClassVar[int]
    NEXT_FIELD_NUMBER: _ClassVar[int]
    LENGTH_FIELD_NUMBER: _ClassVar[int]
    entries: _containers.RepeatedCompositeFieldContainer[StreamRecord]
    next: str
    length: int
    def __init__(self, entries: _Optional[_Iterable[_Union[StreamRecord, _Mapping]]] = ..., next: _Optional[str] = ..., length: _Optional[int] = ...) -> None: ...

class ListStreamGroupsRequest(_message.Message):
    __slots__ = ("target", "key")
    TARGET_FIELD_NUMBER: _ClassVar[int]
    KEY_FIELD_NUMBER: _ClassVar[int]
    target: _common_pb2.ConnectionTarget
    key: bytes
    def __init__(self, target: _Optional[_Union[_common_pb2.ConnectionTarget, _Mapping]] = ..., key: _Optional[bytes] = ...) -> None: ...

class StreamGroup(_message.Message):
    __slots__ = ("name", "consumers", "pending", "last_delivered_id", "lag", "entries_read")
    NAME_FIELD_NUMBER: _ClassVar[int]
    CONSUMERS_FIELD_NUMBER: _ClassVar[int]
    PENDING_FIELD_NUMBER: _ClassVar[int]
    LAST_DELIVERED_ID_FIELD_NUMBER: _ClassVar[int]
    LAG_FIELD_NUMBER: _ClassVar[int]
    ENTRIES_READ_FIELD_NUMBER: _ClassVar[int]
    name: bytes
    consumers: int
    pending: int
    last_delivered_id: str
    lag: int
    entries_read: int
    def __init__(self, name: _Optional[bytes] = ..., consumers: _Optional[int] = ..., pending: _Optional[int] = ..., last_delivered_id: _Optional[str] = ..., lag: _Optional[int] = ..., entries_read: _Optional[int] = ...) -> None: ...

class ListStreamGroupsResponse(_message.Message):
    __slots__ = ("groups",)
    GROUPS_FIELD_NUMBER: _ClassVar[int]
    groups: _containers.RepeatedCompositeFieldContainer[StreamGroup]
    def __init__(self, groups: _Optional[_Iterable[_Union[StreamGroup, _Mapping]]] = ...) -> None: ...

class ListStreamConsumersRequest(_message.Message):
    __slots__ = ("target", "key", "group")
    TARGET_FIELD_NUMBER: _ClassVar[int]
    KEY_FIELD_NUMBER: _ClassVar[int]
    GROUP_FIELD_NUMBER: _ClassVar[int]
    target: _common_pb2.ConnectionTarget
    key: bytes
    group: bytes
    def __init__(self, target: _Optional[_Union[_common_pb2.ConnectionTarget, _Mapping]] = ..., key: _Optional[bytes] = ..., group: _Optional[bytes] = ...) -> None: ...

class StreamConsumer(_message.Message):
    __slots__ = ("name", "pending", "idle_ms", "inactive_ms")
    NAME_FIELD_NUMBER: _ClassVar[int]
    PENDING_FIELD_NUMBER: _ClassVar[int]
    IDLE_MS_FIELD_NUMBER: _ClassVar[int]
    INACTIVE_MS_FIELD_NUMBER: _ClassVar[int]
    name: bytes
    pending: int
    idle_ms: int
    inactive_ms: int
    def __init__(self, name: _Optional[bytes] = ..., pending: _Optional[int] = ..., idle_ms: _Optional[int] = ..., inactive_ms: _Optional[int] = ...) -> None: ...

class ListStreamConsumersResponse(_message.Message):
    __slots__ = ("consumers",)
    CONSUMERS_FIELD_NUMBER: _ClassVar[int]
    consumers: _containers.RepeatedCompositeFieldContainer[StreamConsumer]
    def __init__(self, consumers: _Optional[_Iterable[_Union[StreamConsumer, _Mapping]]] = ...) -> None: ...

class ListStreamPendingRequest(_message.Message):
    __slots__ = ("target", "key", "group", "consumer", "start", "end", "count", "min_idle_ms")
    TARGET_FIELD_NUMBER: _ClassVar[int]
    KEY_FIELD_NUMBER: _ClassVar[int]
    GROUP_FIELD_NUMBER: _ClassVar[int]
    CONSUMER_FIELD_NUMBER: _ClassVar[int]
    START_FIELD_NUMBER: _ClassVar[int]
    END_FIELD_NUMBER: _ClassVar[int]
    COUNT_FIELD_NUMBER: _ClassVar[int]
    MIN_IDLE_MS_FIELD_NUMBER: _ClassVar[int]
    target: _common_pb2.ConnectionTarget
    key: bytes
    group: bytes
    consumer: bytes
    start: str
    end: str
    count: int
    min_idle_ms: int
    def __init__(self, target: _Optional[_Union[_common_pb2.ConnectionTarget, _Mapping]] = ..., key: _Optional[bytes] = ..., group: _Optional[bytes] = ..., consumer: _Optional[bytes] = ..., start: _Optional[str] = ..., end: _Optional[str] = ..., count: _Optional[int] = ..., min_idle_ms: _Optional[int] = ...) -> None: ...

class PendingEntry(_message.Message):
    __slots__ = ("id", "consumer", "idle_ms", "deliveries")
    ID_FIELD_NUMBER: _ClassVar[int]
    CONSUMER_FIELD_NUMBER: _ClassVar[int]
    IDLE_MS_FIELD_NUMBER: _ClassVar[int]
    DELIVERIES_FIELD_NUMBER: _ClassVar[int]
    id: str
    consumer: bytes
    idle_ms: int
    deliveries: int
    def __init__(self, id: _Optional[str] = ..., consumer: _Optional[bytes] = ..., idle_ms: _Optional[int] = ..., deliveries: _Optional[int] = ...) -> None: ...

class ListStreamPendingResponse(_message.Message):
    __slots__ = ("entries", "total", "by_consumer", "next")
    class ByConsumerEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: int
        def __init__(self, key: _Optional[str] = ..., value: _Optional[int] = ...) -> None: ...
    ENTRIES_FIELD_NUMBER: _ClassVar[int]
    TOTAL_FIELD_NUMBER: _ClassVar[int]
    BY_CONSUMER_FIELD_NUMBER: _ClassVar[int]
    NEXT_FIELD_NUMBER: _ClassVar[int]
    entries: _containers.RepeatedCompositeFieldContainer[PendingEntry]
    total: int
    by_consumer: _containers.ScalarMap[str, int]
    next: str
    def __init__(self, entries: _Optional[_Iterable[_Union[PendingEntry, _Mapping]]] = ..., total: _Optional[int] = ..., by_consumer: _Optional[_Mapping[str, int]] = ..., next: _Optional[str] = ...) -> None: ...

class AddStreamEntryRequest(_message.Message):
    __slots__ = ("target", "key", "id", "fields", "max_length", "no_create")
    TARGET_FIELD_NUMBER: _ClassVar[int]
    KEY_FIELD_NUMBER: _ClassVar[int]
    ID_FIELD_NUMBER: _ClassVar[int]
    FIELDS_FIELD_NUMBER: _ClassVar[int]
    MAX_LENGTH_FIELD_NUMBER: _ClassVar[int]
    NO_CREATE_FIELD_NUMBER: _ClassVar[int]
    target: _common_pb2.ConnectionTarget
    key: bytes
    id: str
    fields: _containers.RepeatedCompositeFieldContainer[StreamField]
    max_length: int
    no_create: bool
    def __init__(self, target: _Optional[_Union[_common_pb2.ConnectionTarget, _Mapping]] = ..., key: _Optional[bytes] = ..., id: _Optional[str] = ..., fields: _Optional[_Iterable[_Union[StreamField, _Mapping]]] = ..., max_length: _Optional[int] = ..., no_create: _Optional[bool] = ...) -> None: ...

class AddStreamEntryResponse(_message.Message):
    __slots__ = ("id",)
    ID_FIELD_NUMBER: _ClassVar[int]
    id: str
    def __init__(self, id: _Optional[str] = ...) -> None: ...

class DeleteStreamEntriesRequest(_message.Message):
    __slots__ = ("target", "key", "ids")
    TARGET_FIELD_NUMBER: _ClassVar[int]
    KEY_FIELD_NUMBER: _ClassVar[int]
    IDS_FIELD_NUMBER: _ClassVar[int]
    target: _common_pb2.ConnectionTarget
    key: bytes
    ids: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, target: _Optional[_Union[_common_pb2.ConnectionTarget, _Mapping]] = ..., key: _Optional[bytes] = ..., ids: _Optional[_Iterable[str]] = ...) -> None: ...

class TrimStreamRequest(_message.Message):
    __slots__ = ("target", "key", "max_length", "min_id", "exact")
    TARGET_FIELD_NUMBER: _ClassVar[int]
    KEY_FIELD_NUMBER: _ClassVar[int]
    MAX_LENGTH_FIELD_NUMBER: _ClassVar[int]
    MIN_ID_FIELD_NUMBER: _ClassVar[int]
    EXACT_FIELD_NUMBER: _ClassVar[int]
    target: _common_pb2.ConnectionTarget
    key: bytes
    max_length: int
    min_id: str
    exact: bool
    def __init__(self, target: _Optional[_Union[_common_pb2.ConnectionTarget, _Mapping]] = ..., key: _Optional[bytes] = ..., max_length: _Optional[int] = ..., min_id: _Optional[str] = ..., exact: _Optional[bool] = ...) -> None: ...

class AckStreamEntriesRequest(_message.Message):
    __slots__ = ("target", "key", "group", "ids")
    TARGET_FIELD_NUMBER: _ClassVar[int]
    KEY_FIELD_NUMBER: _ClassVar[int]
    GROUP_FIELD_NUMBER: _ClassVar[int]
    IDS_FIELD_NUMBER: _ClassVar[int]
    target: _common_pb2.ConnectionTarget
    key: bytes
    group: bytes
    ids: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, target: _Optional[_Union[_common_pb2.ConnectionTarget, _Mapping]] = ..., key: _Optional[bytes] = ..., group: _Optional[bytes] = ..., ids: _Optional[_Iterable[str]] = ...) -> None: ...

class ClaimStreamEntriesRequest(_message.Message):
    __slots__ = ("target", "key", "group", "consumer", "min_idle_ms", "ids")
    TARGET_FIELD_NUMBER: _ClassVar[int]
    KEY_FIELD_NUMBER: _ClassVar[int]
    GROUP_FIELD_NUMBER: _ClassVar[int]
    CONSUMER_FIELD_NUMBER: _ClassVar[int]
    MIN_IDLE_MS_FIELD_NUMBER: _ClassVar[int]
    IDS_FIELD_NUMBER: _ClassVar[int]
    target: _common_pb2.ConnectionTarget
    key: bytes
    group: bytes
    consumer: bytes
    min_idle_ms: int
    ids: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, target: _Optional[_Union[_common_pb2.ConnectionTarget, _Mapping]] = ..., key: _Optional[bytes] = ..., group: _Optional[bytes] = ..., consumer: _Optional[bytes] = ..., min_idle_ms: _Optional[int] = ..., ids: _Optional[_Iterable[str]] = ...) -> None: ...

class StreamCountResponse(_message.Message):
    __slots__ = ("count",)
    COUNT_FIELD_NUMBER: _ClassVar[int]
    count: int
    def __init__(self, count: _Optional[int] = ...) -> None: ...

class PreviewDeleteRequest(_message.Message):
    __slots__ = ("target", "pattern", "sample_size")
    TARGET_FIELD_NUMBER: _ClassVar[int]
    PATTERN_FIELD_NUMBER: _ClassVar[int]
    SAMPLE_SIZE_FIELD_NUMBER: _ClassVar[int]
    target: _common_pb2.ConnectionTarget
    pattern: bytes
    sample_size: int
    def __init__(self, target: _Optional[_Union[_common_pb2.ConnectionTarget, _Mapping]] = ..., pattern: _Optional[bytes] = ..., sample_size: _Optional[int] = ...) -> None: ...

class PreviewDeleteResponse(_message.Message):
    __slots__ = ("matched", "sample", "token", "expires_at")
    MATCHED_FIELD_NUMBER: _ClassVar[int]
    SAMPLE_FIELD_NUMBER: _ClassVar[int]
    TOKEN_FIELD_NUMBER: _ClassVar[int]
    EXPIRES_AT_FIELD_NUMBER: _ClassVar[int]
    matched: int
    sample: _containers.RepeatedScalarFieldContainer[bytes]
    token: str
    expires_at: int
    def __init__(self, matched: _Optional[int] = ..., sample: _Optional[_Iterable[bytes]] = ..., token: _Optional[str] = ..., expires_at: _Optional[int] = ...) -> None: ...

class DeleteByPatternRequest(_message.Message):
    __slots__ = ("target", "pattern", "token", "batch_size")
    TARGET_FIELD_NUMBER: _ClassVar[int]
    PATTERN_FIELD_NUMBER: _ClassVar[int]
    TOKEN_FIELD_NUMBER: _ClassVar[int]
    BATCH_SIZE_FIELD_NUMBER: _ClassVar[int]
    target: _common_pb2.ConnectionTarget
    pattern: bytes
    token: str
    batch_size: int
    def __init__(self, target: _Optional[_Union[_common_pb2.ConnectionTarget, _Mapping]] = ..., pattern: _Optional[bytes] = ..., token: _Optional[str] = ..., batch_size: _Optional[int] = ...) -> None: ...

class DeleteProgress(_message.Message):
    __slots__ = ("scanned", "deleted", "done")
    SCANNED_FIELD_NUMBER: _ClassVar[int]
    DELETED_FIELD_NUMBER: _ClassVar[int]
    DONE_FIELD_NUMBER: _ClassVar[int]
    scanned: int
    deleted: int
    done: bool
    def __init__(self, scanned: _Optional[int] = ..., deleted: _Optional[int] = ..., done: _Optional[bool] = ...) -> None: ...

class AnalyzeKeyspaceRequest(_message.Message):
    __slots__ = ("target", "sample_size", "pattern", "delimiter", "top")
    TARGET_FIELD_NUMBER: _ClassVar[int]
    SAMPLE_SIZE_FIELD_NUMBER: _ClassVar[int]
    PATTERN_FIELD_NUMBER: _ClassVar[int]
    DELIMITER_FIELD_NUMBER: _ClassVar[int]
    TOP_FIELD_NUMBER: _ClassVar[int]
    target: _common_pb2.ConnectionTarget
    sample_size: int
    pattern: bytes
    delimiter: bytes
    top: int
    def __init__(self, target: _Optional[_Union[_common_pb2.ConnectionTarget, _Mapping]] = ..., sample_size: _Optional[int] = ..., pattern: _Optional[bytes] = ..., delimiter: _Optional[bytes] = ..., top: _Optional[int] = ...) -> None: ...

class TypeStats(_message.Message):
    __slots__ = ("type", "keys", "memory")
    TYPE_FIELD_NUMBER: _ClassVar[int]
    KEYS_FIELD_NUMBER: _ClassVar[int]
    MEMORY_FIELD_NUMBER: _ClassVar[int]
    type: str
    keys: int
    memory: int
    def __init__(self, type: _Optional[str] = ..., keys: _Optional[int] = ..., memory: _Optional[int] = ...) -> None: ...

class NamespaceStats(_message.Message):
    __slots__ = ("prefix", "keys", "memory")
    PREFIX_FIELD_NUMBER: _ClassVar[int]
    KEYS_FIELD_NUMBER: _ClassVar[int]
    MEMORY_FIELD_NUMBER: _ClassVar[int]
    prefix: bytes
    keys: int
    memory: int
    def __init__(self, prefix: _Optional[bytes] = ..., keys: _Optional[int] = ..., memory: _Optional[int] = ...) -> None: ...

class TtlBucket(_message.Message):
    __slots__ = ("bucket", "keys", "memory")
    BUCKET_FIELD_NUMBER: _ClassVar[int]
    KEYS_FIELD_NUMBER: _ClassVar[int]
    MEMORY_FIELD_NUMBER: _ClassVar[int]
    bucket: str
    keys: int
    memory: int
    def __init__(self, bucket: _Optional[str] = ..., keys: _Optional[int] = ..., memory: _Optional[int] = ...) -> None: ...

class KeyspaceReport(_message.Message):
    __slots__ = ("sampled", "total", "coverage", "memory", "by_type", "by_namespace", "top_by_memory", "top_by_length", "ttl")
    SAMPLED_FIELD_NUMBER: _ClassVar[int]
    TOTAL_FIELD_NUMBER: _ClassVar[int]
    COVERAGE_FIELD_NUMBER: _ClassVar[int]
    MEMORY_FIELD_NUMBER: _ClassVar[int]
    BY_TYPE_FIELD_NUMBER: _ClassVar[int]
    BY_NAMESPACE_FIELD_NUMBER: _ClassVar[int]
    TOP_BY_MEMORY_FIELD_NUMBER: _ClassVar[int]
    TOP_BY_LENGTH_FIELD_NUMBER: _ClassVar[int]
    TTL_FIELD_NUMBER: _ClassVar[int]
    sampled: int
    total: int
    coverage: float
    memory: int
    by_type: _containers.RepeatedCompositeFieldContainer[TypeStats]
    by_namespace: _containers.RepeatedCompositeFieldContainer[NamespaceStats]
    top_by_memory: _containers.RepeatedCompositeFieldContainer[KeyRow]
    top_by_length: _containers.RepeatedCompositeFieldContainer[KeyRow]
    ttl: _containers.RepeatedCompositeFieldContainer[TtlBucket]
    def __init__(self, sampled: _Optional[int] = ..., total: _Optional[int] = ..., coverage: _Optional[float] = ..., memory: _Optional[int] = ..., by_type: _Optional[_Iterable[_Union[TypeStats, _Mapping]]] = ..., by_namespace: _Optional[_Iterable[_Union[NamespaceStats, _Mapping]]] = ..., top_by_memory: _Optional[_Iterable[_Union[KeyRow, _Mapping]]] = ..., top_by_length: _Optional[_Iterable[_Union[KeyRow, _Mapping]]] = ..., ttl: _Optional[_Iterable[_Union[TtlBucket, _Mapping]]] = ...) -> None: ...

class AnalyzeKeyspaceProgress(_message.Message):
    __slots__ = ("sampled", "target", "report")
    SAMPLED_FIELD_NUMBER: _ClassVar[int]
    TARGET_FIELD_NUMBER: _ClassVar[int]
    REPORT_FIELD_NUMBER: _ClassVar[int]
    sampled: int
    target: int
    report: KeyspaceReport
    def __init__(self, sampled: _Optional[int] = ..., target: _Optional[int] = ..., report: _Optional[_Union[KeyspaceReport, _Mapping]] = ...) -> None: ...

class GetSlowLogRequest(_message.Message):
    __slots__ = ("target", "count")
    TARGET_FIELD_NUMBER: _ClassVar[int]
    COUNT_FIELD_NUMBER: _ClassVar[int]
    target: _common_pb2.ConnectionTarget
    count: int
    def __init__(self, target: _Optional[_Union[_common_pb2.ConnectionTarget, _Mapping]] = ..., count: _Optional[int] = ...) -> None: ...

class SlowLogEntry(_message.Message):
    __slots__ = ("id", "time", "duration_us", "args", "client_address", "client_name", "node")
    ID_FIELD_NUMBER: _ClassVar[int]
    TIME_FIELD_NUMBER: _ClassVar[int]
    DURATION_US_FIELD_NUMBER: _ClassVar[int]
    ARGS_FIELD_NUMBER: _ClassVar[int]
    CLIENT_ADDRESS_FIELD_NUMBER: _ClassVar[int]
    CLIENT_NAME_FIELD_NUMBER: _ClassVar[int]
    NODE_FIELD_NUMBER: _ClassVar[int]
    id: int
    time: int
    duration_us: int
    args: _containers.RepeatedScalarFieldContainer[bytes]
    client_address: str
    client_name: str
    node: str
    def __init__(self, id: _Optional[int] = ..., time: _Optional[int] = ..., duration_us: _Optional[int] = ..., args: _Optional[_Iterable[bytes]] = ..., client_address: _Optional[str] = ..., client_name: _Optional[str] = ..., node: _Optional[str] = ...) -> None: ...

class GetSlowLogResponse(_message.Message):
    __slots__ = ("entries",)
    ENTRIES_FIELD_NUMBER: _ClassVar[int]
    entries: _containers.RepeatedCompositeFieldContainer[SlowLogEntry]
    def __init__(self, entries: _Optional[_Iterable[_Union[SlowLogEntry, _Mapping]]] = ...) -> None: ...

class ResetSlowLogRequest(_message.Message):
    __slots__ = ("target",)
    TARGET_FIELD_NUMBER: _ClassVar[int]
    target: _common_pb2.ConnectionTarget
    def __init__(self, target: _Optional[_Union[_common_pb2.ConnectionTarget, _Mapping]] = ...) -> None: ...

class ResetSlowLogResponse(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class ListClientsRequest(_message.Message):
    __slots__ = ("target",)
    TARGET_FIELD_NUMBER: _ClassVar[int]
    target: _common_pb2.ConnectionTarget
    def __init__(self, target: _Optional[_Union[_common_pb2.ConnectionTarget, _Mapping]] = ...) -> None: ...

class ClientInfo(_message.Message):
    __slots__ = ("fields", "node")
    class FieldsEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: str
        def __init__(self, key: _Optional[str] = ..., value: _Optional[str] = ...) -> None: ...
    FIELDS_FIELD_NUMBER: _ClassVar[int]
    NODE_FIELD_NUMBER: _ClassVar[int]
    fields: _containers.ScalarMap[str, str]
    node: str
    def __init__(self, fields: _Optional[_Mapping[str, str]] = ..., node: _Optional[str] = ...) -> None: ...

class ListClientsResponse(_message.Message):
    __slots__ = ("clients",)
    CLIENTS_FIELD_NUMBER: _ClassVar[int]
    clients: _containers.RepeatedCompositeFieldContainer[ClientInfo]
    def __init__(self, clients: _Optional[_Iterable[_Union[ClientInfo, _Mapping]]] = ...) -> None: ...

class MonitorRequest(_message.Message):
    __slots__ = ("target", "max_events", "max_seconds")
    TARGET_FIELD_NUMBER: _ClassVar[int]
    MAX_EVENTS_FIELD_NUMBER: _ClassVar[int]
    MAX_SECONDS_FIELD_NUMBER: _ClassVar[int]
    target: _common_pb2.ConnectionTarget
    max_events: int
    max_seconds: int
    def __init__(self, target: _Optional[_Union[_common_pb2.ConnectionTarget, _Mapping]] = ..., max_events: _Optional[int] = ..., max_seconds: _Optional[int] = ...) -> None: ...

class MonitorEvent(_message.Message):
    __slots__ = ("time", "db", "client", "args", "ended", "dropped", "node")
    TIME_FIELD_NUMBER: _ClassVar[int]
    DB_FIELD_NUMBER: _ClassVar[int]
    CLIENT_FIELD_NUMBER: _ClassVar[int]
    ARGS_FIELD_NUMBER: _ClassVar[int]
    ENDED_FIELD_NUMBER: _ClassVar[int]
    DROPPED_FIELD_NUMBER: _ClassVar[int]
    NODE_FIELD_NUMBER: _ClassVar[int]
    time: float
    db: int
    client: str
    args: _containers.RepeatedScalarFieldContainer[bytes]
    ended: str
    dropped: int
    node: str
    def __init__(self, time: _Optional[float] = ..., db: _Optional[int] = ..., client: _Optional[str] = ..., args: _Optional[_Iterable[bytes]] = ..., ended: _Optional[str] = ..., dropped: _Optional[int] = ..., node: _Optional[str] = ...) -> None: ...
