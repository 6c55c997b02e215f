"""Webhook endpoints on the Mem0 wire (spec §6.2): create, list, update, delete, the
delivery log, and the tenant walls around them."""

from typing import Any

import pytest

from audit.models import AuditEvent
from integrations.models import Webhook
from tenants.context import tenant_context
from tests.conftest import Tenant

pytestmark = pytest.mark.django_db


def create(tenant: Tenant, **overrides: Any) -> Any:
    body = {
        "name": "crm sync",
        "url": "https://hooks.example.com/engram",
        "event_types": ["memory_add", "memory_delete"],
        **overrides,
    }
    return tenant.client().post(
        f"/api/v1/webhooks/projects/{tenant.project.id}/", body, format="json"
    )


def test_create_returns_201_with_the_mem0_fields_and_the_secret_once(tenant_a: Tenant) -> None:
    response = create(tenant_a)
    assert response.status_code == 201, response.content
    body = response.json()
    assert body["webhook_id"].startswith("wh_")
    assert body["name"] == "crm sync"
    assert body["url"] == "https://hooks.example.com/engram"
    assert body["event_types"] == ["memory_add", "memory_delete"]
    assert body["is_active"] is True
    assert body["project"] == tenant_a.project.name
    assert body["owner"] and body["created_at"] and body["updated_at"]
    assert body["secret"].startswith("whsec_")

    listed = tenant_a.client().get(f"/api/v1/webhooks/projects/{tenant_a.project.id}/")
    assert listed.status_code == 200
    assert [hook["webhook_id"] for hook in listed.json()] == [body["webhook_id"]]
    assert "secret" not in listed.json()[0]


def test_the_secret_is_stored_encrypted(tenant_a: Tenant) -> None:
    secret = create(tenant_a).json()["secret"]
    with tenant_context(tenant_a.project.id):
        stored = Webhook.objects.get(project=tenant_a.project).secret_ciphertext
    assert secret not in stored and stored.startswith("e1:")


def test_update_and_delete_answer_with_messages(tenant_a: Tenant) -> None:
    hook_id = create(tenant_a).json()["webhook_id"]
    client = tenant_a.client()
    updated = client.put(
        f"/api/v1/webhooks/{hook_id}/",
        {"name": "renamed", "event_types": ["memory_update"]},
        format="json",
    )
    assert updated.json() == {"message": "Webhook updated successfully"}
    detail = client.get(f"/api/v1/webhooks/{hook_id}/").json()
    assert detail["name"] == "renamed" and detail["event_types"] == ["memory_update"]
    assert detail["url"] == "https://hooks.example.com/engram"

    deleted = client.delete(f"/api/v1/webhooks/{hook_id}/")
    assert deleted.json() == {"message": "Webhook deleted successfully"}
    assert client.get(f"/api/v1/webhooks/{hook_id}/").status_code == 404


def test_changes_to_webhooks_are_audited(tenant_a: Tenant) -> None:
    hook_id = create(tenant_a).json()["webhook_id"]
    tenant_a.client().delete(f"/api/v1/webhooks/{hook_id}/")
    with tenant_context(tenant_a.project.id, tenant_a.organization.id):
        actions = list(
            AuditEvent.objects.filter(project_id=tenant_a.project.id, target_id=hook_id)
            .order_by("seq")
            .values_list("action", flat=True)
        )
    assert actions == ["webhook.created", "webhook.deleted"]


@pytest.mark.parametrize(
    ("field", "value", "fragment"),
    [
        ("url", "ftp://example.com/x", "only http and https"),
        ("url", "http://10.0.0.5/hook", "private"),
        ("url", "http://169.254.169.254/latest/meta-data", "private"),
        ("url", "http://[::1]:8000/hook", "private"),
        ("url", "http://user:pw@example.com/", "credentials"),
        ("event_types", ["memory_add", "nope"], "unknown"),
        ("event_types", [], "event_types"),
    ],
)
def test_bad_webhooks_are_refused_with_400_naming_the_field(
    tenant_a: Tenant, field: str, value: Any, fragment: str
) -> None:
    response = create(tenant_a, **{field: value})
    assert response.status_code == 400
    assert field in response.json()["detail"] and fragment in response.json()["detail"]


def test_a_literal_loopback_url_is_accepted_when_allow_listed(
    tenant_a: Tenant, loopback_allowed: None
) -> None:
    assert create(tenant_a, url="http://127.0.0.1:9/hook").status_code == 201


def test_another_projects_path_is_403_with_the_platform_message(
    tenant_a: Tenant, tenant_b: Tenant
) -> None:
    path = f"/api/v1/webhooks/projects/{tenant_b.project.id}/"
    for response in (
        tenant_a.client().get(path),
        tenant_a.client().post(
            path, {"name": "x", "url": "https://e.com", "event_types": ["memory_add"]}, "json"
        ),
    ):
        assert response.status_code == 403
        assert response.json()["detail"] == "You don't have access to this project"
        assert response.json()["error"] == "You don't have access to this project"
    with tenant_context(tenant_b.project.id):
        assert not Webhook.objects.exists()


def test_another_projects_webhook_id_is_404_for_every_method(
    tenant_a: Tenant, tenant_b: Tenant
) -> None:
    hook_id = create(tenant_b).json()["webhook_id"]
    client = tenant_a.client()
    assert client.get(f"/api/v1/webhooks/{hook_id}/").status_code == 404
    assert client.put(f"/api/v1/webhooks/{hook_id}/", {"name": "x"}, "json").status_code == 404
    assert client.delete(f"/api/v1/webhooks/{hook_id}/").status_code == 404
    assert client.get(f"/api/v1/webhooks/{hook_id}/deliveries/").status_code == 404
    assert tenant_b.client().get(f"/api/v1/webhooks/{hook_id}/").json()["name"] == "crm sync"


def test_a_key_without_the_admin_scope_cannot_manage_webhooks(tenant_a: Tenant) -> None:
    from audit.services import CLI_ACTOR
    from tenants.services import api_key_create

    issued = api_key_create(
        project=tenant_a.project, name="reader", scopes=["read", "write"], actor=CLI_ACTOR
    )
    tenant_a.api_key = issued.plaintext
    assert create(tenant_a).status_code == 403
