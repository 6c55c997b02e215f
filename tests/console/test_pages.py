"""Every console page renders for every role, shows only what the role may do, and speaks
HTML (not the API's JSON) when something is missing."""

from collections.abc import Callable

import pytest
from django.urls import reverse

from tenants.models import Role
from tests.conftest import Tenant
from tests.console.builders import Staff, make_failed_job, make_memory, update_memory
from tests.console.conftest import signed_in

pytestmark = pytest.mark.django_db


def project_pages(tenant: Tenant) -> list[str]:
    p = tenant.project.id
    return [
        reverse("console:overview", args=[p]),
        reverse("console:memories", args=[p]),
        reverse("console:memories", args=[p]) + "?view=agents",
        reverse("console:memories", args=[p]) + "?user_id=alice",
        reverse("console:memories", args=[p]) + "?all=1",
        reverse("console:jobs", args=[p]),
        reverse("console:keys", args=[p]),
        reverse("console:audit", args=[p]),
        reverse("console:audit-verify", args=[p]),
        reverse("console:retention", args=[p]),
        reverse("console:gdpr", args=[p]),
        reverse("console:project-settings", args=[p]),
        reverse("console:project-limits", args=[p]),
    ]


def org_pages(tenant: Tenant) -> list[str]:
    o = tenant.organization.id
    return [
        reverse("console:org", args=[o]),
        reverse("console:org-members", args=[o]),
        reverse("console:org-audit", args=[o]),
    ]


@pytest.mark.parametrize("role", Role.values)
def test_every_page_renders_for_every_role(
    role: str, org_a: Tenant, staff_of: Callable[[str], Staff]
) -> None:
    memory = make_memory(org_a.project, "User prefers green tea", categories=["food"])
    update_memory(org_a.project, memory, "User prefers jasmine tea")
    job = make_failed_job(org_a.project)
    client = signed_in(staff_of(role))
    pages = [
        reverse("console:home"),
        reverse("console:password-change"),
        reverse("console:two-factor"),
        *project_pages(org_a),
        *org_pages(org_a),
        reverse("console:memory", args=[org_a.project.id, memory.id]),
        reverse("console:job", args=[org_a.project.id, job.id]),
    ]
    for url in pages:
        response = client.get(url)
        assert response.status_code == 200, url
        assert response["Content-Type"].startswith("text/html"), url
        assert b'class="skip-link"' in response.content, url
