from google.protobuf import struct_pb2 as _struct_pb2
from udb.common.v1 import common_pb2 as _common_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class KeySummary(_message.Message):
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

class ScanKeysRequest(_message.Message):
    __slots__ = ("target", "pattern", "type", "count", "cursor", "with_size")
    TARGET_FIELD_NUMBER: _ClassVar[int]
    PATTERN_FIELD_NUMBER: _ClassVar[int]
    TYPE_FIELD_NUMBER: _ClassVar[int]
    COUNT_FIELD_NUMBER: _ClassVar[int]
    CURSOR_FIELD_NUMBER: _ClassVar[int]
    WITH_SIZE_FIELD_NUMBER: _ClassVar[int]
    target: _common_pb2.ConnectionTarget
    pattern: bytes
    type: str
    count: int
    cursor: str
    with_size: bool
    def __init__(self, target: _Optional[_Union[_common_pb2.ConnectionTarget, _Mapping]] = ..., pattern: _Optional[bytes] = ..., type: _Optional[str] = ..., count: _Optional[int] = ..., cursor: _Optional[str] = ..., with_size: _Optional[bool] = ...) -> None: ...

class ScanKeysResponse(_message.Message):
    __slots__ = ("keys", "cursor")
    KEYS_FIELD_NUMBER: _ClassVar[int]
    CURSOR_FIELD_NUMBER: _ClassVar[int]
    keys: _containers.RepeatedCompositeFieldContainer[KeySummary]
    cursor: str
    def __init__(self, keys: _Optional[_Iterable[_Union[KeySummary, _Mapping]]] = ..., cursor: _Optional[str] = ...) -> None: ...

class HashField(_message.Message):
    __slots__ = ("field", "value")
    FIELD_FIELD_NUMBER: _ClassVar[int]
    VALUE_FIELD_NUMBER: _ClassVar[int]
    field: bytes
    value: bytes
    def __init__(self, field: _Optional[bytes] = ..., value: _Optional[bytes] = ...) -> None: ...

class ZSetMember(_message.Message):
    __slots__ = ("member", "score")
    MEMBER_FIELD_NUMBER: _ClassVar[int]
    SCORE_FIELD_NUMBER: _ClassVar[int]
    member: bytes
    score: float
    def __init__(self, member: _Optional[bytes] = ..., score: _Optional[float] = ...) -> None: ...

class StreamEntry(_message.Message):
    __slots__ = ("id", "fields")
    ID_FIELD_NUMBER: _ClassVar[int]
    FIELDS_FIELD_NUMBER: _ClassVar[int]
    id: str
    fields: _containers.RepeatedCompositeFieldContainer[HashField]
    def __init__(self, id: _Optional[str] = ..., fields: _Optional[_Iterable[_Union[HashField, _Mapping]]] = ...) -> None: ...

class HashValue(_message.Message):
    __slots__ = ("fields",)
    FIELDS_FIELD_NUMBER: _ClassVar[int]
    fields: _containers.RepeatedCompositeFieldContainer[HashField]
    def __init__(self, fields: _Optional[_Iterable[_Union[HashField, _Mapping]]] = ...) -> None: ...

class ListValue(_message.Message):
    __slots__ = ("elements",)
    ELEMENTS_FIELD_NUMBER: _ClassVar[int]
    elements: _containers.RepeatedScalarFieldContainer[bytes]
    def __init__(self, elements: _Optional[_Iterable[bytes]] = ...) -> None: ...

class SetValue(_message.Message):
    __slots__ = ("members",)
    MEMBERS_FIELD_NUMBER: _ClassVar[int]
    members: _containers.RepeatedScalarFieldContainer[bytes]
    def __init__(self, members: _Optional[_Iterable[bytes]] = ...) -> None: ...

class ZSetValue(_message.Message):
    __slots__ = ("members",)
    MEMBERS_FIELD_NUMBER: _ClassVar[int]
    members: _containers.RepeatedCompositeFieldContainer[ZSetMember]
    def __init__(self, members: _Optional[_Iterable[_Union[ZSetMember, _Mapping]]] = ...) -> None: ...

class StreamValue(_message.Message):
    __slots__ = ("entries",)
    ENTRIES_FIELD_NUMBER: _ClassVar[int]
    entries: _containers.RepeatedCompositeFieldContainer[StreamEntry]
    def __init__(self, entries: _Optional[_Iterable[_Union[StreamEntry, _Mapping]]] = ...) -> None: ...

class Value(_message.Message):
    __slots__ = ("string_value", "hash_value", "list_value", "set_value", "zset_value", "stream_value", "json_value")
    STRING_VALUE_FIELD_NUMBER: _ClassVar[int]
    HASH_VALUE_FIELD_NUMBER: _ClassVar[int]
    LIST_VALUE_FIELD_NUMBER: _ClassVar[int]
    SET_VALUE_FIELD_NUMBER: _ClassVar[int]
    ZSET_VALUE_FIELD_NUMBER: _ClassVar[int]
    STREAM_VALUE_FIELD_NUMBER: _ClassVar[int]
    JSON_VALUE_FIELD_NUMBER: _ClassVar[int]
    string_value: bytes
    hash_value: HashValue
    list_value: ListValue
    set_value: SetValue
    zset_value: ZSetValue
    stream_value: StreamValue
    json_value: str
    def __init__(self, string_value: _Optional[bytes] = ..., hash_value: _Optional[_Union[HashValue, _Mapping]] = ..., list_value: _Optional[_Union[ListValue, _Mapping]] = ..., set_value: _Optional[_Union[SetValue, _Mapping]] = ..., zset_value: _Optional[_Union[ZSetValue, _Mapping]] = ..., stream_value: _Optional[_Union[StreamValue, _Mapping]] = ..., json_value: _Optional[str] = ...) -> None: ...

class GetKeyRequest(_message.Message):
    __slots__ = ("target", "key", "max_bytes", "cursor", "count", "start", "stop")
    TARGET_FIELD_NUMBER: _ClassVar[int]
    KEY_FIELD_NUMBER: _ClassVar[int]
    MAX_BYTES_FIELD_NUMBER: _ClassVar[int]
    CURSOR_FIELD_NUMBER: _ClassVar[int]
    COUNT_FIELD_NUMBER: _ClassVar[int]
    START_FIELD_NUMBER: _ClassVar[int]
    STOP_FIELD_NUMBER: _ClassVar[int]
    target: _common_pb2.ConnectionTarget
    key: bytes
    max_bytes: int
    cursor: str
    count: int
    start: int
    stop: int
    def __init__(self, target: _Optional[_Union[_common_pb2.ConnectionTarget, _Mapping]] = ..., key: _Optional[bytes] = ..., max_bytes: _Optional[int] = ..., cursor: _Optional[str] = ..., count: _Optional[int] = ..., start: _Optional[int] = ..., stop: _Optional[int] = ...) -> None: ...

class Key(_message.Message):
    __slots__ = ("key", "type", "ttl", "size", "encoding", "value", "truncated", "cursor")
    KEY_FIELD_NUMBER: _ClassVar[int]
    TYPE_FIELD_NUMBER: _ClassVar[int]
    TTL_FIELD_NUMBER: _ClassVar[int]
    SIZE_FIELD_NUMBER: _ClassVar[int]
    ENCODING_FIELD_NUMBER: _ClassVar[int]
    VALUE_FIELD_NUMBER: _ClassVar[int]
    TRUNCATED_FIELD_NUMBER: _ClassVar[int]
    CURSOR_FIELD_NUMBER: _ClassVar[int]
    key: bytes
    type: str
    ttl: int
    size: int
    encoding: str
    value: Value
    truncated: bool
    cursor: str
    def __init__(self, key: _Optional[bytes] = ..., type: _Optional[str] = ..., ttl: _Optional[int] = ..., size: _Optional[int] = ..., encoding: _Optional[str] = ..., value: _Optional[_Union[Value, _Mapping]] = ..., truncated: _Optional[bool] = ..., cursor: _Optional[str] = ...) -> None: ...

class CreateKeyRequest(_message.Message):
    __slots__ = ("target", "key", "value", "ttl")
    TARGET_FIELD_NUMBER: _ClassVar[int]
    KEY_FIELD_NUMBER: _ClassVar[int]
    VALUE_FIELD_NUMBER: _ClassVar[int]
    TTL_FIELD_NUMBER: _ClassVar[int]
    target: _common_pb2.ConnectionTarget
    key: bytes
    value: Value
    ttl: int
    def __init__(self, target: _Optional[_Union[_common_pb2.ConnectionTarget, _Mapping]] = ..., key: _Optional[bytes] = ..., value: _Optional[_Union[Value, _Mapping]] = ..., ttl: _Optional[int] = ...) -> None: ...

class UpdateKeyRequest(_message.Message):
    __slots__ = ("target", "key", "value", "ttl")
    TARGET_FIELD_NUMBER: _ClassVar[int]
    KEY_FIELD_NUMBER: _ClassVar[int]
    VALUE_FIELD_NUMBER: _ClassVar[int]
    TTL_FIELD_NUMBER: _ClassVar[int]
    target: _common_pb2.ConnectionTarget
    key: bytes
    value: Value
    ttl: int
    def __init__(self, target: _Optional[_Union[_common_pb2.ConnectionTarget, _Mapping]] = ..., key: _Optional[bytes] = ..., value: _Optional[_Union[Value, _Mapping]] = ..., ttl: _Optional[int] = ...) -> None: ...

class DeleteKeyRequest(_message.Message):
    __slots__ = ("target", "key")
    TARGET_FIELD_NUMBER: _ClassVar[int]
    KEY_FIELD_NUMBER: _ClassVar[int]
    target: _common_pb2.ConnectionTarget
    key: bytes
    def __init__(self, target: _Optional[_Union[_common_pb2.ConnectionTarget, _Mapping]] = ..., key: _Optional[bytes] = ...) -> None: ...

class DeleteKeyResponse(_message.Message):
    __slots__ = ("deleted",)
    DELETED_FIELD_NUMBER: _ClassVar[int]
    deleted: int
    def __init__(self, deleted: _Optional[int] = ...) -> None: ...

class ExpireKeyRequest(_message.Message):
    __slots__ = ("target", "key", "ttl")
    TARGET_FIELD_NUMBER: _ClassVar[int]
    KEY_FIELD_NUMBER: _ClassVar[int]
    TTL_FIELD_NUMBER: _ClassVar[int]
    target: _common_pb2.ConnectionTarget
    key: bytes
    ttl: int
    def __init__(self, target: _Optional[_Union[_common_pb2.ConnectionTarget, _Mapping]] = ..., key: _Optional[bytes] = ..., ttl: _Optional[int] = ...) -> None: ...

class ExpireKeyResponse(_message.Message):
    __slots__ = ("ttl",)
    TTL_FIELD_NUMBER: _ClassVar[int]
    ttl: int
    def __init__(self, ttl: _Optional[int] = ...) -> None: ...

class Channel(_message.Message):
    __slots__ = ("channel", "subscribers")
    CHANNEL_FIELD_NUMBER: _ClassVar[int]
    SUBSCRIBERS_FIELD_NUMBER: _ClassVar[int]
    channel: bytes
    subscribers: int
    def __init__(self, channel: _Optional[bytes] = ..., subscribers: _Optional[int] = ...) -> None: ...

class ListChannelsRequest(_message.Message):
    __slots__ = ("target", "pattern")
    TARGET_FIELD_NUMBER: _ClassVar[int]
    PATTERN_FIELD_NUMBER: _ClassVar[int]
    target: _common_pb2.ConnectionTarget
    pattern: bytes
    def __init__(self, target: _Optional[_Union[_common_pb2.ConnectionTarget, _Mapping]] = ..., pattern: _Optional[bytes] = ...) -> None: ...

class ListChannelsResponse(_message.Message):
    __slots__ = ("channels",)
    CHANNELS_FIELD_NUMBER: _ClassVar[int]
    channels: _containers.RepeatedCompositeFieldContainer[Channel]
    def __init__(self, channels: _Optional[_Iterable[_Union[Channel, _Mapping]]] = ...) -> None: ...

class PublishRequest(_message.Message):
    __slots__ = ("target", "channel", "message")
    TARGET_FIELD_NUMBER: _ClassVar[int]
    CHANNEL_FIELD_NUMBER: _ClassVar[int]
    MESSAGE_FIELD_NUMBER: _ClassVar[int]
    target: _common_pb2.ConnectionTarget
    channel: bytes
    message: bytes
    def __init__(self, target: _Optional[_Union[_common_pb2.ConnectionTarget, _Mapping]] = ..., channel: _Optional[bytes] = ..., message: _Optional[bytes] = ...) -> None: ...

class PublishResponse(_message.Message):
    __slots__ = ("receivers",)
    RECEIVERS_FIELD_NUMBER: _ClassVar[int]
    receivers: int
    def __init__(self, receivers: _Optional[int] = ...) -> None: ...

class SubscribeRequest(_message.Message):
    __slots__ = ("target", "channels", "patterns")
    TARGET_FIELD_NUMBER: _ClassVar[int]
    CHANNELS_FIELD_NUMBER: _ClassVar[int]
    PATTERNS_FIELD_NUMBER: _ClassVar[int]
    target: _common_pb2.ConnectionTarget
    channels: _containers.RepeatedScalarFieldContainer[bytes]
    patterns: _containers.RepeatedScalarFieldContainer[bytes]
    def __init__(self, target: _Optional[_Union[_common_pb2.ConnectionTarget, _Mapping]] = ..., channels: _Optional[_Iterable[bytes]] = ..., patterns: _Optional[_Iterable[bytes]] = ...) -> None: ...

class SubscriptionChange(_message.Message):
    __slots__ = ("target", "subscribe_channels", "subscribe_patterns", "unsubscribe_channels", "unsubscribe_patterns")
    TARGET_FIELD_NUMBER: _ClassVar[int]
    SUBSCRIBE_CHANNELS_FIELD_NUMBER: _ClassVar[int]
    SUBSCRIBE_PATTERNS_FIELD_NUMBER: _ClassVar[int]
    UNSUBSCRIBE_CHANNELS_FIELD_NUMBER: _ClassVar[int]
    UNSUBSCRIBE_PATTERNS_FIELD_NUMBER: _ClassVar[int]
    target: _common_pb2.ConnectionTarget
    subscribe_channels: _containers.RepeatedScalarFieldContainer[bytes]
    subscribe_patterns: _containers.RepeatedScalarFieldContainer[bytes]
    unsubscribe_channels: _containers.RepeatedScalarFieldContainer[bytes]
    unsubscribe_patterns: _containers.RepeatedScalarFieldContainer[bytes]
    def __init__(self, target: _Optional[_Union[_common_pb2.ConnectionTarget, _Mapping]] = ..., subscribe_channels: _Optional[_Iterable[bytes]] = ..., subscribe_patterns: _Optional[_Iterable[bytes]] = ..., unsubscribe_channels: _Optional[_Iterable[bytes]] = ..., unsubscribe_patterns: _Optional[_Iterable[bytes]] = ...) -> None: ...

class SubscribeResponse(_message.Message):
    __slots__ = ("type", "channel", "pattern", "data")
    TYPE_FIELD_NUMBER: _ClassVar[int]
    CHANNEL_FIELD_NUMBER: _ClassVar[int]
    PATTERN_FIELD_NUMBER: _ClassVar[int]
    DATA_FIELD_NUMBER: _ClassVar[int]
    type: str
    channel: bytes
    pattern: bytes
    data: bytes
    def __init__(self, type: _Optional[str] = ..., channel: _Optional[bytes] = ..., pattern: _Optional[bytes] = ..., data: _Optional[bytes] = ...) -> None: ...

class GetInfoRequest(_message.Message):
    __slots__ = ("target", "section")
    TARGET_FIELD_NUMBER: _ClassVar[int]
    SECTION_FIELD_NUMBER: _ClassVar[int]
    target: _common_pb2.ConnectionTarget
    section: str
    def __init__(self, target: _Optional[_Union[_common_pb2.ConnectionTarget, _Mapping]] = ..., section: _Optional[str] = ...) -> None: ...

class GetInfoResponse(_message.Message):
    __slots__ = ("sections",)
    class SectionsEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: _struct_pb2.Struct
        def __init__(self, key: _Optional[str] = ..., value: _Optional[_Union[_struct_pb2.Struct, _Mapping]] = ...) -> None: ...
    SECTIONS_FIELD_NUMBER: _ClassVar[int]
    sections: _containers.MessageMap[str, _struct_pb2.Struct]
    def __init__(self, sections: _Optional[_Mapping[str, _struct_pb2.Struct]] = ...) -> None: ...

class GetStatsRequest(_message.Message):
    __slots__ = ("target",)
    TARGET_FIELD_NUMBER: _ClassVar[int]
    target: _common_pb2.ConnectionTarget
    def __init__(self, target: _Optional[_Union[_common_pb2.ConnectionTarget, _Mapping]] = ...) -> None: ...

class KeyspaceStats(_message.Message):
    __slots__ = ("keys", "expires")
    KEYS_FIELD_NUMBER: _ClassVar[int]
    EXPIRES_FIELD_NUMBER: _ClassVar[int]
    keys: int
    expires: int
    def __init__(self, keys: _Optional[int] = ..., expires: _Optional[int] = ...) -> None: ...

class GetStatsResponse(_message.Message):
    __slots__ = ("ops_per_sec", "connected_clients", "used_memory", "hit_rate", "keyspace", "uptime_s")
    class KeyspaceEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: KeyspaceStats
        def __init__(self, key: _Optional[str] = ..., value: _Optional[_Union[KeyspaceStats, _Mapping]] = ...) -> None: ...
    OPS_PER_SEC_FIELD_NUMBER: _ClassVar[int]
    CONNECTED_CLIENTS_FIELD_NUMBER: _ClassVar[int]
    USED_MEMORY_FIELD_NUMBER: _ClassVar[int]
    HIT_RATE_FIELD_NUMBER: _ClassVar[int]
    KEYSPACE_FIELD_NUMBER: _ClassVar[int]
    UPTIME_S_FIELD_NUMBER: _ClassVar[int]
    ops_per_sec: float
    connected_clients: int
    used_memory: int
    hit_rate: float
    keyspace: _containers.MessageMap[str, KeyspaceStats]
    uptime_s: int
    def __init__(self, ops_per_sec: _Optional[float] = ..., connected_clients: _Optional[int] = ..., used_memory: _Optional[int] = ..., hit_rate: _Optional[float] = ..., keyspace: _Optional[_Mapping[str, KeyspaceStats]] = ..., uptime_s: _Optional[int] = ...) -> None: ...

class TestConnectionRequest(_message.Message):
    __slots__ = ("target",)
    TARGET_FIELD_NUMBER: _ClassVar[int]
    target: _common_pb2.ConnectionTarget
    def __init__(self, target: _Optional[_Union[_common_pb2.ConnectionTarget, _Mapping]] = ...) -> None: ...
