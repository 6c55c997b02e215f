"""Rendering a console page: the page's own context plus the navigation (the staff
member's organizations and their projects), all evaluated before the template renders."""

from dataclasses import dataclass
from typing import Any

from django.contrib.auth.models import User
from django.core.paginator import Page, Paginator
from django.http import HttpRequest, HttpResponse, QueryDict
from django.shortcuts import render

from tenants.console.access import Access
from tenants.models import Membership, Project, Role

PAGE_SIZE = 25


@dataclass(frozen=True)
class NavOrganization:
    id: str
    name: str
    role: str
    projects: list[Project]


def navigation(user: User) -> list[NavOrganization]:
    memberships = list(
        Membership.objects.filter(user=user)
        .select_related("organization")
        .order_by("organization__name")
    )
    org_ids = [membership.organization_id for membership in memberships]
    projects: dict[Any, list[Project]] = {org_id: [] for org_id in org_ids}
    for project in Project.objects.filter(organization_id__in=org_ids).order_by("name"):
        projects[project.organization_id].append(project)
    return [
        NavOrganization(
            id=str(membership.organization_id),
            name=membership.organization.name,
            role=Role(membership.role).label,
            projects=projects[membership.organization_id],
        )
        for membership in memberships
    ]


def render_page(
    request: HttpRequest,
    template: str,
    access: Access | None,
    context: dict[str, Any] | None = None,
    *,
    section: str = "",
    status: int = 200,
) -> HttpResponse:
    user = request.user
    page_context: dict[str, Any] = {
        "access": access,
        "perms": access.perms if access else {},
        "project": access.project if access else None,
        "organization": access.organization if access else None,
        "nav_orgs": navigation(user) if isinstance(user, User) else [],
        "section": section,
        **(context or {}),
    }
    return render(request, template, page_context, status=status)


def render_partial(
    request: HttpRequest, template: str, context: dict[str, Any], status: int = 200
) -> HttpResponse:
    return render(request, template, context, status=status)


def is_htmx(request: HttpRequest) -> bool:
    return request.headers.get("HX-Request") == "true"


def page_number(request: HttpRequest) -> int:
    try:
        return max(1, int(request.GET.get("page", "1")))
    except ValueError:
        return 1


def paginate(items: list[Any], request: HttpRequest, per_page: int = PAGE_SIZE) -> Page[Any]:
    """For lists already bounded by their selector."""
    return Paginator(items, per_page).get_page(page_number(request))


def query_without_page(query: QueryDict) -> str:
    """The current filters, to carry into pagination links."""
    params = query.copy()
    params.pop("page", None)
    return params.urlencode()
