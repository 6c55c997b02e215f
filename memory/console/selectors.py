"""Console reads of memories that the API selectors do not offer: a bounded directory of
users / agents / sessions, and a memory's detail with its history, entities, relations and
source episode. Whatever decrypts content for a staff member is audited in the same
transaction (`memory.content_viewed`, ids only, never text)."""

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.db.models import Count, Max
from django.utils.dateparse import parse_datetime

from audit.services import Actor, audit_record
from memory.filters import ParsedFilters
from memory.models import (
    Entity,
    Episode,
    IngestionJob,
    Memory,
    MemoryAccess,
    MemoryState,
    Relation,
)
from memory.records import field, memory_record, memory_text, open_text
from memory.retrieval import SearchOptions, search_memories
from memory.selectors.memories import Visibility, memories_page, memory_get, memory_history
from memory.selectors.tiers import episode_messages
from tenants.context import tenant_context
from tenants.models import Project

ENTITY_TABLE = "memory_entity"
SCOPES = {"user": "user_id", "agent": "agent_id", "run": "run_id"}
MAX_AUDITED_IDS = 100
SEARCH_TOP_K = 25


@dataclass(frozen=True)
class DirectoryRow:
    name: str
    memories: int
    last_updated: datetime


def scope_counts(*, project: Project) -> dict[str, int]:
    """Distinct users, agents and sessions with at least one active memory."""
    with tenant_context(project.id, project.organization_id):
        active = Memory.objects.filter(project=project, state=MemoryState.ACTIVE)
        return {
            kind: active.exclude(**{f"{column}__isnull": True}).values(column).distinct().count()
            for kind, column in SCOPES.items()
        }


def scope_directory(
    *, project: Project, kind: str, starts_with: str = "", limit: int = 100
) -> list[DirectoryRow]:
    """The most recently active ids of one kind (bounded: a project may have millions)."""
    column = SCOPES[kind]
    with tenant_context(project.id, project.organization_id):
        rows = Memory.objects.filter(project=project, state=MemoryState.ACTIVE).exclude(
            **{f"{column}__isnull": True}
        )
        if starts_with:
            rows = rows.filter(**{f"{column}__startswith": starts_with})
        grouped = (
            rows.values(column)
            .annotate(total=Count("id"), last=Max("updated_at"))
            .order_by("-last")[:limit]
        )
        return [DirectoryRow(row[column], row["total"], row["last"]) for row in grouped]


def content_viewed(*, project: Project, actor: Actor, memory_ids: list[str], view: str) -> None:
    """Audit a decryption for a staff member (call inside the tenant transaction)."""
    if not memory_ids:
        return
    audit_record(
        org_id=project.organization_id,
        project_id=project.id,
        actor=actor,
        action="memory.content_viewed",
        target_type="memory",
        target_id=memory_ids[0] if len(memory_ids) == 1 else "",
        extra={
            "via": "console",
            "view": view,
            "count": len(memory_ids),
            "memory_ids": memory_ids[:MAX_AUDITED_IDS],
        },
    )


@dataclass(frozen=True)
class EntityView:
    name: str
    type: str


@dataclass(frozen=True)
class RelationView:
    source: str
    relation: str
    target: str
    confidence: float


@dataclass(frozen=True)
class EpisodeView:
    id: str
    created_at: datetime
    messages: list[dict[str, Any]] | None
    job_id: str | None
    job_status: str | None


@dataclass(frozen=True)
class MemoryDetail:
    memory: Memory
    record: dict[str, Any]
    history: list[dict[str, Any]]
    entities: list[EntityView]
    relations: list[RelationView]
    episode: EpisodeView | None
    replaced: list[tuple[Memory, str]]
    uses: MemoryAccess | None  # None: no search has returned it


def _entity_name(entity: Entity) -> str:
    context = field(entity.id, "name", ENTITY_TABLE)
    return open_text(entity.project_id, entity.name_ciphertext, context) or ""


def _graph(project: Project, memory: Memory) -> tuple[list[EntityView], list[RelationView]]:
    entities = Entity.objects.filter(project=project, mentions__memory=memory).distinct()
    views = [EntityView(_entity_name(entity), entity.entity_type) for entity in entities]
    relations = Relation.objects.filter(project=project, memory=memory).select_related(
        "source", "target"
    )
    edges = [
        RelationView(_entity_name(r.source), r.relation, _entity_name(r.target), r.confidence)
        for r in relations
    ]
    return views, edges


def _episode(project: Project, memory: Memory) -> EpisodeView | None:
    if memory.source_episode_id is None:
        return None
    episode = Episode.objects.filter(project=project, pk=memory.source_episode_id).first()
    if episode is None:
        return None
    job = IngestionJob.objects.filter(project=project, episode_id=episode.id).first()
    return EpisodeView(
        id=str(episode.id),
        created_at=episode.created_at,
        messages=episode_messages(episode),
        job_id=str(job.id) if job else None,
        job_status=job.status if job else None,
    )


def _history(project: Project, memory: Memory) -> list[dict[str, Any]]:
    entries = memory_history(project=project, memory_id=memory.id)
    for entry in entries:
        entry["created"] = parse_datetime(entry["created_at"])
    return entries


def memory_detail_for_staff(*, project: Project, memory_id: str, actor: Actor) -> MemoryDetail:
    """Everything about one memory, decrypted, and the audit event saying who looked."""
    with tenant_context(project.id, project.organization_id):
        memory = memory_get(project=project, memory_id=memory_id, include_deleted=True)
        entities, relations = _graph(project, memory)
        replaced_rows = Memory.objects.filter(project=project, replaced_by=memory).order_by(
            "-updated_at"
        )[:50]
        detail = MemoryDetail(
            memory=memory,
            record=memory_record(memory),
            history=_history(project, memory),
            entities=entities,
            relations=relations,
            episode=_episode(project, memory),
            replaced=[(row, memory_text(row)) for row in replaced_rows],
            uses=MemoryAccess.objects.filter(project=project, memory=memory).first(),
        )
        content_viewed(project=project, actor=actor, memory_ids=[str(memory.id)], view="detail")
    return detail


def memory_is_active(memory: Memory) -> bool:
    return memory.state == MemoryState.ACTIVE


@dataclass(frozen=True)
class MemoryListing:
    count: int
    records: list[dict[str, Any]]
    searched: bool


def memories_for_staff(
    *,
    project: Project,
    filters: ParsedFilters,
    visibility: Visibility,
    page: int,
    page_size: int,
    query: str,
    actor: Actor,
) -> MemoryListing:
    """One page of memories (or the top search hits, by the API's retrieval engine), with
    the audit event for the decrypted texts shown."""
    with tenant_context(project.id, project.organization_id):
        if query:
            hits = search_memories(
                project_id=project.id,
                query=query,
                filters=filters,
                top_k=SEARCH_TOP_K,
                threshold=0.0,
                options=SearchOptions(latest_only=visibility.latest_only),
            )
            records = [
                {**memory_record(hit.memory, text=hit.text), "score": hit.score} for hit in hits
            ]
            listing = MemoryListing(len(records), records, searched=True)
        else:
            found = memories_page(
                project=project,
                filters=filters,
                page=page,
                page_size=page_size,
                visibility=visibility,
            )
            listing = MemoryListing(found.count, found.records, searched=False)
        content_viewed(
            project=project,
            actor=actor,
            view="search" if query else "list",
            memory_ids=[record["id"] for record in listing.records],
        )
    return listing
