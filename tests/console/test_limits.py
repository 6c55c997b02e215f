"""The project's limits are visible in the console and editable by those who manage it."""

from collections.abc import Callable

import pytest
from django.urls import reverse

from audit.models import AuditEvent
from config.quotas import project_limits
from tenants.context import tenant_context
from tenants.models import Project, Role
from tests.conftest import Tenant
from tests.console.builders import Staff
from tests.console.conftest import signed_in

pytestmark = pytest.mark.django_db


def test_owner_sees_limits_with_usage_and_sets_an_override(org_a: Tenant, owner: Staff) -> None:
    url = reverse("console:project-limits", args=[org_a.project.id])
    page = signed_in(owner).get(url)
    assert page.status_code == 200
    assert b"memories" in page.content and b"llm_tokens_per_day" in page.content
    saved = signed_in(owner).post(url, {"memories": "500", "llm_tokens_per_day": "0"})
    assert saved.status_code == 302
    project = Project.objects.get(pk=org_a.project.id)
    assert project.options["limits"] == {"memories": 500, "llm_tokens_per_day": 0}
    assert project_limits(project).memories == 500
    with tenant_context(project.id, project.organization_id):
        event = AuditEvent.objects.get(action="project.limits_updated")
    assert event.extra["limits"]["memories"] == 500


def test_negative_limits_are_refused_with_a_message(org_a: Tenant, owner: Staff) -> None:
    url = reverse("console:project-limits", args=[org_a.project.id])
    page = signed_in(owner).post(url, {"memories": "-1"})
    assert page.status_code == 200
    assert b"greater than or equal to 0" in page.content
    assert "limits" not in (Project.objects.get(pk=org_a.project.id).options or {})


def test_a_viewer_can_read_but_not_change_limits(
    org_a: Tenant, staff_of: Callable[[str], Staff]
) -> None:
    viewer = signed_in(staff_of(Role.VIEWER))
    url = reverse("console:project-limits", args=[org_a.project.id])
    assert viewer.get(url).status_code == 200
    assert viewer.post(url, {"memories": "1"}).status_code == 403
    assert "limits" not in (Project.objects.get(pk=org_a.project.id).options or {})


def test_another_organization_gets_404(org_a: Tenant, charlie: Staff) -> None:
    url = reverse("console:project-limits", args=[org_a.project.id])
    client = signed_in(charlie)
    assert client.get(url).status_code == 404
    assert client.post(url, {"memories": "1"}).status_code == 404
    assert "limits" not in (Project.objects.get(pk=org_a.project.id).options or {})
