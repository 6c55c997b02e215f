"""Everything a claimed job needs before the heavy work: the decrypted conversation, the
add's options, the project's instructions and categories, and the extraction context
(recent session messages, memories already known). Read in one short tenant transaction."""

from dataclasses import dataclass
from datetime import date, datetime
from typing import Any
from uuid import UUID

from django.utils import timezone

from audit.services import Actor
from memory.ingestion import short_term
from memory.ingestion.facts import ConversationMessage, ExtractionContext
from memory.ingestion.lookups import memories_recent_texts
from memory.ingestion.short_term import ShortTermMessage
from memory.models import Episode, IngestionJob
from memory.records import ERASED_PLACEHOLDER, field, open_json
from memory.selectors.tiers import session_context_messages
from memory.services.direct import category_catalog
from memory.services.memories import MemoryScope
from tenants.context import tenant_context
from tenants.models import Project
from tenants.selectors import project_get

EPISODE_TABLE = "memory_episode"
JOB_TABLE = "memory_ingestionjob"
CONTEXT_MESSAGES = 10  # Mem0 shows the model the last 10 messages of the session
CONTEXT_MEMORIES = 10


class JobInputError(Exception):
    """The job cannot run, now or later (its conversation is gone): fail it with `reason`."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True)
class JobInput:
    job_id: UUID
    project: Project
    episode_id: UUID
    scope: MemoryScope
    messages: list[dict[str, Any]]
    actor: Actor
    catalog: dict[str, str]
    context: ExtractionContext
    metadata: dict[str, Any] | None = None
    immutable: bool = False
    expiration_date: date | None = None
    created_at: datetime | None = None  # Mem0 `timestamp`: backdates the memories


def _instructions(project: Project, scope: MemoryScope, options: dict[str, Any]) -> str:
    """The call's instructions override the project's (Mem0). Agent instructions apply to an
    agent-only add, and to the assistant's facts when the add names a user too."""
    user_part = options.get("custom_instructions") or project.custom_instructions
    agent_part = options.get("agent_custom_instructions") or project.agent_custom_instructions
    parts = []
    if scope.agent_id and not scope.user_id and agent_part:
        parts.append(agent_part)
    else:
        parts.append(user_part)
        if scope.agent_id and agent_part:
            parts.append(f"For facts attributed to the assistant: {agent_part}")
    # Legacy free-text hints, phrased so the local extractor's rules understand them too.
    if options.get("includes"):
        parts.append(f"Only store {options['includes']}.")
    if options.get("excludes"):
        parts.append(f"Do not store {options['excludes']}.")
    return "\n".join(part.strip() for part in parts if part and part.strip())


def _episode_messages(episode: Episode) -> list[dict[str, Any]]:
    messages = open_json(
        episode.project_id,
        episode.messages_ciphertext,
        field(episode.id, "messages", EPISODE_TABLE),
    )
    if not isinstance(messages, list):
        raise JobInputError("the conversation was erased before it could be processed")
    return messages


def _options(job: IngestionJob) -> dict[str, Any]:
    options = open_json(job.project_id, job.options_ciphertext, field(job.id, "options", JOB_TABLE))
    if job.options_ciphertext and options is None:
        raise JobInputError("the add's options were erased before they could be processed")
    return options if isinstance(options, dict) else {}


def _parsed_moment(value: Any) -> datetime | None:
    if not value:
        return None
    moment = datetime.fromisoformat(str(value))
    return moment if timezone.is_aware(moment) else timezone.make_aware(moment)


@dataclass(frozen=True)
class _Stored:
    """What the database and Redis hold for a job, read in one tenant transaction."""

    project: Project
    episode: Episode
    scope: MemoryScope
    messages: list[dict[str, Any]]
    options: dict[str, Any]
    recent: list[ShortTermMessage]
    known: list[str]


def _stored(job: IngestionJob) -> _Stored:
    with tenant_context(job.project_id):
        project = project_get(project_id=job.project_id)
        episode = (
            Episode.objects.filter(project=project, pk=job.episode_id).first()
            if job.episode_id
            else None
        )
        if episode is None:
            raise JobInputError("the conversation was deleted before it could be processed")
        scope = MemoryScope(episode.user_id, episode.agent_id, episode.app_id, episode.run_id)
        recent = session_context_messages(
            project=project,
            session=short_term.Session(scope.user_id, scope.agent_id, scope.run_id),
            episode_id=episode.id,
            before=episode.created_at,
            limit=CONTEXT_MESSAGES,
        )
        return _Stored(
            project=project,
            episode=episode,
            scope=scope,
            messages=_episode_messages(episode),
            options=_options(job),
            recent=recent,
            known=memories_recent_texts(project=project, scope=scope, limit=CONTEXT_MEMORIES),
        )


def _extraction_context(
    stored: _Stored, catalog: dict[str, str], created_at: datetime | None
) -> ExtractionContext:
    scope = stored.scope
    return ExtractionContext(
        custom_instructions=_instructions(stored.project, scope, stored.options) or None,
        categories=catalog,
        recent_messages=[ConversationMessage(m.role, m.content, m.name) for m in stored.recent],
        existing_memories=[
            (str(i), text) for i, text in enumerate(stored.known) if text != ERASED_PLACEHOLDER
        ],
        observation_date=(created_at or stored.episode.created_at).date(),
        user_id=scope.user_id,
        agent_id=scope.agent_id,
    )


def job_input_load(job: IngestionJob) -> JobInput:
    """Inputs of a claimed job; JobInputError when its conversation no longer exists."""
    stored = _stored(job)
    options = stored.options
    catalog = category_catalog(stored.project, options.get("custom_categories"))
    created_at = _parsed_moment(options.get("timestamp"))
    expiration = options.get("expiration_date")
    return JobInput(
        job_id=job.id,
        project=stored.project,
        episode_id=stored.episode.id,
        scope=stored.scope,
        messages=stored.messages,
        actor=Actor(job.actor_type, job.actor_id),
        catalog=catalog,
        context=_extraction_context(stored, catalog, created_at),
        metadata=options.get("metadata") or None,
        immutable=bool(options.get("immutable")),
        expiration_date=date.fromisoformat(expiration) if expiration else None,
        created_at=created_at,
    )
