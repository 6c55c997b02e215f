"""Who sees what: another organization's URLs are 404 (like missing ones), roles decide
what can be done, and the console's errors are HTML pages."""

import uuid
from collections.abc import Callable

import pytest
from django.test import Client
from django.urls import reverse

from audit.models import DataSubjectRequest
from audit.retention import legal_hold_place
from audit.services import CLI_ACTOR
from memory.models import IngestionJob
from tenants.context import tenant_context
from tenants.models import ApiKey, Membership, Role
from tests.conftest import Tenant
from tests.console.builders import Staff, make_failed_job, make_memory
from tests.console.conftest import signed_in

pytestmark = pytest.mark.django_db


def _foreign_urls(org: Tenant) -> list[tuple[str, str]]:
    """(method, url) for every kind of console page about one organization's things."""
    project = org.project
    memory = make_memory(project, "User likes sailing")
    job = make_failed_job(project)
    with tenant_context(project.id, project.organization_id):
        key_id = ApiKey.objects.filter(project=project).values_list("key_id", flat=True)[0]
        dsr = DataSubjectRequest.objects.create(
            project=project,
            kind="export",
            subject_type="user",
            subject_id="alice",
            subject_hash="x" * 64,
            requested_by="cli:test",
            received_at="2026-01-01T00:00Z",
            due_at="2026-01-31T00:00Z",
        )
    hold = legal_hold_place(project=project, scope="project", actor=CLI_ACTOR)
    p, o = project.id, org.organization.id
    gets = [
        reverse(name, args=[p])
        for name in (
            "console:overview",
            "console:memories",
            "console:jobs",
            "console:keys",
            "console:audit",
            "console:audit-verify",
            "console:audit-export",
            "console:retention",
            "console:gdpr",
            "console:project-settings",
            "console:project-limits",
        )
    ]
    gets += [
        reverse("console:memory", args=[p, memory.id]),
        reverse("console:job", args=[p, job.id]),
        reverse("console:key-revoke", args=[p, key_id]),
        reverse("console:gdpr-request", args=[p, dsr.id]),
        reverse("console:gdpr-download", args=[p, dsr.id]),
        reverse("console:org", args=[o]),
        reverse("console:org-members", args=[o]),
        reverse("console:org-audit", args=[o]),
    ]
    posts = [
        reverse("console:keys", args=[p]),
        reverse("console:key-revoke", args=[p, key_id]),
        reverse("console:job-retry", args=[p, job.id]),
        reverse("console:audit-verify", args=[p]),
        reverse("console:gdpr", args=[p]),
        reverse("console:retention", args=[p]),
        reverse("console:hold-release", args=[p, hold.id]),
        reverse("console:project-settings", args=[p]),
        reverse("console:org", args=[o]),
        reverse("console:org-members", args=[o]),
        reverse("console:org-audit-verify", args=[o]),
    ]
    return [("get", url) for url in gets] + [("post", url) for url in posts]


def test_staff_of_another_organization_get_404_for_every_url(org_a: Tenant, charlie: Staff) -> None:
    client = signed_in(charlie)
    for method, url in _foreign_urls(org_a):
        response = getattr(client, method)(url, {"action": "create", "name": "x"})
        assert response.status_code == 404, (method, url)
        assert response["Content-Type"].startswith("text/html"), url
        assert b"Page not found" in response.content, url
        assert org_a.project.name.encode() not in response.content, url
    with tenant_context(org_a.project.id, org_a.organization.id):
        assert ApiKey.objects.filter(project=org_a.project).count() == 1
        assert IngestionJob.objects.filter(status=IngestionJob.Status.FAILED).count() == 1


def test_missing_ids_look_exactly_like_foreign_ones(org_a: Tenant, owner: Staff) -> None:
    client = signed_in(owner)
    p = org_a.project.id
    for url in [
        reverse("console:overview", args=[uuid.uuid4()]),
        reverse("console:org", args=[uuid.uuid4()]),
        reverse("console:memory", args=[p, uuid.uuid4()]),
        reverse("console:memory", args=[p, "not-a-uuid"]),
        reverse("console:job", args=[p, uuid.uuid4()]),
        reverse("console:gdpr-request", args=[p, uuid.uuid4()]),
        reverse("console:key-revoke", args=[p, "nope"]),
        "/console/p/not-a-uuid/",
        "/console/no-such-page/",
    ]:
        response = client.get(url)
        assert response.status_code == 404, url
        assert b"Page not found" in response.content, url


def test_the_other_organization_is_absent_from_navigation(
    org_a: Tenant, org_b: Tenant, owner: Staff
) -> None:
    response = signed_in(owner).get(reverse("console:home"))
    assert org_a.organization.name.encode() in response.content
    assert org_b.organization.name.encode() not in response.content


def test_api_404_stays_json_while_console_404_is_html(client: Client) -> None:
    api = client.get("/v1/no-such-endpoint/")
    assert api.status_code == 404 and api["Content-Type"] == "application/json"
    page = client.get("/console/nowhere/")
    assert page.status_code == 404 and page["Content-Type"].startswith("text/html")


def test_signed_out_visitors_are_sent_to_sign_in(org_a: Tenant, client: Client) -> None:
    response = client.get(reverse("console:overview", args=[org_a.project.id]))
    assert response.status_code == 302
    assert response["Location"].startswith("/console/login/?next=")
    assert client.get("/").headers["Location"] == "/console/"


# --- roles -----------------------------------------------------------------------------------


def _key_count(org: Tenant) -> int:
    with tenant_context(org.project.id, org.organization.id):
        return ApiKey.objects.filter(project=org.project).count()


def _dsr_count(org: Tenant) -> int:
    with tenant_context(org.project.id, org.organization.id):
        return DataSubjectRequest.objects.filter(project=org.project).count()


KEY_FORM = {"name": "ci", "scopes": ["read"], "nonce": "n1"}
ERASE_FORM = {"kind": "erasure", "subject_type": "user", "subject_id": "alice", "confirm": "on"}
EXPORT_FORM = {"kind": "export", "subject_type": "user", "subject_id": "alice"}


@pytest.mark.parametrize(
    ("role", "keys", "erase", "export"),
    [
        (Role.OWNER, True, True, True),
        (Role.ADMIN, True, True, True),
        (Role.COMPLIANCE, False, True, True),
        (Role.VIEWER, False, False, False),
    ],
)
def test_roles_decide_keys_exports_and_erasure(
    role: str, keys: bool, erase: bool, export: bool,
    org_a: Tenant, staff_of: Callable[[str], Staff],
) -> None:  # fmt: skip
    client = signed_in(staff_of(role))
    p = org_a.project.id
    response = client.post(reverse("console:keys", args=[p]), KEY_FORM)
    assert (response.status_code, _key_count(org_a)) == ((200, 2) if keys else (403, 1))
    before = _dsr_count(org_a)
    response = client.post(reverse("console:gdpr", args=[p]), ERASE_FORM)
    assert response.status_code == (302 if erase else 403)
    response = client.post(reverse("console:gdpr", args=[p]), EXPORT_FORM)
    assert response.status_code == (302 if export else 403)
    assert _dsr_count(org_a) == before + int(erase) + int(export)
    page = client.get(reverse("console:keys", args=[p])).content
    assert (b"Create key" in page) is keys
    gdpr_page = client.get(reverse("console:gdpr", args=[p])).content
    assert (b"Submit request" in gdpr_page) is (erase or export)


def test_403_page_explains_the_role(org_a: Tenant, staff_of: Callable[[str], Staff]) -> None:
    client = signed_in(staff_of(Role.COMPLIANCE))
    key_id = org_a.api_key.split("_")[1]
    response = client.get(reverse("console:key-revoke", args=[org_a.project.id, key_id]))
    assert response.status_code == 403
    assert b"Compliance officer" in response.content


def test_viewer_cannot_retry_jobs_or_change_retention(
    org_a: Tenant, staff_of: Callable[[str], Staff]
) -> None:
    client = signed_in(staff_of(Role.VIEWER))
    job = make_failed_job(org_a.project)
    p = org_a.project.id
    assert client.post(reverse("console:job-retry", args=[p, job.id])).status_code == 403
    response = client.post(reverse("console:retention", args=[p]), {"action": "policy"})
    assert response.status_code == 403
    with tenant_context(p, org_a.organization.id):
        assert IngestionJob.objects.get(pk=job.pk).status == IngestionJob.Status.FAILED


def test_admin_cannot_grant_ownership_and_the_last_owner_stays(
    org_a: Tenant, owner: Staff, staff_of: Callable[[str], Staff]
) -> None:
    admin = staff_of(Role.ADMIN)
    url = reverse("console:org-members", args=[org_a.organization.id])
    form = {
        "action": "add",
        "email": "new@example.com",
        "role": "owner",
        "password": "a much longer passphrase 9",
    }
    response = signed_in(admin).post(url, form)
    assert response.status_code == 200
    assert b"only an owner can grant" in response.content
    mine = Membership.objects.get(user=owner.user, organization=org_a.organization)
    signed_in(owner).post(url, {"action": "role", "membership": mine.pk, "role": "viewer"})
    mine.refresh_from_db()
    assert mine.role == Role.OWNER


def test_owner_adds_a_member_who_can_then_sign_in(org_a: Tenant, owner: Staff) -> None:
    url = reverse("console:org-members", args=[org_a.organization.id])
    form = {
        "action": "add",
        "email": "Dana@Example.com",
        "role": "compliance",
        "password": "a much longer passphrase 9",
    }
    assert signed_in(owner).post(url, form).status_code == 302
    client = Client()
    response = client.post(
        reverse("console:login"), {"username": "dana@example.com", "password": form["password"]}
    )
    assert response.status_code == 302
    assert client.get(reverse("console:gdpr", args=[org_a.project.id])).status_code == 200
