"""Reads of the memory tiers other than long-term memories (docs/memory-tiers.md):

- episodic: the full conversations, decrypted, oldest first;
- short-term: a session's recent messages from Redis, rebuilt from the episodes (within the
  tier's TTL) when Redis cannot answer;
- working: a session's state, from the Redis cache or Postgres.
"""

import json
import logging
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import UUID

import redis
from django.conf import settings
from django.db.models import QuerySet
from django.utils import timezone

from audit.retention import retention_policy_get
from config.errors import InvalidInput, NotFound
from memory import cache_keys
from memory.ingestion import short_term
from memory.ingestion.short_term import Session, ShortTermMessage
from memory.models import Episode, IngestionJob, WorkingState
from memory.records import field, memory_subject, open_json
from tenants.keyring import ContentErased, DecryptionError, FieldContext, decrypt, encrypt
from tenants.models import Project

logger = logging.getLogger(__name__)

EPISODE_TABLE = "memory_episode"
WORKING_STATE_TABLE = "memory_workingstate"
WORKING_STATE_NOT_FOUND = "Working state not found."
ENTITY_FIELDS = ("user_id", "agent_id", "app_id", "run_id")


def _iso(value: datetime | None) -> str | None:
    return value.astimezone(UTC).isoformat() if value else None


# --- episodic -----------------------------------------------------------------------------------


def episode_messages(episode: Episode) -> list[dict[str, Any]] | None:
    """The conversation, or None when its subject was erased (crypto-shredded)."""
    messages = open_json(
        episode.project_id,
        episode.messages_ciphertext,
        field(episode.id, "messages", EPISODE_TABLE),
    )
    return messages if isinstance(messages, list) else None


@dataclass(frozen=True)
class EpisodePage:
    count: int
    results: list[dict[str, Any]]


def episodes_page(
    *, project: Project, entity_ids: dict[str, str], page: int, page_size: int
) -> EpisodePage:
    """Conversations matching every given entity id, oldest first (to rebuild context)."""
    wanted = {name: value for name, value in entity_ids.items() if name in ENTITY_FIELDS and value}
    if not wanted:
        raise InvalidInput("At least one of user_id, agent_id, app_id or run_id is required.")
    queryset = Episode.objects.filter(project=project, **wanted).order_by("created_at", "id")
    count = queryset.count()
    offset = (page - 1) * page_size
    rows = list(queryset[offset : offset + page_size]) if offset < count else []
    jobs = {
        episode_id: (job_id, status)
        for episode_id, job_id, status in IngestionJob.objects.filter(
            project=project, episode_id__in=[row.id for row in rows]
        ).values_list("episode_id", "id", "status")
    }
    return EpisodePage(count, [_episode_record(row, jobs.get(row.id)) for row in rows])


def _episode_record(episode: Episode, job: tuple[UUID, str] | None) -> dict[str, Any]:
    messages = episode_messages(episode)
    return {
        "id": str(episode.id),
        "user_id": episode.user_id,
        "agent_id": episode.agent_id,
        "app_id": episode.app_id,
        "run_id": episode.run_id,
        "messages": messages if messages is not None else [],
        "erased": messages is None,
        "message_count": episode.message_count,
        "event_id": str(job[0]) if job else None,
        "event_status": job[1] if job else None,
        "created_at": _iso(episode.created_at),
    }


# --- short-term ---------------------------------------------------------------------------------


def _session_episodes(project: Project, session: Session) -> QuerySet[Episode]:
    episodes = Episode.objects.filter(project=project)
    if session.run_id:
        return episodes.filter(run_id=session.run_id)
    return episodes.filter(run_id=None, user_id=session.user_id, agent_id=session.agent_id)


def _episodes_tail(
    project: Project, session: Session, *, before: datetime, limit: int
) -> list[ShortTermMessage]:
    """The window rebuilt from Postgres: the session's messages within the tier's TTL."""
    since = timezone.now() - timedelta(
        seconds=retention_policy_get(project=project).short_term_seconds
    )
    rows = list(
        _session_episodes(project, session)
        .filter(created_at__lt=before, created_at__gte=since)
        .order_by("-created_at")[:limit]
    )
    tail = [
        ShortTermMessage(
            m["role"], m["content"], m.get("name"), str(row.id), _iso(row.created_at) or ""
        )
        for row in reversed(rows)
        for m in (episode_messages(row) or [])
    ]
    return tail[-limit:]


def session_context_messages(
    *, project: Project, session: Session, episode_id: UUID, before: datetime, limit: int
) -> list[ShortTermMessage]:
    """What the session said before this episode: the extraction context of its job."""
    window = short_term.read(project.id, short_term.window_key(project.id, session))
    for index, message in enumerate(window or []):
        if message.episode_id == str(episode_id):
            return (window or [])[:index][-limit:]
    # Redis is down, or the window expired or never got this episode: ask Postgres.
    return _episodes_tail(project, session, before=before, limit=limit)


@dataclass(frozen=True)
class ShortTermWindow:
    messages: list[ShortTermMessage]
    source: str  # "redis", or "episodes" when Redis could not answer
    ttl_seconds: int | None


def short_term_window(*, project: Project, session: Session) -> ShortTermWindow:
    key = short_term.window_key(project.id, session)
    window = short_term.read(project.id, key)
    if window is not None:
        return ShortTermWindow(window, "redis", short_term.ttl_seconds(key) if window else None)
    tail = _episodes_tail(
        project,
        session,
        before=timezone.now() + timedelta(seconds=1),
        limit=settings.ENGRAM_SHORT_TERM_MESSAGES,
    )
    return ShortTermWindow(tail, "episodes", None)


# --- working state ------------------------------------------------------------------------------


@dataclass(frozen=True)
class WorkingStateRecord:
    id: str
    run_id: str
    user_id: str | None
    agent_id: str | None
    state: dict[str, Any]
    version: int
    created_at: str | None
    updated_at: str | None

    def as_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


def working_state_record(row: WorkingState) -> WorkingStateRecord:
    state = open_json(
        row.project_id, row.state_ciphertext, field(row.id, "state", WORKING_STATE_TABLE)
    )
    return WorkingStateRecord(
        id=str(row.id),
        run_id=row.run_id,
        user_id=row.user_id,
        agent_id=row.agent_id,
        state=state if isinstance(state, dict) else {},
        version=row.version,
        created_at=_iso(row.created_at),
        updated_at=_iso(row.updated_at),
    )


def _cache_context(key: str) -> FieldContext:
    return FieldContext(table="working_state_cache", row_id=key, field="record")


def _cache_read(project: Project, key: str) -> WorkingStateRecord | None:
    try:
        token = cache_keys.redis_client().get(key)
        if token is None:
            return None
        return WorkingStateRecord(
            **json.loads(decrypt(project.id, cache_keys.as_text(token), _cache_context(key)))
        )
    except (redis.RedisError, ContentErased, DecryptionError, ValueError, TypeError):
        return None  # unavailable, shredded or stale format: Postgres answers


def _cache_fill(project: Project, key: str, record: WorkingStateRecord) -> None:
    ttl = min(
        settings.ENGRAM_WORKING_STATE_CACHE_SECONDS,
        retention_policy_get(project=project).working_state_seconds,
    )
    token = encrypt(
        project.id,
        json.dumps(record.as_dict()),
        _cache_context(key),
        subject=memory_subject(record.user_id),
    )
    indexes = cache_keys.subject_indexes(
        project.id, user_id=record.user_id, agent_id=record.agent_id, run_id=record.run_id
    )
    try:
        with cache_keys.redis_client().pipeline(transaction=True) as pipe:
            pipe.set(key, token, ex=ttl)
            cache_keys.index_pipeline(pipe, key, indexes, ttl)
            pipe.execute()
    except redis.RedisError:
        logger.warning("working-state cache not filled (Redis unavailable)", exc_info=True)


def working_state_row(*, project: Project, run_id: str) -> WorkingState | None:
    return WorkingState.objects.filter(project=project, run_id=run_id).first()


def working_state_get(*, project: Project, run_id: str) -> WorkingStateRecord:
    """A session's working state: the cache when warm, else Postgres (then cached)."""
    key = cache_keys.working_state_key(project.id, run_id)
    cached = _cache_read(project, key)
    if cached is not None and cached.run_id == run_id:
        return cached
    row = working_state_row(project=project, run_id=run_id)
    if row is None:
        raise NotFound(WORKING_STATE_NOT_FOUND)
    record = working_state_record(row)
    _cache_fill(project, key, record)
    return record
