"""The registry's servicer: each RPC hands its request to the module of its concern.

- :mod:`registry.organizations`: organizations and projects;
- :mod:`registry.members`: a project's members;
- :mod:`registry.connections`: connection records and their resolution;
- :mod:`registry.engine_tests`: connection tests, asked of the engine services;
- :mod:`registry.audit`: the audit log;
- :mod:`registry.access`: the caller's standing, checked by all of them;
- :mod:`registry.store`: the platform database they share.

Every RPC acts as the authenticated caller (:func:`udb.auth.current_principal`).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import grpc

from registry import connspec
from registry.access import check_access
from registry.audit import AuditLog
from registry.connections import Connections
from registry.engine_tests import EngineTests
from registry.invalidations import InvalidationHub
from registry.members import Members
from registry.organizations import Organizations
from registry.secrets import report_keys, seal_secret_options
from registry.settings import Settings
from registry.store import Store, database_errors
from udb.auth import current_principal
from udb.common.v1 import common_pb2
from udb.crypto import SecretBox
from udb.dialing import DialGuard
from udb.errors import PermissionDenied
from udb.registry.v1 import registry_pb2, registry_pb2_grpc

Context = grpc.aio.ServicerContext[Any, Any]


class RegistryService(registry_pb2_grpc.RegistryServiceServicer):
    """The registry's servicer."""

    def __init__(self, settings: Settings, box: SecretBox) -> None:
        self._box = box
        self._hub = InvalidationHub(settings.database_url)
        self._store = Store(settings, self._hub)
        self._organizations = Organizations(self._store, box)
        self._members = Members(self._store)
        guard = DialGuard(settings.network_policy, resolve_timeout_s=2.0)
        self._connections = Connections(self._store, box, guard)
        self._engine_tests = EngineTests(settings, self._store)
        self._audit = AuditLog(self._store)

    @property
    def store(self) -> Store:
        """The platform database (its pool is the registry's readiness: registry.health)."""
        return self._store

    async def start(self) -> None:
        """Opens the platform database pool, applies migrations and starts listening for changes."""
        await self._store.open()
        with database_errors():
            await seal_secret_options(self._store.pool, self._box, connspec.SECRET_OPTION_RE.pattern)
            await report_keys(self._store.pool, self._box)
        await self._hub.start()

    async def close(self) -> None:
        await self._hub.close()
        await self._engine_tests.close()
        await self._store.close()

    # ---- organizations and projects ------------------------------------------------------

    async def ListOrganizations(
        self, request: registry_pb2.ListOrganizationsRequest, context: Context
    ) -> registry_pb2.ListOrganizationsResponse:
        return await self._organizations.list_organizations(request)

    async def GetOrganization(
        self, request: registry_pb2.GetOrganizationRequest, context: Context
    ) -> registry_pb2.Organization:
        return await self._organizations.get_organization(request)

    async def CreateOrganization(
        self, request: registry_pb2.CreateOrganizationRequest, context: Context
    ) -> registry_pb2.Organization:
        return await self._organizations.create_organization(request)

    async def UpdateOrganization(
        self, request: registry_pb2.UpdateOrganizationRequest, context: Context
    ) -> registry_pb2.Organization:
        return await self._organizations.update_organization(request)

    async def DeleteOrganization(
        self, request: registry_pb2.DeleteOrganizationRequest, context: Context
    ) -> registry_pb2.DeleteOrganizationResponse:
        return await self._organizations.delete_organization(request)

    async def ListProjects(
        self, request: registry_pb2.ListProjectsRequest, context: Context
    ) -> registry_pb2.ListProjectsResponse:
        return await self._organizations.list_projects(request)

    async def GetProject(self, request: registry_pb2.GetProjectRequest, context: Context) -> registry_pb2.Project:
        return await self._organizations.get_project(request)

    async def CreateProject(self, request: registry_pb2.CreateProjectRequest, context: Context) -> registry_pb2.Project:
        return await self._organizations.create_project(request)

    async def UpdateProject(self, request: registry_pb2.UpdateProjectRequest, context: Context) -> registry_pb2.Project:
        return await self._organizations.update_project(request)

    async def DeleteProject(
        self, request: registry_pb2.DeleteProjectRequest, context: Context
    ) -> registry_pb2.DeleteProjectResponse:
        return await self._organizations.delete_project(request)

    # ---- members -------------------------------------------------------------------------

    async def ListMembers(
        self, request: registry_pb2.ListMembersRequest, context: Context
    ) -> registry_pb2.ListMembersResponse:
        return await self._members.list_members(request)

    async def AddMember(self, request: registry_pb2.AddMemberRequest, context: Context) -> registry_pb2.Member:
        return await self._members.add_member(request)

    async def UpdateMember(self, request: registry_pb2.UpdateMemberRequest, context: Context) -> registry_pb2.Member:
        return await self._members.update_member(request)

    async def RemoveMember(
        self, request: registry_pb2.RemoveMemberRequest, context: Context
    ) -> registry_pb2.RemoveMemberResponse:
        return await self._members.remove_member(request)

    # ---- connections ---------------------------------------------------------------------

    async def ListConnections(
        self, request: registry_pb2.ListConnectionsRequest, context: Context
    ) -> registry_pb2.ListConnectionsResponse:
        return await self._connections.list_connections(request)

    async def GetConnection(
        self, request: registry_pb2.GetConnectionRequest, context: Context
    ) -> registry_pb2.Connection:
        return await self._connections.get_connection(request)

    async def CreateConnection(
        self, request: registry_pb2.CreateConnectionRequest, context: Context
    ) -> registry_pb2.Connection:
        return await self._connections.create_connection(request)

    async def UpdateConnection(
        self, request: registry_pb2.UpdateConnectionRequest, context: Context
    ) -> registry_pb2.Connection:
        return await self._connections.update_connection(request)

    async def DeleteConnection(
        self, request: registry_pb2.DeleteConnectionRequest, context: Context
    ) -> registry_pb2.DeleteConnectionResponse:
        return await self._connections.delete_connection(request)

    async def TestConnection(
        self, request: registry_pb2.TestConnectionRequest, context: Context
    ) -> common_pb2.ConnectionTestResult:
        return await self._engine_tests.test_connection(request)

    async def ResolveConnection(
        self, request: registry_pb2.ResolveConnectionRequest, context: Context
    ) -> registry_pb2.ResolvedConnection:
        return await self._connections.resolve_connection(request)

    # ---- access and invalidations --------------------------------------------------------

    async def CheckAccess(
        self, request: registry_pb2.CheckAccessRequest, context: Context
    ) -> registry_pb2.CheckAccessResponse:
        return await check_access(self._store.pool, request)

    async def WatchInvalidations(
        self, request: registry_pb2.WatchInvalidationsRequest, context: Context
    ) -> AsyncIterator[registry_pb2.Invalidation]:
        if not current_principal().is_service:
            raise PermissionDenied("only services may watch invalidations")
        async for event in self._hub.stream():
            yield event

    # ---- audit ---------------------------------------------------------------------------

    async def RecordAuditEvents(
        self, request: registry_pb2.RecordAuditEventsRequest, context: Context
    ) -> registry_pb2.RecordAuditEventsResponse:
        return await self._audit.record_events(request)

    async def ListAuditEvents(
        self, request: registry_pb2.ListAuditEventsRequest, context: Context
    ) -> registry_pb2.ListAuditEventsResponse:
        return await self._audit.list_events(request)
