"""Reads of webhooks and their delivery log, always inside the caller's project."""

from uuid import UUID

from config.errors import NotFound
from integrations.models import Webhook, WebhookDelivery
from tenants.models import Project

WEBHOOK_NOT_FOUND = "Webhook not found"
MAX_DELIVERIES_PAGE = 200


def webhooks_list(*, project: Project) -> list[Webhook]:
    return list(Webhook.objects.filter(project=project).order_by("created_at"))


def webhook_get(*, project: Project, webhook_id: str, for_update: bool = False) -> Webhook:
    """By its wire id ("wh_..."): another project's webhook is as missing as an unknown one."""
    rows = Webhook.objects.filter(project=project, public_id=webhook_id)
    webhook = (rows.select_for_update() if for_update else rows).first()
    if webhook is None:
        raise NotFound(WEBHOOK_NOT_FOUND)
    return webhook


def webhooks_subscribed(*, project_id: UUID, event_type: str) -> list[Webhook]:
    return list(
        Webhook.objects.filter(
            project_id=project_id, is_active=True, event_types__contains=[event_type]
        )
    )


def deliveries_list(
    *, project: Project, webhook: Webhook, limit: int = 50, offset: int = 0
) -> tuple[int, list[WebhookDelivery]]:
    """Newest first, with the total for pagination."""
    rows = WebhookDelivery.objects.filter(project=project, webhook=webhook)
    limit = max(1, min(limit, MAX_DELIVERIES_PAGE))
    page = list(rows.order_by("-created_at", "-id")[offset : offset + limit])
    return rows.count(), page
