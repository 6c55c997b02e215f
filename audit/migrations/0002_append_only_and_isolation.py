"""The audit log is append-only for everyone, and each tenant sees only its own chains."""

from django.db import migrations
from django.db.backends.base.schema import BaseDatabaseSchemaEditor
from django.db.migrations.state import StateApps

from tenants.rls import CURRENT_ORG, CURRENT_PROJECT, app_role, quoted

CHAIN_VISIBLE = (
    f"(project_id IS NOT NULL AND project_id = {CURRENT_PROJECT}) "
    f"OR (project_id IS NULL AND org_id = {CURRENT_ORG})"
)

APPEND_ONLY = """
CREATE FUNCTION audit_refuse_change() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'audit log is append-only: % refused on %', TG_OP, TG_TABLE_NAME
        USING ERRCODE = 'insufficient_privilege';
END;
$$;
CREATE TRIGGER audit_event_no_update_delete BEFORE UPDATE OR DELETE ON audit_auditevent
    FOR EACH ROW EXECUTE FUNCTION audit_refuse_change();
CREATE TRIGGER audit_event_no_truncate BEFORE TRUNCATE ON audit_auditevent
    FOR EACH STATEMENT EXECUTE FUNCTION audit_refuse_change();
"""

APPEND_ONLY_REVERSE = """
DROP TRIGGER IF EXISTS audit_event_no_truncate ON audit_auditevent;
DROP TRIGGER IF EXISTS audit_event_no_update_delete ON audit_auditevent;
DROP FUNCTION IF EXISTS audit_refuse_change();
"""


def isolation(table: str) -> migrations.RunSQL:
    forward = f"""
        ALTER TABLE {table} ENABLE ROW LEVEL SECURITY;
        ALTER TABLE {table} FORCE ROW LEVEL SECURITY;
        CREATE POLICY tenant_isolation ON {table} USING ({CHAIN_VISIBLE})
            WITH CHECK ({CHAIN_VISIBLE});
    """
    backward = f"""
        DROP POLICY IF EXISTS tenant_isolation ON {table};
        ALTER TABLE {table} NO FORCE ROW LEVEL SECURITY;
        ALTER TABLE {table} DISABLE ROW LEVEL SECURITY;
    """
    return migrations.RunSQL(forward, backward)


def restrict_app_role(apps: StateApps, schema_editor: BaseDatabaseSchemaEditor) -> None:
    role = app_role()
    if role:
        schema_editor.execute(
            f"REVOKE UPDATE, DELETE, TRUNCATE ON audit_auditevent FROM {quoted(role)}"
        )


def unrestrict_app_role(apps: StateApps, schema_editor: BaseDatabaseSchemaEditor) -> None:
    role = app_role()
    if role:
        schema_editor.execute(f"GRANT UPDATE, DELETE ON audit_auditevent TO {quoted(role)}")


class Migration(migrations.Migration):
    dependencies = [("audit", "0001_initial"), ("tenants", "0002_database_policy")]

    operations = [
        migrations.RunSQL(APPEND_ONLY, APPEND_ONLY_REVERSE),
        migrations.RunPython(restrict_app_role, unrestrict_app_role),
        isolation("audit_auditevent"),
        isolation("audit_auditchainhead"),
    ]
