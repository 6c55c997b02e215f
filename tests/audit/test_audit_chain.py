import itertools

import pytest
from django.core.management import call_command
from django.db import ProgrammingError, connection, transaction

from audit.models import AuditEvent
from audit.services import CLI_ACTOR, audit_record
from audit.verification import chain_verify
from tenants.context import tenant_context
from tests.conftest import Tenant

pytestmark = pytest.mark.django_db


def _record(tenant: Tenant, n: int) -> None:
    with tenant_context(tenant.project.id, tenant.organization.id):
        for index in range(n):
            audit_record(
                org_id=tenant.organization.id,
                project_id=tenant.project.id,
                actor=CLI_ACTOR,
                action="memory.added",
                target_type="memory",
                target_id=str(index),
                extra={"count": index},
            )


def test_each_event_links_to_the_previous_one(tenant_a: Tenant) -> None:
    _record(tenant_a, 3)
    with tenant_context(tenant_a.project.id):
        events = list(AuditEvent.objects.filter(chain_id=tenant_a.project.id).order_by("seq"))
        assert [e.seq for e in events] == list(range(1, len(events) + 1))
        for previous, current in itertools.pairwise(events):
            assert current.prev_hash == previous.hash
        assert chain_verify(tenant_a.project.id).ok


@pytest.mark.parametrize(
    "statement",
    [
        "UPDATE audit_auditevent SET action = 'x'",
        "DELETE FROM audit_auditevent",
        "TRUNCATE audit_auditevent",
    ],
)
def test_application_role_cannot_change_or_remove_audit_rows(
    tenant_a: Tenant, statement: str
) -> None:
    _record(tenant_a, 1)
    with tenant_context(tenant_a.project.id), pytest.raises(ProgrammingError):
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.execute(statement)


def test_verify_command_passes_on_intact_chains(tenant_a: Tenant) -> None:
    _record(tenant_a, 2)
    call_command("engram_audit", "verify", "--project", str(tenant_a.project.id))
