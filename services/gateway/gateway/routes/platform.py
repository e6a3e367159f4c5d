"""Organizations, projects and members: ``/organizations``, ``/projects``, ``/projects/[ref]/members``."""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from gateway.calls import backends, call
from gateway.http import JSONResponse, field, query_int, read_object
from gateway.routes.common import page, role_name, role_value, timestamp
from udb.common.v1 import common_pb2
from udb.registry.v1 import registry_pb2


def _organization(org: registry_pb2.Organization) -> dict[str, Any]:
    return {"id": org.id, "name": org.name, "slug": org.slug, "created_at": timestamp(org.created_at)}


def _project(project: registry_pb2.Project) -> dict[str, Any]:
    reply: dict[str, Any] = {
        "id": project.id,
        "ref": project.ref,
        "name": project.name,
        "organization_slug": project.organization_slug,
        "created_at": timestamp(project.created_at),
    }
    role = role_name(project.caller_role)
    if role is not None:
        reply["role"] = role
    return reply


def _member(member: registry_pb2.Member) -> dict[str, Any]:
    return {
        "user_id": member.user_id,
        "role": role_name(member.role),
        "created_at": timestamp(member.created_at),
    }


async def organizations(request: Request) -> Response:
    """
    get:
      summary: The caller's organizations (every one for a service-role caller).
      parameters: [{name: limit, in: query}, {name: cursor, in: query}]
      responses: {200: {description: '{"data": [Organization], "next_cursor"}'}}
    post:
      summary: Creates an organization; the caller becomes its owner.
      requestBody: {content: {application/json: {example: {name: Acme, slug: acme}}}}
      responses: {201: {description: Organization}, 409: {description: the slug is taken}}
    """
    b = backends(request)
    if request.method == "GET":
        reply = await call(
            request,
            b.registry.ListOrganizations,
            lambda target: registry_pb2.ListOrganizationsRequest(
                limit=query_int(request, "limit", 0, minimum=1, maximum=1000),
                cursor=request.query_params.get("cursor", ""),
            ),
        )
        return JSONResponse(page([_organization(o) for o in reply.organizations], reply.next_cursor))

    async def build(target: common_pb2.ConnectionTarget) -> registry_pb2.CreateOrganizationRequest:
        body = await read_object(request, b.settings.max_body_bytes, allowed=frozenset({"name", "slug"}))
        return registry_pb2.CreateOrganizationRequest(
            name=field(body, "name", str, required=True), slug=field(body, "slug", str, required=True)
        )

    created = await call(request, b.registry.CreateOrganization, build)
    return JSONResponse(_organization(created), status_code=201)


async def projects(request: Request) -> Response:
    """
    get:
      summary: The caller's projects (every one for a service-role caller).
      parameters: [{name: organization_slug, in: query}, {name: limit, in: query}, {name: cursor, in: query}]
      responses: {200: {description: '{"data": [Project], "next_cursor"}'}}
    post:
      summary: Creates a project; the caller becomes its owner. A ref is made when absent.
      requestBody: {content: {application/json: {example: {organization_slug: acme, name: Shop, ref: shop-prod}}}}
      responses: {201: {description: Project}, 404: {description: no such organization}, 409: {description: ref taken}}
    """
    b = backends(request)
    if request.method == "GET":
        reply = await call(
            request,
            b.registry.ListProjects,
            lambda target: registry_pb2.ListProjectsRequest(
                organization_slug=request.query_params.get("organization_slug", ""),
                limit=query_int(request, "limit", 0, minimum=1, maximum=1000),
                cursor=request.query_params.get("cursor", ""),
            ),
        )
        return JSONResponse(page([_project(p) for p in reply.projects], reply.next_cursor))

    async def build(target: common_pb2.ConnectionTarget) -> registry_pb2.CreateProjectRequest:
        body = await read_object(
            request, b.settings.max_body_bytes, allowed=frozenset({"organization_slug", "name", "ref"})
        )
        return registry_pb2.CreateProjectRequest(
            organization_slug=field(body, "organization_slug", str, required=True),
            name=field(body, "name", str, required=True),
            ref=field(body, "ref", str) or "",
        )

    created = await call(request, b.registry.CreateProject, build)
    return JSONResponse(_project(created), status_code=201)


async def members(request: Request) -> Response:
    """
    get:
      summary: The project's members (any member may read them).
      responses: {200: {description: '{"data": [{"user_id", "role"}], "next_cursor"}'}}
    post:
      summary: Adds a member (owners only).
      requestBody: {content: {application/json: {example: {user_id: user-123, role: developer}}}}
      responses: {201: {description: Member}, 409: {description: already a member}}
    """
    b = backends(request)
    if request.method == "GET":
        reply = await call(
            request,
            b.registry.ListMembers,
            lambda target: registry_pb2.ListMembersRequest(
                project_ref=target.project_ref,
                limit=query_int(request, "limit", 0, minimum=1, maximum=1000),
                cursor=request.query_params.get("cursor", ""),
            ),
        )
        return JSONResponse(page([_member(m) for m in reply.members], reply.next_cursor))

    async def build(target: common_pb2.ConnectionTarget) -> registry_pb2.AddMemberRequest:
        body = await read_object(request, b.settings.max_body_bytes, allowed=frozenset({"user_id", "role"}))
        return registry_pb2.AddMemberRequest(
            project_ref=target.project_ref,
            user_id=field(body, "user_id", str, required=True),
            role=role_value(field(body, "role", str, required=True)),
        )

    added = await call(request, b.registry.AddMember, build)
    return JSONResponse(_member(added), status_code=201)


async def member(request: Request) -> Response:
    """
    put:
      summary: Changes a member's role (owners only; a project keeps at least one owner).
      requestBody: {content: {application/json: {example: {role: admin}}}}
      responses: {200: {description: Member}, 404: {description: not a member}}
    delete:
      summary: Removes a member (owners only; a project keeps at least one owner).
      responses: {200: {description: '{"deleted": true}'}}
    """
    b = backends(request)
    user_id = request.path_params["user_id"]
    if request.method == "PUT":

        async def build(target: common_pb2.ConnectionTarget) -> registry_pb2.UpdateMemberRequest:
            body = await read_object(request, b.settings.max_body_bytes, allowed=frozenset({"role"}))
            return registry_pb2.UpdateMemberRequest(
                project_ref=target.project_ref,
                user_id=user_id,
                role=role_value(field(body, "role", str, required=True)),
            )

        updated = await call(request, b.registry.UpdateMember, build)
        return JSONResponse(_member(updated))
    await call(
        request,
        b.registry.RemoveMember,
        lambda target: registry_pb2.RemoveMemberRequest(project_ref=target.project_ref, user_id=user_id),
    )
    return JSONResponse({"deleted": True})


routes = [
    Route("/organizations", organizations, methods=["GET", "POST"]),
    Route("/projects", projects, methods=["GET", "POST"]),
    Route("/projects/{ref}/members", members, methods=["GET", "POST"]),
    Route("/projects/{ref}/members/{user_id}", member, methods=["PUT", "DELETE"]),
]
