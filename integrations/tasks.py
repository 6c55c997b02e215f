"""Celery tasks of the integrations app: ids in, never payloads or secrets."""

from celery import shared_task
from kombu.exceptions import OperationalError as BrokerError

from integrations.delivery import deliveries_sweep, delivery_attempt


@shared_task(
    name="integrations.webhook_deliver",
    acks_late=True,
    ignore_result=True,
    # Network time is bounded by ENGRAM_OUTBOUND_TIMEOUT; this is the backstop.
    soft_time_limit=120,
    time_limit=150,
    autoretry_for=(BrokerError,),
    retry_backoff=True,
    max_retries=5,
)
def webhook_deliver(delivery_id: str, project_id: str) -> str:
    """One attempt; the delivery row drives retries (backoff, attempt count)."""
    return delivery_attempt(project_id=project_id, delivery_id=delivery_id).value


@shared_task(
    name="integrations.sweep_webhook_deliveries",
    acks_late=True,
    ignore_result=True,
    soft_time_limit=60,
    time_limit=90,
)
def sweep_webhook_deliveries() -> int:
    return deliveries_sweep()
