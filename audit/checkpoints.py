"""Signed checkpoints of the audit chains (CloudTrail-digest style).

Every run signs each chain's head {chain, seq, head hash, time} with an Ed25519 key that is
not in the database. Someone with the database owner's rights can rewrite an audit row and
recompute every later hash, so the chain alone verifies again; but the rewritten chain no
longer contains the signed head, and a new checkpoint cannot be forged without the key.

The key comes from ENGRAM_AUDIT_SIGNING_KEY (or ENGRAM_AUDIT_SIGNING_KEY_FILE): 32 bytes,
urlsafe base64 (the Ed25519 seed). Public keys of retired signing keys stay trusted through
ENGRAM_AUDIT_VERIFY_KEYS (comma-separated base64 public keys). In development and tests an
unset key is derived from the master key (with a warning); in production it is required.
"""

import base64
import hashlib
import json
import logging
import os
from dataclasses import dataclass
from datetime import UTC
from functools import cache
from pathlib import Path
from uuid import UUID

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.utils import timezone

from audit.models import AuditChainHead, AuditCheckpoint, AuditEvent
from audit.verification import _link_problem
from tenants.context import organization_context, tenant_context
from tenants.keyring import master_keys
from tenants.models import Organization, Project

logger = logging.getLogger(__name__)
SIGNING_KEY_ENV = "ENGRAM_AUDIT_SIGNING_KEY"
VERIFY_KEYS_ENV = "ENGRAM_AUDIT_VERIFY_KEYS"
MESSAGE_VERSION = "engram-audit-checkpoint/1"


def _secret(name: str) -> str:
    value = os.environ.get(name, "")
    file_name = os.environ.get(f"{name}_FILE", "")
    if not value and file_name:
        value = Path(file_name).read_text().strip()
    return value


def _b64decode(value: str) -> bytes:
    return base64.urlsafe_b64decode(value + "=" * (-len(value) % 4))


@cache
def _configured_signing_key() -> Ed25519PrivateKey | None:
    configured = _secret(SIGNING_KEY_ENV)
    if configured:
        seed = _b64decode(configured)
        if len(seed) != 32:
            raise ImproperlyConfigured(f"{SIGNING_KEY_ENV} must be 32 bytes, base64-encoded")
        return Ed25519PrivateKey.from_private_bytes(seed)
    if not (settings.DEBUG or getattr(settings, "TESTING", False)):
        return None
    logger.warning("%s is unset: deriving a development signing key", SIGNING_KEY_ENV)
    master = next(iter(master_keys().values()))
    seed = HKDF(hashes.SHA256(), 32, salt=None, info=b"engram-audit-checkpoint").derive(master)
    return Ed25519PrivateKey.from_private_bytes(seed)


def signing_key() -> Ed25519PrivateKey:
    key = _configured_signing_key()
    if key is None:
        raise ImproperlyConfigured(
            f"{SIGNING_KEY_ENV} (or {SIGNING_KEY_ENV}_FILE) must be set to sign audit checkpoints"
        )
    return key


def public_key_bytes(key: Ed25519PublicKey) -> bytes:
    return key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)


def key_id(key: Ed25519PublicKey) -> str:
    return hashlib.sha256(public_key_bytes(key)).hexdigest()[:16]


def trusted_public_keys() -> dict[str, Ed25519PublicKey]:
    """The current key's public half and every configured retired one, by key id. An
    auditor can verify with ENGRAM_AUDIT_VERIFY_KEYS alone, without the private key."""
    private = _configured_signing_key()
    keys = [private.public_key()] if private else []
    for value in filter(None, (v.strip() for v in os.environ.get(VERIFY_KEYS_ENV, "").split(","))):
        keys.append(Ed25519PublicKey.from_public_bytes(_b64decode(value)))
    return {key_id(key): key for key in keys}


def checkpoint_message(checkpoint: AuditCheckpoint) -> bytes:
    content = {
        "v": MESSAGE_VERSION,
        "chain_id": str(checkpoint.chain_id),
        "seq": checkpoint.seq,
        "head_hash": checkpoint.head_hash,
        "signed_at": checkpoint.signed_at.astimezone(UTC).isoformat(),
    }
    return json.dumps(content, sort_keys=True, separators=(",", ":")).encode()


# --- writing ----------------------------------------------------------------------------------


def _unverified_links(chain_id: UUID, last: AuditCheckpoint | None) -> str:
    """Check the links added since the last checkpoint, so a checkpoint never vouches for
    history that was already altered. Returns the problem, or ''."""
    prev_hash = last.head_hash if last else "0" * 64
    expected = (last.seq if last else 0) + 1
    events = AuditEvent.objects.filter(chain_id=chain_id, seq__gte=expected).order_by("seq")
    for event in events.iterator(chunk_size=2000):
        problem = _link_problem(event, expected, prev_hash)
        if problem:
            return f"seq {event.seq}: {problem}"
        prev_hash, expected = event.hash, expected + 1
    return ""


def checkpoint_write(*, chain_id: UUID) -> AuditCheckpoint | None:
    """Sign the chain's current head (inside the chain's tenant context). None when the
    chain has nothing new, or when its new links do not verify (logged, never signed)."""
    head = AuditChainHead.objects.select_for_update().filter(chain_id=chain_id).first()
    last = AuditCheckpoint.objects.filter(chain_id=chain_id).order_by("-seq").first()
    if head is None or head.seq == 0 or (last is not None and last.seq >= head.seq):
        return None
    problem = _unverified_links(chain_id, last)
    if problem:
        logger.error("audit chain %s does not verify (%s): not signing", chain_id, problem)
        return None
    key = signing_key()
    checkpoint = AuditCheckpoint(
        chain_id=chain_id,
        org_id=head.org_id,
        project_id=head.project_id,
        seq=head.seq,
        head_hash=head.hash,
        signed_at=timezone.now(),
        key_id=key_id(key.public_key()),
    )
    signature = key.sign(checkpoint_message(checkpoint))
    checkpoint.signature = base64.b64encode(signature).decode()
    checkpoint.save()
    return checkpoint


def checkpoints_write_all() -> list[AuditCheckpoint]:
    """One new checkpoint per chain that grew since its last one (the periodic job)."""
    written = []
    for project in Project.objects.order_by("created_at"):
        with tenant_context(project.id, project.organization_id):
            written.append(checkpoint_write(chain_id=project.id))
    for org in Organization.objects.order_by("created_at"):
        with organization_context(org.id):
            written.append(checkpoint_write(chain_id=org.id))
    return [checkpoint for checkpoint in written if checkpoint is not None]


# --- verifying --------------------------------------------------------------------------------


@dataclass(frozen=True)
class CheckpointVerdict:
    chain_id: UUID
    ok: bool
    checkpoints_checked: int
    latest_seq: int | None = None
    reason: str = ""


def _signature_problem(checkpoint: AuditCheckpoint, keys: dict[str, Ed25519PublicKey]) -> str:
    key = keys.get(checkpoint.key_id)
    if key is None:
        return f"checkpoint at seq {checkpoint.seq} is signed by an untrusted key"
    try:
        key.verify(base64.b64decode(checkpoint.signature), checkpoint_message(checkpoint))
    except (InvalidSignature, ValueError):
        return f"checkpoint at seq {checkpoint.seq} has an invalid signature (forged)"
    return ""


def checkpoint_verify(chain_id: UUID) -> CheckpointVerdict:
    """Every checkpoint's signature, and that the chain still holds each signed head.
    Run inside the chain's tenant context."""
    checkpoints = list(AuditCheckpoint.objects.filter(chain_id=chain_id).order_by("seq"))
    if not checkpoints:
        return CheckpointVerdict(chain_id, True, 0, None, "no checkpoint yet")
    keys = trusted_public_keys()
    if not keys:
        reason = f"no trusted key: set {SIGNING_KEY_ENV} or {VERIFY_KEYS_ENV} to verify"
        return CheckpointVerdict(chain_id, False, len(checkpoints), None, reason)
    hashes_by_seq = dict(
        AuditEvent.objects.filter(
            chain_id=chain_id, seq__in=[c.seq for c in checkpoints]
        ).values_list("seq", "hash")
    )
    for checkpoint in checkpoints:
        problem = _signature_problem(checkpoint, keys)
        stored = hashes_by_seq.get(checkpoint.seq)
        if not problem and stored is None:
            problem = f"the event signed at seq {checkpoint.seq} is missing (history deleted)"
        elif not problem and stored != checkpoint.head_hash:
            problem = (
                f"the chain no longer matches the head signed at seq {checkpoint.seq} "
                "(history rewritten)"
            )
        if problem:
            return CheckpointVerdict(chain_id, False, len(checkpoints), checkpoint.seq, problem)
    return CheckpointVerdict(chain_id, True, len(checkpoints), checkpoints[-1].seq)
