"""The LLM path, end to end: a real worker process with the real openai SDK talking real
HTTP to a small OpenAI-compatible server started here, which answers with scripted replies
(good JSON, malformed JSON, timeouts)."""

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from django.utils import timezone

from memory.models import Episode, Memory
from memory.records import memory_text
from tenants.context import tenant_context
from tests.conftest import Tenant, make_tenant
from tests.support.fake_openai import FakeOpenAIServer, FakeReply
from tests.support.workers import (
    WorkerPool,
    fact,
    facts_reply,
    post_add,
    purge_test_queue,
    wait_event,
)

pytestmark = pytest.mark.live


@pytest.fixture(scope="module")
def llm(django_db_setup: None, tmp_path_factory: Any) -> Iterator[FakeOpenAIServer]:
    """One fake endpoint and one worker configured for it, for the whole module."""
    with FakeOpenAIServer() as server:
        purge_test_queue()
        pool = WorkerPool(
            log_dir=Path(tmp_path_factory.mktemp("llm-worker")),
            base_env={
                "OPENAI_BASE_URL": server.base_url,
                "OPENAI_API_KEY": "test-key",
                "ENGRAM_LLM_MODEL": "fake-model",
                "ENGRAM_OUTBOUND_TIMEOUT": "1",
                "ENGRAM_JOB_RETRY_BASE_SECONDS": "0.2",
            },
        )
        pool.start()
        try:
            yield server
        finally:
            pool.stop_all()


@pytest.fixture
def server(llm: FakeOpenAIServer) -> FakeOpenAIServer:
    llm.reset()
    return llm


@pytest.fixture
def tenant(committed_db: None) -> Tenant:
    return make_tenant(f"llm-{timezone.now().timestamp()}")


def stored(tenant: Tenant) -> list[Memory]:
    with tenant_context(tenant.project.id):
        return list(Memory.objects.filter(project=tenant.project))


def test_the_models_facts_are_validated_and_stored(
    server: FakeOpenAIServer, tenant: Tenant
) -> None:
    server.script_chat(
        [
            facts_reply(
                fact(
                    "User is vegetarian",
                    subject_key="diet",
                    categories=["food"],
                    entities=[{"name": "vegetarian diet", "type": "preference"}],
                ),
                fact("User is allergic to peanuts", kind="health", importance=0.9),
            )
        ]
    )
    event = wait_event(tenant, post_add(tenant, "I'm vegetarian and allergic to peanuts."))
    assert event["status"] == "SUCCEEDED"
    assert {r["memory"] for r in event["results"]} == {
        "User is vegetarian",
        "User is allergic to peanuts",
    }
    request = server.requests[0]
    assert request.path == "/v1/chat/completions" and request.body["model"] == "fake-model"
    assert request.headers["authorization"] == "Bearer test-key"
    assert "allergic to peanuts" in json.dumps(request.body["messages"])
    vegetarian = next(m for m in stored(tenant) if m.subject_key == "diet")
    assert vegetarian.categories == ["food"] and vegetarian.confidence == pytest.approx(0.9)


def test_malformed_json_fails_the_job_visibly_and_stores_nothing(
    server: FakeOpenAIServer, tenant: Tenant
) -> None:
    server.default_chat = '{"facts": [ {"text": "User is a cat"'  # truncated, every time
    event = wait_event(tenant, post_add(tenant, "I'm a software engineer in Lisbon."))
    assert event["status"] == "FAILED"
    assert "invalid JSON" in event["error"] and "unusable reply 3 times" in event["error"]
    assert len(server.requests) == 3  # the extractor's own retries, each told what was wrong
    assert stored(tenant) == []
    with tenant_context(tenant.project.id):  # the conversation itself is kept
        assert Episode.objects.filter(project=tenant.project).count() == 1


def test_garbage_that_parses_is_rejected_by_the_schema(
    server: FakeOpenAIServer, tenant: Tenant
) -> None:
    server.default_chat = json.dumps({"facts": [{"text": 42, "attributed_to": "martian"}]})
    event = wait_event(tenant, post_add(tenant, "I live in Lima."))
    assert event["status"] == "FAILED" and "schema mismatch" in event["error"]
    assert stored(tenant) == []


def test_a_timeout_is_retried_with_backoff_then_succeeds(
    server: FakeOpenAIServer, tenant: Tenant
) -> None:
    # Two slow replies: the SDK's own retry and the first attempt both time out (1 s).
    server.script_chat(
        [
            FakeReply(delay=3, content="{}"),
            FakeReply(delay=3, content="{}"),
            facts_reply(fact("User lives in Lima", kind="location")),
        ]
    )
    event = wait_event(tenant, post_add(tenant, "I live in Lima."), timeout=40)
    assert event["status"] == "SUCCEEDED" and event["attempts"] == 2
    assert [memory_text(m) for m in stored(tenant)] == ["User lives in Lima"]


def test_a_server_error_is_retried(server: FakeOpenAIServer, tenant: Tenant) -> None:
    server.script_chat(
        [FakeReply(status=503), FakeReply(status=503), facts_reply(fact("User likes tea"))]
    )
    event = wait_event(tenant, post_add(tenant, "I like tea."), timeout=40)
    assert event["status"] == "SUCCEEDED" and event["attempts"] == 2


def test_a_rejected_api_key_fails_without_retrying(
    server: FakeOpenAIServer, tenant: Tenant
) -> None:
    server.script_chat([FakeReply(status=401)])
    event = wait_event(tenant, post_add(tenant, "I like tea."))
    assert event["status"] == "FAILED" and "HTTP 401" in event["error"]
    assert event["attempts"] == 1


def test_an_unsure_contradiction_keeps_both_facts_with_their_confidence(
    server: FakeOpenAIServer, tenant: Tenant
) -> None:
    server.script_chat(
        [
            facts_reply(fact("User eats meat", kind="health", confidence=0.95)),
            facts_reply(fact("User does not eat meat", kind="health", confidence=0.3)),
        ]
    )
    wait_event(tenant, post_add(tenant, "I eat meat."))
    event = wait_event(tenant, post_add(tenant, "Hmm, maybe I don't eat meat."))
    assert event["results"][0]["event"] == "ADD"
    kept = {memory_text(m): (m.state, m.confidence) for m in stored(tenant)}
    assert kept == {
        "User eats meat": ("active", pytest.approx(0.95)),
        "User does not eat meat": ("active", pytest.approx(0.3)),
    }
    found = (
        tenant.client()
        .post(
            "/v3/memories/search/",
            {"query": "Does the user eat meat?", "filters": {"user_id": "alice"}},
            format="json",
        )
        .json()["results"]
    )
    assert found[0]["memory"] == "User eats meat"  # the surer fact ranks first
