"""Row-level security on the webhook tables (policy is code, with its reverse)."""

from django.db import migrations

from tenants.rls import project_isolation

TENANT_TABLES = ["integrations_webhook", "integrations_webhookdelivery"]


class Migration(migrations.Migration):
    dependencies = [("integrations", "0001_initial")]

    operations = [project_isolation(table) for table in TENANT_TABLES]
