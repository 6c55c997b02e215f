"""Ingestion jobs in the console: status, timing, failure reason; retrying a failed job."""

from dataclasses import dataclass
from datetime import timedelta
from typing import Any
from uuid import UUID

from django.conf import settings
from django.contrib import messages
from django.db import transaction
from django.db.models import Count
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect
from django.views.decorators.http import require_GET, require_POST

from audit.services import Actor, audit_record
from config.errors import Conflict, NotFound
from memory.ingestion.dispatch import enqueue_ingestion_job
from memory.models import IngestionJob
from tenants.console.access import console_access, console_view
from tenants.console.pages import page_number, query_without_page, render_page
from tenants.context import tenant_context
from tenants.models import Project

PAGE_SIZE = 50
Status = IngestionJob.Status
JOB_NOT_FOUND = "Job not found."


@dataclass(frozen=True)
class JobPage:
    jobs: list[IngestionJob]
    count: int
    by_status: dict[str, int]


def job_duration(job: IngestionJob) -> timedelta | None:
    if job.started_at and job.completed_at:
        return job.completed_at - job.started_at
    return None


def jobs_page(*, project: Project, status: str, page: int) -> JobPage:
    with tenant_context(project.id, project.organization_id):
        jobs = IngestionJob.objects.filter(project=project).defer("options_ciphertext")
        by_status = dict.fromkeys(Status.values, 0)
        for row in jobs.values("status").annotate(n=Count("id")):
            by_status[row["status"]] = row["n"]
        if status in Status.values:
            jobs = jobs.filter(status=status)
        offset = (page - 1) * PAGE_SIZE
        rows = list(jobs.order_by("-created_at", "-id")[offset : offset + PAGE_SIZE])
        count = by_status[status] if status in Status.values else sum(by_status.values())
    return JobPage(rows, count, by_status)


def job_get(*, project: Project, job_id: Any) -> IngestionJob:
    try:
        key = UUID(str(job_id))
    except ValueError as exc:
        raise NotFound(JOB_NOT_FOUND) from exc
    with tenant_context(project.id, project.organization_id):
        job = IngestionJob.objects.filter(project=project, pk=key).first()
    if job is None:
        raise NotFound(JOB_NOT_FOUND)
    return job


def ingestion_job_retry(*, project: Project, job_id: Any, actor: Actor) -> IngestionJob:
    """FAILED -> PENDING with a fresh attempt budget (the attempts so far stay counted),
    enqueued after commit. Conditional, so two clicks retry once."""
    job = job_get(project=project, job_id=job_id)
    with tenant_context(project.id, project.organization_id):
        moved = IngestionJob.objects.filter(
            project=project, pk=job.pk, status=Status.FAILED
        ).update(
            status=Status.PENDING,
            claimed_by="",
            next_attempt_at=None,
            completed_at=None,
            max_attempts=job.attempts + settings.ENGRAM_JOB_MAX_ATTEMPTS,
        )
        if moved != 1:
            raise Conflict("Only a failed job can be retried.")
        audit_record(
            org_id=project.organization_id,
            project_id=project.id,
            actor=actor,
            action="ingestion.retried",
            target_type="event",
            target_id=str(job.pk),
            extra={"attempts": job.attempts},
        )
        transaction.on_commit(lambda: enqueue_ingestion_job(job.pk, project.id))
    return job_get(project=project, job_id=job.pk)


@console_view
@require_GET
def jobs_view(request: HttpRequest, project_id: str) -> HttpResponse:
    access = console_access(request, project_id)
    status = request.GET.get("status", "")
    page = page_number(request)
    found = jobs_page(project=access.current_project, status=status, page=page)
    context = {
        "found": found,
        "status": status if status in Status.values else "",
        "tabs": [(value, label, found.by_status[value]) for value, label in Status.choices],
        "page": page,
        "has_next": page * PAGE_SIZE < found.count,
        "has_previous": page > 1,
        "query_string": query_without_page(request.GET),
        "rows": [(job, job_duration(job)) for job in found.jobs],
    }
    return render_page(request, "memory/jobs.html", access, context, section="jobs")


@console_view
@require_GET
def job_detail_view(request: HttpRequest, project_id: str, job_id: str) -> HttpResponse:
    access = console_access(request, project_id)
    job = job_get(project=access.current_project, job_id=job_id)
    results = [entry for entry in job.results or [] if isinstance(entry, dict)]
    context = {"job": job, "duration": job_duration(job), "results": results}
    return render_page(request, "memory/job_detail.html", access, context, section="jobs")


@console_view
@require_POST
def job_retry_view(request: HttpRequest, project_id: str, job_id: str) -> HttpResponse:
    access = console_access(request, project_id, need="retry_jobs")
    try:
        ingestion_job_retry(project=access.current_project, job_id=job_id, actor=access.actor)
    except Conflict as exc:
        messages.error(request, exc.message)
    else:
        messages.success(request, "The job is queued again.")
    return redirect("console:job", project_id=access.current_project.id, job_id=job_id)
