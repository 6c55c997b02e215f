"""The whole outbox path with a real Celery worker: a change commits, the delivery task is
enqueued after commit, the worker signs and POSTs it, a failed attempt is retried after its
backoff, and the receiver verifies the signature."""

import json
import uuid
from pathlib import Path
from typing import Any

import pytest

from audit.services import CLI_ACTOR
from integrations.models import DeliveryStatus, WebhookDelivery
from integrations.services import memory_events_emit, webhook_create
from integrations.signing import signature_verify
from tenants.context import tenant_context
from tests.conftest import make_tenant
from tests.integrations.receiver import WebhookReceiver
from tests.support.workers import WorkerPool, wait_until, worker_pool

pytestmark = pytest.mark.live


class Changed:
    def __init__(self) -> None:
        self.id: Any = uuid.uuid4()
        self.user_id: str | None = "alice"


def test_a_committed_change_is_delivered_by_a_worker_after_a_retry(
    committed_db: None, receiver: WebhookReceiver, loopback_allowed: None, tmp_path: Path
) -> None:
    tenant = make_tenant(f"hooks-{uuid.uuid4().hex[:10]}")
    receiver.statuses.append(503)  # the first attempt fails
    pool: WorkerPool
    with worker_pool(tmp_path) as pool:
        pool.start(
            env={
                "ENGRAM_WEBHOOK_ALLOWED_HOSTS": "127.0.0.1",
                "ENGRAM_WEBHOOK_RETRY_BASE_SECONDS": "0.5",
            }
        )
        with tenant_context(tenant.project.id):
            _, secret = webhook_create(
                project=tenant.project,
                actor=CLI_ACTOR,
                name="worker",
                url=receiver.url(),
                event_types=["memory_add"],
            )
        change = Changed()
        with tenant_context(tenant.project.id):
            memory_events_emit(
                project=tenant.project, event="ADD", changes=[(change, "Likes jazz")]
            )
        wait_until(lambda: len(receiver.received) >= 2, timeout=45)

        def delivered() -> WebhookDelivery | None:
            with tenant_context(tenant.project.id):
                row = WebhookDelivery.objects.get(project=tenant.project)
            return row if row.status == DeliveryStatus.SUCCEEDED else None

        row = wait_until(delivered, timeout=15)
    assert row.attempts == 2 and row.response_code == 200
    first, second = receiver.received[:2]
    assert first.body == second.body
    assert first.headers["x-engram-delivery"] == second.headers["x-engram-delivery"]
    assert json.loads(second.body)["event_details"]["data"]["memory"] == "Likes jazz"
    assert signature_verify(secret, second.headers["x-engram-signature"], second.body)
