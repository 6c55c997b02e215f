"""Reads of events: the ingestion jobs behind `add`, as `GET /v1/event/{id}/` shows them.
A job stores memory ids only; texts are decrypted live, so a memory deleted since shows
as such instead of leaking its old text."""

from dataclasses import dataclass
from typing import Any
from uuid import UUID

from config.errors import NotFound
from memory.models import IngestionJob, Memory, MemoryState
from memory.records import memory_record
from tenants.models import Project

EVENT_NOT_FOUND = "Event not found."


@dataclass(frozen=True)
class EventView:
    job: IngestionJob
    results: list[dict[str, Any]]


def event_get(*, project: Project, event_id: Any) -> EventView:
    try:
        key = UUID(str(event_id))
    except (ValueError, TypeError) as exc:
        raise NotFound(EVENT_NOT_FOUND) from exc
    job = IngestionJob.objects.select_related("episode").filter(project=project, pk=key).first()
    if job is None:
        raise NotFound(EVENT_NOT_FOUND)
    return EventView(job=job, results=event_results(project=project, job=job))


def events_page(*, project: Project, page: int, page_size: int) -> tuple[int, list[EventView]]:
    queryset = IngestionJob.objects.filter(project=project).order_by("-created_at", "-id")
    count = queryset.count()
    offset = (page - 1) * page_size
    jobs = (
        list(queryset.select_related("episode")[offset : offset + page_size])
        if offset < count
        else []
    )
    return count, [EventView(job, event_results(project=project, job=job)) for job in jobs]


def event_results(*, project: Project, job: IngestionJob) -> list[dict[str, Any]]:
    entries = [entry for entry in job.results or [] if isinstance(entry, dict)]
    ids = []
    for entry in entries:
        try:
            ids.append(UUID(str(entry.get("id"))))
        except ValueError:
            continue
    memories = {row.id: row for row in Memory.objects.filter(project=project, pk__in=ids)}
    return [_result(entry, memories) for entry in entries]


def _result(entry: dict[str, Any], memories: dict[UUID, Memory]) -> dict[str, Any]:
    try:
        memory = memories.get(UUID(str(entry.get("id"))))
    except ValueError:
        memory = None
    event = str(entry.get("event") or "ADD")
    if memory is None or memory.state == MemoryState.DELETED:
        return {
            "id": entry.get("id"),
            "memory": None,
            "data": {"memory": None},
            "event": event,
            "deleted": True,
        }
    record = memory_record(memory)
    return {**record, "data": {"memory": record["memory"]}, "event": event}
