"""Delivering the webhook outbox: claim, send (outside any transaction), record, retry.

A delivery is claimed with a conditional UPDATE (PENDING and due -> SENDING), so duplicate
task messages, redeliveries and the sweeper can never send it twice at once. The network
call happens with no transaction open: a slow receiver must not hold database locks. A
failed attempt goes back to PENDING with exponential backoff and jitter until the attempts
are used up; a refused target (SSRF guard) fails at once, retrying it would change nothing.
The payload ciphertext is wiped when the delivery ends either way.
"""

import logging
import random
from dataclasses import dataclass
from datetime import timedelta
from enum import StrEnum
from uuid import UUID

from django.db import transaction
from django.db.models import F
from django.utils import timezone

from integrations import conf, outbound
from integrations.metrics import observe_webhook
from integrations.models import DeliveryStatus, WebhookDelivery
from integrations.signing import (
    DELIVERY_HEADER,
    EVENT_HEADER,
    SIGNATURE_HEADER,
    signature_header,
)
from tenants.context import tenant_context
from tenants.keyring import DecryptionError, FieldContext, decrypt
from tenants.models import Project

logger = logging.getLogger(__name__)

USER_AGENT = "Engram-Webhooks/1"
# An attempt still SENDING after this long belongs to a dead worker: the sweeper frees it.
STALE_CLAIM_SECONDS = 300
# A due PENDING delivery this overdue has probably lost its task message: send it again.
OVERDUE_SECONDS = 60
SWEEP_BATCH = 500


class DeliveryOutcome(StrEnum):
    SUCCEEDED = "succeeded"
    RETRY = "retry"
    FAILED = "failed"
    SKIPPED = "skipped"  # not ours to send (already claimed, not due, or gone)


@dataclass(frozen=True)
class PreparedDelivery:
    delivery_id: UUID
    project_id: UUID
    webhook_public_id: str
    event_type: str
    url: str
    secret: str
    body: bytes
    attempt: int


@dataclass(frozen=True)
class AttemptResult:
    status_code: int | None
    error: str
    seconds: float
    refused: bool = False

    @property
    def delivered(self) -> bool:
        return self.status_code is not None and 200 <= self.status_code < 300


def retry_delay(attempt: int) -> float:
    """Seconds before attempt `attempt + 1`: base * 2**(attempt-1), capped, plus up to 10%
    jitter so that retries to a receiver that was down do not arrive in one burst."""
    base = conf.webhook_retry_base_seconds() * 2 ** max(attempt - 1, 0)
    delay = min(base, conf.webhook_retry_max_seconds())
    return delay * (1 + random.uniform(0, 0.1))  # noqa: S311 -- jitter, not a secret


def delivery_enqueue(delivery_id: UUID, project_id: UUID, countdown: float = 0) -> None:
    """Send the task; if the broker is down the sweeper sends it later."""
    from integrations.tasks import webhook_deliver

    try:
        webhook_deliver.apply_async(
            args=[str(delivery_id), str(project_id)], countdown=max(countdown, 0)
        )
    except Exception:  # the outbox row survives; the sweeper sends it later
        logger.warning("webhook delivery %s not enqueued", delivery_id, exc_info=True)


def secret_context(webhook_id: UUID) -> FieldContext:
    return FieldContext(table="integrations_webhook", row_id=str(webhook_id), field="secret")


def payload_context(delivery_id: UUID) -> FieldContext:
    return FieldContext(
        table="integrations_webhookdelivery", row_id=str(delivery_id), field="payload"
    )


def _finish(delivery: WebhookDelivery, status: str, error: str) -> None:
    """The end of a delivery: the memory text and whom it was about leave the log."""
    delivery.status, delivery.last_error = status, error[:300]
    delivery.payload_ciphertext, delivery.subject_user_id = None, None
    delivery.save(update_fields=["status", "last_error", "payload_ciphertext", "subject_user_id"])


def delivery_claim(*, project_id: UUID, delivery_id: UUID) -> PreparedDelivery | None:
    """Win the delivery and decrypt what is needed to send it (then the transaction ends)."""
    with tenant_context(project_id):
        now = timezone.now()
        won = WebhookDelivery.objects.filter(
            project_id=project_id,
            pk=delivery_id,
            status=DeliveryStatus.PENDING,
            next_attempt_at__lte=now,
        ).update(status=DeliveryStatus.SENDING, claimed_at=now, attempts=F("attempts") + 1)
        if won != 1:
            return None
        delivery = WebhookDelivery.objects.select_related("webhook").get(pk=delivery_id)
        webhook = delivery.webhook
        if not webhook.is_active:
            _finish(delivery, DeliveryStatus.FAILED, "the webhook is disabled")
            return None
        try:
            secret = decrypt(project_id, webhook.secret_ciphertext, secret_context(webhook.id))
            body = decrypt(
                project_id, delivery.payload_ciphertext or "", payload_context(delivery.id)
            )
        except DecryptionError:
            _finish(delivery, DeliveryStatus.FAILED, "the payload was erased or is unreadable")
            return None
    return PreparedDelivery(
        delivery_id=delivery.id,
        project_id=project_id,
        webhook_public_id=webhook.public_id,
        event_type=delivery.event_type,
        url=webhook.url,
        secret=secret,
        body=body.encode(),
        attempt=delivery.attempts,
    )


def delivery_send(prepared: PreparedDelivery) -> AttemptResult:
    headers = {
        "Content-Type": "application/json",
        "User-Agent": USER_AGENT,
        EVENT_HEADER: prepared.event_type,
        DELIVERY_HEADER: str(prepared.delivery_id),
        SIGNATURE_HEADER: signature_header(prepared.secret, prepared.body),
    }
    try:
        response = outbound.post(prepared.url, prepared.body, headers)
    except outbound.OutboundRefused as exc:
        return AttemptResult(None, f"refused: {exc}", 0.0, refused=True)
    except outbound.OutboundFailed as exc:
        return AttemptResult(None, str(exc), 0.0)
    error = "" if 200 <= response.status < 300 else f"the receiver answered {response.status}"
    return AttemptResult(response.status, error, response.seconds)


def delivery_record(prepared: PreparedDelivery, result: AttemptResult) -> DeliveryOutcome:
    with tenant_context(prepared.project_id):
        delivery = (
            WebhookDelivery.objects.select_for_update()
            .filter(pk=prepared.delivery_id, status=DeliveryStatus.SENDING)
            .first()
        )
        if delivery is None:  # deleted with its webhook meanwhile
            return DeliveryOutcome.SKIPPED
        now = timezone.now()
        delivery.last_attempt_at, delivery.response_code = now, result.status_code
        delivery.duration_ms = round(result.seconds * 1000)
        delivery.save(update_fields=["last_attempt_at", "response_code", "duration_ms"])
        if result.delivered:
            delivery.delivered_at = now
            delivery.save(update_fields=["delivered_at"])
            _finish(delivery, DeliveryStatus.SUCCEEDED, "")
            return DeliveryOutcome.SUCCEEDED
        if result.refused or delivery.attempts >= conf.webhook_max_attempts():
            _finish(delivery, DeliveryStatus.FAILED, result.error)
            return DeliveryOutcome.FAILED
        delay = retry_delay(delivery.attempts)
        delivery.status, delivery.last_error = DeliveryStatus.PENDING, result.error[:300]
        delivery.next_attempt_at = now + timedelta(seconds=delay)
        delivery.save(update_fields=["status", "last_error", "next_attempt_at"])
        transaction.on_commit(
            lambda: delivery_enqueue(prepared.delivery_id, prepared.project_id, delay)
        )
        return DeliveryOutcome.RETRY


def delivery_attempt(*, project_id: UUID | str, delivery_id: UUID | str) -> DeliveryOutcome:
    """One attempt at one delivery; safe to call any number of times."""
    prepared = delivery_claim(project_id=UUID(str(project_id)), delivery_id=UUID(str(delivery_id)))
    if prepared is None:
        return DeliveryOutcome.SKIPPED
    result = delivery_send(prepared)
    outcome = delivery_record(prepared, result)
    observe_webhook(outcome.value, result.seconds)
    logger.info(
        "webhook delivery attempt",
        extra={
            "delivery_id": str(prepared.delivery_id),
            "webhook_id": prepared.webhook_public_id,
            "event_type": prepared.event_type,
            "attempt": prepared.attempt,
            "status_code": result.status_code,
            "outcome": outcome.value,
        },
    )
    return outcome


def _sweep_project(project_id: UUID, org_id: UUID) -> list[UUID]:
    now = timezone.now()
    with tenant_context(project_id, org_id):
        WebhookDelivery.objects.filter(
            project_id=project_id,
            status__in=[DeliveryStatus.SUCCEEDED, DeliveryStatus.FAILED],
            created_at__lt=now - timedelta(days=conf.webhook_log_days()),
        ).delete()
        WebhookDelivery.objects.filter(
            project_id=project_id,
            status=DeliveryStatus.SENDING,
            claimed_at__lt=now - timedelta(seconds=STALE_CLAIM_SECONDS),
        ).update(status=DeliveryStatus.PENDING, next_attempt_at=now)
        overdue = list(
            WebhookDelivery.objects.filter(
                project_id=project_id,
                status=DeliveryStatus.PENDING,
                next_attempt_at__lt=now - timedelta(seconds=OVERDUE_SECONDS),
            ).values_list("id", flat=True)[:SWEEP_BATCH]
        )
    for delivery_id in overdue:
        delivery_enqueue(delivery_id, project_id)
    return overdue


def deliveries_sweep() -> int:
    """Beat: free deliveries of dead workers, re-send ones whose task message was lost, and
    drop log entries older than ENGRAM_WEBHOOK_LOG_DAYS. Walks the projects (RLS hides
    deliveries outside a tenant context)."""
    sent = 0
    for project_id, org_id in list(Project.objects.values_list("id", "organization_id")):
        try:
            sent += len(_sweep_project(project_id, org_id))
        except Exception:
            logger.exception("sweeping webhook deliveries of project %s failed", project_id)
    return sent
