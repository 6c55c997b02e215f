"""Writes over many memories at once: delete-all by filter, entity deletion, batches.

Each runs in one transaction: a batch that fails on one item changes nothing.
"""

from dataclasses import dataclass
from typing import Any
from uuid import UUID

from django.db import transaction

from audit.services import Actor, audit_record
from config.errors import InvalidInput, NotFound
from memory.filters import ParsedFilters
from memory.models import Memory, MemoryState
from memory.records import memory_record
from memory.selectors.entities import ENTITY_TYPES
from memory.services.memories import memories_invalidate, memory_update
from tenants.keyring import keyed_hash
from tenants.models import Project

MAX_BATCH = 1000


@dataclass(frozen=True)
class BatchUpdate:
    memory_id: UUID
    text: str | None = None
    metadata: dict[str, Any] | None = None


def _live(project: Project) -> Any:
    return (
        Memory.objects.select_for_update()
        .filter(project=project)
        .exclude(state=MemoryState.DELETED)
    )


@transaction.atomic
def memories_delete_matching(*, project: Project, filters: ParsedFilters, actor: Actor) -> int:
    """Delete-all: every live memory (active, superseded or expired) matching the filter.
    Callers guarantee the filter is scoped; this never runs unscoped by accident."""
    if not filters.has_entity_scope:
        raise InvalidInput("Give at least one of user_id, agent_id, app_id or run_id.")
    rows = list(_live(project).filter(filters.q).order_by("created_at"))
    if filters.post is not None:
        post = filters.post
        rows = [row for row in rows if post(memory_record(row))]
    return memories_invalidate(project=project, memories=rows, actor=actor)


@transaction.atomic
def entity_delete(*, project: Project, entity_type: str, entity_id: str, actor: Actor) -> int:
    """Mem0's DELETE /v2/entities/{type}/{id}/: every memory of that entity goes."""
    column = ENTITY_TYPES.get(entity_type)
    if column is None:
        raise InvalidInput(
            f"entity_type: {entity_type!r} is not one of {', '.join(sorted(ENTITY_TYPES))}."
        )
    rows = list(_live(project).filter(**{column: entity_id}))
    # An entity whose memories all went already (reset() deletes a user, then the run that
    # shared those memories) is deleted, not unknown; only a never-seen id is a 404.
    if not rows and not Memory.objects.filter(project=project, **{column: entity_id}).exists():
        raise NotFound(f"No {entity_type} entity with that id in this project.")
    count = memories_invalidate(project=project, memories=rows, actor=actor)
    audit_record(
        org_id=project.organization_id,
        project_id=project.id,
        actor=actor,
        action="entity.deleted",
        target_type=entity_type,
        # A keyed hash, not the id itself: entity ids are often personal data.
        target_id=keyed_hash(project.id, entity_id, domain="entity-audit")[:32],
        extra={"count": count},
    )
    return count


def _check_batch_size(count: int) -> None:
    if count == 0:
        raise InvalidInput("memories: give at least one item.")
    if count > MAX_BATCH:
        raise InvalidInput(f"memories: {count} items; a batch takes at most {MAX_BATCH}.")


@transaction.atomic
def memories_batch_update(*, project: Project, items: list[BatchUpdate], actor: Actor) -> int:
    _check_batch_size(len(items))
    for index, item in enumerate(items):
        try:
            memory_update(
                project=project,
                memory_id=item.memory_id,
                actor=actor,
                text=item.text,
                metadata=item.metadata,
            )
        except NotFound as exc:
            raise NotFound(f"memories.{index}: memory {item.memory_id} not found.") from exc
    return len(items)


@transaction.atomic
def memories_batch_delete(*, project: Project, memory_ids: list[UUID], actor: Actor) -> int:
    _check_batch_size(len(memory_ids))
    wanted = list(dict.fromkeys(memory_ids))
    rows = {row.id: row for row in _live(project).filter(pk__in=wanted)}
    missing = [str(memory_id) for memory_id in wanted if memory_id not in rows]
    if missing:
        raise NotFound(f"Memory not found: {missing[0]}", details={"missing": missing[:20]})
    return memories_invalidate(project=project, memories=[rows[i] for i in wanted], actor=actor)
