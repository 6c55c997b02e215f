"""Who may see and do what in the console: one access helper per entity, one role matrix.

`console_access(request, project_id, need=...)` and `org_access(request, org_id, need=...)`
look the project or organization up among the signed-in staff member's memberships.
Missing and foreign are the same 404 (another organization's ids are not an oracle); a
member whose role lacks the capability gets a 403 page.
"""

from collections.abc import Callable
from dataclasses import dataclass, field
from functools import wraps
from typing import Any, Concatenate, ParamSpec
from uuid import UUID

from django.contrib.auth.models import User
from django.contrib.auth.views import redirect_to_login
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpRequest
from django.http.response import HttpResponseBase

from audit.services import Actor
from config.errors import NotFound
from tenants.models import Membership, Organization, Project, Role

P = ParamSpec("P")

OWNER, ADMIN, COMPLIANCE, VIEWER = Role.OWNER, Role.ADMIN, Role.COMPLIANCE, Role.VIEWER
# Capability -> roles that have it. Everything a page offers is decided here.
CAPABILITIES: dict[str, frozenset[str]] = {
    "view": frozenset({OWNER, ADMIN, COMPLIANCE, VIEWER}),
    "manage_project": frozenset({OWNER, ADMIN}),
    "manage_members": frozenset({OWNER, ADMIN}),
    "manage_keys": frozenset({OWNER, ADMIN}),
    "retry_jobs": frozenset({OWNER, ADMIN}),
    "export": frozenset({OWNER, ADMIN, COMPLIANCE}),
    "erase": frozenset({OWNER, ADMIN, COMPLIANCE}),
    "govern": frozenset({OWNER, ADMIN, COMPLIANCE}),
}


def role_can(role: str, need: str) -> bool:
    return role in CAPABILITIES[need]


def staff_actor(user: User) -> Actor:
    return Actor("staff", user.get_username())


@dataclass(frozen=True)
class Access:
    """The signed-in staff member, in one organization (and maybe one of its projects)."""

    user: User
    organization: Organization
    role: str
    project: Project | None = None
    perms: dict[str, bool] = field(default_factory=dict)

    @property
    def actor(self) -> Actor:
        return staff_actor(self.user)

    @property
    def role_label(self) -> str:
        return Role(self.role).label

    def can(self, need: str) -> bool:
        return role_can(self.role, need)

    def require(self, need: str) -> None:
        if not self.can(need):
            raise PermissionDenied(f"Your role ({self.role_label}) cannot do this.")

    @property
    def current_project(self) -> Project:
        if self.project is None:
            raise Http404("No project.")
        return self.project


def _uuid(value: Any) -> UUID:
    try:
        return UUID(str(value))
    except ValueError as exc:
        raise Http404("Not found.") from exc


def _role(user: User, organization_id: UUID) -> str | None:
    membership = Membership.objects.filter(user=user, organization_id=organization_id).first()
    return membership.role if membership else None


def _access(user: User, organization: Organization, project: Project | None, need: str) -> Access:
    role = _role(user, organization.id)
    if role is None:
        raise Http404("Not found.")
    perms = {name: role in roles for name, roles in CAPABILITIES.items()}
    access = Access(user, organization, role, project, perms)
    access.require(need)
    return access


def console_access(request: HttpRequest, project_id: Any, need: str = "view") -> Access:
    """The project, if one of the user's organizations owns it; 404 otherwise."""
    user = _signed_in(request)
    project = Project.objects.select_related("organization").filter(pk=_uuid(project_id)).first()
    if project is None:
        raise Http404("Not found.")
    return _access(user, project.organization, project, need)


def org_access(request: HttpRequest, org_id: Any, need: str = "view") -> Access:
    user = _signed_in(request)
    organization = Organization.objects.filter(pk=_uuid(org_id)).first()
    if organization is None:
        raise Http404("Not found.")
    return _access(user, organization, None, need)


def _signed_in(request: HttpRequest) -> User:
    user = request.user
    if not isinstance(user, User) or not user.is_authenticated or not user.is_active:
        raise Http404("Not found.")
    return user


def console_view(
    view: Callable[Concatenate[HttpRequest, P], HttpResponseBase],
) -> Callable[Concatenate[HttpRequest, P], HttpResponseBase]:
    """Signed-in staff only; domain NotFound becomes the console's 404 page and a missing
    capability its 403 page."""

    @wraps(view)
    def wrapped(request: HttpRequest, *args: P.args, **kwargs: P.kwargs) -> HttpResponseBase:
        if not request.user.is_authenticated:
            return redirect_to_login(request.get_full_path())
        try:
            response = view(request, *args, **kwargs)
        except NotFound as exc:
            raise Http404(str(exc)) from exc
        except PermissionDenied as exc:
            from tenants.console.pages import render_page  # pages imports this module

            return render_page(request, "console/403.html", None, {"reason": str(exc)}, status=403)
        return console_headers(response)

    return wrapped


# Everything the console loads is its own: no inline script or style, no third party.
CONTENT_SECURITY_POLICY = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'; "
    "object-src 'none'"
)


def console_headers(response: HttpResponseBase) -> HttpResponseBase:
    response.headers.setdefault("Cache-Control", "no-store, private")
    response.headers.setdefault("Content-Security-Policy", CONTENT_SECURITY_POLICY)
    return response


def with_console_headers(
    view: Callable[P, HttpResponseBase],
) -> Callable[P, HttpResponseBase]:
    """For the console views that need no signed-in user (sign-in, its code step)."""

    @wraps(view)
    def wrapped(*args: P.args, **kwargs: P.kwargs) -> HttpResponseBase:
        return console_headers(view(*args, **kwargs))

    return wrapped
