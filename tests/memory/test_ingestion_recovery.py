"""Workers die; jobs do not. A worker is SIGKILLed (with its pool children) in the middle
of a job; the sweeper notices the stale heartbeat, the job is claimed again by a fresh
worker and completes exactly once: no memory, version or audit event twice."""

import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from django.utils import timezone

from audit.models import AuditEvent
from memory.ingestion.sweeper import sweep_ingestion_jobs
from memory.models import IngestionJob, Memory, MemoryVersion
from tenants.context import tenant_context
from tests.conftest import Tenant, make_tenant
from tests.support.fake_openai import FakeOpenAIServer, FakeReply
from tests.support.workers import (
    WorkerPool,
    fact,
    facts_reply,
    post_add,
    wait_event,
    wait_until,
    worker_pool,
)

pytestmark = pytest.mark.live


@pytest.fixture
def celery_workers(committed_db: None, tmp_path: Path) -> Iterator[WorkerPool]:
    with worker_pool(tmp_path) as pool:
        yield pool


STALE = 2  # seconds without a heartbeat before a RUNNING job counts as orphaned
FAST_RECOVERY = {"ENGRAM_JOB_HEARTBEAT_STALE_SECONDS": str(STALE)}


@pytest.fixture
def fast_recovery(settings: Any) -> None:
    """The sweeper in this process uses the same short periods as the workers."""
    settings.ENGRAM_JOB_HEARTBEAT_STALE_SECONDS = STALE
    settings.ENGRAM_JOB_REDISPATCH_SECONDS = 2


@pytest.fixture
def tenant(committed_db: None) -> Tenant:
    return make_tenant(f"recovery-{timezone.now().timestamp()}")


def job_row(tenant: Tenant, job_id: str) -> IngestionJob:
    with tenant_context(tenant.project.id):
        return IngestionJob.objects.get(pk=job_id)


def counts(tenant: Tenant) -> tuple[int, int, int]:
    with tenant_context(tenant.project.id):
        return (
            Memory.objects.filter(project=tenant.project).count(),
            MemoryVersion.objects.filter(project=tenant.project).count(),
            AuditEvent.objects.filter(
                project_id=tenant.project.id, action="ingestion.succeeded"
            ).count(),
        )


def test_a_job_whose_worker_is_killed_mid_way_completes_exactly_once(
    celery_workers: WorkerPool, tenant: Tenant, fast_recovery: None
) -> None:
    reply = facts_reply(fact("User is vegetarian"), fact("User lives in Oslo", kind="location"))
    with FakeOpenAIServer() as server:
        # The first call hangs (the worker is killed while waiting); later calls answer at once.
        # (A default rather than a script: the sweep also resends other tests' forgotten jobs,
        # which may reach this worker first.)
        server.script_chat([FakeReply(delay=30, content=reply)])
        server.default_chat = reply
        env = {
            **FAST_RECOVERY,
            "OPENAI_BASE_URL": server.base_url,
            "OPENAI_API_KEY": "k",
            "ENGRAM_OUTBOUND_TIMEOUT": "60",
        }
        doomed = celery_workers.start(env)
        event_id = post_add(tenant, "I'm vegetarian and I live in Oslo.")
        wait_until(lambda: len(server.requests) == 1, timeout=20)
        assert job_row(tenant, event_id).status == "RUNNING"
        doomed.kill_hard()
        celery_workers.start(env)
        time.sleep(STALE + 0.5)  # the dead worker's heartbeat goes stale
        report = sweep_ingestion_jobs()
        assert str(event_id) in {str(job_id) for job_id in report.recovered}
        event = wait_event(tenant, event_id)
    assert event["status"] == "SUCCEEDED", (event, celery_workers.logs())
    assert event["attempts"] == 2
    assert {r["memory"] for r in event["results"]} == {"User is vegetarian", "User lives in Oslo"}
    assert counts(tenant) == (2, 2, 1)


def test_many_jobs_survive_repeated_worker_kills(
    celery_workers: WorkerPool, tenant: Tenant, fast_recovery: None
) -> None:
    total, kills = 80, 3
    worker = celery_workers.start(FAST_RECOVERY)
    for i in range(total):
        post_add(tenant, f"I live in Town{i}.", user_id=f"user-{i}")

    def done() -> int:
        with tenant_context(tenant.project.id):
            return IngestionJob.objects.filter(project=tenant.project, status="SUCCEEDED").count()

    def running() -> bool:
        with tenant_context(tenant.project.id):
            return IngestionJob.objects.filter(project=tenant.project, status="RUNNING").exists()

    killed, deadline = 0, time.monotonic() + 120
    while done() < total and time.monotonic() < deadline:
        # Kills after every tenth of the jobs: spread over the whole run, a busy machine's
        # slower polling could see the last stretch finish before the last kill came due.
        if killed < kills and done() >= (killed + 1) * total // 10:
            wait_until(running, timeout=10, interval=0.005)
            worker.kill_hard()  # mid-job, with more messages prefetched and unacknowledged
            worker = celery_workers.start(FAST_RECOVERY)
            killed += 1
        sweep_ingestion_jobs()  # what beat runs every ENGRAM_JOB_SWEEP_SECONDS
        time.sleep(0.3)
    assert killed == kills
    with tenant_context(tenant.project.id):
        statuses = Counter(
            IngestionJob.objects.filter(project=tenant.project).values_list("status", flat=True)
        )
        per_user = Counter(
            Memory.objects.filter(project=tenant.project).values_list("user_id", flat=True)
        )
        reclaimed = IngestionJob.objects.filter(project=tenant.project, attempts__gt=1).count()
    assert statuses == {"SUCCEEDED": total}, celery_workers.logs()
    assert per_user == {f"user-{i}": 1 for i in range(total)}  # nothing lost, nothing twice
    assert counts(tenant) == (total, total, total)
    assert reclaimed >= 1  # the kills did interrupt jobs, which were then run again
