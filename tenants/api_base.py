"""The base of every project-scoped API view: the tenant filter lives here, where views
cannot forget it. Each request runs in one transaction bound to the key's project, so
row-level security applies to every query the view makes."""

from typing import Any, ClassVar

from django.db import transaction
from django.http import HttpRequest
from rest_framework.permissions import BasePermission, IsAuthenticated
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from config.quotas import enforce_request_quota, rate_limit_headers
from tenants.authentication import ApiPrincipal
from tenants.context import activate_tenant
from tenants.models import Project
from tenants.services import api_key_touch

METHOD_SCOPES = {
    "GET": "read",
    "HEAD": "read",
    "OPTIONS": "read",
    "POST": "write",
    "PUT": "write",
    "PATCH": "write",
    "DELETE": "delete",
}


class HasScope(BasePermission):
    message = "This API key lacks the scope this endpoint needs."

    def has_permission(self, request: Request, view: Any) -> bool:
        principal = request.user
        if not isinstance(principal, ApiPrincipal):
            return False
        needed = view.scope_for(request)
        return needed in principal.scopes or "admin" in principal.scopes


class ProjectApiView(APIView):
    """Subclasses use `self.project` and `self.principal`; never a project from the body."""

    project: Project
    principal: ApiPrincipal

    permission_classes = [IsAuthenticated, HasScope]
    # Per-method overrides, e.g. {"POST": "read"} for a search sent as POST.
    required_scopes: ClassVar[dict[str, str]] = {}

    def scope_for(self, request: Request) -> str:
        method = request.method or "GET"
        return self.required_scopes.get(method, METHOD_SCOPES.get(method, "admin"))

    def dispatch(self, request: HttpRequest, *args: Any, **kwargs: Any) -> Response:
        with transaction.atomic():
            return super().dispatch(request, *args, **kwargs)  # type: ignore[return-value]

    def initial(self, request: Request, *args: Any, **kwargs: Any) -> None:
        self.perform_authentication(request)
        principal = request.user
        if isinstance(principal, ApiPrincipal):
            self.principal = principal
            self.project = principal.project
            activate_tenant(principal.project.id, principal.project.organization_id)
            enforce_request_quota(project=self.project, api_key=principal.api_key, request=request)
            api_key_touch(api_key=principal.api_key)
        super().initial(request, *args, **kwargs)

    def finalize_response(
        self, request: Request, response: Response, *args: Any, **kwargs: Any
    ) -> Response:
        rate_limit_headers(request, response)
        return super().finalize_response(request, response, *args, **kwargs)
