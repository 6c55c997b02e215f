"""Settings of the integrations app, each read from Django settings when the deployment
defines it there, else from the environment (with the same typed helpers as
config/settings.py). Read at call time, so tests can override them with `settings`."""

from typing import Any

from django.conf import settings

from config.settings import env_float, env_int, env_list, env_secret


def _setting(name: str, default: Any) -> Any:
    return getattr(settings, name, default)


def webhook_allowed_hosts() -> list[str]:
    """Hostnames and CIDRs that webhooks may reach although they are private (self-hosted
    receivers on the same network). Empty by default: only public addresses."""
    value = _setting("ENGRAM_WEBHOOK_ALLOWED_HOSTS", None)
    if value is None:
        return env_list("ENGRAM_WEBHOOK_ALLOWED_HOSTS")
    return [value] if isinstance(value, str) else list(value)


def outbound_timeout() -> float:
    return float(_setting("ENGRAM_OUTBOUND_TIMEOUT", env_float("ENGRAM_OUTBOUND_TIMEOUT", 20.0)))


def webhook_max_attempts() -> int:
    return int(_setting("ENGRAM_WEBHOOK_MAX_ATTEMPTS", env_int("ENGRAM_WEBHOOK_MAX_ATTEMPTS", 8)))


def webhook_retry_base_seconds() -> float:
    default = env_float("ENGRAM_WEBHOOK_RETRY_BASE_SECONDS", 10.0)
    return float(_setting("ENGRAM_WEBHOOK_RETRY_BASE_SECONDS", default))


def webhook_retry_max_seconds() -> float:
    default = env_float("ENGRAM_WEBHOOK_RETRY_MAX_SECONDS", 3600.0)
    return float(_setting("ENGRAM_WEBHOOK_RETRY_MAX_SECONDS", default))


def webhook_max_response_bytes() -> int:
    default = env_int("ENGRAM_WEBHOOK_MAX_RESPONSE_BYTES", 64 * 1024)
    return int(_setting("ENGRAM_WEBHOOK_MAX_RESPONSE_BYTES", default))


def webhook_log_days() -> int:
    return int(_setting("ENGRAM_WEBHOOK_LOG_DAYS", env_int("ENGRAM_WEBHOOK_LOG_DAYS", 30)))


def webhooks_per_project() -> int:
    return int(_setting("ENGRAM_WEBHOOKS_PER_PROJECT", env_int("ENGRAM_WEBHOOKS_PER_PROJECT", 20)))


def metrics_token() -> str:
    return str(_setting("ENGRAM_METRICS_TOKEN", env_secret("ENGRAM_METRICS_TOKEN")))


def metrics_redis_timeout() -> float:
    default = env_float("ENGRAM_METRICS_REDIS_TIMEOUT", 0.25)
    return float(_setting("ENGRAM_METRICS_REDIS_TIMEOUT", default))


def metrics_queues() -> list[str]:
    """Celery queues to report besides the default one and those in CELERY_TASK_ROUTES."""
    value = _setting("ENGRAM_METRICS_QUEUES", None)
    return env_list("ENGRAM_METRICS_QUEUES") if value is None else list(value)
