"""Putting a job id on the Celery queue. Only ids travel: the content stays encrypted in
Postgres, where the worker reads it inside its own tenant context."""

import logging
from uuid import UUID

from kombu.exceptions import KombuError
from redis import RedisError

logger = logging.getLogger(__name__)


def enqueue_ingestion_job(
    job_id: UUID | str, project_id: UUID | str, *, countdown: float | None = None
) -> bool:
    """Send the job to a worker. A broker outage is logged, not raised: this runs after the
    commit that made the job durable, and the sweeper dispatches jobs nobody picked up."""
    # Imported here: memory.tasks imports the pipeline, which imports this module.
    from memory.tasks import ingest_job

    try:
        ingest_job.apply_async(args=[str(job_id), str(project_id)], countdown=countdown)
    except (KombuError, RedisError, OSError):
        logger.warning("ingestion job %s not enqueued; the sweeper will", job_id, exc_info=True)
        return False
    return True
