"""Redis key formats of the memory tiers, and the subject index that lets erasure find them.

Keys hold keyed hashes (the project's index key), never raw user, agent or run ids. Each
window or cache entry is also listed in one small set per subject (user, agent, run) that
owns it, so `subject_cache_keys` (called by audit/gdpr/cache.py on erasure) can name every
key of a subject without scanning Redis. The sets expire with the entries they list.
"""

import json
from functools import cache
from uuid import UUID

import redis
from django.conf import settings

from tenants.context import tenant_context
from tenants.keyring import keyed_hash

SUBJECT_TYPES = ("user", "agent", "run")


@cache
def redis_client() -> redis.Redis:
    # One pool per process; redis-py notices a fork (Celery prefork) and reconnects.
    return redis.Redis.from_url(settings.REDIS_URL, socket_timeout=2, socket_connect_timeout=2)


def as_text(value: bytes | str) -> str:
    """Redis answers bytes (the client does not decode); tests may hand str."""
    return value.decode() if isinstance(value, bytes) else value


def _digest(project_id: UUID | str, value: str, domain: str) -> str:
    return keyed_hash(UUID(str(project_id)), value, domain=domain)[:32]


def session_canonical(user_id: str | None, agent_id: str | None, run_id: str | None) -> str:
    """A session is its run when it has one, else its (user, agent) pair."""
    if run_id:
        return json.dumps(["run", run_id])
    return json.dumps(["entity", user_id or "", agent_id or ""])


def short_term_key(project_id: UUID | str, canonical_session: str) -> str:
    digest = _digest(project_id, canonical_session, "short-term")
    return f"{settings.ENGRAM_REDIS_PREFIX}:short-term:{project_id}:{digest}"


def working_state_key(project_id: UUID | str, run_id: str) -> str:
    digest = _digest(project_id, run_id, "working-state")
    return f"{settings.ENGRAM_REDIS_PREFIX}:working-state:{project_id}:{digest}"


def subject_index_key(project_id: UUID | str, subject_type: str, subject_id: str) -> str:
    digest = _digest(project_id, f"{subject_type}|{subject_id}", "cache-subject")
    return f"{settings.ENGRAM_REDIS_PREFIX}:cache-subject:{project_id}:{digest}"


def subject_indexes(
    project_id: UUID | str, *, user_id: str | None, agent_id: str | None, run_id: str | None
) -> list[str]:
    """The index sets a key owned by these ids must be listed in (tenant context needed)."""
    owners = zip(SUBJECT_TYPES, (user_id, agent_id, run_id), strict=True)
    return [subject_index_key(project_id, kind, value) for kind, value in owners if value]


def index_pipeline(pipe: "redis.client.Pipeline", key: str, indexes: list[str], ttl: int) -> None:
    """Queue the index updates for `key` on a pipeline the caller executes."""
    for index in indexes:
        pipe.sadd(index, key)
        pipe.expire(index, ttl)


def subject_cache_keys(project_id: UUID | str, subject_type: str, subject_id: str) -> list[str]:
    """Every Redis key that may hold this subject's data: its index, the keys listed in it,
    and the keys derived from the id itself (a run's window and working-state cache)."""
    with tenant_context(project_id):
        index = subject_index_key(project_id, subject_type, subject_id)
        direct = []
        if subject_type == "run":
            canonical = session_canonical(None, None, subject_id)
            direct = [
                short_term_key(project_id, canonical),
                working_state_key(project_id, subject_id),
            ]
        elif subject_type == "user":
            direct = [short_term_key(project_id, session_canonical(subject_id, None, None))]
        elif subject_type == "agent":
            direct = [short_term_key(project_id, session_canonical(None, subject_id, None))]
    listed = [as_text(member) for member in redis_client().smembers(index)]
    return list(dict.fromkeys([index, *direct, *listed]))
