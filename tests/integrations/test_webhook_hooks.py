"""Memory writes through the API queue webhook deliveries, once the write path calls
`memory_events_emit` (the three one-line hooks proposed in docs/integrations.md). Skipped
until they are wired, so the suite stays green meanwhile and starts checking them at once."""

import json

import pytest

from integrations.delivery import delivery_attempt
from integrations.models import WebhookDelivery
from tenants.context import tenant_context
from tests.conftest import Tenant
from tests.integrations.receiver import WebhookReceiver
from tests.support.memory_api import add_memory

pytestmark = pytest.mark.django_db


def test_add_update_and_delete_through_the_api_are_delivered(
    tenant_a: Tenant, tenant_b: Tenant, receiver: WebhookReceiver, loopback_allowed: None
) -> None:
    client = tenant_a.client()
    created = client.post(
        f"/api/v1/webhooks/projects/{tenant_a.project.id}/",
        {
            "name": "all",
            "url": receiver.url(),
            "event_types": ["memory_add", "memory_update", "memory_delete"],
        },
        format="json",
    )
    assert created.status_code == 201
    memory_id = add_memory(client, "I like green tea")
    client.put(f"/v1/memories/{memory_id}/", {"text": "I like black tea"}, format="json")
    client.delete(f"/v1/memories/{memory_id}/")
    add_memory(tenant_b.client(), "charlie's own memory")  # no webhook there

    with tenant_context(tenant_a.project.id):
        deliveries = list(WebhookDelivery.objects.order_by("created_at"))
    assert [d.event_type for d in deliveries] == ["memory_add", "memory_update", "memory_delete"]
    for delivery in deliveries:
        delivery_attempt(project_id=tenant_a.project.id, delivery_id=delivery.id)
    bodies = [json.loads(r.body)["event_details"] for r in receiver.received]
    assert [(b["event"], b["data"]["memory"]) for b in bodies] == [
        ("ADD", "I like green tea"),
        ("UPDATE", "I like black tea"),
        ("DELETE", "I like black tea"),
    ]
    assert {b["id"] for b in bodies} == {memory_id}
