import datetime

from google.protobuf import struct_pb2 as _struct_pb2
from google.protobuf import timestamp_pb2 as _timestamp_pb2
from udb.common.v1 import common_pb2 as _common_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class Organization(_message.Message):
    __slots__ = ("id", "name", "slug", "created_at")
    ID_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    SLUG_FIELD_NUMBER: _ClassVar[int]
    CREATED_AT_FIELD_NUMBER: _ClassVar[int]
    id: str
    name: str
    slug: str
    created_at: _timestamp_pb2.Timestamp
    def __init__(self, id: _Optional[str] = ..., name: _Optional[str] = ..., slug: _Optional[str] = ..., created_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class ListOrganizationsRequest(_message.Message):
    __slots__ = ("limit", "cursor")
    LIMIT_FIELD_NUMBER: _ClassVar[int]
    CURSOR_FIELD_NUMBER: _ClassVar[int]
    limit: int
    cursor: str
    def __init__(self, limit: _Optional[int] = ..., cursor: _Optional[str] = ...) -> None: ...

class ListOrganizationsResponse(_message.Message):
    __slots__ = ("organizations", "next_cursor")
    ORGANIZATIONS_FIELD_NUMBER: _ClassVar[int]
    NEXT_CURSOR_FIELD_NUMBER: _ClassVar[int]
    organizations: _containers.RepeatedCompositeFieldContainer[Organization]
    next_cursor: str
    def __init__(self, organizations: _Optional[_Iterable[_Union[Organization, _Mapping]]] = ..., next_cursor: _Optional[str] = ...) -> None: ...

class GetOrganizationRequest(_message.Message):
    __slots__ = ("slug",)
    SLUG_FIELD_NUMBER: _ClassVar[int]
    slug: str
    def __init__(self, slug: _Optional[str] = ...) -> None: ...

class CreateOrganizationRequest(_message.Message):
    __slots__ = ("name", "slug")
    NAME_FIELD_NUMBER: _ClassVar[int]
    SLUG_FIELD_NUMBER: _ClassVar[int]
    name: str
    slug: str
    def __init__(self, name: _Optional[str] = ..., slug: _Optional[str] = ...) -> None: ...

class UpdateOrganizationRequest(_message.Message):
    __slots__ = ("slug", "name")
    SLUG_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    slug: str
    name: str
    def __init__(self, slug: _Optional[str] = ..., name: _Optional[str] = ...) -> None: ...

class DeleteOrganizationRequest(_message.Message):
    __slots__ = ("slug",)
    SLUG_FIELD_NUMBER: _ClassVar[int]
    slug: str
    def __init__(self, slug: _Optional[str] = ...) -> None: ...

class DeleteOrganizationResponse(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class Project(_message.Message):
    __slots__ = ("id", "ref", "name", "organization_id", "organization_slug", "created_at", "caller_role")
    ID_FIELD_NUMBER: _ClassVar[int]
    REF_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    ORGANIZATION_ID_FIELD_NUMBER: _ClassVar[int]
    ORGANIZATION_SLUG_FIELD_NUMBER: _ClassVar[int]
    CREATED_AT_FIELD_NUMBER: _ClassVar[int]
    CALLER_ROLE_FIELD_NUMBER: _ClassVar[int]
    id: str
    ref: str
    name: str
    organization_id: str
    organization_slug: str
    created_at: _timestamp_pb2.Timestamp
    caller_role: _common_pb2.Role
    def __init__(self, id: _Optional[str] = ..., ref: _Optional[str] = ..., name: _Optional[str] = ..., organization_id: _Optional[str] = ..., organization_slug: _Optional[str] = ..., created_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., caller_role: _Optional[_Union[_common_pb2.Role, str]] = ...) -> None: ...

class ListProjectsRequest(_message.Message):
    __slots__ = ("organization_slug", "limit", "cursor")
    ORGANIZATION_SLUG_FIELD_NUMBER: _ClassVar[int]
    LIMIT_FIELD_NUMBER: _ClassVar[int]
    CURSOR_FIELD_NUMBER: _ClassVar[int]
    organization_slug: str
    limit: int
    cursor: str
    def __init__(self, organization_slug: _Optional[str] = ..., limit: _Optional[int] = ..., cursor: _Optional[str] = ...) -> None: ...

class ListProjectsResponse(_message.Message):
    __slots__ = ("projects", "next_cursor")
    PROJECTS_FIELD_NUMBER: _ClassVar[int]
    NEXT_CURSOR_FIELD_NUMBER: _ClassVar[int]
    projects: _containers.RepeatedCompositeFieldContainer[Project]
    next_cursor: str
    def __init__(self, projects: _Optional[_Iterable[_Union[Project, _Mapping]]] = ..., next_cursor: _Optional[str] = ...) -> None: ...

class GetProjectRequest(_message.Message):
    __slots__ = ("ref",)
    REF_FIELD_NUMBER: _ClassVar[int]
    ref: str
    def __init__(self, ref: _Optional[str] = ...) -> None: ...

class CreateProjectRequest(_message.Message):
    __slots__ = ("organization_slug", "name", "ref")
    ORGANIZATION_SLUG_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    REF_FIELD_NUMBER: _ClassVar[int]
    organization_slug: str
    name: str
    ref: str
    def __init__(self, organization_slug: _Optional[str] = ..., name: _Optional[str] = ..., ref: _Optional[str] = ...) -> None: ...

class UpdateProjectRequest(_message.Message):
    __slots__ = ("ref", "name")
    REF_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    ref: str
    name: str
    def __init__(self, ref: _Optional[str] = ..., name: _Optional[str] = ...) -> None: ...

class DeleteProjectRequest(_message.Message):
    __slots__ = ("ref",)
    REF_FIELD_NUMBER: _ClassVar[int]
    ref: str
    def __init__(self, ref: _Optional[str] = ...) -> None: ...

class DeleteProjectResponse(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class Member(_message.Message):
    __slots__ = ("user_id", "role", "created_at")
    USER_ID_FIELD_NUMBER: _ClassVar[int]
    ROLE_FIELD_NUMBER: _ClassVar[int]
    CREATED_AT_FIELD_NUMBER: _ClassVar[int]
    user_id: str
    role: _common_pb2.Role
    created_at: _timestamp_pb2.Timestamp
    def __init__(self, user_id: _Optional[str] = ..., role: _Optional[_Union[_common_pb2.Role, str]] = ..., created_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class ListMembersRequest(_message.Message):
    __slots__ = ("project_ref", "limit", "cursor")
    PROJECT_REF_FIELD_NUMBER: _ClassVar[int]
    LIMIT_FIELD_NUMBER: _ClassVar[int]
    CURSOR_FIELD_NUMBER: _ClassVar[int]
    project_ref: str
    limit: int
    cursor: str
    def __init__(self, project_ref: _Optional[str] = ..., limit: _Optional[int] = ..., cursor: _Optional[str] = ...) -> None: ...

class ListMembersResponse(_message.Message):
    __slots__ = ("members", "next_cursor")
    MEMBERS_FIELD_NUMBER: _ClassVar[int]
    NEXT_CURSOR_FIELD_NUMBER: _ClassVar[int]
    members: _containers.RepeatedCompositeFieldContainer[Member]
    next_cursor: str
    def __init__(self, members: _Optional[_Iterable[_Union[Member, _Mapping]]] = ..., next_cursor: _Optional[str] = ...) -> None: ...

class AddMemberRequest(_message.Message):
    __slots__ = ("project_ref", "user_id", "role")
    PROJECT_REF_FIELD_NUMBER: _ClassVar[int]
    USER_ID_FIELD_NUMBER: _ClassVar[int]
    ROLE_FIELD_NUMBER: _ClassVar[int]
    project_ref: str
    user_id: str
    role: _common_pb2.Role
    def __init__(self, project_ref: _Optional[str] = ..., user_id: _Optional[str] = ..., role: _Optional[_Union[_common_pb2.Role, str]] = ...) -> None: ...

class UpdateMemberRequest(_message.Message):
    __slots__ = ("project_ref", "user_id", "role")
    PROJECT_REF_FIELD_NUMBER: _ClassVar[int]
    USER_ID_FIELD_NUMBER: _ClassVar[int]
    ROLE_FIELD_NUMBER: _ClassVar[int]
    project_ref: str
    user_id: str
    role: _common_pb2.Role
    def __init__(self, project_ref: _Optional[str] = ..., user_id: _Optional[str] = ..., role: _Optional[_Union[_common_pb2.Role, str]] = ...) -> None: ...

class RemoveMemberRequest(_message.Message):
    __slots__ = ("project_ref", "user_id")
    PROJECT_REF_FIELD_NUMBER: _ClassVar[int]
    USER_ID_FIELD_NUMBER: _ClassVar[int]
    project_ref: str
    user_id: str
    def __init__(self, project_ref: _Optional[str] = ..., user_id: _Optional[str] = ...) -> None: ...

class RemoveMemberResponse(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class Connection(_message.Message):
    __slots__ = ("id", "project_ref", "database_type", "identifier", "host", "port", "username", "database", "tls", "options", "is_primary", "status", "has_password", "created_at", "updated_at", "project_id")
    ID_FIELD_NUMBER: _ClassVar[int]
    PROJECT_REF_FIELD_NUMBER: _ClassVar[int]
    DATABASE_TYPE_FIELD_NUMBER: _ClassVar[int]
    IDENTIFIER_FIELD_NUMBER: _ClassVar[int]
    HOST_FIELD_NUMBER: _ClassVar[int]
    PORT_FIELD_NUMBER: _ClassVar[int]
    USERNAME_FIELD_NUMBER: _ClassVar[int]
    DATABASE_FIELD_NUMBER: _ClassVar[int]
    TLS_FIELD_NUMBER: _ClassVar[int]
    OPTIONS_FIELD_NUMBER: _ClassVar[int]
    IS_PRIMARY_FIELD_NUMBER: _ClassVar[int]
    STATUS_FIELD_NUMBER: _ClassVar[int]
    HAS_PASSWORD_FIELD_NUMBER: _ClassVar[int]
    CREATED_AT_FIELD_NUMBER: _ClassVar[int]
    UPDATED_AT_FIELD_NUMBER: _ClassVar[int]
    PROJECT_ID_FIELD_NUMBER: _ClassVar[int]
    id: str
    project_ref: str
    database_type: _common_pb2.DatabaseType
    identifier: str
    host: str
    port: int
    username: str
    database: str
    tls: bool
    options: _struct_pb2.Struct
    is_primary: bool
    status: str
    has_password: bool
    created_at: _timestamp_pb2.Timestamp
    updated_at: _timestamp_pb2.Timestamp
    project_id: str
    def __init__(self, id: _Optional[str] = ..., project_ref: _Optional[str] = ..., database_type: _Optional[_Union[_common_pb2.DatabaseType, str]] = ..., identifier: _Optional[str] = ..., host: _Optional[str] = ..., port: _Optional[int] = ..., username: _Optional[str] = ..., database: _Optional[str] = ..., tls: _Optional[bool] = ..., options: _Optional[_Union[_struct_pb2.Struct, _Mapping]] = ..., is_primary: _Optional[bool] = ..., status: _Optional[str] = ..., has_password: _Optional[bool] = ..., created_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., updated_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., project_id: _Optional[str] = ...) -> None: ...

class ListConnectionsRequest(_message.Message):
    __slots__ = ("project_ref", "database_type", "limit", "cursor")
    PROJECT_REF_FIELD_NUMBER: _ClassVar[int]
    DATABASE_TYPE_FIELD_NUMBER: _ClassVar[int]
    LIMIT_FIELD_NUMBER: _ClassVar[int]
    CURSOR_FIELD_NUMBER: _ClassVar[int]
    project_ref: str
    database_type: _common_pb2.DatabaseType
    limit: int
    cursor: str
    def __init__(self, project_ref: _Optional[str] = ..., database_type: _Optional[_Union[_common_pb2.DatabaseType, str]] = ..., limit: _Optional[int] = ..., cursor: _Optional[str] = ...) -> None: ...

class ListConnectionsResponse(_message.Message):
    __slots__ = ("connections", "next_cursor")
    CONNECTIONS_FIELD_NUMBER: _ClassVar[int]
    NEXT_CURSOR_FIELD_NUMBER: _ClassVar[int]
    connections: _containers.RepeatedCompositeFieldContainer[Connection]
    next_cursor: str
    def __init__(self, connections: _Optional[_Iterable[_Union[Connection, _Mapping]]] = ..., next_cursor: _Optional[str] = ...) -> None: ...

class GetConnectionRequest(_message.Message):
    __slots__ = ("project_ref", "database_type", "id")
    PROJECT_REF_FIELD_NUMBER: _ClassVar[int]
    DATABASE_TYPE_FIELD_NUMBER: _ClassVar[int]
    ID_FIELD_NUMBER: _ClassVar[int]
    project_ref: str
    database_type: _common_pb2.DatabaseType
    id: str
    def __init__(self, project_ref: _Optional[str] = ..., database_type: _Optional[_Union[_common_pb2.DatabaseType, str]] = ..., id: _Optional[str] = ...) -> None: ...

class CreateConnectionRequest(_message.Message):
    __slots__ = ("project_ref", "database_type", "identifier", "uri", "host", "port", "username", "password", "database", "tls", "options", "is_primary")
    PROJECT_REF_FIELD_NUMBER: _ClassVar[int]
    DATABASE_TYPE_FIELD_NUMBER: _ClassVar[int]
    IDENTIFIER_FIELD_NUMBER: _ClassVar[int]
    URI_FIELD_NUMBER: _ClassVar[int]
    HOST_FIELD_NUMBER: _ClassVar[int]
    PORT_FIELD_NUMBER: _ClassVar[int]
    USERNAME_FIELD_NUMBER: _ClassVar[int]
    PASSWORD_FIELD_NUMBER: _ClassVar[int]
    DATABASE_FIELD_NUMBER: _ClassVar[int]
    TLS_FIELD_NUMBER: _ClassVar[int]
    OPTIONS_FIELD_NUMBER: _ClassVar[int]
    IS_PRIMARY_FIELD_NUMBER: _ClassVar[int]
    project_ref: str
    database_type: _common_pb2.DatabaseType
    identifier: str
    uri: str
    host: str
    port: int
    username: str
    password: str
    database: str
    tls: bool
    options: _struct_pb2.Struct
    is_primary: bool
    def __init__(self, project_ref: _Optional[str] = ..., database_type: _Optional[_Union[_common_pb2.DatabaseType, str]] = ..., identifier: _Optional[str] = ..., uri: _Optional[str] = ..., host: _Optional[str] = ..., port: _Optional[int] = ..., username: _Optional[str] = ..., password: _Optional[str] = ..., database: _Optional[str] = ..., tls: _Optional[bool] = ..., options: _Optional[_Union[_struct_pb2.Struct, _Mapping]] = ..., is_primary: _Optional[bool] = ...) -> None: ...

class UpdateConnectionRequest(_message.Message):
    __slots__ = ("project_ref", "database_type", "id", "identifier", "uri", "host", "port", "username", "password", "database", "tls", "options", "is_primary")
    PROJECT_REF_FIELD_NUMBER: _ClassVar[int]
    DATABASE_TYPE_FIELD_NUMBER: _ClassVar[int]
    ID_FIELD_NUMBER: _ClassVar[int]
    IDENTIFIER_FIELD_NUMBER: _ClassVar[int]
    URI_FIELD_NUMBER: _ClassVar[int]
    HOST_FIELD_NUMBER: _ClassVar[int]
    PORT_FIELD_NUMBER: _ClassVar[int]
    USERNAME_FIELD_NUMBER: _ClassVar[int]
    PASSWORD_FIELD_NUMBER: _ClassVar[int]
    DATABASE_FIELD_NUMBER: _ClassVar[int]
    TLS_FIELD_NUMBER: _ClassVar[int]
    OPTIONS_FIELD_NUMBER: _ClassVar[int]
    IS_PRIMARY_FIELD_NUMBER: _ClassVar[int]
    project_ref: str
    database_type: _common_pb2.DatabaseType
    id: str
    identifier: str
    uri: str
    host: str
    port: int
    username: str
    password: str
    database: str
    tls: bool
    options: _struct_pb2.Struct
    is_primary: bool
    def __init__(self, project_ref: _Optional[str] = ..., database_type: _Optional[_Union[_common_pb2.DatabaseType, str]] = ..., id: _Optional[str] = ..., identifier: _Optional[str] = ..., uri: _Optional[str] = ..., host: _Optional[str] = ..., port: _Optional[int] = ..., username: _Optional[str] = ..., password: _Optional[str] = ..., database: _Optional[str] = ..., tls: _Optional[bool] = ..., options: _Optional[_Union[_struct_pb2.Struct, _Mapping]] = ..., is_primary: _Optional[bool] = ...) -> None: ...

class DeleteConnectionRequest(_message.Message):
    __slots__ = ("project_ref", "database_type", "id")
    PROJECT_REF_FIELD_NUMBER: _ClassVar[int]
    DATABASE_TYPE_FIELD_NUMBER: _ClassVar[int]
    ID_FIELD_NUMBER: _ClassVar[int]
    project_ref: str
    database_type: _common_pb2.DatabaseType
    id: str
    def __init__(self, project_ref: _Optional[str] = ..., database_type: _Optional[_Union[_common_pb2.DatabaseType, str]] = ..., id: _Optional[str] = ...) -> None: ...

class DeleteConnectionResponse(_message.Message):
    __slots__ = ("connection",)
    CONNECTION_FIELD_NUMBER: _ClassVar[int]
    connection: Connection
    def __init__(self, connection: _Optional[_Union[Connection, _Mapping]] = ...) -> None: ...

class TestConnectionRequest(_message.Message):
    __slots__ = ("project_ref", "database_type", "id")
    PROJECT_REF_FIELD_NUMBER: _ClassVar[int]
    DATABASE_TYPE_FIELD_NUMBER: _ClassVar[int]
    ID_FIELD_NUMBER: _ClassVar[int]
    project_ref: str
    database_type: _common_pb2.DatabaseType
    id: str
    def __init__(self, project_ref: _Optional[str] = ..., database_type: _Optional[_Union[_common_pb2.DatabaseType, str]] = ..., id: _Optional[str] = ...) -> None: ...

class ResolveConnectionRequest(_message.Message):
    __slots__ = ("target", "database_type")
    TARGET_FIELD_NUMBER: _ClassVar[int]
    DATABASE_TYPE_FIELD_NUMBER: _ClassVar[int]
    target: _common_pb2.ConnectionTarget
    database_type: _common_pb2.DatabaseType
    def __init__(self, target: _Optional[_Union[_common_pb2.ConnectionTarget, _Mapping]] = ..., database_type: _Optional[_Union[_common_pb2.DatabaseType, str]] = ...) -> None: ...

class ResolvedConnection(_message.Message):
    __slots__ = ("connection", "password", "secret_options")
    CONNECTION_FIELD_NUMBER: _ClassVar[int]
    PASSWORD_FIELD_NUMBER: _ClassVar[int]
    SECRET_OPTIONS_FIELD_NUMBER: _ClassVar[int]
    connection: Connection
    password: str
    secret_options: _struct_pb2.Struct
    def __init__(self, connection: _Optional[_Union[Connection, _Mapping]] = ..., password: _Optional[str] = ..., secret_options: _Optional[_Union[_struct_pb2.Struct, _Mapping]] = ...) -> None: ...

class CheckAccessRequest(_message.Message):
    __slots__ = ("user_id", "project_ref", "required_role")
    USER_ID_FIELD_NUMBER: _ClassVar[int]
    PROJECT_REF_FIELD_NUMBER: _ClassVar[int]
    REQUIRED_ROLE_FIELD_NUMBER: _ClassVar[int]
    user_id: str
    project_ref: str
    required_role: _common_pb2.Role
    def __init__(self, user_id: _Optional[str] = ..., project_ref: _Optional[str] = ..., required_role: _Optional[_Union[_common_pb2.Role, str]] = ...) -> None: ...

class CheckAccessResponse(_message.Message):
    __slots__ = ("project_id", "role")
    PROJECT_ID_FIELD_NUMBER: _ClassVar[int]
    ROLE_FIELD_NUMBER: _ClassVar[int]
    project_id: str
    role: _common_pb2.Role
    def __init__(self, project_id: _Optional[str] = ..., role: _Optional[_Union[_common_pb2.Role, str]] = ...) -> None: ...

class WatchInvalidationsRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class Invalidation(_message.Message):
    __slots__ = ("kind", "project_ref", "project_id", "connection_id", "user_id")
    class Kind(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
        __slots__ = ()
        KIND_UNSPECIFIED: _ClassVar[Invalidation.Kind]
        KIND_READY: _ClassVar[Invalidation.Kind]
        KIND_CONNECTION: _ClassVar[Invalidation.Kind]
        KIND_MEMBERSHIP: _ClassVar[Invalidation.Kind]
        KIND_PROJECT: _ClassVar[Invalidation.Kind]
    KIND_UNSPECIFIED: Invalidation.Kind
    KIND_READY: Invalidation.Kind
    KIND_CONNECTION: Invalidation.Kind
    KIND_MEMBERSHIP: Invalidation.Kind
    KIND_PROJECT: Invalidation.Kind
    KIND_FIELD_NUMBER: _ClassVar[int]
    PROJECT_REF_FIELD_NUMBER: _ClassVar[int]
    PROJECT_ID_FIELD_NUMBER: _ClassVar[int]
    CONNECTION_ID_FIELD_NUMBER: _ClassVar[int]
    USER_ID_FIELD_NUMBER: _ClassVar[int]
    kind: Invalidation.Kind
    project_ref: str
    project_id: str
    connection_id: str
    user_id: str
    def __init__(self, kind: _Optional[_Union[Invalidation.Kind, str]] = ..., project_ref: _Optional[str] = ..., project_id: _Optional[str] = ..., connection_id: _Optional[str] = ..., user_id: _Optional[str] = ...) -> None: ...

class AuditEvent(_message.Message):
    __slots__ = ("user_id", "project_ref", "engine", "connection_id", "operation", "target", "outcome", "request_id", "time", "id")
    USER_ID_FIELD_NUMBER: _ClassVar[int]
    PROJECT_REF_FIELD_NUMBER: _ClassVar[int]
    ENGINE_FIELD_NUMBER: _ClassVar[int]
    CONNECTION_ID_FIELD_NUMBER: _ClassVar[int]
    OPERATION_FIELD_NUMBER: _ClassVar[int]
    TARGET_FIELD_NUMBER: _ClassVar[int]
    OUTCOME_FIELD_NUMBER: _ClassVar[int]
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    TIME_FIELD_NUMBER: _ClassVar[int]
    ID_FIELD_NUMBER: _ClassVar[int]
    user_id: str
    project_ref: str
    engine: str
    connection_id: str
    operation: str
    target: str
    outcome: str
    request_id: str
    time: _timestamp_pb2.Timestamp
    id: int
    def __init__(self, user_id: _Optional[str] = ..., project_ref: _Optional[str] = ..., engine: _Optional[str] = ..., connection_id: _Optional[str] = ..., operation: _Optional[str] = ..., target: _Optional[str] = ..., outcome: _Optional[str] = ..., request_id: _Optional[str] = ..., time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., id: _Optional[int] = ...) -> None: ...

class RecordAuditEventsRequest(_message.Message):
    __slots__ = ("events",)
    EVENTS_FIELD_NUMBER: _ClassVar[int]
    events: _containers.RepeatedCompositeFieldContainer[AuditEvent]
    def __init__(self, events: _Optional[_Iterable[_Union[AuditEvent, _Mapping]]] = ...) -> None: ...

class RecordAuditEventsResponse(_message.Message):
    __slots__ = ("recorded",)
    RECORDED_FIELD_NUMBER: _ClassVar[int]
    recorded: int
    def __init__(self, recorded: _Optional[int] = ...) -> None: ...

class ListAuditEventsRequest(_message.Message):
    __slots__ = ("project_ref", "limit", "cursor", "user_id", "operation", "engine", "since", "until")
    PROJECT_REF_FIELD_NUMBER: _ClassVar[int]
    LIMIT_FIELD_NUMBER: _ClassVar[int]
    CURSOR_FIELD_NUMBER: _ClassVar[int]
    USER_ID_FIELD_NUMBER: _ClassVar[int]
    OPERATION_FIELD_NUMBER: _ClassVar[int]
    ENGINE_FIELD_NUMBER: _ClassVar[int]
    SINCE_FIELD_NUMBER: _ClassVar[int]
    UNTIL_FIELD_NUMBER: _ClassVar[int]
    project_ref: str
    limit: int
    cursor: str
    user_id: str
    operation: str
    engine: str
    since: _timestamp_pb2.Timestamp
    until: _timestamp_pb2.Timestamp
    def __init__(self, project_ref: _Optional[str] = ..., limit: _Optional[int] = ..., cursor: _Optional[str] = ..., user_id: _Optional[str] = ..., operation: _Optional[str] = ..., engine: _Optional[str] = ..., since: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., until: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class ListAuditEventsResponse(_message.Message):
    __slots__ = ("events", "next_cursor")
    EVENTS_FIELD_NUMBER: _ClassVar[int]
    NEXT_CURSOR_FIELD_NUMBER: _ClassVar[int]
    events: _containers.RepeatedCompositeFieldContainer[AuditEvent]
    next_cursor: str
    def __init__(self, events: _Optional[_Iterable[_Union[AuditEvent, _Mapping]]] = ..., next_cursor: _Optional[str] = ...) -> None: ...
