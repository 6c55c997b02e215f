"""The reads the pipeline makes of stored memories, inside the job's tenant context:
nearest neighbours for conflict resolution, recent memories for the extractor's context,
and the row lock an UPDATE or DELETE takes on its target."""

from uuid import UUID

import numpy as np
from django.db.models import QuerySet

from memory.ingestion.stages import Neighbour
from memory.models import Memory, MemoryState
from memory.records import memory_text
from memory.retrieval.vector import bounded_count, exact_scan_limit, vector_candidates
from memory.services.memories import MemoryScope
from tenants.models import Project


def resolution_scope(project: Project, scope: MemoryScope) -> QuerySet[Memory]:
    """Active memories a new fact is compared with: the same user and agent (Mem0 resolves
    per entity, across sessions); for run- or app-only adds, that run or app."""
    active = Memory.objects.filter(project=project, state=MemoryState.ACTIVE)
    if scope.user_id or scope.agent_id:
        return active.filter(user_id=scope.user_id, agent_id=scope.agent_id)
    return active.filter(user_id=None, agent_id=None, run_id=scope.run_id, app_id=scope.app_id)


def neighbours_nearest(
    *, project: Project, scope: MemoryScope, vector: np.ndarray, limit: int
) -> list[Neighbour]:
    candidates = resolution_scope(project, scope).exclude(embedding=None)
    size = bounded_count(candidates, exact_scan_limit() + 1)
    if size == 0:
        return []
    hits = vector_candidates(candidates, vector, limit, scope_size=size).hits
    rows = {
        row.id: row for row in Memory.objects.filter(project=project, pk__in=[h[0] for h in hits])
    }
    return [
        Neighbour(
            memory_id=str(memory_id),
            text=memory_text(rows[memory_id]),
            similarity=float(similarity),
            subject_key=rows[memory_id].subject_key,
            confidence=rows[memory_id].confidence,
            created_at=rows[memory_id].created_at,
        )
        for memory_id, similarity in hits
        if memory_id in rows
    ]


def memories_recent_texts(*, project: Project, scope: MemoryScope, limit: int) -> list[str]:
    """The newest memories in scope, so an LLM can skip what is already known."""
    rows = resolution_scope(project, scope).order_by("-created_at")[:limit]
    return [text for text in (memory_text(row) for row in rows) if text]


def memory_lock_active(*, project: Project, memory_id: UUID | str | None) -> Memory | None:
    """The target of an UPDATE or DELETE, locked; None when it changed since resolution
    looked (deleted or superseded by a concurrent writer)."""
    if memory_id is None:
        return None
    return (
        Memory.objects.select_for_update()
        .filter(project=project, pk=memory_id, state=MemoryState.ACTIVE)
        .first()
    )
