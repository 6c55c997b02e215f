"""Per-project request counts and latencies per UTC day, for the console's charts.

Kept in Redis as one hash per project and day (`<prefix>:metrics:<project>:<yyyymmdd>`):
a request counter, a counter per endpoint, and latency histograms over fixed buckets, so
p50/p95 can be read back without storing every sample. It is operational telemetry, not a
record: losing Redis loses charts, nothing else. Recording never raises.

API views (or the middleware below, which sees the project of every key-authenticated
request) call `record_request(project_id, endpoint, ms)`; the console calls `read_daily`.
"""

import logging
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from functools import cache
from typing import Any
from uuid import UUID

import redis
from django.conf import settings

logger = logging.getLogger(__name__)

# Upper bounds in milliseconds; the last bucket catches everything slower.
BUCKETS_MS: tuple[float, ...] = (
    1, 2, 3, 5, 7, 10, 15, 20, 30, 40, 50, 75, 100, 150, 200, 300, 500, 750,
    1000, 1500, 2000, 3000, 5000, 10000, float("inf"),
)  # fmt: skip
RETENTION_DAYS = 40
ALL = "all"
SEARCH = "search"


@dataclass(frozen=True)
class DailyMetrics:
    day: date
    requests: int
    search_requests: int
    p50_ms: float | None
    p95_ms: float | None
    search_p50_ms: float | None
    search_p95_ms: float | None


@cache
def _client() -> redis.Redis:
    return redis.Redis.from_url(settings.REDIS_URL, socket_timeout=0.5, socket_connect_timeout=0.5)


def _key(project_id: UUID | str, day: date) -> str:
    return f"{settings.ENGRAM_REDIS_PREFIX}:metrics:{project_id}:{day:%Y%m%d}"


def bucket_index(ms: float) -> int:
    for index, bound in enumerate(BUCKETS_MS):
        if ms <= bound:
            return index
    return len(BUCKETS_MS) - 1


def endpoint_kind(endpoint: str) -> str:
    return SEARCH if "search" in endpoint else ALL


def record_request(
    project_id: UUID | str, endpoint: str, ms: float, *, now: datetime | None = None
) -> None:
    """Count one request of `endpoint` that took `ms` milliseconds (never raises)."""
    try:
        pipe = _client().pipeline(transaction=False)
        queue_request_count(pipe, project_id, endpoint, ms, now=now)
        pipe.execute()
    except redis.RedisError:
        logger.debug("metrics: could not record a request", exc_info=True)


def queue_request_count(
    pipe: Any, project_id: UUID | str, endpoint: str, ms: float, *, now: datetime | None = None
) -> None:
    """record_request()'s commands, added to a caller's Redis pipeline (the middleware
    sends them with the Prometheus observations in one round trip)."""
    day = (now or datetime.now(UTC)).astimezone(UTC).date()
    key = _key(project_id, day)
    bucket = bucket_index(ms)
    pipe.hincrby(key, "requests", 1)
    pipe.hincrby(key, f"endpoint:{endpoint[:100]}", 1)
    pipe.hincrby(key, f"lat:{ALL}:{bucket}", 1)
    if endpoint_kind(endpoint) == SEARCH:
        pipe.hincrby(key, f"lat:{SEARCH}:{bucket}", 1)
    pipe.expire(key, RETENTION_DAYS * 86400)


def percentile(histogram: dict[int, int], fraction: float) -> float | None:
    """The upper bound of the bucket holding the `fraction` quantile (None when empty);
    the open last bucket reports the largest finite bound."""
    total = sum(histogram.values())
    if total == 0:
        return None
    rank, seen = fraction * total, 0
    for index in sorted(histogram):
        seen += histogram[index]
        if seen >= rank:
            return min(BUCKETS_MS[index], BUCKETS_MS[-2])
    return BUCKETS_MS[-2]


def _histogram(fields: dict[str, int], kind: str) -> dict[int, int]:
    prefix = f"lat:{kind}:"
    return {
        int(name[len(prefix) :]): count for name, count in fields.items() if name.startswith(prefix)
    }


def _day_metrics(day: date, raw: dict[Any, Any]) -> DailyMetrics:
    fields = {_text(name): int(value) for name, value in raw.items()}
    search = _histogram(fields, SEARCH)
    overall = _histogram(fields, ALL)
    return DailyMetrics(
        day=day,
        requests=fields.get("requests", 0),
        search_requests=sum(search.values()),
        p50_ms=percentile(overall, 0.5),
        p95_ms=percentile(overall, 0.95),
        search_p50_ms=percentile(search, 0.5),
        search_p95_ms=percentile(search, 0.95),
    )


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value


def read_daily(
    project_id: UUID | str, *, days: int = 14, today: date | None = None
) -> list[DailyMetrics]:
    """The last `days` UTC days, oldest first; zeros where nothing was recorded (or Redis
    is unreachable)."""
    last = today or datetime.now(UTC).date()
    wanted = [last - timedelta(days=offset) for offset in range(days - 1, -1, -1)]
    try:
        pipe = _client().pipeline(transaction=False)
        for day in wanted:
            pipe.hgetall(_key(project_id, day))
        rows: list[dict[Any, Any]] = pipe.execute()
    except redis.RedisError:
        logger.warning("metrics: Redis unreachable, charts show no requests", exc_info=True)
        rows = [{} for _ in wanted]
    return [_day_metrics(day, raw) for day, raw in zip(wanted, rows, strict=True)]
