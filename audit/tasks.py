"""Celery tasks of the audit app: thin wrappers that take ids and call services.

Periodic (see CELERY_BEAT_SCHEDULE): the retention sweep, the checkpoint signer and the
resumer of data-subject requests whose message was lost or whose worker died.
"""

import logging

from celery import shared_task

from audit.checkpoints import checkpoints_write_all
from audit.gdpr.requests import RequestRetry, gdpr_request_process, gdpr_requests_resume
from audit.sweeper import retention_sweep_all

logger = logging.getLogger(__name__)


@shared_task(
    name="audit.gdpr_request",
    acks_late=True,
    ignore_result=True,
    soft_time_limit=3300,
    time_limit=3600,
    autoretry_for=(RequestRetry,),
    retry_backoff=30,
    max_retries=5,
)
def gdpr_request_task(project_id: str, request_id: str) -> str | None:
    """Run one export or erasure; idempotent (a claimed or finished request is skipped)."""
    return gdpr_request_process(project_id=project_id, request_id=request_id)


@shared_task(
    name="audit.retention_sweep",
    acks_late=True,
    ignore_result=True,
    soft_time_limit=3300,
    time_limit=3600,
)
def retention_sweep_task() -> int:
    reports = retention_sweep_all()
    removed = sum(sum(report.removed.values()) for report in reports)
    logger.info("retention sweep: %s rows removed in %s projects", removed, len(reports))
    return removed


@shared_task(
    name="audit.checkpoint", acks_late=True, ignore_result=True, soft_time_limit=600, time_limit=900
)
def audit_checkpoint_task() -> int:
    return len(checkpoints_write_all())


@shared_task(
    name="audit.gdpr_requests_resume",
    acks_late=True,
    ignore_result=True,
    soft_time_limit=120,
    time_limit=180,
)
def gdpr_requests_resume_task() -> int:
    return gdpr_requests_resume()
