"""A running job's proof of life: a background thread refreshes `heartbeat_at` while the
worker waits on the LLM or the embedder. When the process dies the heartbeat stops, and
after ENGRAM_JOB_HEARTBEAT_STALE_SECONDS the sweeper hands the job to another worker."""

import logging
import threading
from types import TracebackType
from uuid import UUID

from django.conf import settings
from django.db import DatabaseError, connections

from memory.services.ingestion import ingestion_job_heartbeat

logger = logging.getLogger(__name__)


class ClaimLost(Exception):
    """Another worker took this job over (we looked dead): stop without writing anything."""


def heartbeat_interval() -> float:
    # Four beats per staleness period: one slow beat never makes a live job look dead.
    return max(0.2, settings.ENGRAM_JOB_HEARTBEAT_STALE_SECONDS / 4)


class JobHeartbeat:
    """`with JobHeartbeat(...) as beat:` keeps the claim alive; `beat.check()` raises
    ClaimLost once the job was re-claimed elsewhere."""

    def __init__(self, *, project_id: UUID | str, job_id: UUID | str, worker_id: str) -> None:
        self.project_id, self.job_id, self.worker_id = project_id, job_id, worker_id
        self.lost = False
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name=f"heartbeat-{job_id}", daemon=True)

    def __enter__(self) -> "JobHeartbeat":
        self._thread.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self._stop.set()
        self._thread.join(timeout=10)

    def check(self) -> None:
        if self.lost:
            raise ClaimLost(f"job {self.job_id} was re-claimed by another worker")

    def _run(self) -> None:
        try:
            while not self._stop.wait(heartbeat_interval()):
                if not self._beat():
                    self.lost = True
                    return
        finally:
            # This thread's own database connection; the worker's main one is untouched.
            connections.close_all()

    def _beat(self) -> bool:
        try:
            return ingestion_job_heartbeat(
                project_id=self.project_id, job_id=self.job_id, worker_id=self.worker_id
            )
        except DatabaseError:
            # A blip: keep beating; if the database stays away, the claim goes stale anyway.
            logger.warning("heartbeat of job %s failed", self.job_id, exc_info=True)
            connections.close_all()
            return True
