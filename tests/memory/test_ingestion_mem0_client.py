"""A scripted conversation through the real `mem0ai` client with inference on, against a
real gunicorn and a real Celery worker: the facts come out as facts (not echoes), an update
keeps its history, and a repeated fact is stored once."""

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from django.utils import timezone

from tests.conftest import Tenant, make_tenant
from tests.support.live_server import LiveServer, gunicorn_server
from tests.support.workers import WorkerPool, worker_pool

__all__ = ["gunicorn_server"]
pytestmark = pytest.mark.live


@pytest.fixture
def tenant(committed_db: None) -> Tenant:
    return make_tenant(f"mem0-ingest-{timezone.now().timestamp()}")


@pytest.fixture
def client(gunicorn_server: LiveServer, tenant: Tenant, tmp_path: Path) -> Iterator[Any]:
    from mem0 import MemoryClient

    with worker_pool(tmp_path) as workers:
        workers.start()
        yield MemoryClient(api_key=tenant.api_key, host=gunicorn_server.url), workers


def settle(client: Any, workers: WorkerPool, queued: dict[str, Any]) -> dict[str, Any]:
    """The client has no event method: poll the event over its own HTTP session."""
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        event: dict[str, Any] = client.client.get(f"/v1/event/{queued['event_id']}/").json()
        if event["status"] in ("SUCCEEDED", "FAILED"):
            assert event["status"] == "SUCCEEDED", (event, workers.logs())
            return event
        time.sleep(0.1)
    raise AssertionError(f"event {queued['event_id']} did not finish:\n{workers.logs()}")


def test_a_conversation_through_the_mem0_client(client: tuple[Any, WorkerPool]) -> None:
    mem0, workers = client
    conversation = [
        {"role": "user", "content": "Hi! I'm Dana. I live in Paris and I work at Acme Corp."},
        {"role": "assistant", "content": "Nice to meet you, Dana! How can I help?"},
        {"role": "user", "content": "I'm vegetarian, and I switched from Java to Go last year."},
    ]
    settle(mem0, workers, mem0.add(conversation, user_id="dana"))
    facts = {m["memory"] for m in mem0.get_all(filters={"user_id": "dana"})["results"]}
    assert {
        "User's name is Dana",
        "User lives in Paris",
        "User works at Acme Corp",
        "User is vegetarian",
        "User prefers Go over Java",
    } <= facts
    assert not any(m["content"] in facts for m in conversation)  # facts, not echoes

    moved = settle(
        mem0, workers, mem0.add("Actually, I moved to Berlin last month.", user_id="dana")
    )
    assert ("UPDATE", "User lives in Berlin") in [
        (r["event"], r["memory"]) for r in moved["results"]
    ]
    hits = mem0.search("Which city does the user live in?", filters={"user_id": "dana"})
    found = [hit["memory"] for hit in hits["results"]]
    assert found[0] == "User lives in Berlin" and "User lives in Paris" not in found
    paris = next(
        m
        for m in mem0.get_all(filters={"user_id": "dana"}, latest_only=False)["results"]
        if m["memory"] == "User lives in Paris"
    )
    history = mem0.history(paris["id"])
    assert [(h["event"], h["new_memory"]) for h in history] == [
        ("ADD", "User lives in Paris"),
        ("UPDATE", "User lives in Berlin"),
    ]

    again = settle(mem0, workers, mem0.add("By the way, I am vegetarian.", user_id="dana"))
    assert [r["event"] for r in again["results"]] == ["NONE"]
    stored = [m["memory"] for m in mem0.get_all(filters={"user_id": "dana"})["results"]]
    assert stored.count("User is vegetarian") == 1
