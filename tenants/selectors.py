"""Reads for tenancy. Lookups answer NotFound for missing and foreign alike."""

from uuid import UUID

from django.contrib.auth.models import User
from django.db.models import QuerySet

from config.errors import NotFound
from tenants.context import dangerously_allow_api_key_lookup, tenant_context
from tenants.models import ApiKey, Membership, Organization, Project


def project_get(*, project_id: UUID | str) -> Project:
    project = Project.objects.select_related("organization").filter(pk=project_id).first()
    if project is None:
        raise NotFound("Project not found.")
    return project


def project_get_for_org(*, organization: Organization, project_id: UUID | str) -> Project:
    project = Project.objects.filter(organization=organization, pk=project_id).first()
    if project is None:
        raise NotFound("Project not found.")
    return project


def api_key_for_authentication(*, key_id: str) -> ApiKey | None:
    """The one lookup that runs before the tenant is known (see the api-key RLS policy)."""
    with dangerously_allow_api_key_lookup(key_id):
        return ApiKey.objects.select_related("project__organization").filter(key_id=key_id).first()


def api_key_list(*, project: Project) -> list[ApiKey]:
    with tenant_context(project.id, project.organization_id):
        return list(ApiKey.objects.filter(project=project).order_by("-created_at"))


def memberships_for_user(*, user: User) -> QuerySet[Membership]:
    return Membership.objects.filter(user=user).select_related("organization")


def membership_role(*, user: User, organization_id: UUID | str) -> str | None:
    membership = Membership.objects.filter(user=user, organization_id=organization_id).first()
    return membership.role if membership else None


def organization_projects(*, organization: Organization) -> list[Project]:
    return list(Project.objects.filter(organization=organization).order_by("name"))


def organization_members(*, organization: Organization) -> list[Membership]:
    return list(
        Membership.objects.filter(organization=organization)
        .select_related("user")
        .order_by("user__username")
    )
