"""The retention sweeper: deletes what outlived the project's policy, in batches of
BATCH_SIZE rows per transaction, each batch audited (counts, never content) in its own
transaction. Legal holds exclude what they cover; a project-wide hold skips the project.

Redis entries are not swept here: the short-term window and the working-state cache carry
their own TTLs (the pipeline takes them from the policy), and the query-vector cache holds
no project data (see docs/compliance.md).
"""

import logging
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from django.apps import apps
from django.db.models import Q, QuerySet
from django.utils import timezone

from audit.models import DataSubjectRequest, RetentionPolicy
from audit.purge import episodes_purge, ids_of, memories_purge, rows_purge
from audit.retention import HoldSet, active_holds
from audit.services import SYSTEM_ACTOR, audit_record
from memory.models import Episode, IngestionJob, Memory, MemoryExport, WorkingState
from tenants.context import tenant_context
from tenants.models import Project

logger = logging.getLogger(__name__)
BATCH_SIZE = 500
MAX_BATCHES_PER_STEP = 200  # bounds one run; the next run carries on where this one stopped
FINISHED_JOB_STATES = [IngestionJob.Status.SUCCEEDED, IngestionJob.Status.FAILED]


@dataclass
class SweepReport:
    project_id: str
    removed: Counter[str] = field(default_factory=Counter)
    held: bool = False
    batches: int = 0


@dataclass(frozen=True)
class SweepStep:
    """One kind of expired data: how to find a batch of it, and how to delete a batch."""

    name: str
    select: Callable[[Project, RetentionPolicy, HoldSet, datetime], QuerySet[Any]]
    delete: Callable[[Project, list[Any]], Counter[str]]


def _ago(now: datetime, seconds: int) -> datetime:
    return now - timedelta(seconds=seconds)


def memories_expired_q(policy: RetentionPolicy, now: datetime) -> Q:
    """A memory expires when its age (since last change) passes the shortest rule that
    applies to it (by category, by agent), else the long-term default; or when its Mem0
    expiration_date (inclusive, UTC) plus the grace period is past."""
    categories, agents = policy.category_rules, policy.agent_rules
    ruled = Q(pk__in=[])
    if categories:
        ruled |= Q(categories__overlap=list(categories))
    if agents:
        ruled |= Q(agent_id__in=list(agents))
    expired = ~ruled & Q(updated_at__lt=_ago(now, policy.long_term_seconds))
    for category, seconds in categories.items():
        expired |= Q(categories__contains=[category], updated_at__lt=_ago(now, seconds))
    for agent_id, seconds in agents.items():
        expired |= Q(agent_id=agent_id, updated_at__lt=_ago(now, seconds))
    last_visible_day = _ago(now, policy.expired_grace_seconds).astimezone(UTC).date()
    return expired | Q(expiration_date__lt=last_visible_day)


def _memories(project: Project, policy: RetentionPolicy, holds: HoldSet, now: datetime) -> Any:
    return (
        Memory.objects.filter(project=project)
        .filter(memories_expired_q(policy, now))
        .exclude(holds.held_q())
    )


def _episodes(project: Project, policy: RetentionPolicy, holds: HoldSet, now: datetime) -> Any:
    expired = Q(created_at__lt=_ago(now, policy.episodic_seconds))
    for agent_id, seconds in policy.agent_rules.items():
        expired |= Q(agent_id=agent_id, created_at__lt=_ago(now, seconds))
    # An episode whose ingestion has not finished yet is the job's input: never swept.
    unfinished = IngestionJob.objects.filter(project=project).exclude(
        status__in=FINISHED_JOB_STATES
    )
    return (
        Episode.objects.filter(project=project)
        .filter(expired)
        .exclude(holds.held_q())
        .exclude(pk__in=unfinished.filter(episode__isnull=False).values("episode_id"))
    )


def _working_states(
    project: Project, policy: RetentionPolicy, holds: HoldSet, now: datetime
) -> Any:
    return (
        WorkingState.objects.filter(project=project)
        .filter(updated_at__lt=_ago(now, policy.working_state_seconds))
        .exclude(holds.held_q(columns=("user_id", "agent_id", "run_id")))
    )


def _jobs(project: Project, policy: RetentionPolicy, holds: HoldSet, now: datetime) -> Any:
    """Finished ingestion jobs with their encrypted request payload. Jobs of held subjects
    stay with their episodes (the hold is checked through the episode)."""
    return (
        IngestionJob.objects.filter(project=project, status__in=FINISHED_JOB_STATES)
        .filter(updated_at__lt=_ago(now, policy.ingestion_payload_seconds))
        .exclude(holds.held_q(prefix="episode__"))
    )


def _exports(project: Project, policy: RetentionPolicy, holds: HoldSet, now: datetime) -> Any:
    expired = Q(created_at__lt=_ago(now, policy.export_seconds)) | Q(expires_at__lt=now)
    return MemoryExport.objects.filter(project=project).filter(expired)


def _dsr_exports(project: Project, policy: RetentionPolicy, holds: HoldSet, now: datetime) -> Any:
    return DataSubjectRequest.objects.filter(
        project=project, export_ciphertext__isnull=False
    ).filter(Q(export_expires_at__lt=now) | Q(finished_at__lt=_ago(now, policy.export_seconds)))


def _webhook_deliveries(
    project: Project, policy: RetentionPolicy, holds: HoldSet, now: datetime
) -> Any:
    """Finished webhook deliveries (their payload is already wiped): the bookkeeping rows,
    which still name the end user, go with the ingestion payloads' retention."""
    from integrations.models import DeliveryStatus, WebhookDelivery

    finished = [DeliveryStatus.SUCCEEDED, DeliveryStatus.FAILED]
    return (
        WebhookDelivery.objects.filter(project=project, status__in=finished)
        .filter(created_at__lt=_ago(now, policy.ingestion_payload_seconds))
        .exclude(subject_user_id__in=list(holds.by_column.get("user_id", ())))
    )


def _delete_webhook_deliveries(project: Project, ids: list[Any]) -> Counter[str]:
    from integrations.models import WebhookDelivery

    return rows_purge(WebhookDelivery.objects.filter(project=project, pk__in=ids))


def _delete_memories(project: Project, ids: list[Any]) -> Counter[str]:
    return memories_purge(project_id=project.id, memory_ids=ids)


def _delete_episodes(project: Project, ids: list[Any]) -> Counter[str]:
    return episodes_purge(project_id=project.id, episode_ids=ids)


def _deleter(model: Any) -> Callable[[Project, list[Any]], Counter[str]]:
    def delete(project: Project, ids: list[Any]) -> Counter[str]:
        return rows_purge(model.objects.filter(project=project, pk__in=ids))

    return delete


def _clear_dsr_exports(project: Project, ids: list[Any]) -> Counter[str]:
    cleared = DataSubjectRequest.objects.filter(project=project, pk__in=ids).update(
        export_ciphertext=None, export_bytes=None
    )
    return Counter({"audit_datasubjectrequest.export": cleared})


STEPS = (
    SweepStep("memories", _memories, _delete_memories),
    SweepStep("episodes", _episodes, _delete_episodes),
    SweepStep("working_state", _working_states, _deleter(WorkingState)),
    SweepStep("ingestion_payloads", _jobs, _deleter(IngestionJob)),
    SweepStep("exports", _exports, _deleter(MemoryExport)),
    SweepStep("gdpr_exports", _dsr_exports, _clear_dsr_exports),
    SweepStep("webhook_deliveries", _webhook_deliveries, _delete_webhook_deliveries),
)


def retention_policy_for(project: Project) -> RetentionPolicy:
    """Inside the tenant context: the stored policy or the defaults."""
    return RetentionPolicy.objects.filter(project=project).first() or RetentionPolicy(
        project=project
    )


def _sweep_batch(project: Project, step: SweepStep, now: datetime, batch: int) -> Counter[str]:
    """One transaction: find a batch, delete it, audit the counts."""
    with tenant_context(project.id, project.organization_id):
        policy = retention_policy_for(project)
        holds = active_holds(project_id=project.id)
        if holds.project_wide:
            return Counter()
        ids = ids_of(step.select(project, policy, holds, now), BATCH_SIZE)
        if not ids:
            return Counter()
        removed = step.delete(project, ids)
        audit_record(
            org_id=project.organization_id,
            project_id=project.id,
            actor=SYSTEM_ACTOR,
            action="retention.swept",
            target_type="retention_policy",
            target_id=str(project.id),
            extra={"step": step.name, "batch": batch, "removed": dict(removed)},
        )
    return removed


def retention_sweep_project(*, project: Project, now: datetime | None = None) -> SweepReport:
    now = now or timezone.now()
    report = SweepReport(project_id=str(project.id))
    with tenant_context(project.id, project.organization_id):
        report.held = active_holds(project_id=project.id).project_wide
    if report.held:
        logger.info("retention: project %s is under a legal hold; skipped", project.id)
        return report
    for step in STEPS:
        if step.name == "webhook_deliveries" and not apps.is_installed("integrations"):
            continue
        for batch in range(1, MAX_BATCHES_PER_STEP + 1):
            removed = _sweep_batch(project, step, now, batch)
            if not removed:
                break
            report.removed += removed
            report.batches += 1
    return report


def retention_sweep_all(*, now: datetime | None = None) -> list[SweepReport]:
    """Every project in turn (each in its own tenant transactions)."""
    reports = []
    for project in Project.objects.select_related("organization").order_by("created_at"):
        reports.append(retention_sweep_project(project=project, now=now))
    return reports
