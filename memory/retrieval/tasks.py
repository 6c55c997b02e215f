"""Retrieval housekeeping off the request path: access counters and BM25 statistics."""

from typing import Any
from uuid import UUID

from celery import shared_task
from django.db import connection
from django.utils import timezone

from memory.retrieval.blind_index import bm25_stats_compact
from tenants.context import tenant_context

MAX_IDS_PER_TASK = 1000

# Only ids of this project's live memories count (a memory deleted since is skipped). Rows
# are taken in id order, so two tasks counting overlapping memories lock them in one order.
_COUNT_USES = """
INSERT INTO memory_memoryaccess (memory_id, project_id, access_count, last_accessed_at)
SELECT m.id, m.project_id, %(uses)s, %(now)s
FROM memory_memory m WHERE m.project_id = %(project)s AND m.id = ANY(%(ids)s) ORDER BY m.id
ON CONFLICT (memory_id) DO UPDATE
SET access_count = memory_memoryaccess.access_count + EXCLUDED.access_count,
    last_accessed_at = EXCLUDED.last_accessed_at
"""


@shared_task(
    acks_late=True,
    ignore_result=True,
    soft_time_limit=30,
    time_limit=60,
    autoretry_for=(Exception,),
    retry_backoff=True,
    max_retries=3,
)
def record_memory_access(project_id: str, memory_ids: list[str], uses: int = 1) -> int:
    """Searches returned these memories `uses` times each: count the uses and stamp the time
    (they feed the frequency and recency boosts). Sent in batches by
    memory/retrieval/access.py. Counts are approximate by design: a retried task may count a
    use twice, which is harmless for ranking."""
    ids = [UUID(value) for value in memory_ids[:MAX_IDS_PER_TASK]]
    with tenant_context(project_id):
        return record_access(project_id=UUID(project_id), memory_ids=ids, uses=max(1, uses))


def record_access(*, project_id: UUID, memory_ids: list[UUID], uses: int = 1) -> int:
    """Count `uses` more uses of each memory (memory_memoryaccess: the memory's own row,
    with its vector, is not rewritten). Returns how many memories were counted."""
    params: dict[str, Any] = {
        "project": project_id,
        "ids": memory_ids,
        "uses": uses,
        "now": timezone.now(),
    }
    with connection.cursor() as cursor:
        cursor.execute(_COUNT_USES, params)
        return int(cursor.rowcount)


@shared_task(acks_late=True, ignore_result=True, soft_time_limit=120, time_limit=180)
def compact_bm25_stats(project_id: str) -> None:
    with tenant_context(project_id):
        bm25_stats_compact(project_id=UUID(project_id))
