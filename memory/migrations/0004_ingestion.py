"""Ingestion: a partial index on open jobs (PENDING or RUNNING), so the sweeper's look at
each project every few seconds reads a handful of index entries however many finished
jobs the project has. Raw SQL, as the index is a database policy detail that the models
do not need to know about."""

from django.db import migrations

CREATE = """
CREATE INDEX IF NOT EXISTS memory_job_open
    ON memory_ingestionjob (project_id, status, updated_at)
    WHERE status IN ('PENDING', 'RUNNING');
"""

DROP = "DROP INDEX IF EXISTS memory_job_open;"


class Migration(migrations.Migration):
    dependencies = [("memory", "0003_retrieval")]

    operations = [migrations.RunSQL(CREATE, DROP)]
