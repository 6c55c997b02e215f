"""GDPR export (Art. 15/20): one machine-readable JSON file with everything held about a
subject, the same as what the API returns, encrypted at rest, behind an expiring link."""

import json
from typing import Any

import pytest
from django.test import override_settings
from rest_framework.test import APIClient

from audit.gdpr import gdpr_request_process
from audit.gdpr.export import EXPORT_SCHEMA
from audit.models import AuditEvent
from memory.selectors.tiers import episodes_page
from tenants.context import tenant_context
from tests.compliance.builders import (
    add_conversation,
    add_memory,
    api_ok,
    list_memories,
    make_entity_graph,
    make_working_state,
    unique,
    update_memory,
)
from tests.compliance.worker import celery_worker_process, wait_for
from tests.conftest import Tenant, make_tenant

__all__ = ["celery_worker_process"]
COMPARED = (
    "id",
    "memory",
    "user_id",
    "agent_id",
    "run_id",
    "metadata",
    "categories",
    "created_at",
    "expiration_date",
)


def _request(tenant: Tenant, subject_id: str, subject_type: str = "user") -> dict[str, Any]:
    body = {"kind": "export", "subject_type": subject_type, "subject_id": subject_id}
    return dict(api_ok(tenant.client().post("/v1/gdpr/requests/", body, format="json"), 202))


def _download(tenant: Tenant, request_id: str) -> dict[str, Any]:
    shown = api_ok(tenant.client().get(f"/v1/gdpr/requests/{request_id}/"))
    assert shown["status"] == "done" and shown["export"]["download_url"]
    response = APIClient().get(shown["export"]["download_url"])  # the link alone suffices
    assert response.status_code == 200 and response["Content-Type"].startswith("application/json")
    return dict(json.loads(response.content))


@pytest.fixture
def subject(committed_db: None) -> tuple[Tenant, str]:
    tenant = make_tenant(unique("export"))
    user_id = unique("bob")
    first = add_memory(tenant, "I prefer window seats", user_id=user_id, metadata={"src": "chat"})
    add_memory(tenant, "I am allergic to peanuts", user_id=user_id, agent_id="travel-bot")
    update_memory(tenant, first, text="I prefer aisle seats")
    add_conversation(tenant, "Book me a flight to Oslo", user_id=user_id, run_id="trip-1")
    make_working_state(
        tenant.project,
        run_id="trip-1",
        user_id=user_id,
        state={"goals": ["book flight"], "focus": "Oslo"},
    )
    make_entity_graph(tenant.project, user_id=user_id, memory_id=first, names=("me", "aisle"))
    add_memory(tenant, "Someone else's fact", user_id=f"{user_id}2")
    return tenant, user_id


def test_export_holds_everything_the_api_returns_for_the_user(subject: Any) -> None:
    tenant, user_id = subject
    request = _request(tenant, user_id)
    assert gdpr_request_process(project_id=tenant.project.id, request_id=request["id"]) == "done"
    document = _download(tenant, request["id"])

    assert document["schema"] == EXPORT_SCHEMA
    assert document["subject"] == {"type": "user", "id": user_id}
    exported = {entry["id"]: entry for entry in document["memories"]}
    listed = list_memories(tenant, user_id=user_id)
    assert {record["id"] for record in listed} == set(exported)
    for record in listed:
        entry = exported[record["id"]]
        assert {k: entry[k] for k in COMPARED} == {k: record[k] for k in COMPARED}
        history = api_ok(tenant.client().get(f"/v1/memories/{record['id']}/history/"))
        assert entry["history"] == history
    with tenant_context(tenant.project.id, tenant.organization.id):
        episodes = episodes_page(
            project=tenant.project, entity_ids={"user_id": user_id}, page=1, page_size=50
        ).results
    assert document["episodes"] == episodes and len(episodes) == 1
    assert document["working_state"][0]["state"] == {"goals": ["book flight"], "focus": "Oslo"}
    assert {entity["name"] for entity in document["entities"]} == {"me", "aisle"}
    assert document["relations"][0]["source"] == "me"
    assert document["ingestion_events"][0]["status"] == "PENDING"
    assert document["retention_policy"]["long_term"] == "365d"
    assert f"{user_id}2" not in json.dumps(document)


def test_export_request_lifecycle_is_audited_and_due_in_30_days(subject: Any) -> None:
    tenant, user_id = subject
    request = _request(tenant, user_id)
    assert request["status"] == "received" and request["overdue"] is False
    gdpr_request_process(project_id=tenant.project.id, request_id=request["id"])
    shown = api_ok(tenant.client().get(f"/v1/gdpr/requests/{request['id']}/"))
    assert shown["finished_at"] and shown["counts"]["memories"] == 2
    assert shown["requested_by"].startswith("api_key:")
    with tenant_context(tenant.project.id, tenant.organization.id):
        actions = list(
            AuditEvent.objects.filter(target_id=request["id"]).values_list("action", "extra")
        )
    assert [action for action, _ in actions] == ["gdpr.requested", "gdpr.export_completed"]
    assert user_id not in json.dumps([extra for _, extra in actions])
    listed = api_ok(tenant.client().get("/v1/gdpr/requests/"))["results"]
    assert [item["id"] for item in listed] == [request["id"]]


def test_download_link_is_bound_to_its_request_and_expires(subject: Any) -> None:
    tenant, user_id = subject
    first, second = _request(tenant, user_id), _request(tenant, user_id, "agent")
    for item in (first, second):
        gdpr_request_process(project_id=tenant.project.id, request_id=item["id"])
    url = api_ok(tenant.client().get(f"/v1/gdpr/requests/{first['id']}/"))["export"]["download_url"]
    token = url.split("token=", 1)[1]
    anonymous = APIClient()
    assert (
        anonymous.get(f"/v1/gdpr/requests/{second['id']}/download/?token={token}").status_code
        == 404
    )
    assert (
        anonymous.get(f"/v1/gdpr/requests/{first['id']}/download/?token=x{token}").status_code
        == 404
    )
    with override_settings(ENGRAM_GDPR_LINK_SECONDS=-1):
        assert anonymous.get(url).status_code == 404
    assert anonymous.get(url).status_code == 200


def test_export_file_is_encrypted_at_rest(subject: Any) -> None:
    from audit.models import DataSubjectRequest

    tenant, user_id = subject
    request = _request(tenant, user_id)
    gdpr_request_process(project_id=tenant.project.id, request_id=request["id"])
    with tenant_context(tenant.project.id, tenant.organization.id):
        stored = DataSubjectRequest.objects.get(pk=request["id"]).export_ciphertext
    assert stored and stored.startswith("e1:") and "aisle" not in stored


def test_requests_are_invisible_to_other_tenants_and_need_admin(subject: Any) -> None:
    tenant, user_id = subject
    other = make_tenant(unique("other"))
    request = _request(tenant, user_id)
    assert other.client().get(f"/v1/gdpr/requests/{request['id']}/").status_code == 404
    assert api_ok(other.client().get("/v1/gdpr/requests/"))["results"] == []
    from audit.services import CLI_ACTOR
    from tenants.services import api_key_create

    writer = api_key_create(
        project=tenant.project, name="w", actor=CLI_ACTOR, scopes=["read", "write", "delete"]
    )
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {writer.plaintext}")
    assert client.get("/v1/gdpr/requests/").status_code == 403
    assert (
        client.post(
            "/v1/gdpr/requests/",
            {"kind": "erasure", "subject_type": "user", "subject_id": user_id},
            format="json",
        ).status_code
        == 403
    )


def test_bad_requests_name_the_field(subject: Any) -> None:
    tenant, _ = subject
    client = tenant.client()
    bad = client.post(
        "/v1/gdpr/requests/",
        {"kind": "export", "subject_type": "planet", "subject_id": "x"},
        format="json",
    )
    assert bad.status_code == 400 and "subject_type" in bad.json()["detail"]
    empty = client.post(
        "/v1/gdpr/requests/",
        {"kind": "erasure", "subject_type": "user", "subject_id": ""},
        format="json",
    )
    assert empty.status_code == 400 and "subject_id" in empty.json()["detail"]


@pytest.mark.live
def test_export_runs_end_to_end_on_a_real_celery_worker(
    subject: Any, celery_worker_process: Any
) -> None:
    tenant, user_id = subject
    request = _request(tenant, user_id)

    def finished() -> bool:
        status = api_ok(tenant.client().get(f"/v1/gdpr/requests/{request['id']}/"))["status"]
        return status in ("done", "failed")

    wait_for(finished, timeout=120)
    document = _download(tenant, request["id"])
    assert len(document["memories"]) == 2 and document["subject"]["id"] == user_id
