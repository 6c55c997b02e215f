"""Writes of memories: create (deduplicated), update, supersede, delete. Every change is a
version row (the history endpoint) and an audit event (ids and counts, never content)."""

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any
from uuid import UUID, uuid4

import numpy as np
from django.conf import settings
from django.db import transaction
from django.utils import timezone

from audit.services import Actor, audit_record
from config.errors import Conflict, InvalidInput, NotFound
from config.quotas import quota_spend_texts
from integrations.services import memory_events_emit
from memory.models import Memory, MemoryState, MemoryVersion
from memory.providers.embedder import get_embedder
from memory.records import (
    content_hash,
    memory_metadata,
    memory_text,
    metadata_hashes,
    seal,
    seal_json,
)
from memory.records import (
    field as field_context,
)
from memory.retrieval import index_memories_tokens, remove_memory_tokens
from memory.retrieval.blind_index import memory_postings, write_postings
from memory.retrieval.context import asks_question
from memory.services.versions import version_create
from tenants.keyring import subject_keys_read_once
from tenants.models import Project

MAX_IDS_IN_AUDIT = 100


@dataclass(frozen=True)
class MemoryScope:
    """The entity ids a memory belongs to; at least one is required."""

    user_id: str | None = None
    agent_id: str | None = None
    app_id: str | None = None
    run_id: str | None = None

    def is_empty(self) -> bool:
        return not (self.user_id or self.agent_id or self.app_id or self.run_id)


@dataclass
class NewMemory:
    text: str
    metadata: dict[str, Any] | None = None
    categories: list[str] | None = None
    importance: float = 0.5
    confidence: float = 1.0
    kind: str = "fact"
    subject_key: str | None = None
    attributed_to: str = "user"
    immutable: bool = False
    expiration_date: date | None = None
    created_at: datetime | None = None
    embedding: np.ndarray | None = None
    source_episode_id: UUID | None = None
    input_messages: list[dict[str, Any]] | None = field(default=None, repr=False)


@dataclass(frozen=True)
class MemoryChange:
    memory: Memory
    text: str
    event: str  # ADD | UPDATE | DELETE | NONE
    previous_text: str | None = None


def validate_text(text: Any, *, field_name: str = "text") -> str:
    if not isinstance(text, str):
        raise InvalidInput(f"{field_name}: must be a string.")
    text = text.strip()
    if not text:
        raise InvalidInput(f"{field_name}: must not be empty.")
    if len(text) > settings.ENGRAM_MAX_MEMORY_CHARS:
        raise InvalidInput(
            f"{field_name}: {len(text)} characters; the limit is "
            f"{settings.ENGRAM_MAX_MEMORY_CHARS} (ENGRAM_MAX_MEMORY_CHARS)."
        )
    return text


def embedding_spend(project: Project, texts: Sequence[str]) -> None:
    """A remote embedding endpoint costs money: count it against the project's daily
    budget (429 once used up). The local model is free."""
    if settings.ENGRAM_EMBEDDER == "openai":
        quota_spend_texts(project, "embedding", texts)


def _embed_missing(project: Project, items: Sequence[NewMemory]) -> None:
    missing = [item for item in items if item.embedding is None]
    if missing:
        embedding_spend(project, [item.text for item in missing])
        vectors = get_embedder().embed([item.text for item in missing])
        for item, vector in zip(missing, vectors, strict=True):
            item.embedding = vector


def _existing_duplicates(
    project: Project, scope: MemoryScope, hashes: list[str]
) -> dict[str, Memory]:
    rows = Memory.objects.filter(
        project=project,
        state=MemoryState.ACTIVE,
        user_id=scope.user_id,
        agent_id=scope.agent_id,
        content_hash__in=hashes,
    )
    return {row.content_hash: row for row in rows}


def _build_memory(project: Project, scope: MemoryScope, item: NewMemory, digest: str) -> Memory:
    memory_id = uuid4()
    now = timezone.now()
    metadata = item.metadata or None
    return Memory(
        id=memory_id,
        project=project,
        user_id=scope.user_id,
        agent_id=scope.agent_id,
        app_id=scope.app_id,
        run_id=scope.run_id,
        text_ciphertext=seal(
            project.id, item.text, field_context(memory_id, "text"), scope.user_id
        ),
        content_hash=digest,
        metadata_ciphertext=(
            seal_json(project.id, metadata, field_context(memory_id, "metadata"), scope.user_id)
            if metadata
            else None
        ),
        metadata_hashes=metadata_hashes(project.id, metadata),
        categories=item.categories,
        embedding=item.embedding,
        asks_question=asks_question(item.text),
        attributed_to=item.attributed_to,
        kind=item.kind,
        subject_key=item.subject_key,
        importance=item.importance,
        confidence=item.confidence,
        immutable=item.immutable,
        expiration_date=item.expiration_date,
        source_episode_id=item.source_episode_id,
        created_at=item.created_at or now,
        updated_at=now,
    )


def _audit_memories(
    project: Project, actor: Actor, action: str, ids: list[str], **extra: Any
) -> None:
    audit_record(
        org_id=project.organization_id,
        project_id=project.id,
        actor=actor,
        action=action,
        target_type="memory",
        target_id=ids[0] if len(ids) == 1 else "",
        extra={"count": len(ids), "memory_ids": ids[:MAX_IDS_IN_AUDIT], **extra},
    )


@transaction.atomic
def memories_create(
    *, project: Project, scope: MemoryScope, items: Sequence[NewMemory], actor: Actor
) -> list[MemoryChange]:
    """Store new memories; an exact repeat (same normalised text, same user and agent) is
    not stored twice: the existing memory comes back with event NONE."""
    if scope.is_empty():
        raise InvalidInput("At least one of user_id, agent_id, app_id or run_id is required.")
    with subject_keys_read_once():
        return _memories_create(project, scope, items, actor)


def _memories_create(
    project: Project, scope: MemoryScope, items: Sequence[NewMemory], actor: Actor
) -> list[MemoryChange]:
    digests = [content_hash(project.id, item.text) for item in items]
    existing = _existing_duplicates(project, scope, digests)
    fresh: dict[str, tuple[NewMemory, str]] = {}
    for item, digest in zip(items, digests, strict=True):
        if digest not in existing and digest not in fresh:
            fresh[digest] = (item, digest)
    _embed_missing(project, [item for item, _ in fresh.values()])
    built = {
        digest: _build_memory(project, scope, item, digest) for digest, (item, _) in fresh.items()
    }
    texts = {digest: item.text for digest, (item, _) in fresh.items()}
    postings = memory_postings(
        project_id=project.id,
        items=[(memory.id, texts[digest]) for digest, memory in built.items()],
    )
    for memory in built.values():
        memory.token_count = postings.lengths.get(memory.id, 0)
    created = Memory.objects.bulk_create(list(built.values()))
    write_postings(project_id=project.id, postings=postings)
    MemoryVersion.objects.bulk_create(
        version_create(
            memory=memory,
            event="ADD",
            actor=actor,
            old_text=None,
            new_text=texts[memory.content_hash],
            input_messages=fresh[memory.content_hash][0].input_messages,
            metadata=fresh[memory.content_hash][0].metadata,
        )
        for memory in created
    )
    if created:
        _audit_memories(project, actor, "memory.added", [str(m.id) for m in created])
        memory_events_emit(
            project=project, event="ADD", changes=[(m, texts[m.content_hash]) for m in created]
        )
    return _changes_in_request_order(items, digests, built, existing, texts)


def _changes_in_request_order(
    items: Sequence[NewMemory],
    digests: list[str],
    built: dict[str, Memory],
    existing: dict[str, Memory],
    texts: dict[str, str],
) -> list[MemoryChange]:
    changes, seen = [], set()
    for item, digest in zip(items, digests, strict=True):
        if digest in seen:
            continue
        seen.add(digest)
        if digest in built:
            changes.append(MemoryChange(built[digest], texts[digest], "ADD"))
        else:
            changes.append(MemoryChange(existing[digest], item.text, "NONE"))
    return changes


def memory_get_for_update(*, project: Project, memory_id: UUID | str) -> Memory:
    memory = (
        Memory.objects.select_for_update()
        .filter(project=project, pk=memory_id)
        .exclude(state=MemoryState.DELETED)
        .first()
    )
    if memory is None:
        raise NotFound("Memory not found!")
    return memory


_UNSET: Any = object()


@transaction.atomic
def memory_update(
    *,
    project: Project,
    memory_id: UUID | str,
    actor: Actor,
    text: str | None = None,
    metadata: dict[str, Any] | None = None,
    expiration_date: date | None = _UNSET,
    created_at: datetime | None = None,
) -> MemoryChange:
    memory = memory_get_for_update(project=project, memory_id=memory_id)
    if memory.immutable:
        raise Conflict("This memory is immutable: delete it and add a new one instead.")
    old_text = memory_text(memory)
    new_text = validate_text(text) if text is not None else old_text
    if metadata is not None:
        merged = {**(memory_metadata(memory) or {}), **metadata}
        memory.metadata_ciphertext = seal_json(
            project.id, merged, field_context(memory.id, "metadata"), memory.user_id
        )
        memory.metadata_hashes = metadata_hashes(project.id, merged)
    if expiration_date is not _UNSET:
        memory.expiration_date = expiration_date
    if created_at is not None:
        memory.created_at = created_at
    if new_text != old_text:
        _replace_text(project, memory, new_text)
    memory.updated_at = timezone.now()
    memory.save()
    version_create(
        memory=memory,
        event="UPDATE",
        actor=actor,
        old_text=old_text,
        new_text=new_text,
        metadata=metadata,
    ).save()
    _audit_memories(project, actor, "memory.updated", [str(memory.id)])
    memory_events_emit(project=project, event="UPDATE", changes=[(memory, new_text)])
    return MemoryChange(memory, new_text, "UPDATE", previous_text=old_text)


def _replace_text(project: Project, memory: Memory, new_text: str) -> None:
    memory.text_ciphertext = seal(
        project.id, new_text, field_context(memory.id, "text"), memory.user_id
    )
    memory.content_hash = content_hash(project.id, new_text)
    memory.asks_question = asks_question(new_text)
    embedding_spend(project, [new_text])
    memory.embedding = get_embedder().embed_one(new_text)
    remove_memory_tokens(project_id=project.id, memory_ids=[memory.id])
    counts = index_memories_tokens(project_id=project.id, items=[(memory.id, new_text)])
    memory.token_count = counts.get(memory.id, 0)


def _linked_older_versions(project: Project, memory: Memory) -> list[Memory]:
    """The chain of memories this one superseded (they point at it through replaced_by)."""
    found: list[Memory] = []
    frontier = [memory.id]
    while frontier:
        older = list(
            Memory.objects.select_for_update()
            .filter(project=project, replaced_by_id__in=frontier)
            .exclude(state=MemoryState.DELETED)
        )
        found.extend(older)
        frontier = [row.id for row in older]
    return found


@transaction.atomic
def memory_delete(
    *, project: Project, memory_id: UUID | str, actor: Actor, delete_linked: bool = False
) -> int:
    memory = memory_get_for_update(project=project, memory_id=memory_id)
    targets = [memory] + (_linked_older_versions(project, memory) if delete_linked else [])
    return memories_invalidate(project=project, memories=targets, actor=actor)


def memories_invalidate(*, project: Project, memories: list[Memory], actor: Actor) -> int:
    """Delete: the memory leaves search and listing, its text, vector and index tokens are
    wiped, and a DELETE version keeps the history readable."""
    if not memories:
        return 0
    now = timezone.now()
    versions = []
    for memory in memories:
        versions.append(
            version_create(
                memory=memory,
                event="DELETE",
                actor=actor,
                old_text=memory_text(memory),
                new_text=None,
            )
        )
    ids = [memory.id for memory in memories]
    MemoryVersion.objects.bulk_create(versions)
    # Through the index module, so the BM25 statistics lose these documents too.
    remove_memory_tokens(project_id=project.id, memory_ids=ids)
    Memory.objects.filter(project=project, pk__in=ids).update(
        state=MemoryState.DELETED,
        deleted_at=now,
        updated_at=now,
        text_ciphertext="",
        metadata_ciphertext=None,
        metadata_hashes=[],
        embedding=None,
        token_count=0,
    )
    _audit_memories(project, actor, "memory.deleted", [str(i) for i in ids])
    # A generator: text is decrypted only when some webhook subscribes to deletions.
    memory_events_emit(
        project=project, event="DELETE", changes=((m, memory_text(m)) for m in memories)
    )
    return len(ids)


@transaction.atomic
def memory_supersede(
    *, project: Project, old: Memory, new_item: NewMemory, scope: MemoryScope, actor: Actor
) -> MemoryChange:
    """A newer fact replaces an older one: the old memory stays, marked superseded, with its
    confidence and timestamps, and points at its successor (nothing overwritten silently)."""
    old_text = memory_text(old)
    change = memories_create(project=project, scope=scope, items=[new_item], actor=actor)[0]
    if change.memory.id == old.id:
        return change
    Memory.objects.filter(project=project, pk=old.id).update(
        state=MemoryState.SUPERSEDED, replaced_by=change.memory, updated_at=timezone.now()
    )
    version_create(
        memory=old, event="UPDATE", actor=actor, old_text=old_text, new_text=change.text
    ).save()
    return MemoryChange(change.memory, change.text, "UPDATE", previous_text=old_text)
