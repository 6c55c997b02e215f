"""Access counters move out of the memory row into memory_memoryaccess (see the model).

Updating them in place rewrote the memory's ~2 KB row, which rarely fit on its page: each
counted use then added an entry to every index of memory_memory, HNSW included. The narrow
table's rows are updated on their page (fillfactor 70 leaves the room) and touch no index.

Counts already kept are copied project by project, each under its own tenant setting, since
the owner that runs migrations is subject to the forced row-level security too.
"""

import django.db.models.deletion
from django.db import migrations, models

from tenants.rls import project_isolation

COPY = """
INSERT INTO memory_memoryaccess (memory_id, project_id, access_count, last_accessed_at)
SELECT id, project_id, access_count, coalesce(last_accessed_at, updated_at)
FROM memory_memory
WHERE project_id = %s AND (access_count > 0 OR last_accessed_at IS NOT NULL)
"""


def copy_counts(apps, schema_editor):  # type: ignore[no-untyped-def]
    with schema_editor.connection.cursor() as cursor:
        cursor.execute("SELECT id FROM tenants_project")
        for (project_id,) in cursor.fetchall():
            cursor.execute("SELECT set_config('app.project_id', %s, true)", [str(project_id)])
            cursor.execute(COPY, [project_id])
        cursor.execute("SELECT set_config('app.project_id', '', true)")


class Migration(migrations.Migration):
    dependencies = [
        ("memory", "0008_embedding_stored_inline"),
        ("tenants", "0002_database_policy"),
    ]

    operations = [
        migrations.CreateModel(
            name="MemoryAccess",
            fields=[
                (
                    "memory",
                    models.OneToOneField(
                        on_delete=django.db.models.deletion.CASCADE,
                        primary_key=True,
                        related_name="access",
                        serialize=False,
                        to="memory.memory",
                    ),
                ),
                ("access_count", models.PositiveIntegerField(default=0)),
                ("last_accessed_at", models.DateTimeField()),
                (
                    "project",
                    models.ForeignKey(
                        db_index=False,
                        on_delete=django.db.models.deletion.CASCADE,
                        related_name="+",
                        to="tenants.project",
                    ),
                ),
            ],
        ),
        migrations.RunSQL(
            "ALTER TABLE memory_memoryaccess SET (fillfactor = 70)",
            migrations.RunSQL.noop,
        ),
        project_isolation("memory_memoryaccess"),
        migrations.RunPython(copy_counts, migrations.RunPython.noop),
        migrations.RemoveField(model_name="memory", name="access_count"),
        migrations.RemoveField(model_name="memory", name="last_accessed_at"),
    ]
