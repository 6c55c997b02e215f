"""Data-subject requests: received → running → done | failed, due 30 days after receipt
(GDPR Art. 12(3)). Work runs in a Celery task; the services here are what the API, the
console and the task call."""

import json
import logging
from datetime import datetime, timedelta
from typing import Any
from uuid import UUID

from django.db import transaction
from django.utils import timezone

from audit.gdpr.cache import subject_cache_purge
from audit.gdpr.erasure import remaining_rows, subject_erase_rows, subject_forget_identifiers
from audit.gdpr.export import export_document
from audit.models import DataSubjectRequest
from audit.retention import active_holds
from audit.services import SYSTEM_ACTOR, Actor, audit_record
from audit.subjects import Subject, subject_hash, subject_parse
from audit.sweeper import retention_policy_for
from config.errors import InvalidInput, NotFound
from tenants.context import tenant_context
from tenants.keyring import FieldContext, encrypt, subject_key_destroy
from tenants.models import Project

logger = logging.getLogger(__name__)
DUE_AFTER = timedelta(days=30)
MAX_ATTEMPTS = 3
REQUEST_TABLE = "audit_datasubjectrequest"
Status = DataSubjectRequest.Status


class RequestRetry(Exception):
    """The request failed in a way worth retrying; it is back to `received`."""


def export_context(request_id: UUID | str) -> FieldContext:
    return FieldContext(table=REQUEST_TABLE, row_id=str(request_id), field="export")


def _uuid(value: Any) -> UUID:
    try:
        return UUID(str(value))
    except ValueError as exc:
        raise NotFound("Request not found.") from exc


def gdpr_request_create(
    *, project: Project, kind: str, subject_type: str, subject_id: str, actor: Actor
) -> DataSubjectRequest:
    """Record the request (audited, no raw subject id in the audit row) and queue its work
    after commit."""
    if kind not in DataSubjectRequest.Kind.values:
        raise InvalidInput(f"kind: must be one of {DataSubjectRequest.Kind.values}.")
    subject = subject_parse(subject_type, subject_id)
    now = timezone.now()
    with tenant_context(project.id, project.organization_id):
        request = DataSubjectRequest.objects.create(
            project=project,
            kind=kind,
            subject_type=subject.type,
            subject_id=subject.id,
            subject_hash=subject_hash(project.id, subject),
            requested_by=f"{actor.type}:{actor.id}",
            received_at=now,
            due_at=now + DUE_AFTER,
        )
        _audit(project, request, actor, "gdpr.requested", due_at=request.due_at.isoformat())
        gdpr_request_enqueue(project_id=project.id, request_id=request.id)
    return request


def gdpr_request_enqueue(*, project_id: UUID, request_id: UUID) -> None:
    def send() -> None:
        from audit.tasks import gdpr_request_task

        gdpr_request_task.delay(str(project_id), str(request_id))

    transaction.on_commit(send)


def _audit(
    project: Project, request: DataSubjectRequest, actor: Actor, action: str, **extra: Any
) -> None:
    audit_record(
        org_id=project.organization_id,
        project_id=project.id,
        actor=actor,
        action=action,
        target_type="gdpr_request",
        target_id=str(request.id),
        extra={
            "kind": request.kind,
            "subject_type": request.subject_type,
            "subject_hash": request.subject_hash,
            **extra,
        },
    )


def _claim(project: Project, request_id: UUID) -> DataSubjectRequest | None:
    """received → running, exactly once (a conditional UPDATE)."""
    with tenant_context(project.id, project.organization_id):
        claimed = DataSubjectRequest.objects.filter(
            project=project, pk=request_id, status=Status.RECEIVED
        ).update(status=Status.RUNNING, started_at=timezone.now())
        if claimed != 1:
            return None
        request = DataSubjectRequest.objects.get(project=project, pk=request_id)
        request.attempts += 1
        request.save(update_fields=["attempts"])
    return request


def gdpr_request_process(*, project_id: UUID | str, request_id: UUID | str) -> str | None:
    """The task body: run the request if nobody else is; returns the final status."""
    project = Project.objects.select_related("organization").filter(pk=project_id).first()
    if project is None:
        return None
    request = _claim(project, _uuid(request_id))
    if request is None:
        return None
    try:
        if request.kind == DataSubjectRequest.Kind.EXPORT:
            return _run_export(project, request)
        return _run_erasure(project, request)
    except Exception as exc:
        logger.exception("gdpr request %s failed (attempt %s)", request.id, request.attempts)
        retry = request.attempts < MAX_ATTEMPTS
        _fail(project, request, f"{type(exc).__name__} (see server logs)", retry=retry)
        if retry:
            raise RequestRetry(str(request.id)) from exc
        return Status.FAILED


def _fail(project: Project, request: DataSubjectRequest, error: str, *, retry: bool) -> None:
    with tenant_context(project.id, project.organization_id):
        status = Status.RECEIVED if retry else Status.FAILED
        finished = None if retry else timezone.now()
        DataSubjectRequest.objects.filter(project=project, pk=request.id).update(
            status=status, error=error, finished_at=finished
        )
        if not retry:
            _audit(project, request, SYSTEM_ACTOR, "gdpr.request_failed", error=error)


def _subject(request: DataSubjectRequest) -> Subject:
    return Subject(type=request.subject_type, id=request.subject_id)


def _run_export(project: Project, request: DataSubjectRequest) -> str:
    subject = _subject(request)
    with tenant_context(project.id, project.organization_id):
        document = export_document(project=project, subject=subject, request_id=request.id)
        payload = json.dumps(document, ensure_ascii=False, indent=1)
        now = timezone.now()
        expires = now + timedelta(seconds=retention_policy_for(project).export_seconds)
        DataSubjectRequest.objects.filter(project=project, pk=request.id).update(
            status=Status.DONE,
            finished_at=now,
            error="",
            counts=document["counts"],
            export_ciphertext=encrypt(
                project.id, payload, export_context(request.id), subject=subject.key_subject
            ),
            export_bytes=len(payload.encode()),
            export_expires_at=expires,
        )
        _audit(
            project,
            request,
            SYSTEM_ACTOR,
            "gdpr.export_completed",
            counts=document["counts"],
            bytes=len(payload.encode()),
        )
    return Status.DONE


def _run_erasure(project: Project, request: DataSubjectRequest) -> str:
    subject = _subject(request)
    if not subject.id:
        raise InvalidInput("this request's subject was already erased")
    with tenant_context(project.id, project.organization_id):
        held = active_holds(project_id=project.id).covers(subject)
    if held:
        _fail(project, request, "legal_hold: a legal hold covers this subject", retry=False)
        return Status.FAILED
    rows = subject_erase_rows(project=project, subject=subject)
    redis_counts = subject_cache_purge(project_id=project.id, subject=subject)
    with tenant_context(project.id, project.organization_id):
        rows += subject_forget_identifiers(project=project, subject=subject)
        keys = subject_key_destroy(project.id, subject.key_subject) if subject.key_subject else 0
        finished = timezone.now()
        counts = {"rows": dict(rows), "redis": redis_counts, "keys_destroyed": keys}
        DataSubjectRequest.objects.filter(project=project, pk=request.id).update(
            status=Status.DONE, finished_at=finished, error="", counts=counts, subject_id=""
        )
        left = remaining_rows(project=project, subject=subject)
        _audit(
            project,
            request,
            SYSTEM_ACTOR,
            "gdpr.erasure_completed",
            received_at=request.received_at.isoformat(),
            completed_at=finished.isoformat(),
            counts=counts,
            remaining=left,
        )
    return Status.DONE


def gdpr_requests_resume(*, now: datetime | None = None, stale_after: int = 1800) -> int:
    """Re-queue requests whose message was lost and reset runs whose worker died."""
    now = now or timezone.now()
    queued = 0
    for project in Project.objects.select_related("organization"):
        with tenant_context(project.id, project.organization_id):
            DataSubjectRequest.objects.filter(
                project=project,
                status=Status.RUNNING,
                started_at__lt=now - timedelta(seconds=stale_after),
            ).update(status=Status.RECEIVED)
            waiting = DataSubjectRequest.objects.filter(
                project=project, status=Status.RECEIVED, received_at__lt=now - timedelta(minutes=2)
            ).values_list("pk", flat=True)
            for request_id in waiting:
                gdpr_request_enqueue(project_id=project.id, request_id=request_id)
                queued += 1
    return queued
