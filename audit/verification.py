"""Walking a chain and recomputing every link."""

from dataclasses import dataclass
from datetime import UTC
from uuid import UUID

from audit.chain import GENESIS_HASH, canonical_content, link_hash
from audit.models import AuditChainHead, AuditEvent


@dataclass(frozen=True)
class ChainVerdict:
    chain_id: UUID
    ok: bool
    events_checked: int
    broken_seq: int | None = None
    reason: str = ""


def _event_content(event: AuditEvent) -> str:
    return canonical_content(
        chain_id=str(event.chain_id),
        seq=event.seq,
        org_id=str(event.org_id),
        project_id=str(event.project_id) if event.project_id else None,
        occurred_at=event.occurred_at.astimezone(UTC).isoformat(),
        actor_type=event.actor_type,
        actor_id=event.actor_id,
        action=event.action,
        target_type=event.target_type,
        target_id=event.target_id,
        request_id=event.request_id,
        extra=event.extra,
    )


def chain_verify(chain_id: UUID) -> ChainVerdict:
    """Recompute the chain in order; the first mismatch names the broken link.

    Must run inside the tenant context of the chain (row-level security applies).
    """
    prev_hash, expected_seq, checked = GENESIS_HASH, 1, 0
    events = AuditEvent.objects.filter(chain_id=chain_id).order_by("seq")
    for event in events.iterator(chunk_size=2000):
        problem = _link_problem(event, expected_seq, prev_hash)
        if problem:
            return ChainVerdict(chain_id, False, checked, event.seq, problem)
        prev_hash, expected_seq, checked = event.hash, expected_seq + 1, checked + 1
    head = AuditChainHead.objects.filter(chain_id=chain_id).first()
    if head is not None and (head.seq != checked or head.hash != prev_hash):
        reason = f"chain head says seq {head.seq} but the log ends at seq {checked}"
        return ChainVerdict(chain_id, False, checked, checked + 1, reason)
    return ChainVerdict(chain_id, True, checked)


def _link_problem(event: AuditEvent, expected_seq: int, prev_hash: str) -> str:
    if event.seq != expected_seq:
        return f"expected seq {expected_seq}, found {event.seq} (rows missing)"
    if event.prev_hash != prev_hash:
        return "prev_hash does not match the previous row's hash"
    if link_hash(prev_hash, _event_content(event)) != event.hash:
        return "row content does not match its hash (altered)"
    return ""
