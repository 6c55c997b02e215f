"""Adds through the API, processed by a real Celery worker process on real Redis, with the
deterministic local extractor (no LLM configured)."""

import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from django.utils import timezone

from memory.models import Memory
from tenants.context import tenant_context
from tests.conftest import Tenant, make_tenant
from tests.support.workers import WorkerPool, post_add, wait_event, worker_pool

pytestmark = pytest.mark.live


@pytest.fixture
def celery_workers(committed_db: None, tmp_path: Path) -> Iterator[WorkerPool]:
    with worker_pool(tmp_path) as pool:
        yield pool


@pytest.fixture
def tenant(committed_db: None) -> Tenant:
    return make_tenant(f"worker-{timezone.now().timestamp()}")


def test_an_add_is_processed_by_a_real_worker(celery_workers: WorkerPool, tenant: Tenant) -> None:
    celery_workers.start()
    first = wait_event(tenant, post_add(tenant, "Hi! I live in Paris and I love jazz."))
    assert first["status"] == "SUCCEEDED", celery_workers.logs()
    assert {(r["event"], r["memory"]) for r in first["results"]} == {
        ("ADD", "User lives in Paris"),
        ("ADD", "User loves jazz"),
    }
    moved = wait_event(tenant, post_add(tenant, "Actually, I moved to Berlin."))
    assert [(r["event"], r["memory"]) for r in moved["results"]] == [
        ("UPDATE", "User lives in Berlin")
    ]
    paris = next(r["id"] for r in first["results"] if r["memory"] == "User lives in Paris")
    history = tenant.client().get(f"/v1/memories/{paris}/history/").json()
    assert [(h["event"], h["old_memory"], h["new_memory"]) for h in history] == [
        ("ADD", None, "User lives in Paris"),
        ("UPDATE", "User lives in Paris", "User lives in Berlin"),
    ]
    # The successor's history tells the same story: a client holding only the new id
    # (from get_all or search) still sees what the fact replaced.
    berlin = moved["results"][0]["id"]
    history = tenant.client().get(f"/v1/memories/{berlin}/history/").json()
    assert [(h["event"], h["old_memory"], h["new_memory"]) for h in history] == [
        ("ADD", None, "User lives in Paris"),
        ("UPDATE", "User lives in Paris", "User lives in Berlin"),
    ]


def test_the_short_term_window_holds_the_sessions_recent_messages(
    celery_workers: WorkerPool, tenant: Tenant
) -> None:
    celery_workers.start()
    for text in ("I live in Quito.", "I work at Acme Corp."):
        wait_event(tenant, post_add(tenant, text, run_id="run-7"))
    window = tenant.client().get("/v1/short-term/?run_id=run-7").json()
    assert [m["content"] for m in window["messages"]] == [
        "I live in Quito.",
        "I work at Acme Corp.",
    ]
    assert window["source"] == "redis" and 0 < window["ttl_seconds"] <= 86400
    episodes = tenant.client().get("/v1/episodes/?user_id=alice").json()
    assert [e["messages"][0]["content"] for e in episodes["results"]] == [
        "I live in Quito.",
        "I work at Acme Corp.",
    ]
    assert all(e["event_status"] == "SUCCEEDED" for e in episodes["results"])


def test_a_burst_of_adds_is_each_processed_once(celery_workers: WorkerPool, tenant: Tenant) -> None:
    celery_workers.start()
    started = time.monotonic()
    events = [post_add(tenant, f"I live in Town{i}.", user_id=f"user-{i}") for i in range(30)]
    finished = [wait_event(tenant, event_id) for event_id in events]
    elapsed = time.monotonic() - started
    assert all(event["status"] == "SUCCEEDED" for event in finished)
    with tenant_context(tenant.project.id):
        assert Memory.objects.filter(project=tenant.project).count() == 30
    print(f"30 adds accepted and processed in {elapsed:.2f}s ({30 / elapsed:.1f} jobs/s)")
