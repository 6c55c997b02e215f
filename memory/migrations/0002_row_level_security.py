"""Row-level security on every memory table."""

from django.db import migrations

from tenants.rls import project_isolation

TENANT_TABLES = [
    "memory_episode",
    "memory_memory",
    "memory_memoryversion",
    "memory_ingestionjob",
    "memory_workingstate",
    "memory_entity",
    "memory_entitymention",
    "memory_relation",
    "memory_memoryexport",
    "memory_memorytoken",
]


class Migration(migrations.Migration):
    dependencies = [("memory", "0001_initial"), ("tenants", "0002_database_policy")]

    operations = [project_isolation(table) for table in TENANT_TABLES]
