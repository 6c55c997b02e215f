"""The ingestion pipeline in this process: accept (outbox), idempotency, the job's state
machine (claim, retry, fail, sweeper) and what a job writes. A real worker process runs the
same code in test_ingestion_worker.py; here each step is driven directly."""

from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from audit.models import AuditEvent
from audit.services import CLI_ACTOR
from config.errors import Conflict, InvalidInput
from memory.ingestion.pipeline import JobOutcome, ingestion_job_run
from memory.ingestion.sweeper import sweep_ingestion_jobs
from memory.models import Entity, Episode, IngestionJob, Memory, MemoryVersion, Relation
from memory.records import memory_text
from memory.services.ingestion import (
    FailureOutcome,
    ingestion_accept,
    ingestion_job_claim,
    ingestion_job_fail,
    ingestion_job_lock_claimed,
)
from memory.services.memories import MemoryScope
from tenants.context import tenant_context
from tests.conftest import Tenant, make_tenant

Status = IngestionJob.Status


def accept(
    tenant: Tenant,
    messages: list[dict[str, Any]] | str,
    *,
    user_id: str | None = "alice",
    agent_id: str | None = None,
    run_id: str | None = None,
    options: dict[str, Any] | None = None,
    key: str | None = None,
) -> IngestionJob:
    if isinstance(messages, str):
        messages = [{"role": "user", "content": messages}]
    project = tenant.project
    with tenant_context(project.id, project.organization_id):
        return ingestion_accept(
            project=project,
            scope=MemoryScope(user_id, agent_id, None, run_id),
            messages=messages,
            options=options or {},
            actor=CLI_ACTOR,
            idempotency_key=key,
        )


def job_of(tenant: Tenant, job_id: Any) -> IngestionJob:
    with tenant_context(tenant.project.id):
        return IngestionJob.objects.get(pk=job_id)


def active_texts(tenant: Tenant, user_id: str = "alice") -> set[str]:
    with tenant_context(tenant.project.id):
        rows = Memory.objects.filter(project=tenant.project, user_id=user_id, state="active")
        return {memory_text(row) for row in rows}


def run(tenant: Tenant, job: IngestionJob) -> JobOutcome:
    return ingestion_job_run(job_id=job.id, project_id=tenant.project.id)


# --- accept -----------------------------------------------------------------------------------


def test_accept_stores_the_conversation_encrypted_and_enqueues_after_commit(
    tenant_a: Tenant, django_capture_on_commit_callbacks: Any
) -> None:
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        job = accept(
            tenant_a, "My favourite colour is ultramarine.", options={"metadata": {"k": 1}}
        )
    assert job.status == Status.PENDING and job.attempts == 0
    assert len(callbacks) == 2  # the short-term window push and the enqueue, both after commit
    with tenant_context(tenant_a.project.id):
        episode = Episode.objects.get(pk=str(job.episode_id))
    assert episode.message_count == 1 and episode.user_id == "alice"
    assert "ultramarine" not in episode.messages_ciphertext
    assert job.options_ciphertext and '"k"' not in job.options_ciphertext
    with tenant_context(tenant_a.project.id):
        event = AuditEvent.objects.get(action="ingestion.accepted", target_id=str(job.id))
    assert "ultramarine" not in str(event.extra)


@pytest.mark.parametrize(
    "messages",
    [
        [],
        [{"role": "user", "content": "   "}],
        [{"role": "robot", "content": "hi"}],
        [{"role": "user", "content": "lone \ud800 surrogate"}],
        "x",
    ],
)
def test_accept_rejects_empty_or_malformed_messages(tenant_a: Tenant, messages: Any) -> None:
    bad = messages if messages != "x" else [{"role": "user", "content": 42}]
    with pytest.raises(InvalidInput):
        accept(tenant_a, bad)


def test_same_idempotency_key_returns_the_same_event(tenant_a: Tenant) -> None:
    first = accept(tenant_a, "I live in Lisbon.", key="retry-1")
    again = accept(tenant_a, "I live in Lisbon.", key="retry-1")
    assert again.id == first.id
    with tenant_context(tenant_a.project.id):
        assert Episode.objects.filter(project=tenant_a.project).count() == 1


def test_idempotency_key_reused_for_another_payload_is_a_conflict(tenant_a: Tenant) -> None:
    accept(tenant_a, "I live in Lisbon.", key="retry-2")
    with pytest.raises(Conflict):
        accept(tenant_a, "I live in Porto.", key="retry-2")


def test_identical_payload_within_the_window_is_not_ingested_twice(
    tenant_a: Tenant, settings: Any
) -> None:
    first = accept(tenant_a, "I play the cello.")
    assert accept(tenant_a, "I play the cello.").id == first.id
    assert accept(tenant_a, "I play the cello.", user_id="bob").id != first.id  # other scope
    settings.ENGRAM_IDEMPOTENCY_WINDOW = 0
    assert accept(tenant_a, "I play the cello.").id != first.id


def test_a_failed_job_does_not_block_sending_the_same_payload_again(tenant_a: Tenant) -> None:
    first = accept(tenant_a, "I play the oboe.")
    with tenant_context(tenant_a.project.id):
        IngestionJob.objects.filter(pk=first.id).update(status=Status.FAILED)
    assert accept(tenant_a, "I play the oboe.").id != first.id


def test_identical_payload_of_another_project_is_its_own_event(
    tenant_a: Tenant, tenant_b: Tenant
) -> None:
    assert accept(tenant_a, "I knit.").id != accept(tenant_b, "I knit.").id


# --- the state machine --------------------------------------------------------------------------


def test_only_one_worker_can_claim_a_job(tenant_a: Tenant) -> None:
    job = accept(tenant_a, "I live in Oslo.")
    pid = tenant_a.project.id
    assert ingestion_job_claim(project_id=pid, job_id=job.id, worker_id="w1") is not None
    assert ingestion_job_claim(project_id=pid, job_id=job.id, worker_id="w2") is None
    claimed = job_of(tenant_a, job.id)
    assert (claimed.status, claimed.claimed_by, claimed.attempts) == (Status.RUNNING, "w1", 1)


def test_another_projects_context_cannot_claim_a_job(tenant_a: Tenant, tenant_b: Tenant) -> None:
    job = accept(tenant_a, "I live in Oslo.")
    assert ingestion_job_claim(project_id=tenant_b.project.id, job_id=job.id, worker_id="w") is None


def test_a_stale_claim_is_taken_over_and_the_old_worker_cannot_finish(
    tenant_a: Tenant, settings: Any
) -> None:
    settings.ENGRAM_JOB_HEARTBEAT_STALE_SECONDS = 5
    job = accept(tenant_a, "I live in Oslo.")
    pid = tenant_a.project.id
    ingestion_job_claim(project_id=pid, job_id=job.id, worker_id="dead")
    with tenant_context(pid):
        IngestionJob.objects.filter(pk=job.id).update(
            heartbeat_at=timezone.now() - timedelta(seconds=10)
        )
    assert ingestion_job_claim(project_id=pid, job_id=job.id, worker_id="alive") is not None
    with tenant_context(pid):
        assert (
            ingestion_job_lock_claimed(project=tenant_a.project, job_id=job.id, worker_id="dead")
            is None
        )
    assert job_of(tenant_a, job.id).attempts == 2


def test_retryable_errors_back_off_then_fail_with_the_reason(
    tenant_a: Tenant, settings: Any, django_capture_on_commit_callbacks: Any
) -> None:
    settings.ENGRAM_JOB_RETRY_BASE_SECONDS = 10
    job = accept(tenant_a, "I live in Oslo.")
    pid = tenant_a.project.id
    with tenant_context(pid):
        IngestionJob.objects.filter(pk=job.id).update(max_attempts=2)
    ingestion_job_claim(project_id=pid, job_id=job.id, worker_id="w1")
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        outcome = ingestion_job_fail(
            project_id=pid, job_id=job.id, worker_id="w1", reason="LLM timed out", retryable=True
        )
    assert outcome == FailureOutcome.RETRY and len(callbacks) == 1
    waiting = job_of(tenant_a, job.id)
    assert waiting.status == Status.PENDING and waiting.error == "LLM timed out"
    assert waiting.next_attempt_at is not None
    delay = (waiting.next_attempt_at - timezone.now()).total_seconds()
    assert 8 < delay <= 12.6  # base 10 s plus up to 25 % jitter
    # Not due yet: a duplicate message cannot start it early.
    assert ingestion_job_claim(project_id=pid, job_id=job.id, worker_id="w2") is None
    with tenant_context(pid):
        IngestionJob.objects.filter(pk=job.id).update(next_attempt_at=timezone.now())
    ingestion_job_claim(project_id=pid, job_id=job.id, worker_id="w2")
    outcome = ingestion_job_fail(
        project_id=pid, job_id=job.id, worker_id="w2", reason="LLM timed out", retryable=True
    )
    failed = job_of(tenant_a, job.id)
    assert outcome == FailureOutcome.FAILED and failed.status == Status.FAILED
    assert failed.error == "gave up after 2 attempts: LLM timed out" and failed.completed_at


def test_a_permanent_error_fails_at_once(tenant_a: Tenant) -> None:
    job = accept(tenant_a, "I live in Oslo.")
    pid = tenant_a.project.id
    ingestion_job_claim(project_id=pid, job_id=job.id, worker_id="w1")
    outcome = ingestion_job_fail(
        project_id=pid, job_id=job.id, worker_id="w1", reason="invalid JSON", retryable=False
    )
    assert outcome == FailureOutcome.FAILED
    assert job_of(tenant_a, job.id).error == "invalid JSON"
    with tenant_context(pid):
        assert Episode.objects.filter(pk=str(job.episode_id)).exists()  # nothing accepted is lost


def test_sweeper_requeues_dead_workers_jobs_and_resends_forgotten_ones(
    tenant_a: Tenant, settings: Any, django_capture_on_commit_callbacks: Any
) -> None:
    settings.ENGRAM_JOB_HEARTBEAT_STALE_SECONDS = 5
    settings.ENGRAM_JOB_REDISPATCH_SECONDS = 60
    pid = tenant_a.project.id
    dead, exhausted, forgotten, fresh = (accept(tenant_a, f"I live in City{i}.") for i in range(4))
    long_ago = timezone.now() - timedelta(minutes=5)
    for job in (dead, exhausted):
        ingestion_job_claim(project_id=pid, job_id=job.id, worker_id="dead")
    with tenant_context(pid):
        IngestionJob.objects.filter(pk__in=[dead.id, exhausted.id]).update(heartbeat_at=long_ago)
        IngestionJob.objects.filter(pk=exhausted.id).update(max_attempts=1)
        IngestionJob.objects.filter(pk=forgotten.id).update(updated_at=long_ago)
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        report = sweep_ingestion_jobs()
    assert report.recovered == [dead.id] and report.redispatched == [forgotten.id]
    assert len(callbacks) == 2
    assert job_of(tenant_a, dead.id).status == Status.PENDING
    assert job_of(tenant_a, exhausted.id).status == Status.FAILED
    assert "stopped responding" in job_of(tenant_a, exhausted.id).error
    assert job_of(tenant_a, fresh.id).status == Status.PENDING
    # Re-sent once per period, not on every sweep.
    assert sweep_ingestion_jobs().redispatched == []


def test_sweeper_looks_at_each_project_with_one_cheap_query(tenant_a: Tenant) -> None:
    with CaptureQueriesContext(connection) as queries:
        sweep_ingestion_jobs()
    job_queries = [q["sql"] for q in queries if "memory_ingestionjob" in q["sql"]]
    assert job_queries and all('"project_id" =' in sql for sql in job_queries)


# --- what a job writes (committed data: the heartbeat thread has its own connection) ------------


@pytest.fixture
def tenant(committed_db: None, request: Any) -> Iterator[Tenant]:
    yield make_tenant(f"ingest-{request.node.name[:40]}-{timezone.now().timestamp()}")


def test_a_job_extracts_facts_not_echoes(tenant: Tenant) -> None:
    job = accept(tenant, "Hi there! I switched from JavaScript to Python last year.")
    assert run(tenant, job) == JobOutcome.SUCCEEDED
    texts = active_texts(tenant)
    assert "User prefers Python over JavaScript" in texts
    assert not any("Hi there" in text or text.startswith("I ") for text in texts)
    done = job_of(tenant, job.id)
    assert done.status == Status.SUCCEEDED and done.attempts == 1 and done.completed_at
    assert {entry["event"] for entry in done.results} == {"ADD"}
    assert all(set(entry) <= {"id", "event"} for entry in done.results)  # ids only


def test_running_a_finished_job_again_changes_nothing(tenant: Tenant) -> None:
    job = accept(tenant, "I live in Madrid.")
    assert run(tenant, job) == JobOutcome.SUCCEEDED
    assert run(tenant, job) == JobOutcome.SKIPPED
    with tenant_context(tenant.project.id):
        assert Memory.objects.filter(project=tenant.project).count() == 1
        assert MemoryVersion.objects.filter(project=tenant.project).count() == 1


def test_a_moved_user_keeps_the_old_home_as_a_superseded_version(tenant: Tenant) -> None:
    run(tenant, accept(tenant, "I live in Paris."))
    job = accept(tenant, "Actually, I moved to Berlin.")
    assert run(tenant, job) == JobOutcome.SUCCEEDED
    assert active_texts(tenant) == {"User lives in Berlin"}
    with tenant_context(tenant.project.id):
        paris = Memory.objects.get(project=tenant.project, state="superseded")
        berlin = Memory.objects.get(project=tenant.project, state="active")
        history = list(MemoryVersion.objects.filter(memory=paris).order_by("created_at"))
        assert memory_text(paris) == "User lives in Paris" and paris.replaced_by_id == berlin.id
        assert paris.confidence == pytest.approx(0.95) and paris.created_at < berlin.created_at
    assert [version.event for version in history] == ["ADD", "UPDATE"]
    entry = job_of(tenant, job.id).results[0]
    assert entry == {"id": str(berlin.id), "event": "UPDATE", "previous_id": str(paris.id)}
    found = (
        tenant.client()
        .post(
            "/v3/memories/search/",
            {"query": "Which city does the user live in?", "filters": {"user_id": "alice"}},
            format="json",
        )
        .json()["results"]
    )
    assert found[0]["memory"] == "User lives in Berlin"
    assert "User lives in Paris" not in [hit["memory"] for hit in found]


def test_a_repeated_fact_is_stored_once(tenant: Tenant) -> None:
    run(tenant, accept(tenant, "I live in Rome."))
    job = accept(tenant, "I live in Rome!")  # another payload, the same fact
    assert run(tenant, job) == JobOutcome.SUCCEEDED
    assert [entry["event"] for entry in job_of(tenant, job.id).results] == ["NONE"]
    with tenant_context(tenant.project.id):
        assert Memory.objects.filter(project=tenant.project).count() == 1


def test_a_contradicted_fact_is_invalidated_but_kept_in_history(tenant: Tenant) -> None:
    run(tenant, accept(tenant, "I am allergic to nuts."))
    job = accept(tenant, "I am not allergic to nuts anymore.")
    run(tenant, job)
    assert active_texts(tenant) == {"User is no longer allergic to nuts"}
    events = {entry["event"] for entry in job_of(tenant, job.id).results}
    assert events == {"DELETE", "ADD"}
    with tenant_context(tenant.project.id):
        old = Memory.objects.get(project=tenant.project, state="deleted")
        last = MemoryVersion.objects.filter(memory=old).latest("created_at")
    assert last.event == "DELETE" and last.confidence == pytest.approx(0.95)


def test_small_talk_is_not_worth_a_memory(tenant: Tenant) -> None:
    job = accept(
        tenant,
        [
            {"role": "user", "content": "Hello! How are you today?"},
            {"role": "assistant", "content": "Great, thanks for asking!"},
        ],
    )
    assert run(tenant, job) == JobOutcome.SUCCEEDED
    assert job_of(tenant, job.id).results == [] and active_texts(tenant) == set()


def test_entities_and_relations_are_recorded(tenant: Tenant) -> None:
    run(tenant, accept(tenant, "My sister Anna works at Google in London. I live in Paris."))
    with tenant_context(tenant.project.id):
        entities = list(Entity.objects.filter(project=tenant.project))
        relations = list(Relation.objects.filter(project=tenant.project).select_related("target"))
        names = {(e.entity_type, _open_name(e)) for e in entities}
        edges = {(_open_name(r.source), r.relation, _open_name(r.target)) for r in relations}
    assert {("person", "Anna"), ("place", "Paris"), ("person", "alice")} <= names
    assert {("alice", "sister", "Anna"), ("alice", "lives_in", "Paris")} <= edges
    assert all("Anna" not in e.name_ciphertext for e in entities)


def _open_name(entity: Entity) -> str:
    from memory.records import field, open_text

    return (
        open_text(
            entity.project_id, entity.name_ciphertext, field(entity.id, "name", "memory_entity")
        )
        or ""
    )


def test_entities_are_deduplicated_across_memories(tenant: Tenant) -> None:
    run(tenant, accept(tenant, "I live in Paris."))
    run(tenant, accept(tenant, "I have been to Paris twice.", user_id="alice"))
    with tenant_context(tenant.project.id):
        assert Entity.objects.filter(project=tenant.project, entity_type="place").count() == 1


def test_assistant_facts_belong_to_the_agent(tenant: Tenant) -> None:
    job = accept(
        tenant,
        [
            {"role": "user", "content": "I live in Vienna."},
            {"role": "assistant", "content": "My name is Jarvis."},
        ],
        agent_id="jarvis",
    )
    run(tenant, job)
    with tenant_context(tenant.project.id):
        rows = {
            (m.user_id, m.agent_id, m.attributed_to)
            for m in Memory.objects.filter(project=tenant.project)
        }
    assert ("alice", None, "user") in rows
    assert any(row[:2] == (None, "jarvis") and row[2] == "assistant" for row in rows)


def test_custom_instructions_of_the_call_are_followed(tenant: Tenant) -> None:
    job = accept(
        tenant,
        "I live in Prague and I love sushi.",
        options={"custom_instructions": "Do not store food preferences."},
    )
    run(tenant, job)
    assert active_texts(tenant) == {"User lives in Prague"}


def test_metadata_and_custom_categories_reach_the_memories(tenant: Tenant) -> None:
    job = accept(
        tenant,
        "I live in Prague.",
        options={
            "metadata": {"source": "chat"},
            "custom_categories": [{"home": "where the user lives"}],
        },
    )
    run(tenant, job)
    record = tenant.client().get(f"/v1/memories/{job_of(tenant, job.id).results[0]['id']}/").json()
    assert record["metadata"] == {"source": "chat"} and record["categories"] == ["home"]


def test_a_job_whose_conversation_was_erased_fails_with_a_reason(tenant: Tenant) -> None:
    job = accept(tenant, "I live in Prague.")
    with tenant_context(tenant.project.id):
        Episode.objects.filter(pk=str(job.episode_id)).delete()
    assert run(tenant, job) == JobOutcome.FAILED
    assert "deleted before it could be processed" in job_of(tenant, job.id).error


def test_finished_and_failed_jobs_notify_subscribed_webhooks(tenant: Tenant, settings: Any) -> None:
    from integrations.models import WebhookDelivery
    from integrations.services import webhook_create

    settings.ENGRAM_WEBHOOK_ALLOWED_HOSTS = ["127.0.0.1"]
    with tenant_context(tenant.project.id, tenant.project.organization_id):
        webhook_create(
            project=tenant.project,
            actor=CLI_ACTOR,
            name="jobs",
            url="http://127.0.0.1:9/hook",
            event_types=["ingest_job_completed", "ingest_job_failed", "memory_categorize"],
        )
    run(tenant, accept(tenant, "I live in Prague."))
    erased = accept(tenant, "I live in Brno.")
    with tenant_context(tenant.project.id):
        Episode.objects.filter(pk=str(erased.episode_id)).delete()
    run(tenant, erased)
    with tenant_context(tenant.project.id):
        kinds = sorted(WebhookDelivery.objects.values_list("event_type", flat=True))
    assert kinds == ["ingest_job_completed", "ingest_job_failed", "memory_categorize"]


def test_tasks_carry_ids_only_and_the_sweeper_is_scheduled(settings: Any) -> None:
    from config.celery import app
    from memory.tasks import ingest_job

    app.loader.import_default_modules()
    assert ingest_job.acks_late and ingest_job.soft_time_limit and ingest_job.time_limit
    assert list(inspect_signature(ingest_job.run)) == ["job_id", "project_id"]
    scheduled = {entry["task"] for entry in settings.CELERY_BEAT_SCHEDULE.values()}
    assert "memory.sweep_ingestion_jobs" in scheduled
    assert "memory.sweep_ingestion_jobs" in app.tasks


def inspect_signature(function: Any) -> list[str]:
    import inspect

    return list(inspect.signature(function).parameters)
