"""Art. 17 erasure: every row of one subject, in every table, in batches (each its own
transaction, so a large subject never holds long locks and a crash resumes where it
stopped). The caller then shreds the subject's key and purges Redis (gdpr.requests)."""

import json
from collections import Counter
from collections.abc import Callable
from typing import Any

from django.apps import apps
from django.db.models import Q

from audit.models import DataSubjectRequest, LegalHold
from audit.purge import episodes_purge, ids_of, memories_purge, rows_purge
from audit.subjects import Subject, filters_may_include, subject_hash
from memory.models import Entity, Episode, IngestionJob, Memory, MemoryExport, WorkingState
from memory.services.exports import export_filters
from tenants.context import tenant_context
from tenants.keyring import DecryptionError, decrypt
from tenants.models import Project

BATCH_SIZE = 500


def _batched(project: Project, step: Callable[[], Counter[str]]) -> Counter[str]:
    """Repeat one batch step in its own tenant transaction until it removes nothing."""
    total: Counter[str] = Counter()
    while True:
        with tenant_context(project.id, project.organization_id):
            removed = step()
        if not removed:
            return total
        total += removed


def subject_erase_rows(*, project: Project, subject: Subject) -> Counter[str]:
    """Delete the subject's rows. Episodes (and their ingestion jobs) go first: deleting a
    job waits for a worker still writing from it, whose memories the next step then sees."""
    pid = project.id

    def episodes() -> Counter[str]:
        queryset = Episode.objects.filter(project_id=pid).filter(subject.q())
        return episodes_purge(project_id=pid, episode_ids=ids_of(queryset, BATCH_SIZE))

    erased: list[Any] = []

    def memories() -> Counter[str]:
        queryset = Memory.objects.filter(project_id=pid).filter(subject.q())
        ids = ids_of(queryset, BATCH_SIZE)
        erased.extend(ids)
        return _events_of(project, ids) + memories_purge(project_id=pid, memory_ids=ids)

    def working_state() -> Counter[str]:
        queryset = WorkingState.objects.filter(project_id=pid).filter(subject.q())
        return rows_purge(queryset.filter(pk__in=ids_of(queryset, BATCH_SIZE)))

    counts = _batched(project, episodes)
    counts += _batched(project, memories)
    counts += _batched(project, working_state)
    with tenant_context(project.id, project.organization_id):
        counts += _scoped_entities(project, subject)
        counts += _exports(project, subject)
        counts += webhook_deliveries_purge(project=project, subject=subject, memory_ids=erased)
    return counts


def _events_of(project: Project, memory_ids: list[Any]) -> Counter[str]:
    """Ingestion events (jobs) without an episode that produced these memories: a direct
    add's event lists the memory ids it created, nothing else."""
    if not memory_ids:
        return Counter()
    produced = Q(pk__in=[])
    for memory_id in memory_ids:
        produced |= Q(results__contains=[{"id": str(memory_id)}])
    jobs = IngestionJob.objects.filter(project=project, episode__isnull=True).filter(produced)
    return rows_purge(jobs)


def webhook_deliveries_purge(
    *, project: Project, subject: Subject, memory_ids: list[Any]
) -> Counter[str]:
    """Webhook outbox rows about the subject: all of an end user's (their payloads are
    sealed with the user's key, and the row names the user), plus undelivered payloads that
    report one of the erased memories (an agent's or a session's)."""
    if not apps.is_installed("integrations"):
        return Counter()
    from integrations.delivery import payload_context
    from integrations.models import WebhookDelivery

    deliveries = WebhookDelivery.objects.filter(project=project)
    counts: Counter[str] = Counter()
    if subject.key_subject:
        counts += rows_purge(deliveries.filter(subject_user_id=subject.id))
    wanted = {str(memory_id) for memory_id in memory_ids}
    doomed = []
    for delivery in deliveries.filter(payload_ciphertext__isnull=False) if wanted else []:
        try:
            payload = json.loads(
                decrypt(project.id, delivery.payload_ciphertext or "", payload_context(delivery.id))
            )
        except (DecryptionError, ValueError):
            continue
        if str(payload.get("event_details", {}).get("id")) in wanted:
            doomed.append(delivery.id)
    if doomed:
        counts += rows_purge(deliveries.filter(pk__in=doomed))
    return counts


def _scoped_entities(project: Project, subject: Subject) -> Counter[str]:
    """Entities in the subject's own scope, even those no memory mentions any more."""
    if subject.column not in ("user_id", "agent_id"):
        return Counter()
    queryset = Entity.objects.filter(project=project).filter(subject.q())
    ids = list(queryset.values_list("pk", flat=True))
    return rows_purge(Entity.objects.filter(project=project, pk__in=ids))


def _exports(project: Project, subject: Subject) -> Counter[str]:
    """Structured exports whose results may hold the subject's data: their (encrypted)
    filters name the subject, or do not pin the subject's column to other ids."""
    candidates = MemoryExport.objects.filter(project=project).only("id", "project_id", "filters")
    ids = [row.id for row in candidates if filters_may_include(export_filters(row), subject)]
    return (
        rows_purge(MemoryExport.objects.filter(project=project, pk__in=ids)) if ids else Counter()
    )


def subject_forget_identifiers(*, project: Project, subject: Subject) -> Counter[str]:
    """Earlier requests and released holds for the subject keep only its keyed hash; export
    files of earlier requests are deleted. Runs inside the tenant transaction."""
    digest = subject_hash(project.id, subject)
    requests = DataSubjectRequest.objects.filter(project=project, subject_hash=digest)
    files = requests.filter(export_ciphertext__isnull=False).update(
        export_ciphertext=None, export_bytes=None
    )
    requests.update(subject_id="")
    holds = LegalHold.objects.filter(
        project=project, subject_hash=digest, released_at__isnull=False
    ).update(subject_id="")
    counts: Counter[str] = Counter()
    if files:
        counts["audit_datasubjectrequest.export"] = files
    if holds:
        counts["audit_legalhold.subject_id"] = holds
    return counts


def remaining_rows(*, project: Project, subject: Subject) -> dict[str, int]:
    """What is left of the subject (zero everywhere after a successful erasure)."""
    scoped: dict[str, Any] = {
        "memory_memory": Memory.objects.filter(subject.q()),
        "memory_episode": Episode.objects.filter(subject.q()),
        "memory_workingstate": WorkingState.objects.filter(subject.q()),
    }
    if subject.column in ("user_id", "agent_id"):
        scoped["memory_entity"] = Entity.objects.filter(subject.q())
    left = {table: qs.filter(project=project).count() for table, qs in scoped.items()}
    left["audit_datasubjectrequest"] = DataSubjectRequest.objects.filter(
        Q(project=project) & ~Q(subject_id="") & Q(subject_hash=subject_hash(project.id, subject))
    ).count()
    return left
