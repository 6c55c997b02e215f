"""Limits that protect the platform (config/quotas.py), against real Redis: request rates
per key and per project, body size, stored memories, jobs in flight, daily token spend."""

import json
from typing import Any

import pytest
from django.test import override_settings

from audit.services import CLI_ACTOR
from config import quotas
from config.errors import InvalidInput, RateLimited
from tenants.models import Project
from tenants.services import api_key_create
from tests.conftest import Tenant

LIST_URL = "/v1/events/"


def set_limits(tenant: Tenant, **limits: int) -> None:
    project = Project.objects.get(pk=tenant.project.id)
    project.options = {**(project.options or {}), "limits": limits}
    project.save(update_fields=["options"])
    tenant.project = project


def get_list(tenant: Tenant, api_key: str | None = None) -> Any:
    client = tenant.client()
    if api_key:
        client.credentials(HTTP_AUTHORIZATION=f"Token {api_key}")
    return client.get(LIST_URL)


def test_request_over_the_per_key_limit_gets_429_with_retry_after_and_headers(tenant_a, tenant_b):
    set_limits(tenant_a, key_requests_per_minute=3)
    answers = [get_list(tenant_a) for _ in range(3)]
    assert [a.status_code for a in answers] == [200, 200, 200]
    assert [a["X-RateLimit-Remaining"] for a in answers] == ["2", "1", "0"]
    assert answers[0]["X-RateLimit-Limit"] == "3"

    refused = get_list(tenant_a)

    assert refused.status_code == 429
    assert refused["Content-Type"].startswith("application/json")
    assert 1 <= int(refused["Retry-After"]) <= 60
    assert refused["X-RateLimit-Limit"] == "3"
    assert refused["X-RateLimit-Remaining"] == "0"
    assert 1 <= int(refused["X-RateLimit-Reset"]) <= 60
    body = refused.json()
    assert "key_requests_per_minute" in body["detail"]
    assert body["error"]["code"] == "rate_limited"
    assert body["error"]["details"]["limit_value"] == 3
    # Another project is not affected.
    assert get_list(tenant_b).status_code == 200


def test_another_key_of_the_same_project_has_its_own_per_key_counter(tenant_a):
    set_limits(tenant_a, key_requests_per_minute=2)
    second = api_key_create(project=tenant_a.project, name="second", actor=CLI_ACTOR)
    assert [get_list(tenant_a).status_code for _ in range(3)] == [200, 200, 429]
    assert get_list(tenant_a, second.plaintext).status_code == 200


def test_project_limit_covers_all_its_keys(tenant_a, tenant_b):
    set_limits(tenant_a, project_requests_per_minute=3, key_requests_per_minute=100)
    second = api_key_create(project=tenant_a.project, name="second", actor=CLI_ACTOR)
    codes = [
        get_list(tenant_a).status_code,
        get_list(tenant_a, second.plaintext).status_code,
        get_list(tenant_a).status_code,
        get_list(tenant_a, second.plaintext).status_code,
    ]
    assert codes == [200, 200, 200, 429]
    refused = get_list(tenant_a)
    assert "project_requests_per_minute" in refused.json()["detail"]
    assert get_list(tenant_b).status_code == 200


def test_refused_requests_do_not_use_up_quota(tenant_a):
    set_limits(tenant_a, key_requests_per_minute=2, project_requests_per_minute=3)
    second = api_key_create(project=tenant_a.project, name="second", actor=CLI_ACTOR)
    assert [get_list(tenant_a).status_code for _ in range(5)] == [200, 200, 429, 429, 429]
    # Only two of the project's three were used: the other key still gets one.
    assert get_list(tenant_a, second.plaintext).status_code == 200


def test_unlimited_project_gets_no_rate_headers(tenant_a):
    set_limits(tenant_a, key_requests_per_minute=0, project_requests_per_minute=0)
    answer = get_list(tenant_a)
    assert answer.status_code == 200
    assert "X-RateLimit-Limit" not in answer


def test_redis_down_fails_open_with_a_warning(tenant_a, monkeypatch, caplog):
    set_limits(tenant_a, key_requests_per_minute=1)
    monkeypatch.setattr(quotas, "_client", None)
    monkeypatch.setattr(quotas, "_redis_skip_until", 0.0)
    with override_settings(REDIS_URL="redis://127.0.0.1:9/0"):  # nothing listens on port 9
        answers = [get_list(tenant_a).status_code for _ in range(3)]
    monkeypatch.setattr(quotas, "_client", None)
    assert answers == [200, 200, 200]
    assert "failing open" in caplog.text


def test_body_over_the_project_byte_limit_is_a_json_413(tenant_a):
    set_limits(tenant_a, request_bytes=1000)
    body = {"messages": [{"role": "user", "content": "x" * 2000}], "user_id": "alice"}
    answer = tenant_a.client().post("/v3/memories/add/", body, format="json")
    assert answer.status_code == 413
    assert answer.json()["error"]["details"]["limit"] == "request_bytes"
    assert "request_bytes" in answer.json()["detail"]


@override_settings(DATA_UPLOAD_MAX_MEMORY_SIZE=4096)
def test_body_over_the_server_limit_is_a_json_413_even_without_a_key(client):
    payload = json.dumps({"messages": "x" * 10_000, "user_id": "alice"})
    answer = client.post("/v3/memories/add/", payload, content_type="application/json")
    assert answer.status_code == 413
    assert answer["Content-Type"].startswith("application/json")
    assert "4096" in answer.json()["detail"]


def test_too_many_query_parameters_is_a_400_not_a_500(tenant_a):
    query = "&".join(f"p{i}=1" for i in range(1100))
    answer = tenant_a.client().get(f"/v1/events/?{query}")
    assert answer.status_code == 400
    assert "parameters" in answer.json()["detail"]


def test_invalid_limits_in_project_options_are_ignored(tenant_a):
    set_limits(tenant_a, key_requests_per_minute=-5)
    assert get_list(tenant_a).status_code == 200
    assert quotas.project_limits(tenant_a.project).key_requests_per_minute == 600


def test_limits_validate_names_the_bad_limit():
    with pytest.raises(InvalidInput, match=r"limits\.bogus"):
        quotas.limits_validate({"bogus": 1})
    assert quotas.limits_validate({"memories": 10}) == {"memories": 10}


def test_memory_quota_counts_what_was_accepted_and_refuses_with_413(tenant_a, tenant_b):
    set_limits(tenant_a, memories=3)
    quotas.quota_check_memories(tenant_a.project, 2)
    quotas.quota_check_memories(tenant_a.project, 1)
    with pytest.raises(quotas.MemoryQuotaExceeded) as refused:
        quotas.quota_check_memories(tenant_a.project, 1)
    assert refused.value.status_code == 413
    assert "limit memories" in refused.value.message
    set_limits(tenant_b, memories=3)
    quotas.quota_check_memories(tenant_b.project, 3)


def test_jobs_in_flight_limit_refuses_with_429(tenant_a):
    set_limits(tenant_a, jobs_in_flight=2)
    quotas.quota_check_jobs_in_flight(tenant_a.project)
    quotas.quota_check_jobs_in_flight(tenant_a.project)
    with pytest.raises(RateLimited) as refused:
        quotas.quota_check_jobs_in_flight(tenant_a.project)
    assert refused.value.retry_after >= 1
    assert "jobs_in_flight" in refused.value.message


def test_daily_token_spend_is_counted_and_enforced(tenant_a, tenant_b):
    set_limits(tenant_a, llm_tokens_per_day=1000)
    quotas.quota_check_spend(tenant_a.project, "llm")
    assert quotas.quota_charge_tokens(tenant_a.project, "llm", 600) == 600
    assert quotas.quota_charge_tokens(tenant_a.project, "llm", 500) == 1100
    with pytest.raises(RateLimited) as refused:
        quotas.quota_check_spend(tenant_a.project, "llm")
    assert 1 <= refused.value.retry_after <= 24 * 3600
    quotas.quota_check_spend(tenant_a.project, "embedding")
    quotas.quota_check_spend(tenant_b.project, "llm")
    usage = quotas.quota_usage(tenant_a.project)
    assert usage["usage"]["llm_tokens_today"] == 1100
    assert usage["limits"]["llm_tokens_per_day"] == 1000
    assert usage["overridden"] == ["llm_tokens_per_day"]


def test_unknown_spend_kind_is_a_programming_error(tenant_a):
    with pytest.raises(ValueError, match="unknown spend kind"):
        quotas.quota_charge_tokens(tenant_a.project, "gpu", 1)


def test_paid_embeddings_of_an_add_count_against_the_daily_budget(tenant_a):
    """With a remote embedder, `infer=false` adds charge their estimated tokens; once the
    budget is used up the add is refused with a 429 and nothing is stored."""
    set_limits(tenant_a, embedding_tokens_per_day=30)
    body = {"messages": [{"role": "user", "content": "x" * 200}], "user_id": "u", "infer": False}
    with override_settings(ENGRAM_EMBEDDER="openai"):
        from memory.services.memories import embedding_spend

        embedding_spend(tenant_a.project, ["y" * 200])  # 51 estimated tokens > 30
        answer = tenant_a.client().post("/v3/memories/add/", body, format="json")
    assert answer.status_code == 429, answer.json()
    assert "embedding" in answer.json()["detail"]
    assert quotas.quota_spent_today(tenant_a.project, "embedding") == 51


def test_the_llm_extractor_is_not_called_once_the_llm_budget_is_used(tenant_a):
    from types import SimpleNamespace

    import openai

    from memory.ingestion.llm_extractor import LLMExtractor
    from memory.ingestion.pipeline import facts_extract, failure_reason
    from tests.support.fake_openai import FakeOpenAIServer

    set_limits(tenant_a, llm_tokens_per_day=10)
    quotas.quota_charge_tokens(tenant_a.project, "llm", 10)
    job = SimpleNamespace(
        project=tenant_a.project, messages=[{"role": "user", "content": "I like tea"}]
    )
    with FakeOpenAIServer() as server:
        client = openai.OpenAI(base_url=server.base_url, api_key="k", max_retries=0)
        with pytest.raises(RateLimited) as refused:
            facts_extract(job, LLMExtractor(client=client, model="m"))  # type: ignore[arg-type]
        assert server.requests == []
    reason, retryable = failure_reason(refused.value)
    assert reason.startswith("daily budget") and retryable
