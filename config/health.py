"""Liveness and readiness probes (no authentication, no tenant data)."""

import time

import redis
from django.conf import settings
from django.db import connection
from django.http import HttpRequest, JsonResponse
from django.views.decorators.http import require_GET


@require_GET
def healthz(request: HttpRequest) -> JsonResponse:
    return JsonResponse({"status": "ok"})


def _check_database() -> str:
    with connection.cursor() as cursor:
        cursor.execute("SELECT extversion FROM pg_extension WHERE extname = 'vector'")
        row = cursor.fetchone()
    return f"ok (pgvector {row[0]})" if row else "ok (pgvector missing)"


def _check_redis(url: str) -> str:
    client = redis.Redis.from_url(url, socket_connect_timeout=2, socket_timeout=2)
    try:
        client.ping()
    finally:
        client.close()
    return "ok"


def _timed(check: object, *args: str) -> dict[str, object]:
    started = time.perf_counter()
    try:
        status = check(*args)  # type: ignore[operator]
        ok = True
    except Exception as exc:  # noqa: BLE001 - a probe reports every failure as "not ready"
        status, ok = f"error: {type(exc).__name__}: {exc}", False
    return {"ok": ok, "status": status, "ms": round((time.perf_counter() - started) * 1000, 1)}


@require_GET
def readyz(request: HttpRequest) -> JsonResponse:
    checks = {
        "database": _timed(_check_database),
        "redis": _timed(_check_redis, settings.REDIS_URL),
        "broker": _timed(_check_redis, settings.CELERY_BROKER_URL),
    }
    ready = all(check["ok"] for check in checks.values())
    return JsonResponse(
        {"status": "ok" if ready else "unavailable", "checks": checks}, status=200 if ready else 503
    )
