"""Delivering webhooks: the outbox row, the signed POST a receiver can verify, retries with
backoff, the SSRF guard at connect time, and the delivery log."""

import json
from datetime import timedelta
from typing import Any

import pytest
from django.utils import timezone

from audit.services import CLI_ACTOR
from integrations.delivery import DeliveryOutcome, delivery_attempt
from integrations.models import DeliveryStatus, WebhookDelivery
from integrations.services import memory_events_emit, webhook_create, webhook_emit
from integrations.signing import signature_verify
from tenants.context import tenant_context
from tests.conftest import Tenant
from tests.integrations.receiver import WebhookReceiver

pytestmark = pytest.mark.django_db


class FakeMemory:
    def __init__(self, memory_id: str, user_id: str | None = "alice") -> None:
        self.id: Any = memory_id
        self.user_id = user_id


def subscribe(tenant: Tenant, url: str, events: list[str] | None = None) -> tuple[Any, str]:
    with tenant_context(tenant.project.id):
        return webhook_create(
            project=tenant.project,
            actor=CLI_ACTOR,
            name="test",
            url=url,
            event_types=events or ["memory_add"],
        )


def emit_add(tenant: Tenant, text: str = "User likes green tea") -> WebhookDelivery:
    with tenant_context(tenant.project.id):
        memory_events_emit(project=tenant.project, event="ADD", changes=[(FakeMemory("m-1"), text)])
        return WebhookDelivery.objects.get(project=tenant.project)


def attempt(tenant: Tenant, delivery: WebhookDelivery) -> DeliveryOutcome:
    return delivery_attempt(project_id=tenant.project.id, delivery_id=delivery.id)


def reload(tenant: Tenant, delivery: WebhookDelivery) -> WebhookDelivery:
    with tenant_context(tenant.project.id):
        return WebhookDelivery.objects.get(pk=delivery.id)


def make_due(tenant: Tenant, delivery: WebhookDelivery) -> None:
    """Time travel: the retry's moment has come."""
    with tenant_context(tenant.project.id):
        WebhookDelivery.objects.filter(pk=delivery.id).update(
            next_attempt_at=timezone.now() - timedelta(seconds=1)
        )


def test_a_signed_delivery_is_received_and_verifies(
    tenant_a: Tenant, receiver: WebhookReceiver, loopback_allowed: None
) -> None:
    _, secret = subscribe(tenant_a, receiver.url())
    delivery = emit_add(tenant_a)
    assert "green tea" not in (delivery.payload_ciphertext or "")  # sealed in the outbox

    assert attempt(tenant_a, delivery) == DeliveryOutcome.SUCCEEDED
    [got] = receiver.received
    assert json.loads(got.body) == {
        "event_details": {"id": "m-1", "data": {"memory": "User likes green tea"}, "event": "ADD"}
    }
    assert got.headers["x-engram-event"] == "memory_add"
    assert got.headers["x-engram-delivery"] == str(delivery.id)
    assert signature_verify(secret, got.headers["x-engram-signature"], got.body)
    assert not signature_verify("whsec_wrong", got.headers["x-engram-signature"], got.body)
    assert not signature_verify(secret, got.headers["x-engram-signature"], got.body + b" ")

    done = reload(tenant_a, delivery)
    assert done.status == DeliveryStatus.SUCCEEDED and done.response_code == 200
    assert done.attempts == 1 and done.delivered_at is not None
    assert done.payload_ciphertext is None  # memory text does not linger once delivered


def test_a_second_attempt_of_a_delivered_event_sends_nothing(
    tenant_a: Tenant, receiver: WebhookReceiver, loopback_allowed: None
) -> None:
    subscribe(tenant_a, receiver.url())
    delivery = emit_add(tenant_a)
    attempt(tenant_a, delivery)
    assert attempt(tenant_a, delivery) == DeliveryOutcome.SKIPPED
    assert len(receiver.received) == 1


def test_failures_retry_with_exponential_backoff_then_succeed(
    tenant_a: Tenant,
    receiver: WebhookReceiver,
    loopback_allowed: None,
    settings: Any,
    django_capture_on_commit_callbacks: Any,
) -> None:
    settings.ENGRAM_WEBHOOK_RETRY_BASE_SECONDS = 10
    receiver.statuses.extend([500, 503])
    subscribe(tenant_a, receiver.url())
    delivery = emit_add(tenant_a)

    delays = []
    for _ in range(2):
        before = timezone.now()
        with django_capture_on_commit_callbacks() as enqueued:
            assert attempt(tenant_a, delivery) == DeliveryOutcome.RETRY
        assert len(enqueued) == 1  # the retry is scheduled after commit
        state = reload(tenant_a, delivery)
        assert state.status == DeliveryStatus.PENDING
        assert attempt(tenant_a, delivery) == DeliveryOutcome.SKIPPED  # not due yet
        delays.append((state.next_attempt_at - before).total_seconds())
        make_due(tenant_a, delivery)
    assert 10 <= delays[0] < 12 and 20 <= delays[1] < 23

    assert attempt(tenant_a, delivery) == DeliveryOutcome.SUCCEEDED
    final = reload(tenant_a, delivery)
    assert final.attempts == 3 and final.status == DeliveryStatus.SUCCEEDED
    assert [r.body for r in receiver.received] == [receiver.received[0].body] * 3


def test_attempts_run_out_and_the_delivery_fails_with_its_reason(
    tenant_a: Tenant, receiver: WebhookReceiver, loopback_allowed: None, settings: Any
) -> None:
    settings.ENGRAM_WEBHOOK_MAX_ATTEMPTS = 2
    receiver.statuses.extend([500, 500, 500])
    subscribe(tenant_a, receiver.url())
    delivery = emit_add(tenant_a)
    assert attempt(tenant_a, delivery) == DeliveryOutcome.RETRY
    make_due(tenant_a, delivery)
    assert attempt(tenant_a, delivery) == DeliveryOutcome.FAILED
    failed = reload(tenant_a, delivery)
    assert failed.status == DeliveryStatus.FAILED and failed.response_code == 500
    assert "500" in failed.last_error and failed.payload_ciphertext is None


def test_a_hostname_resolving_to_loopback_is_refused_at_connect_time(
    tenant_a: Tenant, receiver: WebhookReceiver, settings: Any
) -> None:
    settings.ENGRAM_WEBHOOK_ALLOWED_HOSTS = []
    # A name, not a literal: it passes creation and must be caught when the socket opens.
    subscribe(tenant_a, receiver.url(host="localhost"))
    delivery = emit_add(tenant_a)
    assert attempt(tenant_a, delivery) == DeliveryOutcome.FAILED
    refused = reload(tenant_a, delivery)
    assert refused.status == DeliveryStatus.FAILED and refused.attempts == 1
    assert "non-public" in refused.last_error
    assert receiver.received == []


def test_only_subscribed_active_webhooks_of_the_project_get_the_event(
    tenant_a: Tenant, tenant_b: Tenant, receiver: WebhookReceiver, loopback_allowed: None
) -> None:
    subscribe(tenant_a, receiver.url(path="/deletes"), events=["memory_delete"])
    subscribe(tenant_b, receiver.url(path="/b"))
    with tenant_context(tenant_a.project.id):
        assert (
            webhook_emit(project=tenant_a.project, event_type="memory_add", payload={"x": 1}) == []
        )
    with tenant_context(tenant_b.project.id):
        assert WebhookDelivery.objects.count() == 0  # b subscribes to memory_add, not to a


def test_the_delivery_log_lists_attempts_newest_first(
    tenant_a: Tenant, receiver: WebhookReceiver, loopback_allowed: None
) -> None:
    receiver.statuses.append(502)
    hook, _ = subscribe(tenant_a, receiver.url())
    first = emit_add(tenant_a)
    attempt(tenant_a, first)
    response = tenant_a.client().get(f"/api/v1/webhooks/{hook.public_id}/deliveries/")
    assert response.status_code == 200
    body = response.json()
    assert body["count"] == 1
    [entry] = body["results"]
    assert entry["status"] == "pending" and entry["attempts"] == 1
    assert entry["response_code"] == 502 and "502" in entry["error"]
    assert entry["next_attempt_at"] and entry["event_type"] == "memory_add"
    assert "payload" not in entry and "green tea" not in json.dumps(body)


def test_erasing_a_user_drops_their_undelivered_payloads(
    tenant_a: Tenant, receiver: WebhookReceiver, loopback_allowed: None
) -> None:
    from integrations.services import webhook_deliveries_erase

    subscribe(tenant_a, receiver.url())
    emit_add(tenant_a)
    with tenant_context(tenant_a.project.id):
        assert webhook_deliveries_erase(project=tenant_a.project, user_id="bob") == 0
        assert webhook_deliveries_erase(project=tenant_a.project, user_id="alice") == 1
        assert not WebhookDelivery.objects.exists()


def test_the_sweeper_drops_old_finished_entries_and_resends_lost_ones(
    tenant_a: Tenant, receiver: WebhookReceiver, loopback_allowed: None, monkeypatch: Any
) -> None:
    from integrations import delivery as delivery_module

    sent: list[Any] = []
    monkeypatch.setattr(delivery_module, "delivery_enqueue", lambda d, p, c=0: sent.append(d))
    subscribe(tenant_a, receiver.url())
    done, lost = emit_add(tenant_a), None
    attempt(tenant_a, done)
    with tenant_context(tenant_a.project.id):
        memory_events_emit(
            project=tenant_a.project, event="ADD", changes=[(FakeMemory("m-2"), "Lost one")]
        )
        lost = WebhookDelivery.objects.exclude(pk=done.pk).get()
        long_ago = timezone.now() - timedelta(days=60)
        WebhookDelivery.objects.filter(pk=done.pk).update(created_at=long_ago)
        WebhookDelivery.objects.filter(pk=lost.pk).update(next_attempt_at=long_ago)
    delivery_module._sweep_project(tenant_a.project.id, tenant_a.organization.id)
    assert sent == [lost.pk]
    with tenant_context(tenant_a.project.id):
        assert list(WebhookDelivery.objects.values_list("pk", flat=True)) == [lost.pk]
