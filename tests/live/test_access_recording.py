"""Access counters end to end: searches on a real gunicorn, counted by the web process's
batching recorder, written by a real Celery worker. Also the recorder's batching itself."""

import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from memory.models import Memory, MemoryAccess
from memory.retrieval.access import AccessRecorder, _grouped_by_count
from tenants.context import tenant_context
from tests.conftest import Tenant, make_tenant
from tests.support.live_server import LiveServer
from tests.support.workers import WorkerPool, worker_pool

pytestmark = pytest.mark.live


@pytest.fixture
def celery_workers(committed_db: None, tmp_path: Path) -> Iterator[WorkerPool]:
    with worker_pool(tmp_path) as pool:
        yield pool


def _counts(tenant: Tenant) -> dict[str, int]:
    with tenant_context(tenant.project.id):
        return {
            str(memory_id): count or 0  # no row beside it: never returned by a search
            for memory_id, count in Memory.objects.filter(project=tenant.project).values_list(
                "id", "access__access_count"
            )
        }


def test_searches_are_counted_by_a_worker_and_another_projects_are_not(
    gunicorn_server: LiveServer, celery_workers: WorkerPool, committed_db: None
) -> None:
    tenant = make_tenant(f"access-{uuid.uuid4().hex[:8]}")
    other = make_tenant(f"access-other-{uuid.uuid4().hex[:8]}")
    celery_workers.start()
    headers = {"Authorization": f"Token {tenant.api_key}"}
    with httpx.Client(base_url=gunicorn_server.url, headers=headers, timeout=30) as client:
        added = client.post(
            "/v1/memories/",
            json={
                "messages": [{"role": "user", "content": "I keep my passport in the blue drawer"}],
                "user_id": "ana",
                "infer": False,
            },
        )
        assert added.status_code == 200, added.text
        other_headers = {"Authorization": f"Token {other.api_key}"}
        client.post(
            "/v1/memories/",
            headers=other_headers,
            json={"messages": [{"role": "user", "content": "Passport in the safe"}],
                  "user_id": "ana", "infer": False},
        )  # fmt: skip
        for _ in range(3):
            found = client.post(
                "/v3/memories/search/",
                json={"query": "where is my passport", "filters": {"user_id": "ana"}},
            )
            assert found.status_code == 200 and found.json()["results"], found.text
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and sum(_counts(tenant).values()) < 3:
        time.sleep(0.2)
    assert list(_counts(tenant).values()) == [3], celery_workers.logs()
    # The other project's memory was never returned, so never counted.
    assert list(_counts(other).values()) == [0]
    with tenant_context(tenant.project.id):
        access = MemoryAccess.objects.get(project=tenant.project)
    assert access.last_accessed_at is not None


def test_the_recorder_sends_one_batch_per_project_and_use_count() -> None:
    recorder = AccessRecorder(flush_seconds=3600)
    a, b = uuid.uuid4(), uuid.uuid4()
    m1, m2, m3 = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
    recorder.record(a, [m1, m2])
    recorder.record(a, [m1])
    recorder.record(b, [m3])
    pending = recorder._pending
    assert {project: dict(uses) for project, uses in pending.items()} == {
        a: {m1: 2, m2: 1},
        b: {m3: 1},
    }
    assert _grouped_by_count(pending[a]) == {2: [str(m1)], 1: [str(m2)]}
