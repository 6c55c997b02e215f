"""Someone with the database owner's rights edits a row behind the application's back:
verification must notice and name the link."""

import psycopg
import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from audit.services import CLI_ACTOR, audit_record
from tenants.context import tenant_context
from tests.conftest import make_tenant, owner_connection_kwargs


def _tamper(project_id: str, seq: int) -> None:
    with psycopg.connect(**owner_connection_kwargs()) as conn, conn.transaction():
        conn.execute("SELECT set_config('app.project_id', %s, true)", [project_id])
        conn.execute("ALTER TABLE audit_auditevent DISABLE TRIGGER audit_event_no_update_delete")
        conn.execute(
            "UPDATE audit_auditevent SET target_id = 'forged' WHERE chain_id = %s AND seq = %s",
            [project_id, seq],
        )
        conn.execute("ALTER TABLE audit_auditevent ENABLE TRIGGER audit_event_no_update_delete")


def test_verify_fails_after_the_owner_alters_a_row(committed_db: None) -> None:
    tenant = make_tenant("tamper")
    with tenant_context(tenant.project.id, tenant.organization.id):
        for index in range(3):
            audit_record(
                org_id=tenant.organization.id,
                project_id=tenant.project.id,
                actor=CLI_ACTOR,
                action="memory.added",
                target_id=str(index),
            )
    project = str(tenant.project.id)
    call_command("engram_audit", "verify", "--project", project)
    _tamper(project, seq=3)
    with pytest.raises(CommandError, match=r"broken at seq 3: row content does not match"):
        call_command("engram_audit", "verify", "--project", project)


def test_the_owner_cannot_update_without_disabling_the_trigger(committed_db: None) -> None:
    tenant = make_tenant("trigger")
    org_id = str(tenant.organization.id)
    with psycopg.connect(**owner_connection_kwargs()) as conn:
        with pytest.raises(psycopg.errors.InsufficientPrivilege, match="append-only"):
            with conn.transaction():
                conn.execute("SELECT set_config('app.org_id', %s, true)", [org_id])
                conn.execute(
                    "UPDATE audit_auditevent SET action = 'x' WHERE project_id IS NULL "
                    "AND org_id = %s",
                    [org_id],
                )
        with pytest.raises(psycopg.errors.InsufficientPrivilege, match="append-only"):
            conn.execute("TRUNCATE audit_auditevent")
