"""Appending to the audit log, in the same transaction as the change it records."""

from dataclasses import dataclass
from datetime import UTC
from typing import Any
from uuid import UUID

from django.db import connection, transaction
from django.utils import timezone

from audit.chain import GENESIS_HASH, canonical_content, link_hash
from audit.models import AuditChainHead, AuditEvent
from config.logging import request_id_var


@dataclass(frozen=True)
class Actor:
    """Who did it: an API key (by its public id), a staff user, the CLI or the system."""

    type: str
    id: str


SYSTEM_ACTOR = Actor("system", "engram")
CLI_ACTOR = Actor("cli", "manage.py")


def _locked_head(chain_id: UUID, org_id: UUID, project_id: UUID | None) -> AuditChainHead:
    with connection.cursor() as cursor:
        cursor.execute(
            "INSERT INTO audit_auditchainhead (chain_id, org_id, project_id, seq, hash) "
            "VALUES (%s, %s, %s, 0, %s) ON CONFLICT (chain_id) DO NOTHING",
            [chain_id, org_id, project_id, GENESIS_HASH],
        )
    return AuditChainHead.objects.select_for_update().get(chain_id=chain_id)


def audit_record(
    *,
    org_id: UUID,
    project_id: UUID | None,
    actor: Actor,
    action: str,
    target_type: str = "",
    target_id: str = "",
    extra: dict[str, Any] | None = None,
) -> AuditEvent:
    """Append one event to the project's chain (the organization's when project_id is None).

    `extra` must never hold memory content or raw personal data: counts, ids, field names.
    """
    chain_id = project_id or org_id
    occurred_at = timezone.now().astimezone(UTC)
    with transaction.atomic():
        head = _locked_head(chain_id, org_id, project_id)
        seq = head.seq + 1
        fields: dict[str, Any] = {
            "chain_id": str(chain_id),
            "seq": seq,
            "org_id": str(org_id),
            "project_id": str(project_id) if project_id else None,
            "occurred_at": occurred_at.isoformat(),
            "actor_type": actor.type,
            "actor_id": actor.id,
            "action": action,
            "target_type": target_type,
            "target_id": target_id,
            "request_id": request_id_var.get(),
            "extra": extra or {},
        }
        digest = link_hash(head.hash, canonical_content(**fields))
        event = AuditEvent.objects.create(
            chain_id=chain_id,
            seq=seq,
            org_id=org_id,
            project_id=project_id,
            occurred_at=occurred_at,
            actor_type=actor.type,
            actor_id=actor.id,
            action=action,
            target_type=target_type,
            target_id=target_id,
            request_id=fields["request_id"],
            extra=fields["extra"],
            prev_hash=head.hash,
            hash=digest,
        )
        AuditChainHead.objects.filter(chain_id=chain_id).update(seq=seq, hash=digest)
    return event
