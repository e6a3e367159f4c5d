from google.protobuf.internal import containers as _containers
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class BucketUsage(_message.Message):
    __slots__ = ("key", "consumed")
    KEY_FIELD_NUMBER: _ClassVar[int]
    CONSUMED_FIELD_NUMBER: _ClassVar[int]
    key: str
    consumed: int
    def __init__(self, key: _Optional[str] = ..., consumed: _Optional[int] = ...) -> None: ...

class SyncRateLimitsRequest(_message.Message):
    __slots__ = ("buckets",)
    BUCKETS_FIELD_NUMBER: _ClassVar[int]
    buckets: _containers.RepeatedCompositeFieldContainer[BucketUsage]
    def __init__(self, buckets: _Optional[_Iterable[_Union[BucketUsage, _Mapping]]] = ...) -> None: ...

class BucketTotals(_message.Message):
    __slots__ = ("key", "window_total", "previous_total")
    KEY_FIELD_NUMBER: _ClassVar[int]
    WINDOW_TOTAL_FIELD_NUMBER: _ClassVar[int]
    PREVIOUS_TOTAL_FIELD_NUMBER: _ClassVar[int]
    key: str
    window_total: int
    previous_total: int
    def __init__(self, key: _Optional[str] = ..., window_total: _Optional[int] = ..., previous_total: _Optional[int] = ...) -> None: ...

class SyncRateLimitsResponse(_message.Message):
    __slots__ = ("shared", "window", "buckets")
    SHARED_FIELD_NUMBER: _ClassVar[int]
    WINDOW_FIELD_NUMBER: _ClassVar[int]
    BUCKETS_FIELD_NUMBER: _ClassVar[int]
    shared: bool
    window: int
    buckets: _containers.RepeatedCompositeFieldContainer[BucketTotals]
    def __init__(self, shared: _Optional[bool] = ..., window: _Optional[int] = ..., buckets: _Optional[_Iterable[_Union[BucketTotals, _Mapping]]] = ...) -> None: ...
