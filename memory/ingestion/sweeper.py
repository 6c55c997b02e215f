"""The periodic job sweeper (Celery beat, every ENGRAM_JOB_SWEEP_SECONDS).

It finds what the queue forgot: RUNNING jobs whose worker died (stale heartbeat) go back to
PENDING, or to FAILED once their attempts are used up; PENDING jobs nobody picked up (their
message was lost with a worker or a Redis restart) are enqueued again. Duplicate messages
are harmless: a job runs only after winning its conditional-UPDATE claim.

Row-level security hides every job outside a tenant context, so the sweeper walks the
projects (a table without RLS) and looks at each one inside its own context; a partial
index on open jobs keeps each look cheap.
"""

import logging
from dataclasses import dataclass, field
from uuid import UUID

from django.db import transaction
from django.utils import timezone

from memory.ingestion.dispatch import enqueue_ingestion_job
from memory.services.ingestion import (
    ingestion_jobs_mark_redispatched,
    ingestion_jobs_recover_stale,
)
from tenants.context import tenant_context
from tenants.models import Project

logger = logging.getLogger(__name__)

BATCH_PER_PROJECT = 500  # per step and sweep; the next sweep carries on


@dataclass
class SweepReport:
    projects: int = 0
    recovered: list[UUID] = field(default_factory=list)  # stale RUNNING -> PENDING
    redispatched: list[UUID] = field(default_factory=list)  # forgotten PENDING, sent again

    def as_dict(self) -> dict[str, int]:
        return {
            "projects": self.projects,
            "recovered": len(self.recovered),
            "redispatched": len(self.redispatched),
        }


def _sweep_project(project_id: UUID, org_id: UUID, report: SweepReport) -> None:
    now = timezone.now()
    with tenant_context(project_id, org_id):
        recovered = ingestion_jobs_recover_stale(
            project_id=project_id, now=now, limit=BATCH_PER_PROJECT
        )
        redispatched = ingestion_jobs_mark_redispatched(
            project_id=project_id, now=now, limit=BATCH_PER_PROJECT
        )
        for job_id in [*recovered, *redispatched]:
            transaction.on_commit(
                lambda job_id=job_id: enqueue_ingestion_job(job_id, project_id)  # type: ignore[misc]
            )
    report.recovered += recovered
    report.redispatched += redispatched


def sweep_ingestion_jobs() -> SweepReport:
    """One pass over every project; a failing project is logged and the pass goes on."""
    report = SweepReport()
    for project_id, org_id in list(Project.objects.values_list("id", "organization_id")):
        report.projects += 1
        try:
            _sweep_project(project_id, org_id, report)
        except Exception:
            logger.exception("sweeping ingestion jobs of project %s failed", project_id)
    if report.recovered or report.redispatched:
        logger.info("ingestion sweep", extra=report.as_dict())
    return report
