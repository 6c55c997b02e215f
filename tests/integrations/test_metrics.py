"""/metrics: Prometheus text with request, search, job and queue metrics, aggregated in
Redis across processes, and closed to anyone without the token."""

import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from django.test import Client
from prometheus_client.parser import text_string_to_metric_families

from integrations import metrics
from integrations.metrics import observe_job
from tests.conftest import Tenant

MIDDLEWARE = "integrations.metrics.PrometheusMiddleware"


@pytest.fixture
def isolated_metrics(settings: Any) -> Iterator[str]:
    """A Redis prefix of this test's own, removed afterwards."""
    prefix = f"engram-test-metrics-{uuid.uuid4().hex[:8]}"
    settings.ENGRAM_REDIS_PREFIX = prefix
    settings.ENGRAM_METRICS_TOKEN = TOKEN
    assert MIDDLEWARE in settings.MIDDLEWARE  # installed by config/settings.py
    yield prefix
    client = metrics._client()
    for key in client.scan_iter(f"{prefix}:*"):
        client.delete(key)


TOKEN = "scrape-token"


def scrape() -> dict[str, float]:
    response = Client().get("/metrics", HTTP_AUTHORIZATION=f"Bearer {TOKEN}")
    assert response.status_code == 200, response.content
    assert response["Content-Type"].startswith("text/plain")
    samples = {}
    for family in text_string_to_metric_families(response.content.decode()):
        for sample in family.samples:
            labels = ",".join(f"{k}={v}" for k, v in sorted(sample.labels.items()))
            samples[f"{sample.name}{{{labels}}}"] = sample.value
    return samples


@pytest.mark.django_db
def test_scrape_shows_request_latency_by_route_after_requests(
    isolated_metrics: str, tenant_a: Tenant
) -> None:
    client = tenant_a.client()
    for _ in range(3):
        assert client.get("/v1/ping/").status_code == 200
    client.post("/v3/memories/search/", {"query": "tea", "filters": {"user_id": "a"}}, "json")
    samples = scrape()
    assert (
        samples["engram_http_request_duration_seconds_count{method=GET,route=/v1/ping/,status=200}"]
        == 3
    )
    assert (
        samples[
            "engram_http_request_duration_seconds_bucket{le=+Inf,method=GET,route=/v1/ping/,status=200}"
        ]
        == 3
    )
    search = "engram_search_duration_seconds_count{route=/v3/memories/search/}"
    assert samples[search] == 1


def test_job_durations_and_outcomes_are_histograms(isolated_metrics: str) -> None:
    observe_job("succeeded", 1.5)
    observe_job("succeeded", 0.2)
    observe_job("failed", 42.0)
    samples = scrape()
    assert samples["engram_ingest_job_duration_seconds_bucket{le=0.25,outcome=succeeded}"] == 1
    assert samples["engram_ingest_job_duration_seconds_bucket{le=2.5,outcome=succeeded}"] == 2
    assert samples["engram_ingest_job_duration_seconds_count{outcome=failed}"] == 1
    assert samples["engram_ingest_job_duration_seconds_sum{outcome=failed}"] == 42.0


def test_queue_depth_is_read_from_redis_at_scrape_time(
    isolated_metrics: str, settings: Any
) -> None:
    queue = f"q-{uuid.uuid4().hex[:8]}"
    settings.ENGRAM_METRICS_QUEUES = [queue]
    key = settings.CELERY_BROKER_TRANSPORT_OPTIONS["global_keyprefix"] + queue
    client = metrics._client()
    try:
        client.lpush(key, "m1", "m2")
        client.lpush(key + metrics.PRIORITY_SEPARATOR + "3", "m3")
        assert scrape()[f"engram_queue_depth{{queue={queue}}}"] == 3
    finally:
        client.delete(key, key + metrics.PRIORITY_SEPARATOR + "3")


@pytest.mark.parametrize("header", ["", "Bearer wrong", "Token scrape-token"])
def test_a_scrape_without_the_right_token_is_401(isolated_metrics: str, header: str) -> None:
    client = Client(HTTP_AUTHORIZATION=header) if header else Client()
    assert client.get("/metrics").status_code == 401


def test_without_a_token_only_direct_loopback_clients_may_scrape(settings: Any) -> None:
    settings.ENGRAM_METRICS_TOKEN = ""
    assert Client(REMOTE_ADDR="127.0.0.1").get("/metrics").status_code == 200
    assert Client(REMOTE_ADDR="10.1.2.3").get("/metrics").status_code == 401
    proxied = Client(REMOTE_ADDR="127.0.0.1", HTTP_X_FORWARDED_FOR="203.0.113.9")
    assert proxied.get("/metrics").status_code == 401
