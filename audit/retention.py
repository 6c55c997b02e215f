"""Retention policies and legal holds: how long each kind of data lives in a project, and
what must not be deleted at all while a hold is in place.

Durations are stored in seconds and shown as "365d" / "12h" / "30m" / "45s". Every one is
finite (GDPR Art. 5(1)(e)); a project without a policy row gets the model's defaults.
"""

import re
from dataclasses import dataclass, field
from typing import Any
from uuid import UUID

from django.db import IntegrityError, transaction
from django.db.models import Q
from django.utils import timezone

from audit.models import LegalHold, RetentionPolicy, SubjectType
from audit.services import Actor, audit_record
from audit.subjects import SCOPE_COLUMNS, Subject, subject_hash, subject_parse
from config.errors import Conflict, InvalidInput, NotFound
from tenants.context import tenant_context
from tenants.models import Project

MIN_SECONDS = 1
MAX_SECONDS = 100 * 365 * 86400
MAX_RULES = 200
UNITS = {"w": 7 * 86400, "d": 86400, "h": 3600, "m": 60, "s": 1}
_DURATION = re.compile(r"^\s*(\d+)\s*([wdhms]?)\s*$")

# API name -> model field, for the per-tier durations.
TIER_FIELDS = {
    "long_term": "long_term_seconds",
    "episodic": "episodic_seconds",
    "working_state": "working_state_seconds",
    "short_term": "short_term_seconds",
    "ingestion_payloads": "ingestion_payload_seconds",
    "exports": "export_seconds",
    "expired_grace": "expired_grace_seconds",
}
RULE_FIELDS = {"categories": "category_rules", "agents": "agent_rules"}


def duration_parse(value: Any, *, name: str, minimum: int = MIN_SECONDS) -> int:
    """Seconds from an int or a "<n><unit>" string (w, d, h, m, s); finite and bounded."""
    if isinstance(value, bool) or value is None:
        raise InvalidInput(f"{name}: a duration such as '365d', '12h' or 3600 (seconds).")
    if isinstance(value, int):
        seconds = value
    else:
        match = _DURATION.match(str(value))
        if not match:
            raise InvalidInput(f"{name}: {value!r} is not a duration like '30d', '12h', '90s'.")
        seconds = int(match.group(1)) * UNITS[match.group(2) or "s"]
    if not minimum <= seconds <= MAX_SECONDS:
        raise InvalidInput(f"{name}: must be between {minimum}s and {MAX_SECONDS // 86400}d.")
    return seconds


def duration_format(seconds: int) -> str:
    for unit, size in UNITS.items():
        if unit == "w":  # "14d" reads better than "2w"
            continue
        if seconds and seconds % size == 0:
            return f"{seconds // size}{unit}"
    return "0s"


# --- policy -----------------------------------------------------------------------------------


def retention_policy_get(*, project: Project) -> RetentionPolicy:
    """The project's policy; an unsaved default one when it never set its own."""
    with tenant_context(project.id, project.organization_id):
        policy = RetentionPolicy.objects.filter(project=project).first()
    return policy or RetentionPolicy(project=project)


def retention_policy_data(policy: RetentionPolicy) -> dict[str, Any]:
    """The policy as the API and the console show it."""
    data: dict[str, Any] = {
        name: duration_format(getattr(policy, column)) for name, column in TIER_FIELDS.items()
    }
    for name, column in RULE_FIELDS.items():
        data[name] = {key: duration_format(value) for key, value in getattr(policy, column).items()}
    data["is_default"] = policy.updated_at is None
    data["updated_at"] = policy.updated_at.isoformat() if policy.updated_at else None
    data["updated_by"] = policy.updated_by or None
    return data


def _rules_parse(name: str, value: Any) -> dict[str, int]:
    if not isinstance(value, dict):
        raise InvalidInput(f"{name}: an object of {{name: duration}}.")
    if len(value) > MAX_RULES:
        raise InvalidInput(f"{name}: at most {MAX_RULES} rules.")
    rules = {}
    for key, duration in value.items():
        if not isinstance(key, str) or not key or len(key) > 255:
            raise InvalidInput(f"{name}: rule names are non-empty strings (max 255).")
        rules[key] = duration_parse(duration, name=f"{name}.{key}")
    return rules


def _changes_parse(changes: dict[str, Any]) -> dict[str, Any]:
    unknown = set(changes) - set(TIER_FIELDS) - set(RULE_FIELDS)
    if unknown:
        known = sorted([*TIER_FIELDS, *RULE_FIELDS])
        raise InvalidInput(f"{sorted(unknown)[0]}: unknown retention setting; known: {known}.")
    parsed: dict[str, Any] = {}
    for name, value in changes.items():
        if name in RULE_FIELDS:
            parsed[RULE_FIELDS[name]] = _rules_parse(name, value)
        else:
            minimum = 0 if name == "expired_grace" else MIN_SECONDS
            parsed[TIER_FIELDS[name]] = duration_parse(value, name=name, minimum=minimum)
    return parsed


def retention_policy_update(
    *, project: Project, changes: dict[str, Any], actor: Actor
) -> RetentionPolicy:
    """Change some settings (the others keep their values); audited with the new durations
    (rule names are counted, not listed: an agent id could identify someone)."""
    parsed = _changes_parse(changes)
    with tenant_context(project.id, project.organization_id):
        policy, _ = RetentionPolicy.objects.select_for_update().get_or_create(project=project)
        for column, value in parsed.items():
            setattr(policy, column, value)
        policy.updated_by = f"{actor.type}:{actor.id}"
        policy.save()
        audit_record(
            org_id=project.organization_id,
            project_id=project.id,
            actor=actor,
            action="retention.policy_updated",
            target_type="retention_policy",
            target_id=str(project.id),
            extra=_policy_audit_extra(parsed),
        )
    return policy


def _policy_audit_extra(parsed: dict[str, Any]) -> dict[str, Any]:
    extra: dict[str, Any] = {}
    for column, value in parsed.items():
        extra[column] = {"rules": len(value)} if isinstance(value, dict) else value
    return {"changed": extra}


# --- legal holds ------------------------------------------------------------------------------


@dataclass(frozen=True)
class HoldSet:
    """The active holds of a project, ready to exclude held rows from a delete."""

    project_wide: bool = False
    by_column: dict[str, frozenset[str]] = field(default_factory=dict)

    def covers(self, subject: Subject) -> bool:
        return self.project_wide or subject.id in self.by_column.get(subject.column, frozenset())

    def held_q(self, prefix: str = "", columns: tuple[str, ...] = ()) -> Q:
        """Rows any hold covers, among the scope `columns` the model has."""
        q = Q(pk__in=[])
        for column, ids in self.by_column.items():
            if ids and (not columns or column in columns):
                q |= Q(**{f"{prefix}{column}__in": list(ids)})
        return q


def active_holds(*, project_id: Any) -> HoldSet:
    """Call inside the project's tenant context."""
    holds = LegalHold.objects.filter(project_id=project_id, released_at__isnull=True)
    by_column: dict[str, set[str]] = {}
    project_wide = False
    for scope, subject_id in holds.values_list("scope", "subject_id"):
        if scope == LegalHold.Scope.PROJECT:
            project_wide = True
        else:
            by_column.setdefault(SCOPE_COLUMNS[SubjectType(scope)], set()).add(subject_id)
    frozen = {column: frozenset(ids) for column, ids in by_column.items()}
    return HoldSet(project_wide=project_wide, by_column=frozen)


def legal_hold_place(
    *, project: Project, scope: str, subject_id: str = "", reason: str = "", actor: Actor
) -> LegalHold:
    """Suspend deletion (retention and erasure) for the whole project or one subject."""
    if scope not in LegalHold.Scope.values:
        raise InvalidInput(f"scope: must be one of {LegalHold.Scope.values}.")
    if scope == LegalHold.Scope.PROJECT and subject_id:
        raise InvalidInput("subject_id: a project-wide hold names no subject.")
    if not isinstance(reason, str) or len(reason) > 2000:
        raise InvalidInput("reason: a string of at most 2000 characters.")
    with tenant_context(project.id, project.organization_id):
        # The subject hash needs the project's index key: read (or create) it under RLS.
        digest = ""
        if scope != LegalHold.Scope.PROJECT:
            digest = subject_hash(project.id, subject_parse(scope, subject_id))
        hold = _hold_create(project, scope, subject_id, digest, reason, actor)
        _hold_audit(project, hold, actor, "legal_hold.placed")
    return hold


def _hold_create(
    project: Project, scope: str, subject_id: str, digest: str, reason: str, actor: Actor
) -> LegalHold:
    try:
        with transaction.atomic():
            return LegalHold.objects.create(
                project=project,
                scope=scope,
                subject_id=subject_id,
                subject_hash=digest,
                reason=reason,
                placed_by=f"{actor.type}:{actor.id}",
            )
    except IntegrityError as exc:
        raise Conflict("An active legal hold already covers this subject.") from exc


def legal_hold_release(*, project: Project, hold_id: Any, actor: Actor) -> LegalHold:
    with tenant_context(project.id, project.organization_id):
        parsed = _uuid_or_none(hold_id)
        hold = (
            LegalHold.objects.select_for_update().filter(project=project, pk=parsed).first()
            if parsed
            else None
        )
        if hold is None:
            raise NotFound("Legal hold not found.")
        if hold.released_at is None:
            hold.released_at = timezone.now()
            hold.released_by = f"{actor.type}:{actor.id}"
            hold.save(update_fields=["released_at", "released_by"])
            _hold_audit(project, hold, actor, "legal_hold.released")
    return hold


def _hold_audit(project: Project, hold: LegalHold, actor: Actor, action: str) -> None:
    audit_record(
        org_id=project.organization_id,
        project_id=project.id,
        actor=actor,
        action=action,
        target_type="legal_hold",
        target_id=str(hold.id),
        extra={"scope": hold.scope, "subject_hash": hold.subject_hash or None},
    )


def _uuid_or_none(value: Any) -> UUID | None:
    try:
        return UUID(str(value))
    except ValueError:
        return None
