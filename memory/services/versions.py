"""Version rows: one per change of a memory, what Mem0's history endpoint returns. Their
texts, input and metadata are sealed like the memory's own (same end-user key)."""

from typing import Any
from uuid import UUID, uuid4

from django.utils import timezone

from audit.services import Actor
from memory.models import Memory, MemoryVersion
from memory.records import field, seal, seal_json

VERSION_TABLE = "memory_memoryversion"


def _sealed(memory: Memory, version_id: UUID, name: str, value: Any) -> str | None:
    """A ciphertext bound to this version row and field; None stays None (and {} / [])."""
    if value is None or (not isinstance(value, str) and not value):
        return None
    context = field(version_id, name, VERSION_TABLE)
    if isinstance(value, str):
        return seal(memory.project_id, value, context, memory.user_id)
    return seal_json(memory.project_id, value, context, memory.user_id)


def version_create(
    *,
    memory: Memory,
    event: str,
    actor: Actor,
    old_text: str | None,
    new_text: str | None,
    input_messages: list[dict[str, Any]] | None = None,
    metadata: dict[str, Any] | None = None,
) -> MemoryVersion:
    """A history row, built but not saved (callers bulk-create)."""
    version_id = uuid4()
    return MemoryVersion(
        id=version_id,
        project_id=memory.project_id,
        memory=memory,
        event=event,
        old_text_ciphertext=_sealed(memory, version_id, "old_text", old_text),
        new_text_ciphertext=_sealed(memory, version_id, "new_text", new_text),
        input_ciphertext=_sealed(memory, version_id, "input", input_messages),
        metadata_ciphertext=_sealed(memory, version_id, "metadata", metadata),
        categories=memory.categories,
        confidence=memory.confidence,
        actor_type=actor.type,
        actor_id=actor.id,
        created_at=timezone.now(),
    )
