"""The short-term tier: the last messages of each session, in Redis with a TTL.

A session is the add's `run_id` when it has one, else its (user_id, agent_id) pair. Keys
carry keyed hashes (memory/cache_keys.py), and each entry is a key-ring ciphertext under the
end user's own key when there is one, so erasing the user shreds these too. The TTL is the
project's retention for the short-term tier. Redis holds only what can be rebuilt: the
episodes in Postgres keep every message (memory/selectors/tiers.py falls back to them).

Sealing needs the key ring, so it runs inside the tenant transaction; pushing to Redis runs
after commit (a rolled-back add must leave no trace) and is best-effort.
"""

import json
import logging
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from uuid import UUID

import redis
from django.conf import settings

from memory import cache_keys
from memory.records import memory_subject
from tenants.keyring import ContentErased, DecryptionError, FieldContext, decrypt, encrypt

logger = logging.getLogger(__name__)

SHORT_TERM_TABLE = "short_term"


@dataclass(frozen=True)
class Session:
    """Which short-term window a message belongs to."""

    user_id: str | None = None
    agent_id: str | None = None
    run_id: str | None = None

    @property
    def canonical(self) -> str:
        return cache_keys.session_canonical(self.user_id, self.agent_id, self.run_id)


@dataclass(frozen=True)
class ShortTermMessage:
    role: str
    content: str
    name: str | None
    episode_id: str
    at: str  # ISO-8601: when the add carrying it was accepted

    def as_dict(self) -> dict[str, Any]:
        return {
            "role": self.role,
            "content": self.content,
            "name": self.name,
            "episode_id": self.episode_id,
            "created_at": self.at,
        }


@dataclass(frozen=True)
class PendingPush:
    """Sealed entries and key names, ready to send once the transaction commits."""

    key: str
    entries: list[str]
    indexes: list[str] = field(default_factory=list)
    ttl: int = 86400


def window_key(project_id: UUID, session: Session) -> str:
    return cache_keys.short_term_key(project_id, session.canonical)


def _context(key: str) -> FieldContext:
    return FieldContext(table=SHORT_TERM_TABLE, row_id=key, field="message")


def prepare_push(
    project_id: UUID,
    session: Session,
    *,
    episode_id: UUID,
    messages: list[dict[str, Any]],
    at: datetime,
    ttl: int,
) -> PendingPush:
    """Seal one add's messages for the window (inside the tenant transaction)."""
    key = window_key(project_id, session)
    subject = memory_subject(session.user_id)
    entries = []
    for message in messages:
        plain = {
            "r": message["role"],
            "c": message["content"],
            "n": message.get("name"),
            "e": str(episode_id),
            "t": at.isoformat(),
        }
        entries.append(encrypt(project_id, json.dumps(plain), _context(key), subject=subject))
    indexes = cache_keys.subject_indexes(
        project_id, user_id=session.user_id, agent_id=session.agent_id, run_id=session.run_id
    )
    return PendingPush(key=key, entries=entries, indexes=indexes, ttl=ttl)


def push(pending: PendingPush) -> None:
    """Append, trim to the window size, refresh the TTL. Failures only log: the episode in
    Postgres is the record, this is a cache of its tail."""
    if not pending.entries:
        return
    size = settings.ENGRAM_SHORT_TERM_MESSAGES
    try:
        with cache_keys.redis_client().pipeline(transaction=True) as pipe:
            pipe.rpush(pending.key, *pending.entries)
            pipe.ltrim(pending.key, -size, -1)
            pipe.expire(pending.key, pending.ttl)
            cache_keys.index_pipeline(pipe, pending.key, pending.indexes, pending.ttl)
            pipe.execute()
    except redis.RedisError:
        logger.warning("short-term window not updated (Redis unavailable)", exc_info=True)


def read(project_id: UUID, key: str) -> list[ShortTermMessage] | None:
    """The window, oldest first; None when Redis cannot answer (callers fall back)."""
    try:
        raw = cache_keys.redis_client().lrange(key, 0, -1)
    except redis.RedisError:
        logger.warning("short-term window unreadable (Redis unavailable)", exc_info=True)
        return None
    messages = []
    for token in raw:
        try:
            plain = json.loads(decrypt(project_id, cache_keys.as_text(token), _context(key)))
        except (ContentErased, DecryptionError, ValueError):
            continue  # a shredded subject's entry: gone for good, never shown
        messages.append(
            ShortTermMessage(
                role=plain["r"],
                content=plain["c"],
                name=plain.get("n"),
                episode_id=plain["e"],
                at=plain["t"],
            )
        )
    return messages


def ttl_seconds(key: str) -> int | None:
    try:
        remaining = int(cache_keys.redis_client().ttl(key))
    except redis.RedisError:
        return None
    return remaining if remaining >= 0 else None
