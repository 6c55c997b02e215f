"""Tenancy endpoints of the Mem0-compatible API: the ping, and the project the key belongs
to (`client.project.get()/update()/get_members()`, spec §6.1)."""

from typing import Any

from rest_framework import serializers
from rest_framework.request import Request
from rest_framework.response import Response

from config.errors import InvalidInput, NotFound
from tenants.api_base import ProjectApiView
from tenants.models import Membership, Project
from tenants.services import project_settings_update

# Staff roles as Mem0 names them (it knows only OWNER and READER).
MEM0_ROLES = {"owner": "OWNER", "admin": "OWNER", "compliance": "READER", "viewer": "READER"}
TEXT_SETTINGS = ("custom_instructions", "agent_custom_instructions")
OPTION_DEFAULTS: dict[str, Any] = {
    "multilingual": False,
    "decay": False,
    "enable_graph": False,
    "memory_depth": None,
    "usecase": None,
    "inclusion_prompt": None,
    "exclusion_prompt": None,
    "expiration_date": None,
    "version": "v3",
}


class PingApi(ProjectApiView):
    """`MemoryClient(...)` pings on construction and needs org_id and project_id back."""

    required_scopes = {"GET": "read"}

    def get(self, request: Request) -> Response:
        return Response(
            {
                "status": "ok",
                "message": "pong",
                "org_id": str(self.project.organization_id),
                "project_id": str(self.project.id),
                # Deliberately null: the Mem0 client sends this to its telemetry if enabled.
                "user_email": None,
            }
        )


def _members(project: Project) -> list[dict[str, Any]]:
    # Memberships are organization rows; the request's tenant context includes the org.
    rows = Membership.objects.filter(organization_id=project.organization_id).select_related("user")
    return [
        {
            "username": row.user.get_username(),
            "email": getattr(row.user, "email", "") or None,
            "role": MEM0_ROLES.get(row.role, "READER"),
        }
        for row in rows.order_by("created_at")
    ]


class CategoriesField(serializers.Field):
    """A list of one-key {name: description} objects, or of plain names; null resets."""

    def to_internal_value(self, data: Any) -> list[Any]:
        if not isinstance(data, list) or len(data) > 200:
            raise serializers.ValidationError("expected a list of at most 200 categories.")
        for entry in data:
            named = isinstance(entry, str) and 0 < len(entry) <= 100
            described = (
                isinstance(entry, dict)
                and len(entry) == 1
                and all(isinstance(v, str) and 0 < len(k) <= 100 for k, v in entry.items())
            )
            if not (named or described):
                raise serializers.ValidationError(
                    'each category is a name or a one-key object {"name": "description"}.'
                )
        return data

    def to_representation(self, value: Any) -> Any:
        return value


class ProjectApi(ProjectApiView):
    """GET/PATCH /api/v1/orgs/organizations/{org_id}/projects/{project_id}/. The path must
    name the key's own project; any other is "not found" (it is not this key's to know)."""

    required_scopes = {"GET": "read", "PATCH": "admin", "PUT": "admin"}

    class UpdateInput(serializers.Serializer):
        custom_instructions = serializers.CharField(
            required=False, allow_null=True, allow_blank=True, max_length=20000
        )
        agent_custom_instructions = serializers.CharField(
            required=False, allow_null=True, allow_blank=True, max_length=20000
        )
        custom_categories = CategoriesField(required=False, allow_null=True)
        multilingual = serializers.BooleanField(required=False)
        decay = serializers.BooleanField(required=False)
        enable_graph = serializers.BooleanField(required=False)
        memory_depth = serializers.CharField(required=False, allow_null=True, max_length=100)
        usecase_setting = serializers.CharField(required=False, allow_null=True, max_length=2000)
        inclusion_prompt = serializers.CharField(required=False, allow_null=True, max_length=5000)
        exclusion_prompt = serializers.CharField(required=False, allow_null=True, max_length=5000)

    def _own_project(self, org_id: str, project_id: str) -> Project:
        project = self.project
        if org_id != str(project.organization_id) or project_id != str(project.id):
            raise NotFound("Project not found.")
        return project

    def get(self, request: Request, org_id: str, project_id: str) -> Response:
        return Response(project_object(self._own_project(org_id, project_id)))

    def patch(self, request: Request, org_id: str, project_id: str) -> Response:
        project = self._own_project(org_id, project_id)
        data = request.data
        if not isinstance(data, dict):
            raise InvalidInput("body: must be a JSON object.")
        serializer = self.UpdateInput(data=data)
        serializer.is_valid(raise_exception=True)
        changes = dict(serializer.validated_data)
        if not changes:
            raise InvalidInput("Nothing to update: give custom_instructions, custom_categories…")
        if "usecase_setting" in changes:
            changes["usecase"] = changes.pop("usecase_setting")
        for name in TEXT_SETTINGS:
            if name in changes and changes[name] is None:
                changes[name] = ""  # null clears, as an empty string does
        project_settings_update(project=project, changes=changes, actor=self.principal.actor)
        return Response({"message": "Project updated successfully"})

    def put(self, request: Request, org_id: str, project_id: str) -> Response:
        return self.patch(request, org_id, project_id)


def project_object(project: Project) -> dict[str, Any]:
    """The full project object the platform returns (it ignores `fields`)."""
    options = {**OPTION_DEFAULTS, **(project.options or {})}
    return {
        "project_id": str(project.id),
        "org_id": str(project.organization_id),
        "name": project.name,
        "description": project.description,
        "created_at": project.created_at.isoformat(),
        "updated_at": project.updated_at.isoformat(),
        "members": _members(project),
        "custom_instructions": project.custom_instructions or None,
        "agent_custom_instructions": project.agent_custom_instructions or None,
        "custom_categories": project.custom_categories,
        **{key: options[key] for key in OPTION_DEFAULTS},
        "is_default": False,
        "user_role": "OWNER",
    }


class ProjectMembersApi(ProjectApi):
    """GET <project>/members/: the organization's staff, in Mem0's member shape."""

    def get(self, request: Request, org_id: str, project_id: str) -> Response:
        return Response(_members(self._own_project(org_id, project_id)))

    def patch(self, request: Request, org_id: str, project_id: str) -> Response:
        raise InvalidInput("Members are managed in the Engram console, not through the API.")

    put = patch
