"""One ingestion job, start to finish (DESIGN.md §4):

    claim -> load inputs -> extract -> score importance -> exact dedupe -> embed
          -> near-duplicate dedupe -> [one transaction: resolve, write, SUCCEEDED]

The stages are the pure functions of memory/ingestion/stages.py; this module wires them to
storage. Slow work (the LLM call, embedding) happens before the finishing transaction,
while a heartbeat thread keeps the claim alive. Errors become a retry with backoff or a
FAILED job with a reason (memory/services/ingestion.py); the episode is always kept.
"""

import enum
import logging
import os
import socket
import time
from uuid import UUID, uuid4

from celery.exceptions import SoftTimeLimitExceeded
from django.db import DatabaseError, InterfaceError, OperationalError, connection

from config.errors import InvalidInput, RateLimited
from config.quotas import quota_spend_texts
from integrations.metrics import observe_job
from memory.ingestion.apply import PreparedFact, job_apply
from memory.ingestion.facts import CandidateFact, ConversationMessage, ExtractionError, Extractor
from memory.ingestion.heartbeat import ClaimLost, JobHeartbeat
from memory.ingestion.inputs import JobInput, JobInputError, job_input_load
from memory.ingestion.llm_extractor import LLMExtractor
from memory.ingestion.providers import get_extractor
from memory.ingestion.stages import assign_categories, dedupe_exact, dedupe_near, drop_unimportant
from memory.models import IngestionJob
from memory.providers.embedder import EmbeddingError, get_embedder
from memory.records import content_hash
from memory.services.ingestion import (
    FailureOutcome,
    ingestion_job_claim,
    ingestion_job_fail,
)
from memory.services.memories import MemoryScope, embedding_spend
from tenants.context import tenant_context
from tenants.keyring import DecryptionError

logger = logging.getLogger(__name__)


class JobOutcome(enum.StrEnum):
    SUCCEEDED = "succeeded"
    RETRY = "retry"
    FAILED = "failed"
    SKIPPED = "skipped"  # not ours to run: finished, running elsewhere, or not due yet
    LOST = "lost"  # re-claimed by another worker while we worked: nothing written


def new_worker_id() -> str:
    """Unique per claim: host and pid say who, the suffix tells two claims apart."""
    return f"{socket.gethostname()}:{os.getpid()}:{uuid4().hex[:12]}"


def fact_scope(scope: MemoryScope, fact: CandidateFact) -> MemoryScope:
    """Mem0 attribution (spec §4.2): the assistant's facts belong to the agent when one was
    named, the user's facts to the user alone; app and run stay on every memory."""
    if fact.attributed_to == "assistant" and scope.agent_id:
        return MemoryScope(None, scope.agent_id, scope.app_id, scope.run_id)
    if scope.user_id:
        return MemoryScope(scope.user_id, None, scope.app_id, scope.run_id)
    return scope


def facts_extract(job: JobInput, extractor: Extractor) -> list[CandidateFact]:
    messages = [
        ConversationMessage(str(m["role"]), str(m["content"]), m.get("name")) for m in job.messages
    ]
    if isinstance(extractor, LLMExtractor):
        quota_spend_texts(job.project, "llm", [m.content for m in messages])
    return extractor.extract(messages, job.context)


def facts_prepare(job: JobInput, facts: list[CandidateFact]) -> list[PreparedFact]:
    """Score, deduplicate and embed candidate facts (everything but the writes)."""
    facts = drop_unimportant(facts)
    project_id = job.project.id
    with tenant_context(project_id):  # the keyed hash needs the project's index key
        facts = dedupe_exact(facts, set(), lambda text: content_hash(project_id, text))
    if not facts:
        return []
    embedding_spend(job.project, [fact.text for fact in facts])
    vectors = get_embedder().embed([fact.text for fact in facts])
    return [
        PreparedFact(
            fact=facts[i],
            vector=vectors[i],
            scope=fact_scope(job.scope, facts[i]),
            categories=assign_categories(facts[i], job.catalog),
        )
        for i in dedupe_near(facts, vectors)
    ]


def failure_reason(exc: BaseException) -> tuple[str, bool]:
    """(reason shown to the project owner, whether retrying may help). Reasons never quote
    content: they are stored in plaintext on the job."""
    if isinstance(exc, RateLimited):
        return f"daily budget: {exc.message}", True
    if isinstance(exc, ExtractionError):
        return f"extraction failed: {exc.reason}", exc.retryable
    if isinstance(exc, JobInputError):
        return exc.reason, False
    if isinstance(exc, InvalidInput):
        return exc.message, False
    if isinstance(exc, DecryptionError):
        return "the conversation could not be decrypted (its key is unavailable)", False
    if isinstance(exc, EmbeddingError):
        return f"embedding failed: {exc}", True
    if isinstance(exc, OperationalError | InterfaceError):
        return "the database was unavailable", True
    if isinstance(exc, SoftTimeLimitExceeded):
        return "the job took longer than its time limit", True
    if isinstance(exc, DatabaseError):
        return f"database error ({type(exc).__name__})", True
    return f"internal error ({type(exc).__name__})", True


def _process(job: IngestionJob, worker_id: str) -> bool:
    with JobHeartbeat(project_id=job.project_id, job_id=job.id, worker_id=worker_id) as beat:
        job_input = job_input_load(job)
        candidates = facts_extract(job_input, get_extractor())
        beat.check()
        prepared = facts_prepare(job_input, candidates)
        beat.check()
    return job_apply(job=job_input, facts=prepared, worker_id=worker_id)


def _record_failure(job: IngestionJob, worker_id: str, exc: BaseException) -> JobOutcome:
    reason, retryable = failure_reason(exc)
    if not isinstance(exc, ExtractionError | JobInputError | InvalidInput):
        logger.error("ingestion job %s failed", job.id, exc_info=exc)
    # A failed transaction can leave the connection unusable; start the bookkeeping afresh.
    connection.close_if_unusable_or_obsolete()
    outcome = ingestion_job_fail(
        project_id=job.project_id,
        job_id=job.id,
        worker_id=worker_id,
        reason=reason,
        retryable=retryable,
    )
    return {
        FailureOutcome.RETRY: JobOutcome.RETRY,
        FailureOutcome.FAILED: JobOutcome.FAILED,
        FailureOutcome.LOST: JobOutcome.LOST,
    }[outcome]


def ingestion_job_run(*, job_id: UUID | str, project_id: UUID | str) -> JobOutcome:
    """Run one job if it is ours to run. Safe to call any number of times per job (duplicate
    messages, redeliveries, the sweeper): the claim decides, the rest follows."""
    worker_id = new_worker_id()
    job = ingestion_job_claim(project_id=project_id, job_id=job_id, worker_id=worker_id)
    if job is None:
        return JobOutcome.SKIPPED
    started = time.monotonic()
    try:
        applied = _process(job, worker_id)
    except ClaimLost:
        observe_job(JobOutcome.LOST.value, time.monotonic() - started)
        return JobOutcome.LOST
    except Exception as exc:  # noqa: BLE001 -- every failure is recorded on the job row
        outcome = _record_failure(job, worker_id, exc)
        observe_job(outcome.value, time.monotonic() - started)
        return outcome
    outcome = JobOutcome.SUCCEEDED if applied else JobOutcome.LOST
    observe_job(outcome.value, time.monotonic() - started)
    logger.info(
        "ingestion job finished",
        extra={
            "job_id": str(job.id),
            "outcome": outcome.value,
            "attempt": job.attempts,
            "seconds": round(time.monotonic() - started, 3),
        },
    )
    return outcome
