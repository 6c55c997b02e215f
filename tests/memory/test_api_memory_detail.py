"""GET/PUT/DELETE /v1/memories/{id}/ and /history/ (spec §4.5-4.7, §4.9, §9)."""

from datetime import UTC, datetime, timedelta

from audit.models import AuditEvent
from memory.models import Memory, MemoryState
from tests.conftest import Tenant
from tests.support.memory_api import add_memory, listed

MISSING = "00000000-0000-0000-0000-000000000000"


def test_get_returns_the_mem0_record(tenant_a: Tenant) -> None:
    memory_id = add_memory(tenant_a.client(), "I like tea", run_id="r1", metadata={"k": 1})
    record = tenant_a.client().get(f"/v1/memories/{memory_id}/").json()
    assert record["id"] == memory_id and record["memory"] == "I like tea"
    assert record["user_id"] == "alice" and record["run_id"] == record["session_id"] == "r1"
    assert record["metadata"] == {"k": 1} and record["immutable"] is False
    for key in ("agent_id", "app_id", "categories", "expiration_date", "created_at", "updated_at"):
        assert key in record


def test_missing_and_malformed_ids_are_404(tenant_a: Tenant) -> None:
    for memory_id in (MISSING, "not-a-uuid"):
        response = tenant_a.client().get(f"/v1/memories/{memory_id}/")
        assert response.status_code == 404 and response.json()["detail"] == "Memory not found!"


def test_both_slash_forms_are_served(tenant_a: Tenant) -> None:
    memory_id = add_memory(tenant_a.client(), "slashes")
    assert tenant_a.client().get(f"/v1/memories/{memory_id}").status_code == 200


def test_update_changes_text_merges_metadata_and_records_history(tenant_a: Tenant) -> None:
    client = tenant_a.client()
    memory_id = add_memory(client, "Alice is vegetarian", metadata={"a": 1})
    body = {"text": "Alice is vegan", "metadata": {"b": 2}}
    updated = client.put(f"/v1/memories/{memory_id}/", body, format="json").json()
    assert updated["memory"] == "Alice is vegan" and updated["metadata"] == {"a": 1, "b": 2}
    assert updated["message"] == "Memory updated successfully!"
    history = client.get(f"/v1/memories/{memory_id}/history/").json()
    assert [(h["event"], h["old_memory"], h["new_memory"]) for h in history] == [
        ("ADD", None, "Alice is vegetarian"),
        ("UPDATE", "Alice is vegetarian", "Alice is vegan"),
    ]
    assert history[1]["actor_id"].startswith("eng_") and history[0]["memory_id"] == memory_id


def test_update_clears_expiration_with_null(tenant_a: Tenant) -> None:
    client = tenant_a.client()
    memory_id = add_memory(client, "Temporary", expiration_date="2999-01-01")
    body = {"expiration_date": None}
    record = client.put(f"/v1/memories/{memory_id}/", body, format="json").json()
    assert record["expiration_date"] is None


def test_empty_update_is_a_400(tenant_a: Tenant) -> None:
    memory_id = add_memory(tenant_a.client(), "x fact")
    response = tenant_a.client().put(f"/v1/memories/{memory_id}/", {}, format="json")
    assert response.status_code == 400 and "Nothing to update" in response.json()["detail"]


def test_immutable_memory_refuses_update(tenant_a: Tenant) -> None:
    memory_id = add_memory(tenant_a.client(), "Set in stone", immutable=True)
    response = tenant_a.client().put(f"/v1/memories/{memory_id}/", {"text": "x"}, format="json")
    assert response.status_code == 409 and "immutable" in response.json()["detail"]


def test_delete_then_get_is_404_but_history_remains(tenant_a: Tenant) -> None:
    client = tenant_a.client()
    memory_id = add_memory(client, "Short-lived")
    response = client.delete(f"/v1/memories/{memory_id}/")
    assert response.json() == {"message": "Memory deleted successfully!"}
    assert client.get(f"/v1/memories/{memory_id}/").status_code == 404
    assert client.delete(f"/v1/memories/{memory_id}/").status_code == 404
    history = client.get(f"/v1/memories/{memory_id}/history/").json()
    assert [h["event"] for h in history] == ["ADD", "DELETE"]
    assert history[1]["old_memory"] == "Short-lived" and history[1]["is_deleted"] is True
    assert AuditEvent.objects.filter(action="memory.deleted").count() == 1


def test_delete_linked_removes_the_superseded_chain(tenant_a: Tenant) -> None:
    client = tenant_a.client()
    old_id = add_memory(client, "Lives in Paris")
    new_id = add_memory(client, "Lives in Rome")
    Memory.objects.filter(pk=old_id).update(state=MemoryState.SUPERSEDED, replaced_by_id=new_id)
    response = client.delete(f"/v1/memories/{new_id}/?delete_linked=true").json()
    assert response["cascade_count"] == 2
    assert set(Memory.objects.values_list("state", flat=True)) == {MemoryState.DELETED}


def test_expired_memory_is_returned_by_get_but_not_listed(tenant_a: Tenant) -> None:
    client = tenant_a.client()
    memory_id = add_memory(client, "Old coupon code")
    yesterday = (datetime.now(UTC) - timedelta(days=1)).date()
    Memory.objects.filter(pk=memory_id).update(expiration_date=yesterday)
    assert client.get(f"/v1/memories/{memory_id}/").status_code == 200
    assert listed(client, {"user_id": "alice"}) == []
    assert len(listed(client, {"user_id": "alice"}, show_expired=True)) == 1


def test_other_project_gets_404_everywhere_and_changes_nothing(
    tenant_a: Tenant, tenant_b: Tenant
) -> None:
    memory_id = add_memory(tenant_a.client(), "Alice's secret")
    intruder = tenant_b.client()
    path = f"/v1/memories/{memory_id}/"
    assert intruder.get(path).status_code == 404
    assert intruder.get(path + "history/").status_code == 404
    assert intruder.put(path, {"text": "hacked"}, format="json").status_code == 404
    assert intruder.delete(path).status_code == 404
    record = tenant_a.client().get(path).json()
    assert record["memory"] == "Alice's secret" and record["lifecycle_state"] == "active"
    history = tenant_a.client().get(path + "history/").json()
    assert [h["event"] for h in history] == ["ADD"]


def test_no_key_is_401(tenant_a: Tenant) -> None:
    from rest_framework.test import APIClient

    response = APIClient().get(f"/v1/memories/{MISSING}/")
    assert response.status_code == 401 and response.json()["detail"]
