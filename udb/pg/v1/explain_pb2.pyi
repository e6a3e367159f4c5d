from udb.common.v1 import common_pb2 as _common_pb2
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class ExplainRequest(_message.Message):
    __slots__ = ("target", "query", "analyze", "verbose", "buffers", "settings")
    TARGET_FIELD_NUMBER: _ClassVar[int]
    QUERY_FIELD_NUMBER: _ClassVar[int]
    ANALYZE_FIELD_NUMBER: _ClassVar[int]
    VERBOSE_FIELD_NUMBER: _ClassVar[int]
    BUFFERS_FIELD_NUMBER: _ClassVar[int]
    SETTINGS_FIELD_NUMBER: _ClassVar[int]
    target: _common_pb2.ConnectionTarget
    query: str
    analyze: bool
    verbose: bool
    buffers: bool
    settings: bool
    def __init__(self, target: _Optional[_Union[_common_pb2.ConnectionTarget, _Mapping]] = ..., query: _Optional[str] = ..., analyze: _Optional[bool] = ..., verbose: _Optional[bool] = ..., buffers: _Optional[bool] = ..., settings: _Optional[bool] = ...) -> None: ...

class ExplainResponse(_message.Message):
    __slots__ = ("plan",)
    PLAN_FIELD_NUMBER: _ClassVar[int]
    plan: str
    def __init__(self, plan: _Optional[str] = ...) -> None: ...
