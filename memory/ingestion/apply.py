"""The finishing transaction of a job: resolve each prepared fact against the nearest stored
memories, write memories, versions, entities and audit events, and mark the job SUCCEEDED,
all or nothing.

It runs only while this worker still holds the job (`claimed_by`, row-locked), so a job
that was re-claimed after its first worker looked dead is applied exactly once. Facts of
one user/agent are serialised by an advisory lock, so two jobs of the same person resolve
against each other's results instead of adding the same fact twice.
"""

from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import numpy as np
from django.db import connection

from integrations.services import memory_categorize_emit
from memory.ingestion.entities import entities_record
from memory.ingestion.facts import CandidateFact
from memory.ingestion.inputs import JobInput
from memory.ingestion.lookups import memory_lock_active, neighbours_nearest
from memory.ingestion.stages import Decision, resolve
from memory.models import Memory
from memory.services.ingestion import ingestion_job_complete, ingestion_job_lock_claimed
from memory.services.memories import (
    MemoryScope,
    NewMemory,
    memories_create,
    memories_invalidate,
    memory_supersede,
)
from tenants.context import tenant_context

NEIGHBOURS = 5  # the nearest stored memories each fact is resolved against (Mem0: top 5)
Entry = dict[str, Any]


@dataclass(frozen=True)
class PreparedFact:
    """A fact that survived scoring and deduplication, with what storing it needs."""

    fact: CandidateFact
    vector: np.ndarray
    scope: MemoryScope  # by attribution: the user's or the agent's
    categories: tuple[str, ...]


def _scope_lock_name(project_id: object, scope: MemoryScope) -> str:
    if scope.user_id or scope.agent_id:
        return f"ingest-scope|{project_id}|u:{scope.user_id or ''}|a:{scope.agent_id or ''}"
    return f"ingest-scope|{project_id}|r:{scope.run_id or ''}|p:{scope.app_id or ''}"


def _lock_scopes(project_id: object, scopes: Iterable[MemoryScope]) -> None:
    # Sorted, so two jobs locking the same pair of scopes can never deadlock.
    names = sorted({_scope_lock_name(project_id, scope) for scope in scopes})
    with connection.cursor() as cursor:
        for name in names:
            cursor.execute("SELECT pg_advisory_xact_lock(hashtextextended(%s, 0))", [name])


def _new_memory(job: JobInput, prepared: PreparedFact) -> NewMemory:
    fact = prepared.fact
    return NewMemory(
        text=fact.text,
        metadata=job.metadata,
        categories=list(prepared.categories) or None,
        importance=fact.importance,
        confidence=fact.confidence,
        kind=fact.kind,
        subject_key=fact.subject_key,
        attributed_to=fact.attributed_to,
        immutable=job.immutable,
        expiration_date=job.expiration_date,
        created_at=job.created_at,
        embedding=prepared.vector,
        source_episode_id=job.episode_id,
        input_messages=job.messages,
    )


def _record_links(job: JobInput, memory: Memory, prepared: PreparedFact) -> None:
    """What a new memory brings besides itself: its entities and relations, and the
    categorize event Mem0 webhooks expect once categories are known."""
    entities_record(memory=memory, fact=prepared.fact)
    if prepared.categories:
        memory_categorize_emit(project=job.project, memory=memory, categories=prepared.categories)


def _add(job: JobInput, prepared: PreparedFact, decision: Decision) -> list[Entry]:
    change = memories_create(
        project=job.project,
        scope=prepared.scope,
        items=[_new_memory(job, prepared)],
        actor=job.actor,
    )[0]
    if change.event == "NONE":  # the same text is already stored in this scope
        return [{"id": str(change.memory.id), "event": "NONE"}]
    _record_links(job, change.memory, prepared)
    entry: Entry = {"id": str(change.memory.id), "event": "ADD"}
    if decision.conflicts_with:
        # Both stay, each with its confidence; search prefers the newer, surer one.
        entry["conflicts_with"] = decision.conflicts_with
    return [entry]


def _update(job: JobInput, prepared: PreparedFact, decision: Decision) -> list[Entry]:
    old = memory_lock_active(project=job.project, memory_id=decision.target_memory_id)
    if old is None or old.immutable:  # gone meanwhile, or refuses updates (Mem0 immutable)
        return _add(job, prepared, decision)
    change = memory_supersede(
        project=job.project,
        old=old,
        new_item=_new_memory(job, prepared),
        scope=prepared.scope,
        actor=job.actor,
    )
    if change.memory.id == old.id:
        return [{"id": str(old.id), "event": "NONE"}]
    _record_links(job, change.memory, prepared)
    return [{"id": str(change.memory.id), "event": "UPDATE", "previous_id": str(old.id)}]


def _delete(job: JobInput, prepared: PreparedFact, decision: Decision) -> list[Entry]:
    entries: list[Entry] = []
    old = memory_lock_active(project=job.project, memory_id=decision.target_memory_id)
    if old is not None and not old.immutable:
        # Invalidated: out of search, its text kept in the DELETE version (history).
        memories_invalidate(project=job.project, memories=[old], actor=job.actor)
        entries.append({"id": str(old.id), "event": "DELETE"})
    if decision.add_new or not entries:
        entries += _add(job, prepared, decision)
    return entries


def _apply_fact(job: JobInput, prepared: PreparedFact) -> list[Entry]:
    neighbours = neighbours_nearest(
        project=job.project, scope=prepared.scope, vector=prepared.vector, limit=NEIGHBOURS
    )
    decision = resolve(prepared.fact, prepared.vector, neighbours)
    if decision.action == "NONE":
        return [{"id": decision.target_memory_id, "event": "NONE"}]
    if decision.action == "UPDATE":
        return _update(job, prepared, decision)
    if decision.action == "DELETE":
        return _delete(job, prepared, decision)
    return _add(job, prepared, decision)


def job_apply(*, job: JobInput, facts: list[PreparedFact], worker_id: str) -> bool:
    """Write the job's outcome in one transaction; False when the claim was lost (another
    worker owns the job now), in which case nothing was written."""
    project = job.project
    with tenant_context(project.id, project.organization_id):
        claimed = ingestion_job_lock_claimed(
            project=project, job_id=job.job_id, worker_id=worker_id
        )
        if claimed is None:
            return False
        _lock_scopes(project.id, [prepared.scope for prepared in facts])
        results: list[Entry] = []
        for prepared in facts:
            results.extend(_apply_fact(job, prepared))
        counts = Counter(str(entry["event"]).lower() for entry in results)
        ingestion_job_complete(project=project, job=claimed, results=results, counts=dict(counts))
    return True
