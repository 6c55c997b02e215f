"""Erasing one end user removes every trace of them (rows, vectors, tokens, Redis, queued
payloads, export files, their key) and nothing of anybody else, even with a similar id."""

import json
import re
from typing import Any

import pytest

from audit.gdpr import gdpr_request_process
from audit.gdpr.cache import subject_cache_keys
from audit.models import AuditEvent, DataSubjectRequest
from audit.services import CLI_ACTOR
from audit.subjects import Subject
from integrations.models import WebhookDelivery
from integrations.services import memory_event_payload, webhook_create, webhook_emit
from memory.models import Entity, Episode, IngestionJob, Memory, MemoryToken, WorkingState
from memory.records import field
from tenants.context import tenant_context
from tenants.keyring import ContentErased, decrypt
from tenants.models import Project
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
from tests.compliance.dump import project_dump
from tests.conftest import Tenant, make_tenant

SCOPED_MODELS = (Memory, Episode, WorkingState, Entity)


def _populate(tenant: Tenant, user_id: str) -> dict[str, Any]:
    """Everything the API (and the tiers without an endpoint yet) can hold for one user."""
    first = add_memory(
        tenant, f"{user_id} likes green tea", user_id=user_id, metadata={"mood": f"calm-{user_id}"}
    )
    second = add_memory(tenant, f"{user_id} lives in Lisbon", user_id=user_id, agent_id="bot")
    update_memory(tenant, first, text=f"{user_id} likes jasmine tea")
    event_id = add_conversation(
        tenant, f"I am {user_id} and I play chess", user_id=user_id, run_id=f"run-{user_id}"
    )
    make_working_state(
        tenant.project,
        run_id=f"run-{user_id}",
        user_id=user_id,
        state={"goal": f"plan {user_id}'s trip"},
    )
    make_entity_graph(
        tenant.project, user_id=user_id, memory_id=first, names=(f"{user_id}-person", "jasmine tea")
    )
    export = tenant.client().post(
        "/v1/exports/",
        {"schema": {"type": "object"}, "filters": {"user_id": user_id}},
        format="json",
    )
    assert export.status_code in (200, 201, 202), export.content
    with tenant_context(tenant.project.id, tenant.organization.id):
        webhook_emit(
            project=tenant.project,
            event_type="memory_add",
            user_id=user_id,
            payload=memory_event_payload(first, f"{user_id} likes green tea", "ADD"),
        )
    return {"memories": [first, second], "event": event_id}


def _counts(project: Project, user_id: str) -> dict[str, int]:
    with tenant_context(project.id, project.organization_id):
        counts = {
            model._meta.db_table: model.objects.filter(project=project, user_id=user_id).count()
            for model in SCOPED_MODELS
        }
        counts["memory_ingestionjob"] = IngestionJob.objects.filter(
            project=project, episode__user_id=user_id
        ).count()
        counts["memory_memorytoken"] = MemoryToken.objects.filter(
            project=project, memory__user_id=user_id
        ).count()
        counts["integrations_webhookdelivery"] = WebhookDelivery.objects.filter(
            project=project, subject_user_id=user_id
        ).count()
    return counts


def _erase(tenant: Tenant, user_id: str) -> dict[str, Any]:
    body = {"kind": "erasure", "subject_type": "user", "subject_id": user_id}
    created = api_ok(tenant.client().post("/v1/gdpr/requests/", body, format="json"), 202)
    assert created["status"] == "received" and created["due_at"]
    assert gdpr_request_process(project_id=tenant.project.id, request_id=created["id"]) == "done"
    return dict(api_ok(tenant.client().get(f"/v1/gdpr/requests/{created['id']}/")))


@pytest.fixture
def three_users(committed_db: None) -> tuple[Tenant, str, dict[str, dict[str, Any]]]:
    tenant = make_tenant(unique("erasure"))
    with tenant_context(tenant.project.id, tenant.organization.id):
        webhook_create(
            project=tenant.project,
            actor=CLI_ACTOR,
            name="hook",
            url="https://hooks.example.com/engram",
            event_types=["memory_add"],
        )
    alice = unique("alice")
    users: dict[str, dict[str, Any]] = {alice: {}, f"{alice}2": {}, alice.capitalize(): {}}
    for user_id in users:
        users[user_id] = _populate(tenant, user_id)
    return tenant, alice, users


def test_erasure_leaves_no_row_of_the_user_and_every_row_of_similar_ids(three_users: Any) -> None:
    tenant, alice, users = three_users
    before = {user_id: _counts(tenant.project, user_id) for user_id in users}
    assert all(before[alice].values()), before[alice]

    result = _erase(tenant, alice)

    assert result["status"] == "done" and result["finished_at"] and result["subject_id"] is None
    assert set(_counts(tenant.project, alice).values()) == {0}
    for other in (f"{alice}2", alice.capitalize()):
        assert _counts(tenant.project, other) == before[other]
        texts = {record["memory"] for record in list_memories(tenant, user_id=other)}
        assert texts == {f"{other} likes jasmine tea", f"{other} lives in Lisbon"}


def test_erased_user_is_gone_from_the_api(three_users: Any) -> None:
    tenant, alice, users = three_users
    _erase(tenant, alice)
    client = tenant.client()
    assert list_memories(tenant, user_id=alice) == []
    for memory_id in users[alice]["memories"]:
        assert client.get(f"/v1/memories/{memory_id}/").status_code == 404
        assert client.get(f"/v1/memories/{memory_id}/history/").status_code == 404
    assert client.get(f"/v1/event/{users[alice]['event']}/").status_code == 404
    search = client.post(
        "/v3/memories/search/",
        {"query": "jasmine tea", "filters": {"user_id": alice}},
        format="json",
    )
    assert search.status_code == 200 and not search.json().get("results", search.json())
    events = json.dumps(api_ok(client.get("/v1/events/?page_size=100")))
    assert users[alice]["event"] not in events
    assert not any(memory_id in events for memory_id in users[alice]["memories"])
    assert users[f"{alice}2"]["memories"][0] in events


def test_erased_user_leaves_no_trace_in_a_raw_dump(three_users: Any) -> None:
    tenant, alice, _ = three_users
    assert re.search(rf"{alice}(?!2)", project_dump(tenant.project.id))
    _erase(tenant, alice)
    dump = project_dump(tenant.project.id)
    assert not re.search(rf"{alice}(?!2)", dump), "the erased user id is still in the dump"
    assert f"{alice}2" in dump and alice.capitalize() in dump


def test_erasure_removes_the_users_redis_entries_only(three_users: Any) -> None:
    tenant, alice, _ = three_users
    from memory.cache_keys import redis_client

    def live_keys(user_id: str) -> list[str]:
        keys = subject_cache_keys(tenant.project.id, Subject("user", user_id))
        return [key for key in keys if redis_client().exists(key)]

    assert live_keys(alice) and live_keys(f"{alice}2")
    _erase(tenant, alice)
    assert live_keys(alice) == []
    assert live_keys(f"{alice}2") and live_keys(alice.capitalize())


def test_erasure_shreds_the_users_key_so_old_copies_are_unreadable(three_users: Any) -> None:
    tenant, alice, users = three_users
    memory_id = users[alice]["memories"][1]
    with tenant_context(tenant.project.id, tenant.organization.id):
        backup = Memory.objects.get(pk=memory_id).text_ciphertext  # a "backup" copy
    _erase(tenant, alice)
    with tenant_context(tenant.project.id, tenant.organization.id):
        with pytest.raises(ContentErased):
            decrypt(tenant.project.id, backup, field(memory_id, "text"))


def test_erasure_writes_a_proof_without_the_subject_id(three_users: Any) -> None:
    tenant, alice, _ = three_users
    result = _erase(tenant, alice)
    with tenant_context(tenant.project.id, tenant.organization.id):
        proof = AuditEvent.objects.get(
            project_id=tenant.project.id, action="gdpr.erasure_completed", target_id=result["id"]
        )
        request = DataSubjectRequest.objects.get(pk=result["id"])
    rows = proof.extra["counts"]["rows"]
    assert rows["memory_memory"] == 2 and rows["memory_episode"] == 1
    assert rows["memory_memoryversion"] >= 3 and rows["memory_memorytoken"] > 0
    assert proof.extra["counts"]["keys_destroyed"] >= 1
    assert set(proof.extra["remaining"].values()) == {0}
    assert proof.extra["subject_hash"] == request.subject_hash
    assert alice not in json.dumps(proof.extra) and request.subject_id == ""


def test_erasure_is_refused_under_a_legal_hold(three_users: Any) -> None:
    tenant, alice, _ = three_users
    hold = api_ok(
        tenant.client().post(
            "/v1/legal-holds/",
            {"scope": "user", "subject_id": alice, "reason": "litigation"},
            format="json",
        ),
        201,
    )
    before = _counts(tenant.project, alice)
    body = {"kind": "erasure", "subject_type": "user", "subject_id": alice}
    created = api_ok(tenant.client().post("/v1/gdpr/requests/", body, format="json"), 202)
    assert gdpr_request_process(project_id=tenant.project.id, request_id=created["id"]) == "failed"
    assert _counts(tenant.project, alice) == before
    shown = api_ok(tenant.client().get(f"/v1/gdpr/requests/{created['id']}/"))
    assert shown["status"] == "failed" and "legal_hold" in shown["error"]
    api_ok(tenant.client().delete(f"/v1/legal-holds/{hold['id']}/"))
    assert _erase(tenant, alice)["status"] == "done"


def test_erasing_a_session_removes_only_that_run(committed_db: None) -> None:
    tenant = make_tenant(unique("erase-run"))
    user_id, run, other_run = unique("carol"), unique("run"), unique("run")
    in_run = add_memory(tenant, "Booked the hotel", user_id=user_id, run_id=run)
    outside = add_memory(tenant, "Likes quiet rooms", user_id=user_id, run_id=other_run)
    add_conversation(tenant, "Find me a hotel", user_id=user_id, run_id=run)
    make_working_state(tenant.project, run_id=run, user_id=user_id, state={"focus": "hotel"})
    make_working_state(tenant.project, run_id=other_run, user_id=user_id, state={"focus": "x"})
    body = {"kind": "erasure", "subject_type": "run", "subject_id": run}
    created = api_ok(tenant.client().post("/v1/gdpr/requests/", body, format="json"), 202)
    assert gdpr_request_process(project_id=tenant.project.id, request_id=created["id"]) == "done"
    with tenant_context(tenant.project.id, tenant.organization.id):
        assert not Memory.objects.filter(run_id=run).exists()
        assert not Episode.objects.filter(run_id=run).exists()
        assert list(WorkingState.objects.values_list("run_id", flat=True)) == [other_run]
        assert Memory.objects.filter(pk=outside).exists()
        assert not Memory.objects.filter(pk=in_run).exists()
    assert [r["memory"] for r in list_memories(tenant, user_id=user_id)] == ["Likes quiet rooms"]
