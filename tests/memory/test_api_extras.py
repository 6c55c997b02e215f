"""Exports (§4.11), summary (§4.12) and feedback (§4.13)."""

from typing import Any

from audit.models import AuditEvent
from memory.models import Memory, MemoryExport
from tenants.context import tenant_context
from tests.conftest import Tenant
from tests.support.memory_api import add_memory

SCHEMA = {
    "type": "object",
    "properties": {
        "hobbies": {"type": "array", "items": {"type": "string"}},
        "family": {"type": "string"},
        "age": {"type": "integer"},
    },
}


def _facts(tenant: Tenant) -> list[str]:
    client = tenant.client()
    return [
        add_memory(client, "I enjoy hiking in the Alps"),
        add_memory(client, "My sister is called Ana"),
    ]


def test_export_fills_the_schema_and_is_stored_encrypted(tenant_a: Tenant) -> None:
    _facts(tenant_a)
    client = tenant_a.client()
    created = client.post(
        "/v1/exports/", {"schema": SCHEMA, "filters": {"user_id": "alice"}}, format="json"
    )
    assert created.status_code == 201 and created.json()["id"]
    result = client.post(
        "/v1/exports/get/", {"memory_export_id": created.json()["id"]}, format="json"
    ).json()
    assert result == {
        "hobbies": ["I enjoy hiking in the Alps"],
        "family": "My sister is called Ana",
        "age": None,
    }
    latest = client.post("/v1/exports/get/", {"filters": {"user_id": "alice"}}, format="json")
    assert latest.json() == result
    export = MemoryExport.objects.get()
    assert "hiking" not in (export.result_ciphertext or "") and "alice" not in str(export.filters)
    assert AuditEvent.objects.filter(action="memory_export.created").count() == 1


def test_export_schema_as_string_and_without_properties(tenant_a: Tenant) -> None:
    _facts(tenant_a)
    client = tenant_a.client()
    created = client.post(
        "/v1/exports/",
        {"schema": '{"type": "object"}', "filters": {"user_id": "alice"}},
        format="json",
    )
    result = client.post(
        "/v1/exports/get/", {"memory_export_id": created.json()["id"]}, format="json"
    ).json()
    assert sorted(m["memory"] for m in result["memories"]) == [
        "I enjoy hiking in the Alps",
        "My sister is called Ana",
    ]


def test_export_unknown_is_404_and_foreign_is_404(tenant_a: Tenant, tenant_b: Tenant) -> None:
    _facts(tenant_a)
    created = tenant_a.client().post("/v1/exports/", {"schema": SCHEMA}, format="json").json()
    for client in (tenant_b.client(), tenant_a.client()):
        missing = client.post("/v1/exports/get/", {"memory_export_id": "nope"}, format="json")
        assert missing.status_code == 404
    foreign = tenant_b.client().post(
        "/v1/exports/get/", {"memory_export_id": created["id"]}, format="json"
    )
    assert foreign.status_code == 404
    none_for_b = tenant_b.client().post("/v1/exports/get/", {"filters": {}}, format="json")
    assert none_for_b.status_code == 404


def test_summary_groups_memories_deterministically(tenant_a: Tenant) -> None:
    _facts(tenant_a)
    response = tenant_a.client().post(
        "/v1/summary/", {"filters": {"user_id": "alice"}}, format="json"
    )
    payload = response.json()
    assert isinstance(payload, list) and payload[0]["method"] == "extractive"
    assert payload[0]["memory_count"] == 2
    assert "hiking" in payload[0]["summary"] and "Ana" in payload[0]["summary"]
    assert tenant_a.client().post("/v1/summary/", {}, format="json").status_code == 400


def test_summary_of_other_project_sees_nothing(tenant_a: Tenant, tenant_b: Tenant) -> None:
    _facts(tenant_a)
    response = tenant_b.client().post(
        "/v1/summary/", {"filters": {"user_id": "alice"}}, format="json"
    )
    assert response.json()[0]["memory_count"] == 0


def test_feedback_sets_and_clears(tenant_a: Tenant) -> None:
    memory_id = _facts(tenant_a)[0]
    client = tenant_a.client()
    body = {"memory_id": memory_id, "feedback": "positive", "feedback_reason": "useful"}
    assert client.post("/v1/feedback/", body, format="json").json() == {
        "id": memory_id,
        "feedback": "POSITIVE",
        "feedback_reason": "useful",
    }
    assert Memory.objects.get(pk=memory_id).feedback == "POSITIVE"
    cleared = {"memory_id": memory_id, "feedback": None, "feedback_reason": None}
    assert client.post("/v1/feedback/", cleared, format="json").json()["feedback"] is None
    bad = client.post("/v1/feedback/", {"memory_id": memory_id, "feedback": "MEH"}, format="json")
    assert bad.status_code == 400 and "feedback" in bad.json()["detail"]
    events = AuditEvent.objects.filter(action__startswith="memory.feedback")
    assert events.count() == 2 and "useful" not in str([e.extra for e in events])


def test_feedback_on_other_projects_memory_is_404(tenant_a: Tenant, tenant_b: Tenant) -> None:
    memory_id = _facts(tenant_a)[0]
    body = {"memory_id": memory_id, "feedback": "NEGATIVE", "feedback_reason": None}
    assert tenant_b.client().post("/v1/feedback/", body, format="json").status_code == 404
    with tenant_context(tenant_a.project.id):
        assert Memory.objects.get(pk=memory_id).feedback is None


def test_summary_uses_the_llm_when_configured_and_falls_back(
    tenant_a: Tenant, settings: Any
) -> None:
    from tests.support.fake_openai import FakeOpenAIServer, FakeReply

    _facts(tenant_a)
    body = {"filters": {"user_id": "alice"}}
    with FakeOpenAIServer() as server:
        settings.OPENAI_BASE_URL = server.base_url
        server.script_chat(["Alice hikes in the Alps and has a sister, Ana."])
        summary = tenant_a.client().post("/v1/summary/", body, format="json").json()[0]
        assert summary["method"] == "llm"
        assert summary["summary"] == "Alice hikes in the Alps and has a sister, Ana."
        prompt = server.requests[0].body["messages"][1]["content"]
        assert "I enjoy hiking in the Alps" in prompt
        server.script_chat([FakeReply(status=500), FakeReply(status=500)])
        fallback = tenant_a.client().post("/v1/summary/", body, format="json").json()[0]
        assert fallback["method"] == "extractive" and "hiking" in fallback["summary"]


def test_summary_stays_extractive_once_the_daily_llm_budget_is_used(
    tenant_a: Tenant, settings: Any
) -> None:
    from config.quotas import quota_charge_tokens
    from tenants.models import Project
    from tests.support.fake_openai import FakeOpenAIServer

    _facts(tenant_a)
    project = Project.objects.get(pk=tenant_a.project.id)
    project.options = {"limits": {"llm_tokens_per_day": 5}}
    project.save(update_fields=["options"])
    quota_charge_tokens(project, "llm", 5)
    with FakeOpenAIServer() as server:
        settings.OPENAI_BASE_URL = server.base_url
        body = {"filters": {"user_id": "alice"}}
        summary = tenant_a.client().post("/v1/summary/", body, format="json").json()[0]
        assert summary["method"] == "extractive"
        assert server.requests == []
