"""Hard deletion of stored content and everything derived from it, shared by the retention
sweeper and erasure. Runs inside the caller's tenant transaction; returns row counts per
table (never content) for the audit event."""

from collections import Counter
from collections.abc import Iterable
from typing import Any
from uuid import UUID

from django.db.models import Model, QuerySet

from memory.models import (
    Entity,
    EntityMention,
    Episode,
    IngestionJob,
    Memory,
    MemoryToken,
)
from memory.retrieval import remove_memory_tokens


def _tally(counts: Counter[str], deleted: tuple[int, dict[str, int]]) -> None:
    for label, number in deleted[1].items():
        if number:
            counts[_table(label)] += number


def _table(label: str) -> str:
    """ "memory.MemoryVersion" -> "memory_memoryversion" (the name people grep for)."""
    return label.replace(".", "_").lower()


def memories_purge(*, project_id: UUID, memory_ids: list[UUID]) -> Counter[str]:
    """Memories with their versions, vectors (the embedding column goes with the row),
    blind-index postings (through the retrieval module, so BM25 statistics follow), entity
    mentions, relations, and entities left without any mention."""
    counts: Counter[str] = Counter()
    if not memory_ids:
        return counts
    tokens = MemoryToken.objects.filter(project_id=project_id, memory_id__in=memory_ids)
    counts["memory_memorytoken"] += tokens.count()
    remove_memory_tokens(project_id=project_id, memory_ids=memory_ids)
    entity_ids = list(
        EntityMention.objects.filter(project_id=project_id, memory_id__in=memory_ids)
        .values_list("entity_id", flat=True)
        .distinct()
    )
    _tally(counts, Memory.objects.filter(project_id=project_id, pk__in=memory_ids).delete())
    counts += entities_purge_orphans(project_id=project_id, entity_ids=entity_ids)
    return counts


def entities_purge_orphans(*, project_id: UUID, entity_ids: Iterable[UUID]) -> Counter[str]:
    counts: Counter[str] = Counter()
    ids = list(entity_ids)
    if ids:
        orphans = Entity.objects.filter(project_id=project_id, pk__in=ids, mentions__isnull=True)
        _tally(
            counts,
            Entity.objects.filter(pk__in=list(orphans.values_list("pk", flat=True))).delete(),
        )
    return counts


def episodes_purge(*, project_id: UUID, episode_ids: list[UUID]) -> Counter[str]:
    """Episodes and the ingestion jobs (with their encrypted payloads) that came from them."""
    counts: Counter[str] = Counter()
    if not episode_ids:
        return counts
    jobs = IngestionJob.objects.filter(project_id=project_id, episode_id__in=episode_ids)
    _tally(counts, jobs.delete())
    _tally(counts, Episode.objects.filter(project_id=project_id, pk__in=episode_ids).delete())
    return counts


def rows_purge(queryset: QuerySet[Any]) -> Counter[str]:
    """Delete a plain queryset (working state, jobs, exports) and count by table."""
    counts: Counter[str] = Counter()
    _tally(counts, queryset.delete())
    return counts


def ids_of(queryset: QuerySet[Any], limit: int) -> list[Any]:
    return list(queryset.order_by("pk").values_list("pk", flat=True)[:limit])


def model_table(model: type[Model]) -> str:
    return model._meta.db_table
