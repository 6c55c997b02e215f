"""`add` with infer=false: each non-system message becomes one memory at once (embedded,
deduplicated by keyed hash, versioned), and the call is recorded as a finished event so
that `GET /v1/event/{id}/` answers for it like for an inferred add."""

from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

from django.db import transaction
from django.db.models import Max
from django.utils import timezone

from audit.services import Actor
from config.errors import InvalidInput
from config.quotas import quota_check_memories
from memory.ingestion.categories import categorize
from memory.ingestion.facts import DEFAULT_CATEGORIES
from memory.models import IngestionJob, Memory
from memory.services.memories import (
    MemoryChange,
    MemoryScope,
    NewMemory,
    memories_create,
    validate_text,
)
from tenants.models import Project


@dataclass(frozen=True)
class DirectAddOptions:
    metadata: dict[str, Any] | None = None
    # Mem0 `custom_categories` of this call ({name: description} or names); else the project's.
    custom_categories: list[Any] | None = None
    expiration_date: date | None = None
    created_at: datetime | None = None
    immutable: bool = False


@dataclass(frozen=True)
class DirectAddResult:
    event: IngestionJob
    changes: list[MemoryChange]


def category_catalog(project: Project, per_call: list[Any] | None) -> dict[str, str]:
    """Mem0's resolution order: the call's list, then the project's, then the defaults."""
    chosen = per_call if per_call else project.custom_categories
    if not chosen:
        return dict(DEFAULT_CATEGORIES)
    catalog: dict[str, str] = {}
    for entry in chosen:
        if isinstance(entry, dict):
            catalog.update({str(name): str(text or "") for name, text in entry.items()})
        elif isinstance(entry, str):
            catalog[entry] = DEFAULT_CATEGORIES.get(entry, "")
    return catalog or dict(DEFAULT_CATEGORIES)


# Separate adds given the same `timestamp` (one call per dialogue turn, each with its
# session's time) would tie, and tied turns have no order: search lends a question's score
# to the turn after it (retrieval/context.py) and skips ties. So a given moment that this
# conversation already holds moves on past the turns stored at it, in order of arrival.
SAME_MOMENT = timedelta(seconds=1)


def _first_free_moment(project: Project, scope: MemoryScope, moment: datetime) -> datetime:
    latest = Memory.objects.filter(
        project=project,
        user_id=scope.user_id,
        agent_id=scope.agent_id,
        app_id=scope.app_id,
        run_id=scope.run_id,
        created_at__gte=moment,
        created_at__lt=moment + SAME_MOMENT,
    ).aggregate(latest=Max("created_at"))["latest"]
    return moment if latest is None else latest + timedelta(microseconds=1)


def _items(
    messages: list[dict[str, Any]],
    options: DirectAddOptions,
    catalog: dict[str, str],
    base: datetime,
) -> list[NewMemory]:
    items: list[NewMemory] = []
    # One microsecond apart: the turns of one call keep their order in time-aware ranking.
    for index, message in enumerate(messages):
        if message["role"] == "system":
            continue
        text = validate_text(message["content"], field_name=f"messages.{index}.content")
        items.append(
            NewMemory(
                text=text,
                metadata=options.metadata,
                categories=list(categorize(text, "fact", catalog)) or None,
                kind="verbatim",
                attributed_to="assistant" if message["role"] == "assistant" else "user",
                immutable=options.immutable,
                expiration_date=options.expiration_date,
                created_at=base + timedelta(microseconds=len(items)),
                input_messages=[message],
            )
        )
    if not items:
        raise InvalidInput("messages: nothing to store (system messages are never stored).")
    return items


@transaction.atomic
def memories_add_direct(
    *,
    project: Project,
    scope: MemoryScope,
    messages: list[dict[str, Any]],
    options: DirectAddOptions,
    actor: Actor,
) -> DirectAddResult:
    catalog = category_catalog(project, options.custom_categories)
    given = options.created_at
    base = timezone.now() if given is None else _first_free_moment(project, scope, given)
    items = _items(messages, options, catalog, base)
    quota_check_memories(project, len(items))
    changes = memories_create(project=project, scope=scope, items=items, actor=actor)
    now = timezone.now()
    event = IngestionJob.objects.create(
        project=project,
        event_type="ADD",
        status=IngestionJob.Status.SUCCEEDED,
        results=[{"id": str(change.memory.id), "event": change.event} for change in changes],
        actor_type=actor.type,
        actor_id=actor.id,
        attempts=1,
        started_at=now,
        completed_at=now,
    )
    return DirectAddResult(event=event, changes=changes)
