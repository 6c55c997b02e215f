"""Prometheus metrics at /metrics, aggregated in Redis.

Why Redis and not prometheus_client's multiprocess mode: Engram's measurements come from
several kinds of process, often on several hosts: gunicorn workers (request and search
latency) and Celery workers (ingestion jobs, webhook deliveries). A PROMETHEUS_MULTIPROC_DIR
only merges processes that share one directory on one machine, and needs every process
started with the variable set and the directory wiped on deploy. Redis is already shared
by all of them, so each observation is one pipelined round trip (HINCRBY on a per-metric
hash of non-cumulative bucket counts), and a scrape of any web process reads the whole
fleet's histograms and turns them into cumulative Prometheus buckets. Counts survive
process restarts (Prometheus handles counter resets anyway). Recording never raises and
gives up after ENGRAM_METRICS_REDIS_TIMEOUT: metrics must never slow or fail a request.

Exposed:
- engram_http_request_duration_seconds{method, route, status}  (middleware below)
- engram_search_duration_seconds{route}                       (search endpoints, and
  `observe_search(seconds)` for the retrieval engine)
- engram_ingest_job_duration_seconds{outcome}                  (`observe_job(outcome, s)`)
- engram_webhook_delivery_duration_seconds{outcome}
- engram_queue_depth{queue}                                    (Celery queue lengths in
  Redis, read at scrape time)
"""

import json
import logging
import re
import time
from collections import defaultdict
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from functools import cache, partial
from typing import Any

import redis
from django.conf import settings
from django.http import HttpRequest, HttpResponse
from prometheus_client.core import GaugeMetricFamily, HistogramMetricFamily, Metric
from prometheus_client.registry import Collector, CollectorRegistry

from config.metrics import queue_request_count
from integrations import conf

logger = logging.getLogger(__name__)

LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 0.75, 1.0, 2.5, 5.0, 10.0)
JOB_BUCKETS = (0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0, 600.0)
# Kombu's Redis transport keeps priority levels in sibling lists named queue + SEP + level.
PRIORITY_SEPARATOR = "\x06\x16"
PRIORITY_STEPS = (0, 3, 6, 9)


@dataclass(frozen=True)
class HistogramSpec:
    name: str
    documentation: str
    label_names: tuple[str, ...]
    buckets: tuple[float, ...] = LATENCY_BUCKETS


HTTP_REQUESTS = HistogramSpec(
    "engram_http_request_duration_seconds",
    "Wall time of HTTP requests, by method, route pattern and status code.",
    ("method", "route", "status"),
)
SEARCH = HistogramSpec(
    "engram_search_duration_seconds", "Wall time of memory searches.", ("route",)
)
INGEST_JOBS = HistogramSpec(
    "engram_ingest_job_duration_seconds",
    "Duration of ingestion jobs, by outcome (succeeded, failed, retry, ...).",
    ("outcome",),
    JOB_BUCKETS,
)
WEBHOOK_DELIVERIES = HistogramSpec(
    "engram_webhook_delivery_duration_seconds",
    "Duration of webhook delivery attempts, by outcome.",
    ("outcome",),
)
HISTOGRAMS = (HTTP_REQUESTS, SEARCH, INGEST_JOBS, WEBHOOK_DELIVERIES)


@cache
def _client() -> redis.Redis:
    timeout = conf.metrics_redis_timeout()
    return redis.Redis.from_url(
        settings.REDIS_URL, socket_timeout=timeout, socket_connect_timeout=timeout
    )


def _key(spec: HistogramSpec) -> str:
    return f"{settings.ENGRAM_REDIS_PREFIX}:prom:{spec.name}"


def bucket_index(buckets: tuple[float, ...], value: float) -> int:
    """The first bucket whose upper bound holds `value`; len(buckets) is +Inf."""
    for index, bound in enumerate(buckets):
        if value <= bound:
            return index
    return len(buckets)


def observe(spec: HistogramSpec, labels: tuple[str, ...], seconds: float) -> None:
    """Record one observation (never raises)."""
    try:
        pipe = _client().pipeline(transaction=False)
        _queue_observation(pipe, spec, labels, seconds)
        pipe.execute()
    except (redis.RedisError, OSError):
        logger.debug("metrics: could not record %s", spec.name, exc_info=True)


def _queue_observation(
    pipe: Any, spec: HistogramSpec, labels: tuple[str, ...], seconds: float
) -> None:
    field = json.dumps(labels)
    pipe.hincrby(_key(spec), f"{field}|{bucket_index(spec.buckets, seconds)}", 1)
    pipe.hincrbyfloat(_key(spec), f"{field}|sum", seconds)


def observe_job(outcome: str, seconds: float) -> None:
    """For the ingestion pipeline: one finished job attempt and how long it took."""
    observe(INGEST_JOBS, (outcome,), seconds)


def observe_search(seconds: float, route: str = "engine") -> None:
    observe(SEARCH, (route,), seconds)


def observe_webhook(outcome: str, seconds: float) -> None:
    observe(WEBHOOK_DELIVERIES, (outcome,), seconds)


# --- scrape -----------------------------------------------------------------------------------


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value


def _histogram(spec: HistogramSpec, raw: dict[Any, Any]) -> HistogramMetricFamily:
    counts: dict[str, dict[int, int]] = defaultdict(dict)
    sums: dict[str, float] = {}
    for name, value in raw.items():
        labels, _, slot = _text(name).rpartition("|")
        if slot == "sum":
            sums[labels] = float(value)
        elif slot.isdigit():
            counts[labels][int(slot)] = int(value)
    family = HistogramMetricFamily(spec.name, spec.documentation, labels=list(spec.label_names))
    for labels, by_bucket in sorted(counts.items()):
        bounds = [*(str(bound) for bound in spec.buckets), "+Inf"]
        running, cumulative = 0, []
        for index, bound in enumerate(bounds):
            running += by_bucket.get(index, 0)
            cumulative.append((bound, float(running)))
        family.add_metric(json.loads(labels), cumulative, sums.get(labels, 0.0))
    return family


def queue_names() -> list[str]:
    """The default queue, every queue named in CELERY_TASK_ROUTES, and ENGRAM_METRICS_QUEUES."""
    names = {settings.CELERY_TASK_DEFAULT_QUEUE}
    routes = getattr(settings, "CELERY_TASK_ROUTES", None) or {}
    if isinstance(routes, dict):
        names |= {route["queue"] for route in routes.values() if isinstance(route, dict)}
    names |= set(conf.metrics_queues())
    return sorted(name for name in names if name)


def _queue_key(name: str) -> str:
    prefix = settings.CELERY_BROKER_TRANSPORT_OPTIONS.get("global_keyprefix", "")
    return f"{prefix}{name}"


def _queue_depth(client: redis.Redis) -> GaugeMetricFamily:
    family = GaugeMetricFamily(
        "engram_queue_depth", "Messages waiting in each Celery queue.", labels=["queue"]
    )
    for name in queue_names():
        pipe = client.pipeline(transaction=False)
        for step in PRIORITY_STEPS:
            suffix = f"{PRIORITY_SEPARATOR}{step}" if step else ""
            pipe.llen(_queue_key(name) + suffix)
        family.add_metric([name], float(sum(pipe.execute())))
    return family


class RedisCollector(Collector):
    def collect(self) -> Iterator[Metric]:
        client = _client()
        for spec in HISTOGRAMS:
            yield _histogram(spec, client.hgetall(_key(spec)))
        yield _queue_depth(client)


@cache
def registry() -> CollectorRegistry:
    # Only the fleet-wide collector: per-process defaults (GC, process CPU) would describe
    # whichever worker happened to answer the scrape.
    found = CollectorRegistry(auto_describe=False)
    found.register(RedisCollector())
    return found


# --- request middleware -----------------------------------------------------------------------

_GROUP = re.compile(r"\(\?P<(\w+)>[^)]*\)")


def route_label(request: HttpRequest) -> str:
    """The URL pattern, not the path: ids would give every memory its own time series."""
    match = request.resolver_match
    if match is None or not match.route:
        return "unmatched"
    route = _GROUP.sub(r"{\1}", match.route)
    route = route.replace("^", "").replace("$", "").replace("/?", "/")
    return "/" + route.lstrip("/")


class PrometheusMiddleware:
    """Times every request once, for both sinks: the Prometheus histograms (search
    endpoints also feed the search histogram) and, for requests an API key authenticated,
    the per-project daily counters behind the console's charts (config/metrics.py)."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        started = time.perf_counter()
        response = self.get_response(request)
        seconds = time.perf_counter() - started
        route = route_label(request)
        # DRF puts the authenticated API key on the underlying request as `auth`.
        project_id = getattr(getattr(request, "auth", None), "project_id", None)
        record = partial(_record, request.method or "", route, response.status_code, project_id)
        # Written when the server closes the response, after the client has it: the Redis
        # round trip stays off the request's latency (the test client closes too).
        response._resource_closers.append(partial(record, seconds))  # type: ignore[attr-defined]
        return response


def _record(method: str, route: str, status: int, project_id: Any, seconds: float) -> None:
    """Both sinks' writes in one pipelined round trip (never raises)."""
    try:
        pipe = _client().pipeline(transaction=False)
        _queue_observation(pipe, HTTP_REQUESTS, (method, route, str(status)), seconds)
        if "search" in route:
            _queue_observation(pipe, SEARCH, (route,), seconds)
        if project_id is not None:
            queue_request_count(pipe, project_id, f"{method} {route}", seconds * 1000)
        pipe.execute()
    except (redis.RedisError, OSError):
        logger.debug("metrics: could not record a request", exc_info=True)
