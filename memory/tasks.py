"""Celery tasks of the memory app: thin wrappers that take ids only (never content, never
keys) and hand over to the pipeline, which opens its own tenant context.

Celery's autodiscovery imports `<app>.tasks` only, so the retrieval tasks defined in
memory/retrieval/tasks.py are imported here to register them with every worker.
"""

from celery import shared_task
from django.conf import settings

from memory.ingestion.pipeline import ingestion_job_run
from memory.ingestion.sweeper import sweep_ingestion_jobs
from memory.retrieval import tasks as retrieval_tasks

__all__ = ["ingest_job", "retrieval_tasks", "sweep_ingestion_jobs_task"]


@shared_task(
    name="memory.ingest_job",
    acks_late=True,
    ignore_result=True,
    soft_time_limit=settings.ENGRAM_JOB_SOFT_TIME_LIMIT,
    time_limit=settings.ENGRAM_JOB_SOFT_TIME_LIMIT + 30,
    # No Celery retries: the job row drives them (backoff, attempt count, FAILED with a
    # reason), and a message lost to broker trouble is re-sent by the sweeper.
)
def ingest_job(job_id: str, project_id: str) -> str:
    """Run one ingestion job; a no-op unless this worker wins the job's claim."""
    return ingestion_job_run(job_id=job_id, project_id=project_id).value


@shared_task(
    name="memory.sweep_ingestion_jobs",
    acks_late=True,
    ignore_result=True,
    soft_time_limit=60,
    time_limit=90,
)
def sweep_ingestion_jobs_task() -> dict[str, int]:
    """Beat: re-claim jobs of dead workers, re-send jobs whose message was lost."""
    return sweep_ingestion_jobs().as_dict()
