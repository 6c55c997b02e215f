"""Writes of the working-memory tier: a session's (run's) active goals, pending tasks and
current focus, as one JSON object. Stored encrypted in Postgres (the record), cached in
Redis (memory/selectors/tiers.py fills the cache; every write here drops it on commit).

PUT replaces the object, PATCH merges into it (JSON Merge Patch, RFC 7396: null removes a
key, objects merge recursively). Each write increments `version`; a caller that passes
`expected_version` gets a 409 instead of overwriting a change it has not seen.
"""

import json
import logging
from collections.abc import Callable
from typing import Any
from uuid import uuid4

import redis
from django.conf import settings
from django.db import connection, transaction

from audit.services import Actor, audit_record
from config.errors import Conflict, InvalidInput, NotFound, PayloadTooLarge
from memory import cache_keys
from memory.models import WorkingState
from memory.records import field, seal_json
from memory.selectors.tiers import (
    WORKING_STATE_NOT_FOUND,
    WORKING_STATE_TABLE,
    WorkingStateRecord,
    working_state_record,
)
from tenants.models import Project

logger = logging.getLogger(__name__)

MAX_RUN_ID_LENGTH = 255
MAX_DEPTH = 16
LIST_FIELDS = ("goals", "tasks")


def _depth(value: Any) -> int:
    if isinstance(value, dict):
        return 1 + max((_depth(item) for item in value.values()), default=0)
    if isinstance(value, list):
        return 1 + max((_depth(item) for item in value), default=0)
    return 0


def working_state_validate(state: Any) -> dict[str, Any]:
    """The documented fields have fixed types; anything else is the caller's own."""
    if not isinstance(state, dict):
        raise InvalidInput(
            "state: expected a JSON object such as {goals: [], tasks: [], focus: ''}."
        )
    for name in LIST_FIELDS:
        if name in state and not isinstance(state[name], list):
            raise InvalidInput(f"state.{name}: expected a list.")
    if "focus" in state and not (state["focus"] is None or isinstance(state["focus"], str)):
        raise InvalidInput("state.focus: expected a string or null.")
    if _depth(state) > MAX_DEPTH:
        raise InvalidInput(f"state: nested more than {MAX_DEPTH} levels deep.")
    try:
        size = len(json.dumps(state, ensure_ascii=False, separators=(",", ":")).encode())
    except UnicodeEncodeError as exc:
        raise InvalidInput("state: strings must be valid Unicode (no lone surrogates).") from exc
    if size > settings.ENGRAM_WORKING_STATE_MAX_BYTES:
        raise PayloadTooLarge(
            f"state: {size} bytes; the limit is {settings.ENGRAM_WORKING_STATE_MAX_BYTES} "
            "(ENGRAM_WORKING_STATE_MAX_BYTES)."
        )
    return state


def merge_patch(target: Any, patch: Any) -> Any:
    """RFC 7396 JSON Merge Patch."""
    if not isinstance(patch, dict):
        return patch
    merged = dict(target) if isinstance(target, dict) else {}
    for key, value in patch.items():
        if value is None:
            merged.pop(key, None)
        else:
            merged[key] = merge_patch(merged.get(key), value)
    return merged


def _run_id(run_id: Any) -> str:
    if not isinstance(run_id, str) or not run_id.strip() or len(run_id) > MAX_RUN_ID_LENGTH:
        raise InvalidInput(f"run_id: a non-empty string of at most {MAX_RUN_ID_LENGTH} characters.")
    return run_id.strip()


def _locked_row(project: Project, run_id: str) -> WorkingState | None:
    # The advisory lock also covers the first write of a run, when there is no row to lock.
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT pg_advisory_xact_lock(hashtextextended(%s, 0))",
            [f"working-state|{project.id}|{run_id}"],
        )
    return WorkingState.objects.select_for_update().filter(project=project, run_id=run_id).first()


def _check_version(row: WorkingState | None, expected_version: int | None) -> None:
    current = row.version if row is not None else 0
    if expected_version is not None and expected_version != current:
        raise Conflict(
            f"Working state is at version {current}, not {expected_version}: read it again "
            "and reapply your change.",
            details={"current_version": current},
        )


def _drop_cache_on_commit(project: Project, run_id: str) -> None:
    key = cache_keys.working_state_key(project.id, run_id)

    def drop() -> None:
        try:
            cache_keys.redis_client().delete(key)
        except redis.RedisError:
            logger.warning("working-state cache not invalidated (Redis unavailable)", exc_info=True)

    transaction.on_commit(drop)


def _write(
    *,
    project: Project,
    run_id: Any,
    actor: Actor,
    expected_version: int | None,
    owner: dict[str, str | None],
    change: Callable[[dict[str, Any]], Any],
    operation: str,
) -> WorkingStateRecord:
    run_id = _run_id(run_id)
    row = _locked_row(project, run_id)
    _check_version(row, expected_version)
    current = working_state_record(row).state if row is not None else {}
    state = working_state_validate(change(current))
    if row is None:
        row = WorkingState(id=uuid4(), project=project, run_id=run_id, version=0)
    row.user_id = owner.get("user_id") or row.user_id
    row.agent_id = owner.get("agent_id") or row.agent_id
    row.version += 1
    row.state_ciphertext = seal_json(
        project.id, state, field(row.id, "state", WORKING_STATE_TABLE), row.user_id
    )
    row.save()
    audit_record(
        org_id=project.organization_id,
        project_id=project.id,
        actor=actor,
        action="working_state.written",
        target_type="working_state",
        target_id=str(row.id),
        extra={"operation": operation, "version": row.version, "keys": len(state)},
    )
    _drop_cache_on_commit(project, run_id)
    return working_state_record(row)


@transaction.atomic
def working_state_put(
    *,
    project: Project,
    run_id: Any,
    state: Any,
    actor: Actor,
    user_id: str | None = None,
    agent_id: str | None = None,
    expected_version: int | None = None,
) -> WorkingStateRecord:
    """Replace a session's working state (created on first write)."""
    working_state_validate(state)
    return _write(
        project=project,
        run_id=run_id,
        actor=actor,
        expected_version=expected_version,
        owner={"user_id": user_id, "agent_id": agent_id},
        change=lambda _: state,
        operation="put",
    )


@transaction.atomic
def working_state_patch(
    *,
    project: Project,
    run_id: Any,
    patch: Any,
    actor: Actor,
    user_id: str | None = None,
    agent_id: str | None = None,
    expected_version: int | None = None,
) -> WorkingStateRecord:
    """Merge a patch into a session's working state (RFC 7396; created on first write)."""
    if not isinstance(patch, dict):
        raise InvalidInput("state: a merge patch must be a JSON object.")
    return _write(
        project=project,
        run_id=run_id,
        actor=actor,
        expected_version=expected_version,
        owner={"user_id": user_id, "agent_id": agent_id},
        change=lambda current: merge_patch(current, patch),
        operation="patch",
    )


@transaction.atomic
def working_state_delete(*, project: Project, run_id: Any, actor: Actor) -> None:
    run_id = _run_id(run_id)
    row = _locked_row(project, run_id)
    if row is None:
        raise NotFound(WORKING_STATE_NOT_FOUND)
    row_id = str(row.id)
    row.delete()
    audit_record(
        org_id=project.organization_id,
        project_id=project.id,
        actor=actor,
        action="working_state.deleted",
        target_type="working_state",
        target_id=row_id,
    )
    _drop_cache_on_commit(project, run_id)
