"""Webhook endpoints, on the Mem0 wire (spec §6.2), plus the delivery log.

- GET|POST /api/v1/webhooks/projects/{project_id}/  -> array | 201 object (+ `secret`, once)
- GET|PUT|DELETE /api/v1/webhooks/{webhook_id}/      -> object | {"message": ...}
- GET /api/v1/webhooks/{webhook_id}/deliveries/      -> {"count", "results": [...]}

Every method needs the key's `admin` scope: a webhook ships the project's memory text to a
URL of the caller's choosing, which is more than `read` should allow.
"""

from typing import Any

from rest_framework import serializers
from rest_framework.request import Request
from rest_framework.response import Response

from config.errors import InvalidInput
from integrations.models import Webhook, WebhookDelivery
from integrations.selectors import deliveries_list, webhook_get, webhooks_list
from integrations.services import webhook_create, webhook_delete, webhook_update
from tenants.api_base import ProjectApiView

NO_ACCESS = "You don't have access to this project"
ADMIN_ONLY = dict.fromkeys(("GET", "HEAD", "OPTIONS", "POST", "PUT", "PATCH", "DELETE"), "admin")


def webhook_output(webhook: Webhook, project_name: str) -> dict[str, Any]:
    return {
        "webhook_id": webhook.public_id,
        "name": webhook.name,
        "url": webhook.url,
        "event_types": list(webhook.event_types),
        "owner": webhook.owner,
        "is_active": webhook.is_active,
        "project": project_name,
        "created_at": webhook.created_at.isoformat(),
        "updated_at": webhook.updated_at.isoformat(),
    }


def delivery_output(delivery: WebhookDelivery) -> dict[str, Any]:
    def when(value: Any) -> str | None:
        return value.isoformat() if value else None

    return {
        "id": str(delivery.id),
        "event_type": delivery.event_type,
        "status": delivery.status,
        "attempts": delivery.attempts,
        "response_code": delivery.response_code,
        "duration_ms": delivery.duration_ms,
        "error": delivery.last_error or None,
        "created_at": when(delivery.created_at),
        "last_attempt_at": when(delivery.last_attempt_at),
        "next_attempt_at": when(delivery.next_attempt_at) if delivery.status == "pending" else None,
        "delivered_at": when(delivery.delivered_at),
    }


class WebhookApiView(ProjectApiView):
    required_scopes = ADMIN_ONLY

    def parse(self, serializer_class: type[serializers.Serializer], request: Request) -> Any:
        if not isinstance(request.data, dict):
            raise InvalidInput("body: must be a JSON object.")
        serializer = serializer_class(data=request.data)
        serializer.is_valid(raise_exception=True)
        return serializer.validated_data


class ProjectWebhooksApi(WebhookApiView):
    """The project in the path must be the key's own (403 otherwise, as the platform)."""

    class CreateInput(serializers.Serializer):
        name = serializers.CharField(max_length=200)
        url = serializers.CharField(max_length=2000)
        event_types = serializers.ListField(child=serializers.CharField(max_length=40))

    def _foreign(self, project_id: str) -> Response | None:
        if project_id == str(self.project.id):
            return None
        return Response({"detail": NO_ACCESS, "error": NO_ACCESS}, status=403)

    def get(self, request: Request, project_id: str) -> Response:
        denied = self._foreign(project_id)
        if denied is not None:
            return denied
        rows = webhooks_list(project=self.project)
        return Response([webhook_output(row, self.project.name) for row in rows])

    def post(self, request: Request, project_id: str) -> Response:
        denied = self._foreign(project_id)
        if denied is not None:
            return denied
        data = self.parse(self.CreateInput, request)
        webhook, secret = webhook_create(project=self.project, actor=self.principal.actor, **data)
        body = webhook_output(webhook, self.project.name)
        # Shown once: only a ciphertext is stored.
        body["secret"] = secret
        return Response(body, status=201)


class WebhookDetailApi(WebhookApiView):
    class UpdateInput(serializers.Serializer):
        name = serializers.CharField(max_length=200, required=False, allow_null=True)
        url = serializers.CharField(max_length=2000, required=False, allow_null=True)
        event_types = serializers.ListField(
            child=serializers.CharField(max_length=40), required=False, allow_null=True
        )
        is_active = serializers.BooleanField(required=False, allow_null=True, default=None)

    def get(self, request: Request, webhook_id: str) -> Response:
        webhook = webhook_get(project=self.project, webhook_id=webhook_id)
        return Response(webhook_output(webhook, self.project.name))

    def put(self, request: Request, webhook_id: str) -> Response:
        data = self.parse(self.UpdateInput, request)
        webhook_update(
            project=self.project, webhook_id=webhook_id, actor=self.principal.actor, **data
        )
        return Response({"message": "Webhook updated successfully"})

    def patch(self, request: Request, webhook_id: str) -> Response:
        return self.put(request, webhook_id)

    def delete(self, request: Request, webhook_id: str) -> Response:
        webhook_delete(project=self.project, webhook_id=webhook_id, actor=self.principal.actor)
        return Response({"message": "Webhook deleted successfully"})


class WebhookDeliveriesApi(WebhookApiView):
    class PageInput(serializers.Serializer):
        limit = serializers.IntegerField(required=False, default=50, min_value=1, max_value=200)
        offset = serializers.IntegerField(required=False, default=0, min_value=0)

    def get(self, request: Request, webhook_id: str) -> Response:
        page = self.PageInput(data=request.query_params)
        page.is_valid(raise_exception=True)
        webhook = webhook_get(project=self.project, webhook_id=webhook_id)
        count, rows = deliveries_list(project=self.project, webhook=webhook, **page.validated_data)
        return Response({"count": count, "results": [delivery_output(row) for row in rows]})
