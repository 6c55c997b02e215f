"""Reads of the audit app: the audit trail (filtered, exported as JSONL), data-subject
requests, legal holds. Each takes the project first and opens its tenant context."""

import json
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any
from uuid import UUID

from django.db.models import Q, QuerySet
from django.utils import timezone

from audit.models import AuditCheckpoint, AuditEvent, DataSubjectRequest, LegalHold
from config.errors import NotFound
from tenants.context import tenant_context
from tenants.models import Project

DEFAULT_EVENT_LIMIT = 500
EXPORT_CHUNK = 1000
OPEN_STATUSES = [DataSubjectRequest.Status.RECEIVED, DataSubjectRequest.Status.RUNNING]


def _events(
    project: Project,
    actor: str | None,
    action: str | None,
    target: str | None,
    since: datetime | None,
    until: datetime | None,
) -> QuerySet[AuditEvent]:
    events = AuditEvent.objects.filter(project_id=project.id)
    if actor:
        kind, _, ident = actor.partition(":")
        events = (
            events.filter(actor_type=kind, actor_id=ident)
            if ident
            else events.filter(Q(actor_id=actor) | Q(actor_type=actor))
        )
    if action:
        prefix = action.rstrip("*")
        events = (
            events.filter(action__startswith=prefix)
            if action.endswith(("*", "."))
            else (events.filter(action=action))
        )
    if target:
        kind, _, ident = target.partition(":")
        events = (
            events.filter(target_type=kind, target_id=ident)
            if ident
            else events.filter(Q(target_id=target) | Q(target_type=target))
        )
    if since:
        events = events.filter(occurred_at__gte=since)
    if until:
        events = events.filter(occurred_at__lt=until)
    return events


def audit_events_filter(
    *,
    project: Project,
    actor: str | None = None,
    action: str | None = None,
    target: str | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
    limit: int = DEFAULT_EVENT_LIMIT,
) -> list[AuditEvent]:
    """Newest first. `actor` / `target` are "type:id" or a bare id or type; `action` is an
    exact name, or a prefix when it ends with "." or "*" ("gdpr.*"). `until` is exclusive."""
    with tenant_context(project.id, project.organization_id):
        events = _events(project, actor, action, target, since, until)
        return list(events.order_by("-seq")[: max(1, min(limit, 10_000))])


def audit_event_json(event: AuditEvent) -> dict[str, Any]:
    """One event with its links, so an exported range can be re-verified offline."""
    return {
        "chain_id": str(event.chain_id),
        "seq": event.seq,
        "org_id": str(event.org_id),
        "project_id": str(event.project_id) if event.project_id else None,
        "occurred_at": event.occurred_at.astimezone(UTC).isoformat(),
        "actor_type": event.actor_type,
        "actor_id": event.actor_id,
        "action": event.action,
        "target_type": event.target_type,
        "target_id": event.target_id,
        "request_id": event.request_id,
        "extra": event.extra,
        "prev_hash": event.prev_hash,
        "hash": event.hash,
    }


def audit_export_jsonl(
    *, project: Project, since: datetime | None = None, until: datetime | None = None
) -> Iterator[str]:
    """The project's events in [since, until) in chain order, one JSON object per line.
    Reads in chunks, each in its own short transaction, so it can stream any range."""
    after_seq = 0
    while True:
        with tenant_context(project.id, project.organization_id):
            chunk = list(
                _events(project, None, None, None, since, until)
                .filter(seq__gt=after_seq)
                .order_by("seq")[:EXPORT_CHUNK]
            )
        for event in chunk:
            yield json.dumps(audit_event_json(event), sort_keys=True, ensure_ascii=False) + "\n"
        if len(chunk) < EXPORT_CHUNK:
            return
        after_seq = chunk[-1].seq


def audit_checkpoints_latest(*, project: Project, limit: int = 20) -> list[AuditCheckpoint]:
    with tenant_context(project.id, project.organization_id):
        return list(AuditCheckpoint.objects.filter(chain_id=project.id).order_by("-seq")[:limit])


# --- data-subject requests and holds -----------------------------------------------------------


def dsr_is_overdue(request: DataSubjectRequest, now: datetime | None = None) -> bool:
    """Not answered (done) by its due date: what the console flags."""
    now = now or timezone.now()
    if request.status == DataSubjectRequest.Status.DONE:
        return request.finished_at is not None and request.finished_at > request.due_at
    return request.due_at < now


def gdpr_request_list(
    *, project: Project, status: str | None = None, overdue_only: bool = False, limit: int = 500
) -> list[DataSubjectRequest]:
    """Newest first. `overdue_only`: open or failed requests past their due date."""
    with tenant_context(project.id, project.organization_id):
        requests = DataSubjectRequest.objects.filter(project=project).defer("export_ciphertext")
        if status:
            requests = requests.filter(status=status)
        if overdue_only:
            requests = requests.exclude(status=DataSubjectRequest.Status.DONE).filter(
                due_at__lt=timezone.now()
            )
        return list(requests.order_by("-received_at")[:limit])


def gdpr_requests_overdue(*, project: Project) -> list[DataSubjectRequest]:
    return gdpr_request_list(project=project, overdue_only=True)


def gdpr_request_get(*, project: Project, request_id: Any) -> DataSubjectRequest:
    """NotFound for missing and foreign alike."""
    try:
        parsed = UUID(str(request_id))
    except ValueError as exc:
        raise NotFound("Request not found.") from exc
    with tenant_context(project.id, project.organization_id):
        request = (
            DataSubjectRequest.objects.filter(project=project, pk=parsed)
            .defer("export_ciphertext")
            .first()
        )
    if request is None:
        raise NotFound("Request not found.")
    return request


def legal_hold_list(*, project: Project, include_released: bool = False) -> list[LegalHold]:
    with tenant_context(project.id, project.organization_id):
        holds = LegalHold.objects.filter(project=project)
        if not include_released:
            holds = holds.filter(released_at__isnull=True)
        return list(holds.order_by("-placed_at"))
