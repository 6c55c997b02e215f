"""Reads of memories: get by id, paginated listing, filtered scans, version history."""

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC
from typing import Any
from uuid import UUID

from django.db.models import Q, QuerySet
from django.utils import timezone

from config.errors import NotFound
from memory.filters import ParsedFilters
from memory.models import Memory, MemoryState, MemoryVersion
from memory.records import field, memory_record, open_json, open_text, prefetch_memory_keys
from memory.services.versions import VERSION_TABLE
from tenants.models import Project

MEMORY_NOT_FOUND = "Memory not found!"
# A listing whose filter needs decryption (text or metadata substrings) scans at most this
# many candidates; beyond it the count is a lower bound. Keeps a request's cost bounded.
MAX_DECRYPTED_SCAN = 50_000


@dataclass(frozen=True)
class MemoryPage:
    count: int
    records: list[dict[str, Any]]


@dataclass(frozen=True)
class Visibility:
    """Which stored memories a read considers: expired ones and superseded ones are hidden
    unless asked for (Mem0's `show_expired`; `latest_only` defaults to true here)."""

    show_expired: bool = False
    latest_only: bool = True


def parse_memory_id(memory_id: Any) -> UUID:
    """A malformed id names no memory: the same 404 as a missing one."""
    try:
        return UUID(str(memory_id))
    except (ValueError, TypeError, AttributeError) as exc:
        raise NotFound(MEMORY_NOT_FOUND) from exc


def memory_get(*, project: Project, memory_id: Any, include_deleted: bool = False) -> Memory:
    """One memory of this project. Expired memories are returned (Mem0: get always does)."""
    queryset = Memory.objects.filter(project=project, pk=parse_memory_id(memory_id))
    if not include_deleted:
        queryset = queryset.exclude(state=MemoryState.DELETED)
    memory = queryset.first()
    if memory is None:
        raise NotFound(MEMORY_NOT_FOUND)
    return memory


def visible_memories(*, project: Project, visibility: Visibility) -> QuerySet[Memory]:
    queryset = Memory.objects.filter(project=project)
    if visibility.latest_only:
        queryset = queryset.filter(state=MemoryState.ACTIVE)
    else:
        queryset = queryset.exclude(state=MemoryState.DELETED)
    if not visibility.show_expired:
        today = timezone.now().astimezone(UTC).date()
        queryset = queryset.filter(Q(expiration_date__isnull=True) | Q(expiration_date__gte=today))
    return queryset


def _matching(project: Project, filters: ParsedFilters, visibility: Visibility) -> QuerySet[Memory]:
    return (
        visible_memories(project=project, visibility=visibility)
        .filter(filters.q)
        .order_by("-created_at", "-id")
    )


def memories_page(
    *,
    project: Project,
    filters: ParsedFilters,
    page: int,
    page_size: int,
    visibility: Visibility,
) -> MemoryPage:
    """One page of the matching memories, newest first, as Mem0 records."""
    queryset = _matching(project, filters, visibility)
    offset = (page - 1) * page_size
    if filters.post is None:
        count = queryset.count()
        rows = list(queryset[offset : offset + page_size]) if offset < count else []
        prefetch_memory_keys(rows)
        return MemoryPage(count=count, records=[memory_record(row) for row in rows])
    count, window = 0, []
    for record in _decrypted_matches(queryset, filters):
        if offset <= count < offset + page_size:
            window.append(record)
        count += 1
    return MemoryPage(count=count, records=window)


def _decrypted_matches(
    queryset: QuerySet[Memory], filters: ParsedFilters
) -> Iterator[dict[str, Any]]:
    for memory in queryset[:MAX_DECRYPTED_SCAN].iterator(chunk_size=500):
        record = memory_record(memory)
        if filters.post is None or filters.post(record):
            yield record


def memories_matching(
    *, project: Project, filters: ParsedFilters, visibility: Visibility, limit: int | None = None
) -> list[tuple[Memory, dict[str, Any]]]:
    """Every matching memory with its decrypted record (for exports, summaries, deletes)."""
    queryset = _matching(project, filters, visibility)
    found: list[tuple[Memory, dict[str, Any]]] = []
    for memory in queryset[:MAX_DECRYPTED_SCAN].iterator(chunk_size=500):
        record = memory_record(memory)
        if filters.post is None or filters.post(record):
            found.append((memory, record))
            if limit is not None and len(found) >= limit:
                break
    return found


MAX_LINEAGE = 1000


def memory_history(*, project: Project, memory_id: Any) -> list[dict[str, Any]]:
    """Mem0 history entries (spec §9), oldest first; a deleted memory keeps its history."""
    memory = memory_get(project=project, memory_id=memory_id, include_deleted=True)
    predecessors = _predecessors(project, memory)
    lineage = {row.id: row for row in predecessors}
    lineage[memory.id] = memory
    # A successor's own ADD repeats the UPDATE recorded on the memory it replaced.
    successors = {row.replaced_by_id for row in predecessors}
    versions = MemoryVersion.objects.filter(project=project, memory_id__in=lineage).order_by(
        "created_at", "id"
    )
    return [
        _history_entry(lineage[version.memory_id], version)
        for version in versions
        if not (version.event == "ADD" and version.memory_id in successors)
    ]


def _predecessors(project: Project, memory: Memory) -> list[Memory]:
    """The memories this one superseded, transitively: a fact updated by ingestion lives on
    in a new memory, and its history must include what it replaced."""
    found: list[Memory] = []
    frontier = [memory.id]
    while frontier and len(found) < MAX_LINEAGE:
        older = list(Memory.objects.filter(project=project, replaced_by_id__in=frontier))
        found.extend(older)
        frontier = [row.id for row in older]
    return found


def _history_entry(memory: Memory, version: MemoryVersion) -> dict[str, Any]:
    def opened(token: str | None, name: str) -> str | None:
        return open_text(memory.project_id, token, field(version.id, name, VERSION_TABLE))

    created = version.created_at.astimezone(UTC).isoformat()
    return {
        "id": str(version.id),
        "memory_id": str(memory.id),
        "input": open_json(
            memory.project_id, version.input_ciphertext, field(version.id, "input", VERSION_TABLE)
        )
        or [],
        "old_memory": opened(version.old_text_ciphertext, "old_text"),
        "new_memory": opened(version.new_text_ciphertext, "new_text"),
        "user_id": memory.user_id,
        "agent_id": memory.agent_id,
        "app_id": memory.app_id,
        "run_id": memory.run_id,
        "session_id": memory.run_id,
        "categories": version.categories,
        "event": version.event,
        "metadata": open_json(
            memory.project_id,
            version.metadata_ciphertext,
            field(version.id, "metadata", VERSION_TABLE),
        ),
        "is_deleted": version.event == MemoryVersion.Event.DELETE,
        "actor_type": version.actor_type,
        "actor_id": version.actor_id,
        "created_at": created,
        "updated_at": created,
    }


def memories_by_ids(*, project: Project, memory_ids: list[UUID]) -> dict[UUID, Memory]:
    return {row.id: row for row in Memory.objects.filter(project=project, pk__in=memory_ids)}
