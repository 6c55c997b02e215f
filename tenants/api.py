"""Tenancy endpoints of the Mem0-compatible API."""

from rest_framework.request import Request
from rest_framework.response import Response

from tenants.api_base import ProjectApiView


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
