"""Erasure in Redis: the subject's cache entries, found by the key builders of the apps
that write them, plus the shared query-vector cache.

The query-vector cache (memory.retrieval.query_cache) is keyed by a hash of the query text
and shared by all projects, so it cannot be searched for one subject: it is flushed whole
(a few cache misses) on every erasure, and its entries live 10 minutes anyway.
Celery messages carry ids only; the payloads they point at are database rows, deleted
with the subject's ingestion jobs.
"""

import importlib
import logging
from collections.abc import Iterable
from uuid import UUID

import redis
from django.conf import settings

from audit.subjects import Subject

logger = logging.getLogger(__name__)
SCAN_COUNT = 1000
KEY_BUILDERS_MODULE = "memory.cache_keys"


def _client() -> redis.Redis:
    return redis.Redis.from_url(settings.REDIS_URL, socket_timeout=5, socket_connect_timeout=5)


def _delete_matching(client: redis.Redis, pattern: str) -> int:
    removed, batch = 0, []
    for key in client.scan_iter(match=pattern, count=SCAN_COUNT):
        batch.append(key)
        if len(batch) >= SCAN_COUNT:
            removed += int(client.delete(*batch))
            batch = []
    if batch:
        removed += int(client.delete(*batch))
    return removed


def subject_cache_keys(project_id: UUID, subject: Subject) -> list[str]:
    """Exact keys (and key patterns) that may hold the subject's data in Redis."""
    try:  # the memory app owns its key formats and exposes them here
        module = importlib.import_module(KEY_BUILDERS_MODULE)
    except ImportError:
        return []
    builder = getattr(module, "subject_cache_keys", None)
    return list(builder(project_id, subject.type, subject.id)) if builder else []


def _escape(pattern: str) -> str:
    return "".join(f"\\{char}" if char in "*?[]\\" else char for char in pattern)


def subject_cache_purge(*, project_id: UUID, subject: Subject) -> dict[str, int]:
    """Delete the subject's Redis entries; returns counts by kind (never key names)."""
    client = _client()
    counts = {"subject_keys": 0, "query_vectors": 0}
    keys = subject_cache_keys(project_id, subject)
    exact = [key for key in keys if not key.endswith("*")]
    if exact:
        counts["subject_keys"] += int(client.delete(*exact))
    for prefix in (key[:-1] for key in keys if key.endswith("*")):
        counts["subject_keys"] += _delete_matching(client, _escape(prefix) + "*")
    counts["query_vectors"] = _delete_matching(client, f"{settings.ENGRAM_REDIS_PREFIX}:qvec:*")
    return counts


def keys_containing(needles: Iterable[str]) -> list[bytes]:
    """Every key under the Engram prefix containing one of these strings (for tests and the
    post-erasure check; a full SCAN, so never on a request path)."""
    client = _client()
    wanted = [needle.encode() for needle in needles]
    return [
        key
        for key in client.scan_iter(match=f"{settings.ENGRAM_REDIS_PREFIX}:*", count=SCAN_COUNT)
        if any(needle in key for needle in wanted)
    ]
