"""Writes of the ingestion pipeline: accepting an add (the episode and the job, its outbox
row, in one transaction, enqueued on commit) and the job's state machine.

    PENDING --claim--> RUNNING --complete--> SUCCEEDED
       ^                  |--retryable error--> PENDING (next_attempt_at = now + backoff)
       |                  |--permanent error / attempts exhausted--> FAILED (with the reason)
       +--sweeper-- RUNNING with a stale heartbeat (its worker died)

Every transition is a conditional UPDATE or a row lock guarded by `claimed_by`, so two
workers never run a job at once and a worker that lost its claim can never finish it.
"""

import enum
import json
import random
from dataclasses import asdict
from datetime import datetime, timedelta
from typing import Any
from uuid import UUID, uuid4

from django.conf import settings
from django.db import connection, transaction
from django.db.models import DateTimeField, F, Q, QuerySet, Value
from django.db.models.functions import Coalesce
from django.utils import timezone

from audit.retention import retention_policy_get
from audit.services import Actor, audit_record
from config.errors import Conflict, InvalidInput
from config.quotas import quota_check_jobs_in_flight
from integrations.services import ingest_job_emit
from memory.ingestion import short_term
from memory.ingestion.dispatch import enqueue_ingestion_job
from memory.models import Episode, IngestionJob
from memory.records import field, seal_json
from memory.services.memories import MemoryScope
from tenants.context import tenant_context
from tenants.keyring import keyed_hash
from tenants.models import Project

EPISODE_TABLE = "memory_episode"
JOB_TABLE = "memory_ingestionjob"
MESSAGE_ROLES = frozenset({"user", "assistant", "system", "tool"})
Status = IngestionJob.Status


class FailureOutcome(enum.Enum):
    RETRY = "retry"  # back to PENDING, enqueued again after a backoff
    FAILED = "failed"  # parked with its reason
    LOST = "lost"  # no longer ours (re-claimed after we looked dead): leave it alone


# --- accept -----------------------------------------------------------------------------------


def _encodable(text: str) -> bool:
    """Lone surrogates ("\\ud800") survive JSON parsing but not UTF-8: refuse them here."""
    try:
        text.encode()
    except UnicodeEncodeError:
        return False
    return True


def _normalised_messages(messages: Any) -> list[dict[str, Any]]:
    if not isinstance(messages, list) or not messages:
        raise InvalidInput("messages: expected a non-empty list of {role, content}.")
    if len(messages) > settings.ENGRAM_MAX_MESSAGES_PER_ADD:
        raise InvalidInput(
            f"messages: {len(messages)} messages; at most "
            f"{settings.ENGRAM_MAX_MESSAGES_PER_ADD} per call."
        )
    kept = []
    for index, message in enumerate(messages):
        if not isinstance(message, dict):
            raise InvalidInput(f"messages.{index}: expected an object with role and content.")
        role = str(message.get("role") or "user").lower()
        if role not in MESSAGE_ROLES:
            raise InvalidInput(f"messages.{index}.role: must be user, assistant, system or tool.")
        content = message.get("content")
        if not isinstance(content, str) or not _encodable(content):
            raise InvalidInput(f"messages.{index}.content: must be a valid Unicode string.")
        if content.strip():
            name = message.get("name")
            kept.append({"role": role, "content": content, **({"name": str(name)} if name else {})})
    if not kept:
        raise InvalidInput("messages: no message has any text content.")
    return kept


def _payload_hash(project: Project, scope: MemoryScope, messages: list[Any], options: Any) -> str:
    try:
        canonical = json.dumps(
            {"scope": asdict(scope), "messages": messages, "options": options},
            sort_keys=True,
            separators=(",", ":"),
            ensure_ascii=False,
        )
    except (TypeError, ValueError) as exc:
        raise InvalidInput("options: must be JSON-serialisable.") from exc
    if not _encodable(canonical):
        raise InvalidInput("options: must hold valid Unicode strings only.")
    return keyed_hash(project.id, canonical, domain="ingestion-payload")


def _advisory_lock(name: str) -> None:
    """Serialise concurrent identical adds until this transaction ends."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_advisory_xact_lock(hashtextextended(%s, 0))", [name])


def _replayed_job(
    project: Project, idempotency_key: str | None, payload_hash: str
) -> IngestionJob | None:
    if idempotency_key:
        earlier = IngestionJob.objects.filter(project=project, idempotency_key=idempotency_key)
        job = earlier.first()
        if job is not None and job.payload_hash != payload_hash:
            raise Conflict("Idempotency-Key was already used for a different add request.")
        if job is not None:
            return job
    since = timezone.now() - timedelta(seconds=settings.ENGRAM_IDEMPOTENCY_WINDOW)
    # A failed job is no reason to refuse a retry of the same payload.
    return (
        IngestionJob.objects.filter(
            project=project, payload_hash=payload_hash, created_at__gte=since
        )
        .exclude(status=Status.FAILED)
        .order_by("-created_at")
        .first()
    )


def _episode_create(
    project: Project, scope: MemoryScope, messages: list[dict[str, Any]]
) -> Episode:
    episode_id = uuid4()
    return Episode.objects.create(
        id=episode_id,
        project=project,
        user_id=scope.user_id,
        agent_id=scope.agent_id,
        app_id=scope.app_id,
        run_id=scope.run_id,
        messages_ciphertext=seal_json(
            project.id, messages, field(episode_id, "messages", EPISODE_TABLE), scope.user_id
        ),
        message_count=len(messages),
    )


def _job_create_audited(
    *,
    project: Project,
    episode: Episode,
    options: dict[str, Any],
    actor: Actor,
    idempotency_key: str | None,
    payload_hash: str,
) -> IngestionJob:
    job_id = uuid4()
    job = IngestionJob.objects.create(
        id=job_id,
        project=project,
        episode=episode,
        options_ciphertext=(
            seal_json(project.id, options, field(job_id, "options", JOB_TABLE), episode.user_id)
            if options
            else None
        ),
        idempotency_key=idempotency_key,
        payload_hash=payload_hash,
        max_attempts=settings.ENGRAM_JOB_MAX_ATTEMPTS,
        actor_type=actor.type,
        actor_id=actor.id,
    )
    audit_record(
        org_id=project.organization_id,
        project_id=project.id,
        actor=actor,
        action="ingestion.accepted",
        target_type="event",
        target_id=str(job_id),
        extra={"episode_id": str(episode.id), "messages": episode.message_count},
    )
    return job


@transaction.atomic
def ingestion_accept(
    *,
    project: Project,
    scope: MemoryScope,
    messages: list[dict[str, Any]],
    options: dict[str, Any],
    actor: Actor,
    idempotency_key: str | None,
) -> IngestionJob:
    """Store the conversation (encrypted episode) and its ingestion job; enqueue on commit.

    A repeat (same Idempotency-Key, or the identical payload within
    ENGRAM_IDEMPOTENCY_WINDOW seconds) returns the earlier job and stores nothing.
    """
    if scope.is_empty():
        raise InvalidInput("At least one of user_id, agent_id, app_id or run_id is required.")
    if not isinstance(options, dict):
        raise InvalidInput("options: expected an object.")
    quota_check_jobs_in_flight(project)
    kept = _normalised_messages(messages)
    payload_hash = _payload_hash(project, scope, kept, options)
    if idempotency_key:
        _advisory_lock(f"ingest-key|{project.id}|{idempotency_key}")
    _advisory_lock(f"ingest-payload|{project.id}|{payload_hash}")
    replay = _replayed_job(project, idempotency_key, payload_hash)
    if replay is not None:
        return replay
    episode = _episode_create(project, scope, kept)
    job = _job_create_audited(
        project=project,
        episode=episode,
        options=options,
        actor=actor,
        idempotency_key=idempotency_key,
        payload_hash=payload_hash,
    )
    _after_commit_window_and_dispatch(project, scope, episode, kept, job)
    return job


def _after_commit_window_and_dispatch(
    project: Project,
    scope: MemoryScope,
    episode: Episode,
    messages: list[dict[str, Any]],
    job: IngestionJob,
) -> None:
    # Sealed now (the key ring needs this tenant transaction), pushed after commit.
    pending = short_term.prepare_push(
        project.id,
        short_term.Session(scope.user_id, scope.agent_id, scope.run_id),
        episode_id=episode.id,
        messages=messages,
        at=episode.created_at,
        ttl=retention_policy_get(project=project).short_term_seconds,
    )
    job_id, project_id = job.id, project.id
    transaction.on_commit(lambda: short_term.push(pending))
    transaction.on_commit(lambda: enqueue_ingestion_job(job_id, project_id))


# --- the job's state machine (worker side) -----------------------------------------------------


def _claimable(now: datetime) -> QuerySet[IngestionJob]:
    stale = now - timedelta(seconds=settings.ENGRAM_JOB_HEARTBEAT_STALE_SECONDS)
    due = Q(next_attempt_at__isnull=True) | Q(next_attempt_at__lte=now)
    return IngestionJob.objects.filter(
        (Q(status=Status.PENDING) & due) | Q(status=Status.RUNNING, heartbeat_at__lt=stale),
        attempts__lt=F("max_attempts"),
    )


def ingestion_job_claim(
    *, project_id: UUID | str, job_id: UUID | str, worker_id: str
) -> IngestionJob | None:
    """Take the job for this worker, or None when it is not ours to run (done, running
    elsewhere with a live heartbeat, or not due yet). One conditional UPDATE decides."""
    now = timezone.now()
    with tenant_context(project_id):
        claimed = (
            _claimable(now)
            .filter(project_id=project_id, pk=job_id)
            .update(
                status=Status.RUNNING,
                claimed_by=worker_id,
                heartbeat_at=now,
                attempts=F("attempts") + 1,
                started_at=Coalesce(F("started_at"), Value(now, output_field=DateTimeField())),
                next_attempt_at=None,
                updated_at=now,
            )
        )
        if claimed != 1:
            return None
        return IngestionJob.objects.select_related("episode").get(project_id=project_id, pk=job_id)


def ingestion_job_heartbeat(*, project_id: UUID | str, job_id: UUID | str, worker_id: str) -> bool:
    """Prove this worker is alive; False once the job is no longer ours."""
    with tenant_context(project_id):
        return (
            IngestionJob.objects.filter(
                project_id=project_id, pk=job_id, status=Status.RUNNING, claimed_by=worker_id
            ).update(heartbeat_at=timezone.now())
            == 1
        )


def ingestion_job_lock_claimed(
    *, project: Project, job_id: UUID | str, worker_id: str
) -> IngestionJob | None:
    """Lock the job for the finishing transaction if this worker still holds it. The lock
    makes the sweeper wait for our commit, after which the job is no longer RUNNING."""
    return (
        IngestionJob.objects.select_for_update()
        .filter(project=project, pk=job_id, status=Status.RUNNING, claimed_by=worker_id)
        .first()
    )


def ingestion_job_complete(
    *, project: Project, job: IngestionJob, results: list[dict[str, Any]], counts: dict[str, int]
) -> None:
    """Mark SUCCEEDED; called inside the transaction that wrote the memories."""
    now = timezone.now()
    job.status, job.results, job.error = Status.SUCCEEDED, results, ""
    job.completed_at, job.heartbeat_at, job.next_attempt_at = now, now, None
    job.save(
        update_fields=[
            "status",
            "results",
            "error",
            "completed_at",
            "heartbeat_at",
            "next_attempt_at",
            "updated_at",
        ]
    )
    audit_record(
        org_id=project.organization_id,
        project_id=project.id,
        actor=Actor(job.actor_type, job.actor_id),
        action="ingestion.succeeded",
        target_type="event",
        target_id=str(job.id),
        extra={"attempts": job.attempts, **counts},
    )
    ingest_job_emit(project=project, job_id=job.id, succeeded=True, counts=counts)


def retry_delay(attempts: int) -> float:
    """Exponential backoff with jitter, so a burst of failures does not retry in lockstep."""
    base = settings.ENGRAM_JOB_RETRY_BASE_SECONDS * 2 ** max(0, attempts - 1)
    delay = min(settings.ENGRAM_JOB_RETRY_MAX_SECONDS, base)
    return delay * (1 + random.uniform(0, 0.25))  # noqa: S311 -- jitter, not security


def ingestion_job_fail(
    *, project_id: UUID | str, job_id: UUID | str, worker_id: str, reason: str, retryable: bool
) -> FailureOutcome:
    """After an error: back to PENDING with a backoff when it may help and attempts remain,
    else FAILED with a reason the project owner can read. The episode is always kept."""
    with tenant_context(project_id):
        job = (
            IngestionJob.objects.select_for_update()
            .filter(project_id=project_id, pk=job_id, status=Status.RUNNING, claimed_by=worker_id)
            .first()
        )
        if job is None:
            return FailureOutcome.LOST
        now = timezone.now()
        if retryable and job.attempts < job.max_attempts:
            delay = retry_delay(job.attempts)
            _job_to_pending(job, now, next_attempt_at=now + timedelta(seconds=delay), error=reason)
            transaction.on_commit(
                lambda: enqueue_ingestion_job(job.id, job.project_id, countdown=delay)
            )
            return FailureOutcome.RETRY
        if retryable:
            reason = f"gave up after {job.attempts} attempts: {reason}"
        _job_to_failed(job, now, reason)
        return FailureOutcome.FAILED


def _job_to_pending(
    job: IngestionJob, now: datetime, *, next_attempt_at: datetime | None, error: str
) -> None:
    job.status, job.claimed_by, job.next_attempt_at = Status.PENDING, "", next_attempt_at
    job.error = error  # the last error stays visible while the job waits for its retry
    job.save(update_fields=["status", "claimed_by", "next_attempt_at", "error", "updated_at"])


def _job_to_failed(job: IngestionJob, now: datetime, reason: str) -> None:
    job.status, job.claimed_by, job.error, job.completed_at = Status.FAILED, "", reason, now
    job.save(update_fields=["status", "claimed_by", "error", "completed_at", "updated_at"])
    project = Project.objects.only("organization_id").get(pk=job.project_id)
    audit_record(
        org_id=project.organization_id,
        project_id=job.project_id,
        actor=Actor(job.actor_type, job.actor_id),
        action="ingestion.failed",
        target_type="event",
        target_id=str(job.id),
        extra={"attempts": job.attempts},
    )
    ingest_job_emit(project=project, job_id=job.id, succeeded=False, error=reason)


# --- the sweeper's transitions (one project at a time, inside its tenant context) ---------------

WORKER_LOST = (
    "the worker processing this job stopped responding (killed, out of memory or over its "
    "time limit)"
)


def ingestion_jobs_recover_stale(*, project_id: UUID, now: datetime, limit: int) -> list[UUID]:
    """RUNNING jobs whose worker died: back to PENDING (ids returned, to enqueue), or FAILED
    when they used up their attempts. Rows a live worker is finishing are locked: skipped."""
    stale = now - timedelta(seconds=settings.ENGRAM_JOB_HEARTBEAT_STALE_SECONDS)
    jobs = list(
        IngestionJob.objects.select_for_update(skip_locked=True)
        .filter(project_id=project_id, status=Status.RUNNING, heartbeat_at__lt=stale)
        .order_by("heartbeat_at")[:limit]
    )
    requeued = []
    for job in jobs:
        if job.attempts >= job.max_attempts:
            _job_to_failed(job, now, f"gave up after {job.attempts} attempts: {WORKER_LOST}")
        else:
            _job_to_pending(job, now, next_attempt_at=None, error=WORKER_LOST)
            requeued.append(job.id)
    return requeued


def ingestion_jobs_mark_redispatched(*, project_id: UUID, now: datetime, limit: int) -> list[UUID]:
    """PENDING jobs nobody picked up for ENGRAM_JOB_REDISPATCH_SECONDS after they became due
    (their message was lost with a worker or a Redis restart). `updated_at` doubles as
    "last dispatched", so each is sent again at most once per period."""
    quiet_since = now - timedelta(seconds=settings.ENGRAM_JOB_REDISPATCH_SECONDS)
    due = Q(next_attempt_at__isnull=True) | Q(next_attempt_at__lte=quiet_since)
    ids = list(
        IngestionJob.objects.filter(
            due, project_id=project_id, status=Status.PENDING, updated_at__lt=quiet_since
        )
        .order_by("updated_at")
        .values_list("pk", flat=True)[:limit]
    )
    if ids:
        IngestionJob.objects.filter(
            project_id=project_id, pk__in=ids, status=Status.PENDING
        ).update(updated_at=now)
    return ids
