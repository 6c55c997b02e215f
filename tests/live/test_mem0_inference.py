"""The whole inferred path with real processes: the mem0ai client adds with infer=true to
gunicorn, a real Celery worker extracts the facts, and the client then finds them."""

import time
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.conftest import Tenant
from tests.support.live_server import LiveServer
from tests.support.workers import worker_pool

pytestmark = pytest.mark.live


def wait_for_event(server: LiveServer, tenant: Tenant, event_id: str) -> dict[str, Any]:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        event: dict[str, Any] = httpx.get(
            f"{server.url}/v1/event/{event_id}/",
            headers={"Authorization": f"Token {tenant.api_key}"},
        ).json()
        if event["status"] in {"SUCCEEDED", "FAILED"}:
            return event
        time.sleep(0.2)
    raise AssertionError(f"event {event_id} did not finish")


def test_inferred_add_is_searchable_once_its_event_succeeds(
    gunicorn_server: LiveServer, fresh_tenant: Tenant, tmp_path: Path
) -> None:
    from mem0 import MemoryClient

    client = MemoryClient(api_key=fresh_tenant.api_key, host=gunicorn_server.url)
    with worker_pool(tmp_path) as workers:
        workers.start()
        queued = client.add(
            [{"role": "user", "content": "I prefer Python over JavaScript for backend work."}],
            user_id="olga",
        )
        assert queued["status"] == "PENDING"
        event = wait_for_event(gunicorn_server, fresh_tenant, queued["event_id"])
    assert event["status"] == "SUCCEEDED", event
    added = [result for result in event["results"] if result["event"] == "ADD"]
    assert added and "Python" in added[0]["memory"]
    hits = client.search("which language does she like?", filters={"user_id": "olga"})
    assert any("Python" in hit["memory"] for hit in hits["results"])
    history = client.history(added[0]["id"])
    assert history[0]["event"] == "ADD" and history[0]["input"]
