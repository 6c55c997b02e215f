"""Row-level security: a forgotten filter returns nothing instead of another tenant's rows."""

import pytest
from django.db import connection

from audit.models import AuditEvent
from tenants.context import tenant_context
from tenants.keyring import FieldContext, encrypt
from tenants.models import ApiKey, DataKey
from tests.conftest import Tenant

pytestmark = pytest.mark.django_db


def test_application_role_is_not_superuser_owner_or_bypassrls() -> None:
    with connection.cursor() as cursor:
        cursor.execute("SELECT rolsuper, rolbypassrls FROM pg_roles WHERE rolname = current_user")
        assert cursor.fetchone() == (False, False)
        cursor.execute(
            "SELECT count(*) FROM pg_tables WHERE schemaname = 'public' "
            "AND tableowner = current_user"
        )
        assert cursor.fetchone()[0] == 0


def test_every_tenant_table_has_forced_row_level_security() -> None:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT c.relname FROM pg_class c JOIN pg_attribute a ON a.attrelid = c.oid "
            "JOIN pg_namespace n ON n.oid = c.relnamespace "
            "WHERE n.nspname = 'public' AND c.relkind = 'r' AND a.attname = 'project_id' "
            "AND NOT (c.relrowsecurity AND c.relforcerowsecurity)"
        )
        unprotected = [row[0] for row in cursor.fetchall()]
    assert unprotected == []


def test_unfiltered_queries_under_tenant_a_see_none_of_tenant_b(
    tenant_a: Tenant, tenant_b: Tenant
) -> None:
    with tenant_context(tenant_b.project.id, tenant_b.organization.id):
        encrypt(tenant_b.project.id, "charlie's secret", FieldContext("t", "1", "f"))
    with tenant_context(tenant_a.project.id, tenant_a.organization.id):
        keys = list(ApiKey.objects.all())
        data_keys = list(DataKey.objects.all())
        events = list(AuditEvent.objects.all())
    assert keys and all(key.project_id == tenant_a.project.id for key in keys)
    assert all(key.project_id == tenant_a.project.id for key in data_keys)
    assert events and all(event.project_id in (tenant_a.project.id, None) for event in events)
    assert all(event.org_id == tenant_a.organization.id for event in events)


def test_without_a_tenant_context_tenant_tables_are_empty(tenant_a: Tenant) -> None:
    assert ApiKey.objects.count() == 0
    assert AuditEvent.objects.count() == 0


def test_writing_a_row_for_another_tenant_is_refused(tenant_a: Tenant, tenant_b: Tenant) -> None:
    from django.db import ProgrammingError, transaction

    with pytest.raises(ProgrammingError, match="row-level security"):
        with tenant_context(tenant_a.project.id), transaction.atomic():
            ApiKey.objects.create(
                project=tenant_b.project, key_id="X" * 12, secret_hash="0" * 64, name="evil"
            )
