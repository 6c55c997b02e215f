"""POST /v3/memories/add/ (spec §4.2)."""

from datetime import UTC, datetime

from django.db import connection

from audit.models import AuditEvent
from memory.models import Episode, IngestionJob, Memory
from tenants.context import tenant_context
from tests.conftest import Tenant
from tests.support.memory_api import add_memory, listed, texts

ADD = "/v3/memories/add/"


def test_infer_false_stores_each_non_system_message(tenant_a: Tenant) -> None:
    body = {
        "messages": [
            {"role": "system", "content": "be nice"},
            {"role": "user", "content": "I like tea"},
            {"role": "assistant", "content": "Tea is great"},
        ],
        "user_id": "alice",
        "infer": False,
        "metadata": {"source": "chat"},
    }
    response = tenant_a.client().post(ADD, body, format="json")
    assert response.status_code == 200
    payload = response.json()
    assert payload["status"] == "SUCCEEDED" and payload["event_id"]
    assert [(r["memory"], r["data"]["memory"], r["event"]) for r in payload["results"]] == [
        ("I like tea", "I like tea", "ADD"),
        ("Tea is great", "Tea is great", "ADD"),
    ]
    records = listed(tenant_a.client(), {"user_id": "alice"})
    assert texts(records) == ["I like tea", "Tea is great"]
    assert all(record["metadata"] == {"source": "chat"} for record in records)


def test_same_text_for_same_user_is_stored_once(tenant_a: Tenant) -> None:
    first = add_memory(tenant_a.client(), "I like tea")
    response = tenant_a.client().post(
        ADD, {"messages": "i like tea!", "user_id": "alice", "infer": False}, format="json"
    )
    assert response.json()["results"] == [
        {"id": first, "memory": "i like tea!", "data": {"memory": "i like tea!"}, "event": "NONE"}
    ]
    add_memory(tenant_a.client(), "I like tea", user_id="bob")
    assert Memory.objects.filter(project=tenant_a.project).count() == 2


def test_entity_ids_may_come_in_filters(tenant_a: Tenant) -> None:
    body = {"messages": "hello there", "filters": {"agent_id": "bot"}, "infer": False}
    response = tenant_a.client().post(ADD, body, format="json")
    assert response.status_code == 200
    assert texts(listed(tenant_a.client(), {"agent_id": "bot"})) == ["hello there"]


def test_missing_or_conflicting_entity_is_a_400_naming_it(tenant_a: Tenant) -> None:
    client = tenant_a.client()
    missing = client.post(ADD, {"messages": "hi", "infer": False}, format="json")
    assert missing.status_code == 400 and "user_id" in missing.json()["detail"]
    both = {"messages": "hi", "user_id": "a", "filters": {"user_id": "b"}, "infer": False}
    assert "differs" in client.post(ADD, both, format="json").json()["detail"]


def test_content_parts_keep_text_and_drop_images(tenant_a: Tenant) -> None:
    parts = [{"type": "text", "text": "I ride a bike"}, {"type": "image_url", "image_url": {}}]
    body = {"messages": [{"role": "user", "content": parts}], "user_id": "alice", "infer": False}
    response = tenant_a.client().post(ADD, body, format="json")
    assert response.json()["results"][0]["memory"] == "I ride a bike"


def test_timestamp_backdates_and_expiration_is_kept(tenant_a: Tenant) -> None:
    memory_id = add_memory(
        tenant_a.client(), "Old fact", timestamp=1_700_000_000, expiration_date="2999-01-31"
    )
    record = tenant_a.client().get(f"/v1/memories/{memory_id}/").json()
    assert record["created_at"].startswith(
        datetime.fromtimestamp(1_700_000_000, UTC).date().isoformat()
    )
    assert record["expiration_date"] == "2999-01-31"


def test_text_is_encrypted_at_rest_and_write_is_audited(tenant_a: Tenant) -> None:
    add_memory(tenant_a.client(), "My secret hobby is origami")
    with tenant_context(tenant_a.project.id), connection.cursor() as cursor:
        cursor.execute("SELECT text_ciphertext FROM memory_memory")
        stored = " ".join(row[0] for row in cursor.fetchall())
    assert stored and "origami" not in stored
    event = AuditEvent.objects.filter(project_id=tenant_a.project.id, action="memory.added").get()
    assert "origami" not in str(event.extra)


def test_oversize_text_is_a_400_naming_the_limit(tenant_a: Tenant, settings: object) -> None:
    body = {"messages": "x" * 9000, "user_id": "alice", "infer": False}
    response = tenant_a.client().post(ADD, body, format="json")
    assert response.status_code == 400
    assert "ENGRAM_MAX_MEMORY_CHARS" in response.json()["detail"]


def test_infer_true_queues_an_event_and_never_pretends(tenant_a: Tenant) -> None:
    body = {"messages": "I moved to Lisbon", "user_id": "alice", "custom_instructions": "facts"}
    response = tenant_a.client().post(ADD, body, format="json")
    payload = response.json()
    assert response.status_code == 200 and payload["status"] == "PENDING"
    job = IngestionJob.objects.get(pk=payload["event_id"])
    assert job.status == "PENDING" and job.episode_id is not None
    assert Episode.objects.filter(project=tenant_a.project).count() == 1
    assert Memory.objects.filter(project=tenant_a.project).count() == 0
    event = tenant_a.client().get(f"/v1/event/{job.id}/").json()
    assert event["status"] == "PENDING" and event["results"] == []


def test_unknown_fields_are_ignored(tenant_a: Tenant) -> None:
    body = {
        "messages": "I like jazz",
        "user_id": "alice",
        "infer": False,
        "async_mode": True,
        "output_format": "v1.1",
        "version": "v2",
        "enable_graph": True,
        "org_id": "x",
    }
    assert tenant_a.client().post(ADD, body, format="json").status_code == 200


def test_other_project_never_sees_an_added_memory(tenant_a: Tenant, tenant_b: Tenant) -> None:
    memory_id = add_memory(tenant_a.client(), "Alice's private fact")
    assert tenant_b.client().get(f"/v1/memories/{memory_id}/").status_code == 404
    assert listed(tenant_b.client(), {"user_id": "alice"}) == []
