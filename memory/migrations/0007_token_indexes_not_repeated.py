"""Drop the blind index's single-column indexes on memory and project: (memory, token) and
(project, token) lead with the same columns and serve the same lookups (the cascading
deletes too), and each index cost every posting written a write.

The foreign keys' own indexes are dropped by name: Django's AlterField(db_index=False)
leaves them in place on PostgreSQL (sqlmigrate shows a no-op)."""

import django.db.models.deletion
from django.db import migrations, models

FOREIGN_KEY_INDEXES = {
    "memory_memorytoken_memory_id_da0a10eb": "memory_id",
    "memory_memorytoken_project_id_aaf26721": "project_id",
}


class Migration(migrations.Migration):
    dependencies = [
        ("memory", "0006_memory_asks_question"),
        ("tenants", "0002_database_policy"),
    ]

    operations = [
        migrations.RemoveIndex(model_name="memorytoken", name="token_memory"),
        migrations.SeparateDatabaseAndState(
            database_operations=[
                migrations.RunSQL(
                    f"DROP INDEX IF EXISTS {name}",
                    reverse_sql=f"CREATE INDEX IF NOT EXISTS {name} ON memory_memorytoken ({column})",
                )
                for name, column in FOREIGN_KEY_INDEXES.items()
            ],
            state_operations=[
                migrations.AlterField(
                    model_name="memorytoken",
                    name="memory",
                    field=models.ForeignKey(
                        db_index=False,
                        on_delete=django.db.models.deletion.CASCADE,
                        related_name="tokens",
                        to="memory.memory",
                    ),
                ),
                migrations.AlterField(
                    model_name="memorytoken",
                    name="project",
                    field=models.ForeignKey(
                        db_index=False,
                        on_delete=django.db.models.deletion.CASCADE,
                        related_name="+",
                        to="tenants.project",
                    ),
                ),
            ],
        ),
    ]
