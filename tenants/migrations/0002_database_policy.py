"""Database policy as code: the application role's grants, the vector extension, and
row-level security on the tenant tables of this app."""

from django.db import migrations
from django.db.backends.base.schema import BaseDatabaseSchemaEditor
from django.db.migrations.state import StateApps

from tenants.rls import app_role, project_isolation, quoted

API_KEY_LOOKUP = "key_id = NULLIF(current_setting('app.api_key_lookup', true), '')"


def grant_app_role(apps: StateApps, schema_editor: BaseDatabaseSchemaEditor) -> None:
    role = app_role()
    if not role:
        return
    q = quoted(role)
    for statement in (
        f"GRANT USAGE ON SCHEMA public TO {q}",
        f"GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA public TO {q}",
        f"GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA public TO {q}",
        # Tables created by later migrations (run by this same owner role) inherit these.
        "ALTER DEFAULT PRIVILEGES IN SCHEMA public "
        f"GRANT SELECT, INSERT, UPDATE, DELETE ON TABLES TO {q}",
        f"ALTER DEFAULT PRIVILEGES IN SCHEMA public GRANT USAGE, SELECT ON SEQUENCES TO {q}",
        f"REVOKE INSERT, UPDATE, DELETE ON django_migrations FROM {q}",
    ):
        schema_editor.execute(statement)


def revoke_app_role(apps: StateApps, schema_editor: BaseDatabaseSchemaEditor) -> None:
    role = app_role()
    if not role:
        return
    q = quoted(role)
    schema_editor.execute(
        f"ALTER DEFAULT PRIVILEGES IN SCHEMA public REVOKE ALL ON TABLES FROM {q}"
    )
    schema_editor.execute(
        f"ALTER DEFAULT PRIVILEGES IN SCHEMA public REVOKE ALL ON SEQUENCES FROM {q}"
    )


class Migration(migrations.Migration):
    dependencies = [("tenants", "0001_initial")]

    operations = [
        migrations.RunSQL(
            "CREATE EXTENSION IF NOT EXISTS vector", reverse_sql=migrations.RunSQL.noop
        ),
        migrations.RunPython(grant_app_role, revoke_app_role),
        project_isolation("tenants_apikey", extra_using=API_KEY_LOOKUP),
        project_isolation("tenants_datakey"),
    ]
