"""Key rotation work: re-encrypting rows under a project's newest data key, and re-wrapping
data keys under the newest master key.

Re-encryption is batched (BATCH_SIZE rows per transaction), resumable and idempotent: each
pass looks for ciphertexts that still name a retired data key, so a crashed or repeated run
simply finds less to do. Readers never notice: a ciphertext names the key that opens it,
and a row is re-sealed only while locked, in place.

Only project data-key ciphertexts are re-encrypted. Content of an end user is sealed with
that user's own subject key; those keys are rotated only by the master-key re-wrap (their
purpose is crypto-shredding one user, see docs/compliance.md).
"""

import logging
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from uuid import UUID

from celery import shared_task
from django.apps import apps
from django.conf import settings
from django.db.models import Model, Q

from audit.services import SYSTEM_ACTOR, Actor, audit_record
from tenants.context import tenant_context
from tenants.keyring import (
    CIPHERTEXT_PREFIX,
    DecryptionError,
    FieldContext,
    current_kek_id,
    decrypt,
    encrypt,
    key_cache,
    unwrap_key,
    wrap_key,
)
from tenants.models import DataKey, Project

logger = logging.getLogger(__name__)
BATCH_SIZE = 500
JSON_CIPHERTEXT_KEY = "ciphertext"


@dataclass(frozen=True)
class SealedColumn:
    """A column holding a key-ring ciphertext, and the field name its associated data uses.
    `json_key`: the ciphertext sits under this key of a JSON column instead."""

    model: str
    column: str
    field: str
    json_key: str = ""


SEALED_COLUMNS = (
    SealedColumn("memory.Memory", "text_ciphertext", "text"),
    SealedColumn("memory.Memory", "metadata_ciphertext", "metadata"),
    SealedColumn("memory.MemoryVersion", "old_text_ciphertext", "old_text"),
    SealedColumn("memory.MemoryVersion", "new_text_ciphertext", "new_text"),
    SealedColumn("memory.MemoryVersion", "input_ciphertext", "input"),
    SealedColumn("memory.MemoryVersion", "metadata_ciphertext", "metadata"),
    SealedColumn("memory.Episode", "messages_ciphertext", "messages"),
    SealedColumn("memory.IngestionJob", "options_ciphertext", "options"),
    SealedColumn("memory.WorkingState", "state_ciphertext", "state"),
    SealedColumn("memory.Entity", "name_ciphertext", "name"),
    SealedColumn("memory.MemoryExport", "instructions_ciphertext", "instructions"),
    SealedColumn("memory.MemoryExport", "result_ciphertext", "result"),
    SealedColumn("memory.MemoryExport", "filters", "filters", JSON_CIPHERTEXT_KEY),
    SealedColumn("audit.DataSubjectRequest", "export_ciphertext", "export"),
    SealedColumn("integrations.Webhook", "secret_ciphertext", "secret"),
    SealedColumn("integrations.WebhookDelivery", "payload_ciphertext", "payload"),
)


def sealed_columns() -> list[SealedColumn]:
    """The registry, limited to installed apps."""
    return [s for s in SEALED_COLUMNS if apps.is_installed(s.model.split(".")[0])]


def retired_data_key_ids(project_id: UUID) -> list[int]:
    """Data-key versions no longer used for writes (call inside the tenant context)."""
    return list(
        DataKey.objects.filter(project_id=project_id, purpose=DataKey.Purpose.DATA)
        .exclude(state=DataKey.State.ACTIVE)
        .values_list("pk", flat=True)
    )


def _lookup(sealed: SealedColumn) -> str:
    return f"{sealed.column}__{sealed.json_key}" if sealed.json_key else sealed.column


def _stale_q(sealed: SealedColumn, key_ids: list[int]) -> Q:
    q = Q(pk__in=[])
    for key_id in key_ids:
        q |= Q(**{f"{_lookup(sealed)}__startswith": f"{CIPHERTEXT_PREFIX}:{key_id}:"})
    return q


def _token(row: Model, sealed: SealedColumn) -> str | None:
    value = getattr(row, sealed.column)
    return value.get(sealed.json_key) if sealed.json_key and isinstance(value, dict) else value


def _reseal(row: Model, sealed: SealedColumn, project_id: UUID) -> None:
    context = FieldContext(table=row._meta.db_table, row_id=str(row.pk), field=sealed.field)
    token = _token(row, sealed)
    if not token:
        return
    fresh = encrypt(project_id, decrypt(project_id, token, context), context)
    if sealed.json_key:
        setattr(row, sealed.column, {**getattr(row, sealed.column), sealed.json_key: fresh})
    else:
        setattr(row, sealed.column, fresh)
    row.save(update_fields=[sealed.column])


def _reencrypt_batch(project: Project, sealed: SealedColumn, after: Any) -> tuple[int, Any]:
    """One transaction: lock a batch of stale rows (skipping rows a writer holds: the next
    pass gets them), re-seal them under the active key."""
    model = apps.get_model(sealed.model)
    with tenant_context(project.id, project.organization_id):
        key_ids = retired_data_key_ids(project.id)
        if not key_ids:
            return 0, None
        rows = model.objects.filter(project_id=project.id).filter(_stale_q(sealed, key_ids))
        if after is not None:
            rows = rows.filter(pk__gt=after)
        batch = list(rows.order_by("pk").select_for_update(skip_locked=True)[:BATCH_SIZE])
        for row in batch:
            try:
                _reseal(row, sealed, project.id)
            except DecryptionError:
                # Left as it is (and reported by stale_ciphertexts); never blocks the rest.
                logger.error("cannot re-encrypt %s %s", sealed.model, row.pk)
    return len(batch), (batch[-1].pk if batch else None)


def project_reencrypt(
    *,
    project: Project,
    actor: Actor = SYSTEM_ACTOR,
    progress: Callable[[str, int], None] | None = None,
) -> Counter[str]:
    """Re-seal every ciphertext of a retired data-key version; returns rows per column
    (audited as counts)."""
    done = _reencrypt_columns(project, progress)
    _audit(project, actor, "keyring.reencrypted", {"rows": dict(done)})
    return done


def _reencrypt_columns(
    project: Project, progress: Callable[[str, int], None] | None
) -> Counter[str]:
    done: Counter[str] = Counter()
    for sealed in sealed_columns():
        label = f"{apps.get_model(sealed.model)._meta.db_table}.{sealed.column}"
        after: Any = None
        while True:
            count, after = _reencrypt_batch(project, sealed, after)
            if not count:
                break
            done[label] += count
            if progress:
                progress(label, done[label])
    return done


def stale_ciphertexts(*, project: Project) -> dict[str, int]:
    """How many ciphertexts still use a retired data-key version, by column."""
    left = {}
    with tenant_context(project.id, project.organization_id):
        key_ids = retired_data_key_ids(project.id)
        for sealed in sealed_columns():
            model = apps.get_model(sealed.model)
            stale = model.objects.filter(project_id=project.id)
            count = stale.filter(_stale_q(sealed, key_ids)).count() if key_ids else 0
            left[f"{model._meta.db_table}.{sealed.column}"] = count
    return left


def _audit(project: Project, actor: Actor, action: str, extra: dict[str, Any]) -> None:
    with tenant_context(project.id, project.organization_id):
        audit_record(
            org_id=project.organization_id,
            project_id=project.id,
            actor=actor,
            action=action,
            target_type="project",
            target_id=str(project.id),
            extra=extra,
        )


@shared_task(
    name="tenants.data_reencrypt",
    acks_late=True,
    ignore_result=True,
    soft_time_limit=3300,
    time_limit=3600,
)
def data_reencrypt_task(project_id: str, final_pass: bool = False) -> int:
    """Re-encrypt a project after a data-key rotation. Other processes may keep writing
    with the old version for up to ENGRAM_KEY_CACHE_SECONDS (their key cache), so a final
    pass runs once that has certainly passed."""
    project = Project.objects.filter(pk=project_id).first()
    if project is None:
        return 0
    done = project_reencrypt(project=project)
    if not final_pass:
        data_reencrypt_task.apply_async(
            (project_id, True), countdown=settings.ENGRAM_KEY_CACHE_SECONDS + 30
        )
    return sum(done.values())


# --- master key -------------------------------------------------------------------------------


def master_key_rewrap(*, actor: Actor = SYSTEM_ACTOR) -> dict[str, int]:
    """Re-wrap every live data key of every project under the current master key (older
    masters stay listed in ENGRAM_MASTER_KEY_PREVIOUS until this has run). No content row
    is touched. Returns keys re-wrapped per project."""
    rewrapped: dict[str, int] = {}
    kek = current_kek_id()
    for project in Project.objects.order_by("created_at"):
        with tenant_context(project.id, project.organization_id):
            stale = DataKey.objects.filter(project=project).exclude(kek_id=kek)
            count = 0
            for row in stale.exclude(state=DataKey.State.DESTROYED).select_for_update():
                _rewrap(row)
                count += 1
            if count:
                audit_record(
                    org_id=project.organization_id,
                    project_id=project.id,
                    actor=actor,
                    action="keyring.master_rewrapped",
                    target_type="project",
                    target_id=str(project.id),
                    extra={"keys": count, "kek_id": kek},
                )
        rewrapped[str(project.id)] = count
    return rewrapped


def _rewrap(row: DataKey) -> None:
    key = unwrap_key(row)
    row.wrapped_key, row.kek_id = wrap_key(
        key,
        project_id=row.project_id,
        purpose=row.purpose,
        subject_ref=row.subject_ref,
        version=row.version,
    )
    row.save(update_fields=["wrapped_key", "kek_id"])
    key_cache.forget([row.pk])
