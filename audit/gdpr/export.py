"""The Art. 15/20 export document: everything held about one subject, as one JSON object.
The schema is documented in docs/compliance.md ("GDPR export format")."""

from datetime import datetime
from typing import Any
from uuid import UUID

from django.db.models import Q
from django.utils import timezone

from audit.gdpr.fields import open_column_json, open_column_text
from audit.retention import retention_policy_data
from audit.subjects import Subject
from audit.sweeper import retention_policy_for
from memory.models import (
    Entity,
    EntityMention,
    Episode,
    IngestionJob,
    Memory,
    MemoryState,
    Relation,
    WorkingState,
)
from memory.records import memory_record
from memory.selectors.memories import memory_history
from memory.selectors.tiers import episodes_page, working_state_record
from tenants.models import Project

EXPORT_SCHEMA = "engram.gdpr-export/1"


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value else None


def export_document(*, project: Project, subject: Subject, request_id: UUID) -> dict[str, Any]:
    """Build the document inside the project's tenant transaction."""
    memories = list(
        Memory.objects.filter(project=project).filter(subject.q()).order_by("created_at", "id")
    )
    memory_ids = [memory.id for memory in memories]
    episodes = _episode_entries(project, subject)
    document: dict[str, Any] = {
        "schema": EXPORT_SCHEMA,
        "request_id": str(request_id),
        "generated_at": timezone.now().isoformat(),
        "project_id": str(project.id),
        "subject": {"type": subject.type, "id": subject.id},
        "memories": [_memory_entry(project, memory) for memory in memories],
        "episodes": episodes,
        "ingestion_events": _job_entries(project, [UUID(item["id"]) for item in episodes]),
        "working_state": _working_state_entries(project, subject),
        "categories": sorted({c for m in memories for c in (m.categories or [])}),
        "retention_policy": retention_policy_data(retention_policy_for(project)),
    }
    entities, relations = _graph_entries(project, subject, memory_ids)
    document["entities"], document["relations"] = entities, relations
    document["counts"] = {
        key: len(value) for key, value in document.items() if isinstance(value, list)
    }
    return document


def _memory_entry(project: Project, memory: Memory) -> dict[str, Any]:
    """The memory as the API shows it (spec §8), with its full history (spec §9)."""
    deleted = memory.state == MemoryState.DELETED or not memory.text_ciphertext
    entry = (
        memory_record(memory, text="", metadata=None, decrypt_metadata=False)
        if deleted
        else (memory_record(memory))
    )
    entry["deleted_at"] = _iso(memory.deleted_at)
    entry["history"] = memory_history(project=project, memory_id=memory.id)
    return entry


def _episode_entries(project: Project, subject: Subject) -> list[dict[str, Any]]:
    """The conversations as the episodic-tier API shows them, oldest first."""
    total = Episode.objects.filter(project=project).filter(subject.q()).count()
    if not total:
        return []
    page = episodes_page(
        project=project, entity_ids={subject.column: subject.id}, page=1, page_size=total
    )
    return page.results


def _job_entries(project: Project, episode_ids: list[UUID]) -> list[dict[str, Any]]:
    jobs = IngestionJob.objects.filter(project=project, episode_id__in=episode_ids).order_by(
        "created_at", "id"
    )
    return [
        {
            "event_id": str(job.id),
            "episode_id": str(job.episode_id) if job.episode_id else None,
            "event_type": job.event_type,
            "status": job.status,
            "request_options": open_column_json(job, "options_ciphertext"),
            "results": job.results,
            "created_at": _iso(job.created_at),
            "completed_at": _iso(job.completed_at),
        }
        for job in jobs
    ]


def _working_state_entries(project: Project, subject: Subject) -> list[dict[str, Any]]:
    rows = WorkingState.objects.filter(project=project).filter(subject.q()).order_by("run_id")
    return [working_state_record(row).as_dict() for row in rows]


def subject_entities(project: Project, subject: Subject, memory_ids: list[UUID]) -> Any:
    """Entities scoped to the subject, and those its memories mention."""
    mentioned = EntityMention.objects.filter(project=project, memory_id__in=memory_ids)
    scoped = subject.q() if subject.column in ("user_id", "agent_id") else None
    queryset = Entity.objects.filter(project=project)
    condition = (scoped | _in(mentioned)) if scoped is not None else _in(mentioned)
    return queryset.filter(condition).order_by("created_at", "id")


def _in(mentions: Any) -> Q:
    return Q(pk__in=mentions.values("entity_id"))


def _graph_entries(
    project: Project, subject: Subject, memory_ids: list[UUID]
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    entities = list(subject_entities(project, subject, memory_ids))
    names = {entity.id: open_column_text(entity, "name_ciphertext") for entity in entities}
    mentions: dict[UUID, list[str]] = {}
    for entity_id, memory_id in EntityMention.objects.filter(
        project=project, entity_id__in=list(names)
    ).values_list("entity_id", "memory_id"):
        mentions.setdefault(entity_id, []).append(str(memory_id))
    entity_entries = [
        {
            "id": str(entity.id),
            "name": names[entity.id],
            "type": entity.entity_type,
            "user_id": entity.user_id,
            "agent_id": entity.agent_id,
            "memory_ids": sorted(mentions.get(entity.id, [])),
            "created_at": _iso(entity.created_at),
        }
        for entity in entities
    ]
    relations = Relation.objects.filter(project=project, memory_id__in=memory_ids).select_related(
        "source", "target"
    )
    relation_entries = [
        {
            "id": str(relation.id),
            "source": open_column_text(relation.source, "name_ciphertext"),
            "relation": relation.relation,
            "target": open_column_text(relation.target, "name_ciphertext"),
            "memory_id": str(relation.memory_id),
            "confidence": relation.confidence,
            "created_at": _iso(relation.created_at),
        }
        for relation in relations.order_by("created_at", "id")
    ]
    return entity_entries, relation_entries
