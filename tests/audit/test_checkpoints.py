"""Signed checkpoints catch what hash chaining alone cannot: a database owner who rewrites
an audit row and then recomputes every later hash (and the chain head)."""

import psycopg
import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from audit.chain import canonical_content, link_hash
from audit.checkpoints import checkpoint_verify, checkpoints_write_all
from audit.models import AuditChainHead, AuditCheckpoint
from audit.services import CLI_ACTOR, audit_record
from audit.verification import chain_verify
from tenants.context import tenant_context
from tests.conftest import Tenant, make_tenant, owner_connection_kwargs

REWRITE_SELECT = (
    "SELECT seq, occurred_at, actor_type, actor_id, action, target_type, target_id, "
    "request_id, extra, org_id FROM audit_auditevent WHERE chain_id = %s ORDER BY seq"
)


def _events(tenant: Tenant, count: int) -> None:
    with tenant_context(tenant.project.id, tenant.organization.id):
        for index in range(count):
            audit_record(
                org_id=tenant.organization.id,
                project_id=tenant.project.id,
                actor=CLI_ACTOR,
                action="memory.added",
                target_id=f"m{index}",
            )


def _rewrite_history(project_id: str, seq: int) -> None:
    """What an owner with full rights can do: disable the trigger, forge a row, recompute
    every hash after it and the head, so that the chain is consistent again."""
    with psycopg.connect(**owner_connection_kwargs()) as conn, conn.transaction():
        conn.execute("SELECT set_config('app.project_id', %s, true)", [project_id])
        conn.execute("ALTER TABLE audit_auditevent DISABLE TRIGGER audit_event_no_update_delete")
        conn.execute(
            "UPDATE audit_auditevent SET target_id = 'forged' WHERE chain_id = %s AND seq = %s",
            [project_id, seq],
        )
        prev = "0" * 64
        for row in conn.execute(REWRITE_SELECT, [project_id]).fetchall():
            seq_, occurred, a_type, a_id, action, t_type, t_id, req, extra, org = row
            content = canonical_content(
                chain_id=project_id,
                seq=seq_,
                org_id=str(org),
                project_id=project_id,
                occurred_at=occurred.isoformat(),
                actor_type=a_type,
                actor_id=a_id,
                action=action,
                target_type=t_type,
                target_id=t_id,
                request_id=req,
                extra=extra,
            )
            digest = link_hash(prev, content)
            conn.execute(
                "UPDATE audit_auditevent SET prev_hash = %s, hash = %s "
                "WHERE chain_id = %s AND seq = %s",
                [prev, digest, project_id, seq_],
            )
            prev = digest
        conn.execute(
            "UPDATE audit_auditchainhead SET hash = %s WHERE chain_id = %s", [prev, project_id]
        )
        conn.execute("ALTER TABLE audit_auditevent ENABLE TRIGGER audit_event_no_update_delete")


def test_checkpoint_signs_each_chain_head_once(committed_db: None) -> None:
    tenant = make_tenant("signed")
    _events(tenant, 3)
    written = [c for c in checkpoints_write_all() if c.chain_id == tenant.project.id]
    with tenant_context(tenant.project.id, tenant.organization.id):
        head = AuditChainHead.objects.get(chain_id=tenant.project.id)
    assert len(written) == 1 and (written[0].seq, written[0].head_hash) == (head.seq, head.hash)
    assert not [c for c in checkpoints_write_all() if c.chain_id == tenant.project.id]
    with tenant_context(tenant.project.id, tenant.organization.id):
        verdict = checkpoint_verify(tenant.project.id)
    assert verdict.ok and verdict.checkpoints_checked == 1


def test_owner_rewriting_and_rehashing_history_fails_checkpoint_verification(
    committed_db: None,
) -> None:
    tenant = make_tenant("rehash")
    project = str(tenant.project.id)
    _events(tenant, 3)
    call_command("engram_audit", "checkpoint")
    _events(tenant, 2)
    call_command("engram_audit", "verify", "--project", project)

    _rewrite_history(project, seq=2)

    with tenant_context(tenant.project.id, tenant.organization.id):
        assert chain_verify(tenant.project.id).ok, "the rehashed chain verifies on its own"
        verdict = checkpoint_verify(tenant.project.id)
    assert not verdict.ok and "history rewritten" in verdict.reason
    with pytest.raises(CommandError, match=r"signed checkpoint.*history rewritten"):
        call_command("engram_audit", "verify", "--project", project)


def test_a_forged_checkpoint_is_rejected(committed_db: None) -> None:
    tenant = make_tenant("forged")
    project = str(tenant.project.id)
    _events(tenant, 2)
    call_command("engram_audit", "checkpoint")
    _rewrite_history(project, seq=1)
    with psycopg.connect(**owner_connection_kwargs()) as conn, conn.transaction():
        conn.execute("SELECT set_config('app.project_id', %s, true)", [project])
        head = conn.execute(
            "SELECT seq, hash FROM audit_auditchainhead WHERE chain_id = %s", [project]
        ).fetchone()
        conn.execute("ALTER TABLE audit_auditcheckpoint DISABLE TRIGGER USER")
        assert head is not None
        conn.execute(
            "UPDATE audit_auditcheckpoint SET head_hash = %s WHERE chain_id = %s",
            [head[1], project],
        )
        conn.execute("ALTER TABLE audit_auditcheckpoint ENABLE TRIGGER USER")
    with tenant_context(tenant.project.id, tenant.organization.id):
        verdict = checkpoint_verify(tenant.project.id)
    assert not verdict.ok and "invalid signature" in verdict.reason


def test_checkpoints_are_append_only_for_the_application(committed_db: None) -> None:
    tenant = make_tenant("cp-append")
    _events(tenant, 1)
    checkpoints_write_all()
    from django.db import DatabaseError

    with pytest.raises(DatabaseError), tenant_context(tenant.project.id, tenant.organization.id):
        AuditCheckpoint.objects.filter(chain_id=tenant.project.id).update(head_hash="0" * 64)


def test_checkpoints_of_one_tenant_are_invisible_to_another(committed_db: None) -> None:
    first, second = make_tenant("cp-a"), make_tenant("cp-b")
    _events(first, 1)
    checkpoints_write_all()
    with tenant_context(second.project.id, second.organization.id):
        assert not AuditCheckpoint.objects.filter(chain_id=first.project.id).exists()


def test_retired_signing_keys_stay_trusted_only_when_configured(
    committed_db: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    import base64
    import os

    from audit.checkpoints import _configured_signing_key, public_key_bytes, signing_key

    tenant = make_tenant("cp-keys")
    _events(tenant, 1)
    checkpoints_write_all()
    old_public = base64.urlsafe_b64encode(public_key_bytes(signing_key().public_key())).decode()
    new_seed = base64.urlsafe_b64encode(os.urandom(32)).decode()
    monkeypatch.setenv("ENGRAM_AUDIT_SIGNING_KEY", new_seed)
    _configured_signing_key.cache_clear()
    try:
        with tenant_context(tenant.project.id, tenant.organization.id):
            assert "untrusted key" in checkpoint_verify(tenant.project.id).reason
        monkeypatch.setenv("ENGRAM_AUDIT_VERIFY_KEYS", old_public)
        with tenant_context(tenant.project.id, tenant.organization.id):
            assert checkpoint_verify(tenant.project.id).ok
    finally:
        monkeypatch.undo()
        _configured_signing_key.cache_clear()
