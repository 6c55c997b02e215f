"""GET /v1/event/{id}/, GET /v1/events/ (spec §6.4) and PUT/DELETE /v1/batch/ (§4.10)."""

from django.utils import timezone

from memory.models import IngestionJob
from tenants.context import tenant_context
from tests.conftest import Tenant
from tests.support.memory_api import add_memory, listed, texts


def test_event_of_a_direct_add_lists_its_memories_live(tenant_a: Tenant) -> None:
    client = tenant_a.client()
    body = {"messages": "I like tea", "user_id": "alice", "infer": False}
    event_id = client.post("/v3/memories/add/", body, format="json").json()["event_id"]
    event = client.get(f"/v1/event/{event_id}/").json()
    assert event["status"] == "SUCCEEDED" and event["event_type"] == "ADD"
    assert [(r["memory"], r["event"]) for r in event["results"]] == [("I like tea", "ADD")]
    client.delete(f"/v1/memories/{event['results'][0]['id']}/")
    again = client.get(f"/v1/event/{event_id}/").json()
    assert again["results"][0]["memory"] is None and again["results"][0]["deleted"] is True


def test_failed_event_shows_its_error(tenant_a: Tenant) -> None:
    with tenant_context(tenant_a.project.id):
        job = IngestionJob.objects.create(
            project=tenant_a.project,
            status="FAILED",
            error="extractor unavailable",
            completed_at=timezone.now(),
        )
    event = tenant_a.client().get(f"/v1/event/{job.id}").json()
    assert event["status"] == "FAILED" and event["error"] == "extractor unavailable"


def test_events_list_is_paginated(tenant_a: Tenant) -> None:
    client = tenant_a.client()
    for text in ("one fact", "two fact", "three fact"):
        add_memory(client, text)
    page = client.get("/v1/events/?page_size=2").json()
    assert page["count"] == 3 and len(page["results"]) == 2 and page["next"]


def test_unknown_or_foreign_event_is_404(tenant_a: Tenant, tenant_b: Tenant) -> None:
    body = {"messages": "I like tea", "user_id": "alice", "infer": False}
    event_id = tenant_a.client().post("/v3/memories/add/", body, format="json").json()["event_id"]
    assert tenant_b.client().get(f"/v1/event/{event_id}/").status_code == 404
    assert tenant_b.client().get("/v1/events/").json()["count"] == 0
    assert tenant_a.client().get("/v1/event/nope/").status_code == 404


def test_batch_update_and_delete(tenant_a: Tenant) -> None:
    client = tenant_a.client()
    first, second = add_memory(client, "I like cats"), add_memory(client, "I like dogs")
    items = [
        {"memory_id": first, "text": "I like big cats"},
        {"memory_id": second, "metadata": {"pet": "dog"}},
    ]
    response = client.put("/v1/batch/", {"memories": items}, format="json")
    assert response.json() == {"message": "Successfully updated 2 memories"}
    assert client.get(f"/v1/memories/{second}/").json()["metadata"] == {"pet": "dog"}
    body = {"memories": [{"memory_id": first}, {"memory_id": second}]}
    response = client.generic(
        "DELETE", "/v1/batch/", data=_json(body), content_type="application/json"
    )
    assert response.json() == {"message": "Successfully deleted 2 memories"}
    assert listed(client, {"user_id": "alice"}) == []


def test_batch_is_all_or_nothing_and_bounded(tenant_a: Tenant) -> None:
    client = tenant_a.client()
    first = add_memory(client, "I like cats")
    items = [
        {"memory_id": first, "text": "changed"},
        {"memory_id": "00000000-0000-0000-0000-000000000000", "text": "x"},
    ]
    assert client.put("/v1/batch/", {"memories": items}, format="json").status_code == 404
    assert texts(listed(client, {"user_id": "alice"})) == ["I like cats"]
    too_many = {"memories": [{"memory_id": first}] * 1001}
    response = client.generic(
        "DELETE", "/v1/batch/", data=_json(too_many), content_type="application/json"
    )
    assert response.status_code == 400 and "1000" in response.json()["detail"]
    empty_item = client.put("/v1/batch/", {"memories": [{"memory_id": first}]}, format="json")
    assert empty_item.status_code == 400


def test_batch_on_other_projects_ids_is_404_and_changes_nothing(
    tenant_a: Tenant, tenant_b: Tenant
) -> None:
    memory_id = add_memory(tenant_a.client(), "Alice's fact")
    intruder = tenant_b.client()
    body = {"memories": [{"memory_id": memory_id, "text": "hacked"}]}
    assert intruder.put("/v1/batch/", body, format="json").status_code == 404
    delete = {"memories": [{"memory_id": memory_id}]}
    response = intruder.generic(
        "DELETE", "/v1/batch/", data=_json(delete), content_type="application/json"
    )
    assert response.status_code == 404
    assert tenant_a.client().get(f"/v1/memories/{memory_id}/").json()["memory"] == "Alice's fact"


def _json(value: object) -> str:
    import json

    return json.dumps(value)
