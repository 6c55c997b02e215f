"""Retrieval housekeeping off the request path: access counters and BM25 statistics."""

from uuid import UUID

from celery import shared_task
from django.db.models import F
from django.utils import timezone

from memory.models import Memory
from memory.retrieval.blind_index import bm25_stats_compact
from tenants.context import tenant_context

MAX_IDS_PER_TASK = 1000


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
    updated: int = Memory.objects.filter(project_id=project_id, pk__in=memory_ids).update(
        access_count=F("access_count") + uses, last_accessed_at=timezone.now()
    )
    return updated


@shared_task(acks_late=True, ignore_result=True, soft_time_limit=120, time_limit=180)
def compact_bm25_stats(project_id: str) -> None:
    with tenant_context(project_id):
        bm25_stats_compact(project_id=UUID(project_id))
