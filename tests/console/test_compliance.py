"""Audit log, GDPR requests, retention and legal holds, API keys and project settings
through the console (the Celery task body runs in-process here; the e2e tests use a real
worker)."""

import json

import pytest
from django.core.management import call_command
from django.urls import reverse

from audit.gdpr import gdpr_request_process
from audit.models import AuditEvent, DataSubjectRequest, LegalHold
from tenants.context import tenant_context
from tenants.models import ApiKey, Membership, Organization, Project
from tests.conftest import Tenant
from tests.console.builders import Staff, make_memory
from tests.console.conftest import signed_in

pytestmark = pytest.mark.django_db


def project_events(org: Tenant, action: str) -> list[AuditEvent]:
    with tenant_context(org.project.id, org.organization.id):
        return list(AuditEvent.objects.filter(chain_id=org.project.id, action=action))


def latest_request(org: Tenant) -> DataSubjectRequest:
    with tenant_context(org.project.id, org.organization.id):
        return DataSubjectRequest.objects.filter(project=org.project).latest("received_at")


def test_export_then_erasure_with_download_and_proof(org_a: Tenant, owner: Staff) -> None:
    make_memory(org_a.project, "User lives in Lisbon")
    client = signed_in(owner)
    gdpr = reverse("console:gdpr", args=[org_a.project.id])
    client.post(gdpr, {"kind": "export", "subject_type": "user", "subject_id": "alice"})
    export = latest_request(org_a)
    assert gdpr_request_process(project_id=org_a.project.id, request_id=export.id) == "done"
    page = client.get(reverse("console:gdpr-request", args=[org_a.project.id, export.id]))
    assert b"Download export" in page.content
    download = client.get(reverse("console:gdpr-download", args=[org_a.project.id, export.id]))
    assert "Lisbon" in json.dumps(json.loads(download.content))
    assert project_events(org_a, "gdpr.export_downloaded")

    missing_confirm = client.post(
        gdpr, {"kind": "erasure", "subject_type": "user", "subject_id": "alice"}
    )
    assert b"Tick the box to confirm" in missing_confirm.content
    client.post(
        gdpr, {"kind": "erasure", "subject_type": "user", "subject_id": "alice", "confirm": "on"}
    )
    erasure = latest_request(org_a)
    assert gdpr_request_process(project_id=org_a.project.id, request_id=erasure.id) == "done"
    detail = reverse("console:gdpr-request", args=[org_a.project.id, erasure.id])
    page = client.get(detail)
    assert b"Proof of erasure" in page.content and b"no remaining rows" in page.content
    partial = client.get(detail + "?partial=detail", HTTP_HX_REQUEST="true")
    assert b"<html" not in partial.content and b"Proof of erasure" in partial.content


def test_overdue_requests_are_flagged(org_a: Tenant, owner: Staff) -> None:
    with tenant_context(org_a.project.id, org_a.organization.id):
        DataSubjectRequest.objects.create(
            project=org_a.project,
            kind="export",
            subject_type="user",
            subject_id="late",
            subject_hash="h" * 64,
            requested_by="cli:x",
            received_at="2020-01-01T00:00Z",
            due_at="2020-01-31T00:00Z",
        )
    response = signed_in(owner).get(reverse("console:gdpr", args=[org_a.project.id]))
    assert b"1 open request overdue" in response.content


def test_verify_chain_button_and_jsonl_export(org_a: Tenant, owner: Staff) -> None:
    client = signed_in(owner)
    verify = reverse("console:audit-verify", args=[org_a.project.id])
    partial = client.post(verify, HTTP_HX_REQUEST="true")
    assert b"Chain verified" in partial.content and b"<html" not in partial.content
    export = client.get(reverse("console:audit-export", args=[org_a.project.id]))
    lines = [json.loads(line) for line in export.getvalue().splitlines()]
    assert [line["seq"] for line in lines] == list(range(1, len(lines) + 1))
    assert {"project.created", "api_key.created", "audit.chain_verified"} <= {
        line["action"] for line in lines
    }
    assert project_events(org_a, "audit.exported")


def test_audit_filters(org_a: Tenant, owner: Staff) -> None:
    url = reverse("console:audit", args=[org_a.project.id])
    response = signed_in(owner).get(url + "?action=api_key.")
    actions = {row["event"].action for row in response.context["rows"]}
    assert actions == {"api_key.created"}


def test_retention_policy_and_legal_holds(org_a: Tenant, owner: Staff) -> None:
    client = signed_in(owner)
    url = reverse("console:retention", args=[org_a.project.id])
    form = {
        "action": "policy",
        "long_term": "180d",
        "episodic": "30d",
        "working_state": "30d",
        "short_term": "12h",
        "ingestion_payloads": "7d",
        "exports": "2d",
        "expired_grace": "0s",
        "categories": "health = 30d",
        "agents": "",
    }
    assert client.post(url, form).status_code == 302
    assert b"180d" in client.get(url).content
    bad = client.post(url, {**form, "long_term": "forever"})
    assert b"not a duration" in bad.content
    client.post(
        url, {"action": "hold", "scope": "user", "subject_id": "alice", "reason": "litigation"}
    )
    with tenant_context(org_a.project.id, org_a.organization.id):
        hold = LegalHold.objects.get(project=org_a.project)
    duplicate = client.post(url, {"action": "hold", "scope": "user", "subject_id": "alice"})
    assert b"already covers" in duplicate.content
    client.post(reverse("console:hold-release", args=[org_a.project.id, hold.id]))
    with tenant_context(org_a.project.id, org_a.organization.id):
        hold.refresh_from_db()
    assert hold.released_at is not None


def test_key_secret_is_shown_once_and_a_repost_creates_nothing(org_a: Tenant, owner: Staff) -> None:
    client = signed_in(owner)
    url = reverse("console:keys", args=[org_a.project.id])
    form = {"name": "ci", "scopes": ["read", "write"], "nonce": "abc", "expires_in_days": "30"}
    first = client.post(url, form)
    plaintext = first.context["issued"].plaintext
    assert plaintext.encode() in first.content
    assert first["Cache-Control"].startswith("no-store")
    again = client.post(url, form)
    assert plaintext.encode() not in again.content
    assert plaintext.encode() not in client.get(url).content
    with tenant_context(org_a.project.id, org_a.organization.id):
        key = ApiKey.objects.get(project=org_a.project, name="ci")
    assert key.scopes == ["read", "write"] and key.expires_at is not None
    assert plaintext not in key.secret_hash


def test_project_settings_and_organization_rename(org_a: Tenant, owner: Staff) -> None:
    client = signed_in(owner)
    url = reverse("console:project-settings", args=[org_a.project.id])
    client.post(
        url,
        {
            "name": "Support bot",
            "custom_instructions": "Ignore small talk.",
            "agent_custom_instructions": "",
            "custom_categories": "travel: trips",
        },
    )
    project = Project.objects.get(pk=org_a.project.id)
    assert project.name == "Support bot"
    assert project.custom_categories == [{"travel": "trips"}]
    client.post(
        reverse("console:org", args=[org_a.organization.id]),
        {"action": "rename", "org-name": "Acme"},
    )
    assert Organization.objects.get(pk=org_a.organization.id).name == "Acme"
    response = client.post(
        reverse("console:org", args=[org_a.organization.id]),
        {"action": "create", "project-name": "Second"},
    )
    assert response.status_code == 302
    assert Project.objects.filter(organization=org_a.organization, name="Second").exists()


def test_engram_staff_command(org_a: Tenant) -> None:
    org_id = str(org_a.organization.id)
    call_command(
        "engram_staff",
        "create",
        "--email",
        "Ops@Example.com",
        "--password",
        "a long enough passphrase 1",
        "--org-id",
        org_id,
        "--role",
        "admin",
    )
    membership = Membership.objects.get(user__username="ops@example.com")
    assert membership.role == "admin"
    call_command(
        "engram_staff",
        "set-role",
        "--email",
        "ops@example.com",
        "--org-id",
        org_id,
        "--role",
        "viewer",
    )
    membership.refresh_from_db()
    assert membership.role == "viewer"
