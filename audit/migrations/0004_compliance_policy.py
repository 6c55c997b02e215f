"""Row-level security on the compliance tables, and signed checkpoints are append-only."""

from django.db import migrations
from django.db.backends.base.schema import BaseDatabaseSchemaEditor
from django.db.migrations.state import StateApps

from tenants.rls import app_role, project_isolation, quoted

CHECKPOINT_CHAIN_VISIBLE = (
    "(project_id IS NOT NULL AND project_id = NULLIF(current_setting('app.project_id', true), '')::uuid) "
    "OR (project_id IS NULL AND org_id = NULLIF(current_setting('app.org_id', true), '')::uuid)"
)

CHECKPOINT_ISOLATION = f"""
ALTER TABLE audit_auditcheckpoint ENABLE ROW LEVEL SECURITY;
ALTER TABLE audit_auditcheckpoint FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON audit_auditcheckpoint USING ({CHECKPOINT_CHAIN_VISIBLE})
    WITH CHECK ({CHECKPOINT_CHAIN_VISIBLE});
"""

CHECKPOINT_ISOLATION_REVERSE = """
DROP POLICY IF EXISTS tenant_isolation ON audit_auditcheckpoint;
ALTER TABLE audit_auditcheckpoint NO FORCE ROW LEVEL SECURITY;
ALTER TABLE audit_auditcheckpoint DISABLE ROW LEVEL SECURITY;
"""

# audit_refuse_change() comes from 0002.
CHECKPOINT_APPEND_ONLY = """
CREATE TRIGGER audit_checkpoint_no_update_delete BEFORE UPDATE OR DELETE ON audit_auditcheckpoint
    FOR EACH ROW EXECUTE FUNCTION audit_refuse_change();
CREATE TRIGGER audit_checkpoint_no_truncate BEFORE TRUNCATE ON audit_auditcheckpoint
    FOR EACH STATEMENT EXECUTE FUNCTION audit_refuse_change();
"""

CHECKPOINT_APPEND_ONLY_REVERSE = """
DROP TRIGGER IF EXISTS audit_checkpoint_no_truncate ON audit_auditcheckpoint;
DROP TRIGGER IF EXISTS audit_checkpoint_no_update_delete ON audit_auditcheckpoint;
"""


def restrict_app_role(apps: StateApps, schema_editor: BaseDatabaseSchemaEditor) -> None:
    role = app_role()
    if role:
        schema_editor.execute(
            f"REVOKE UPDATE, DELETE, TRUNCATE ON audit_auditcheckpoint FROM {quoted(role)}"
        )


def unrestrict_app_role(apps: StateApps, schema_editor: BaseDatabaseSchemaEditor) -> None:
    role = app_role()
    if role:
        schema_editor.execute(f"GRANT UPDATE, DELETE ON audit_auditcheckpoint TO {quoted(role)}")


class Migration(migrations.Migration):
    dependencies = [("audit", "0003_compliance"), ("tenants", "0002_database_policy")]

    operations = [
        project_isolation("audit_retentionpolicy"),
        project_isolation("audit_legalhold"),
        project_isolation("audit_datasubjectrequest"),
        migrations.RunSQL(CHECKPOINT_ISOLATION, CHECKPOINT_ISOLATION_REVERSE),
        migrations.RunSQL(CHECKPOINT_APPEND_ONLY, CHECKPOINT_APPEND_ONLY_REVERSE),
        migrations.RunPython(restrict_app_role, unrestrict_app_role),
    ]
