"""Memory rows in and out of the key ring, and the Mem0 record shape (spec §8).

Memory text and metadata are ciphertexts bound to (project, table, row, field); memories of
an end user are encrypted with that user's own key, so erasing the user shreds every copy.
"""

import json
import unicodedata
from collections.abc import Iterable
from datetime import UTC, date, datetime
from typing import Any
from uuid import UUID

from django.utils import timezone

from memory.models import Memory
from tenants.keyring import (
    ContentErased,
    FieldContext,
    decrypt,
    encrypt,
    keyed_hash,
    keys_prefetch,
)

MEMORY_TABLE = "memory_memory"
ERASED_PLACEHOLDER = "[erased]"


def memory_subject(user_id: str | None) -> str | None:
    """Whose key encrypts a memory: the end user's when there is one."""
    return f"user:{user_id}" if user_id else None


def field(memory_id: UUID | str, name: str, table: str = MEMORY_TABLE) -> FieldContext:
    return FieldContext(table=table, row_id=str(memory_id), field=name)


def seal(project_id: UUID, value: str, context: FieldContext, user_id: str | None = None) -> str:
    return encrypt(project_id, value, context, subject=memory_subject(user_id))


def seal_json(
    project_id: UUID, value: Any, context: FieldContext, user_id: str | None = None
) -> str:
    return seal(project_id, json.dumps(value, ensure_ascii=False), context, user_id)


def open_text(project_id: UUID, token: str | None, context: FieldContext) -> str | None:
    if token is None:
        return None
    try:
        return decrypt(project_id, token, context)
    except ContentErased:
        return ERASED_PLACEHOLDER


def open_json(project_id: UUID, token: str | None, context: FieldContext) -> Any:
    text = open_text(project_id, token, context)
    if text is None or text == ERASED_PLACEHOLDER:
        return None
    return json.loads(text)


def prefetch_memory_keys(memories: Iterable[Memory]) -> None:
    """Load, in one query, the keys of every sealed field of these memories (of many users,
    say) before their records are built."""
    rows = list(memories)
    if rows:
        sealed = (token for row in rows for token in (row.text_ciphertext, row.metadata_ciphertext))
        keys_prefetch(rows[0].project_id, sealed)


def memory_text(memory: Memory) -> str:
    return open_text(memory.project_id, memory.text_ciphertext, field(memory.id, "text")) or ""


def memory_metadata(memory: Memory) -> dict[str, Any] | None:
    value = open_json(memory.project_id, memory.metadata_ciphertext, field(memory.id, "metadata"))
    return value if isinstance(value, dict) else None


def normalise_text(text: str) -> str:
    """What counts as "the same text" for exact deduplication."""
    folded = unicodedata.normalize("NFKC", text).casefold()
    return " ".join(folded.split()).rstrip(".!")


def content_hash(project_id: UUID, text: str) -> str:
    return keyed_hash(project_id, normalise_text(text), domain="memory-text")


def metadata_pair_hash(project_id: UUID, key: str, value: Any) -> str:
    canonical = json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return keyed_hash(project_id, f"{key}={canonical}", domain="metadata")


def metadata_hashes(project_id: UUID, metadata: dict[str, Any] | None) -> list[str]:
    if not metadata:
        return []
    return [metadata_pair_hash(project_id, key, value) for key, value in metadata.items()]


def _iso(value: datetime | None) -> str | None:
    return value.astimezone(UTC).isoformat() if value else None


def structured_attributes(created_at: datetime) -> dict[str, Any]:
    moment = created_at.astimezone(UTC)
    iso_week = moment.isocalendar()[1]
    return {
        "year": moment.year,
        "month": moment.month,
        "day": moment.day,
        "hour": moment.hour,
        "minute": moment.minute,
        "day_of_week": moment.strftime("%A").lower(),
        "week_of_year": iso_week,
        "day_of_year": moment.timetuple().tm_yday,
        "quarter": (moment.month - 1) // 3 + 1,
        "is_weekend": moment.weekday() >= 5,
    }


def is_expired(expiration_date: date | None, today: date | None = None) -> bool:
    """Mem0: the expiration date itself is still visible (inclusive, UTC)."""
    if expiration_date is None:
        return False
    return expiration_date < (today or timezone.now().astimezone(UTC).date())


def memory_record(
    memory: Memory,
    *,
    text: str | None = None,
    metadata: dict[str, Any] | None = None,
    decrypt_metadata: bool = True,
) -> dict[str, Any]:
    """The Mem0 memory record. `run_id` and `session_id` carry the same value (the platform
    uses one name in search and the other in get/list)."""
    if metadata is None and decrypt_metadata:
        metadata = memory_metadata(memory)
    return {
        "id": str(memory.id),
        "memory": text if text is not None else memory_text(memory),
        "user_id": memory.user_id,
        "agent_id": memory.agent_id,
        "app_id": memory.app_id,
        "run_id": memory.run_id,
        "session_id": memory.run_id,
        "metadata": metadata,
        "categories": memory.categories,
        "immutable": memory.immutable,
        "expiration_date": memory.expiration_date.isoformat() if memory.expiration_date else None,
        "created_at": _iso(memory.created_at),
        "updated_at": _iso(memory.updated_at),
        "structured_attributes": structured_attributes(memory.created_at),
        "replaced_by": str(memory.replaced_by_id) if memory.replaced_by_id else None,
        "synthesized": memory.source_episode_id is not None and memory.kind != "verbatim",
        "lifecycle_state": memory.state,
        "importance": round(memory.importance, 4),
        "confidence": round(memory.confidence, 4),
    }


def select_fields(record: dict[str, Any], fields: list[str] | None) -> dict[str, Any]:
    """Mem0's `fields` option: return only these keys (the id always stays)."""
    if not fields:
        return record
    wanted = set(fields) | {"id"}
    return {key: value for key, value in record.items() if key in wanted}
