"""SQL for row-level security and grants, used by named migrations (policy is code).

A forgotten `.filter(project=...)` then returns nothing instead of leaking another tenant's
rows: the policy compares each row's tenant column with the transaction-local setting.
"""

from django.conf import settings
from django.db.migrations.operations import RunSQL

CURRENT_PROJECT = "NULLIF(current_setting('app.project_id', true), '')::uuid"
CURRENT_ORG = "NULLIF(current_setting('app.org_id', true), '')::uuid"


def project_isolation(table: str, column: str = "project_id", extra_using: str = "") -> RunSQL:
    """ENABLE + FORCE row-level security with one policy keyed on the current project."""
    using = f"{column} = {CURRENT_PROJECT}"
    if extra_using:
        using = f"({using}) OR ({extra_using})"
    forward = f"""
        ALTER TABLE {table} ENABLE ROW LEVEL SECURITY;
        ALTER TABLE {table} FORCE ROW LEVEL SECURITY;
        CREATE POLICY tenant_isolation ON {table}
            USING ({using})
            WITH CHECK ({column} = {CURRENT_PROJECT});
    """
    backward = f"""
        DROP POLICY IF EXISTS tenant_isolation ON {table};
        ALTER TABLE {table} NO FORCE ROW LEVEL SECURITY;
        ALTER TABLE {table} DISABLE ROW LEVEL SECURITY;
    """
    return RunSQL(forward, backward)


def app_role() -> str:
    """The role the application connects as, or '' when it is the owner (single-role setup)."""
    role = settings.ENGRAM_APP_DB_ROLE
    return "" if not role or role == settings.ENGRAM_OWNER_DB_ROLE else role


def quoted(identifier: str) -> str:
    return '"' + identifier.replace('"', '""') + '"'
