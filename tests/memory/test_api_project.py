"""The project endpoints of `client.project` (spec §6.1)."""

from django.contrib.auth import get_user_model

from audit.models import AuditEvent
from audit.services import CLI_ACTOR
from tenants.models import Project
from tenants.services import membership_set
from tests.conftest import Tenant


def base(tenant: Tenant) -> str:
    return f"/api/v1/orgs/organizations/{tenant.organization.id}/projects/{tenant.project.id}/"


def test_get_returns_the_full_project(tenant_a: Tenant) -> None:
    payload = tenant_a.client().get(base(tenant_a) + "?fields=custom_instructions").json()
    assert payload["project_id"] == str(tenant_a.project.id)
    assert payload["name"] == tenant_a.project.name
    for key in ("custom_instructions", "custom_categories", "members", "multilingual", "decay"):
        assert key in payload


def test_update_sets_instructions_and_categories(tenant_a: Tenant) -> None:
    client = tenant_a.client()
    body = {
        "custom_instructions": "Only food facts",
        "custom_categories": [{"food": "What the user eats"}, "travel"],
        "multilingual": True,
        "org_id": "ignored",
        "project_id": "ignored",
    }
    response = client.patch(base(tenant_a), body, format="json")
    assert response.json() == {"message": "Project updated successfully"}
    project = Project.objects.get(pk=tenant_a.project.id)
    assert project.custom_instructions == "Only food facts"
    assert project.custom_categories == [{"food": "What the user eats"}, "travel"]
    assert client.get(base(tenant_a)).json()["multilingual"] is True
    assert AuditEvent.objects.filter(action="project.settings_updated").count() == 1


def test_update_validates(tenant_a: Tenant) -> None:
    client = tenant_a.client()
    assert client.patch(base(tenant_a), {}, format="json").status_code == 400
    bad = client.patch(base(tenant_a), {"custom_categories": [{"a": 1}]}, format="json")
    assert bad.status_code == 400 and "custom_categories" in bad.json()["detail"]


def test_members_lists_organization_staff(tenant_a: Tenant) -> None:
    user = get_user_model().objects.create_user(username="ops", email="ops@example.com")
    membership_set(organization=tenant_a.organization, user=user, role="admin", actor=CLI_ACTOR)
    members = tenant_a.client().get(base(tenant_a) + "members/").json()
    assert members == [{"username": "ops", "email": "ops@example.com", "role": "OWNER"}]


def test_other_project_path_is_404_and_changes_nothing(tenant_a: Tenant, tenant_b: Tenant) -> None:
    intruder = tenant_b.client()
    assert intruder.get(base(tenant_a)).status_code == 404
    assert intruder.get(base(tenant_a) + "members/").status_code == 404
    response = intruder.patch(base(tenant_a), {"custom_instructions": "x"}, format="json")
    assert response.status_code == 404
    assert Project.objects.get(pk=tenant_a.project.id).custom_instructions == ""
