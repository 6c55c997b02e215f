"""Keyword postings readable from the index alone: (project, token) INCLUDE (memory,
term frequency). The new index is built before the old one is dropped, so keyword search
keeps an index throughout."""

from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("memory", "0004_ingestion"),
        ("tenants", "0002_database_policy"),
    ]

    operations = [
        migrations.AddIndex(
            model_name="memorytoken",
            index=models.Index(
                fields=["project", "token"],
                include=("memory", "term_frequency"),
                name="token_project_token_postings",
            ),
        ),
        migrations.RemoveIndex(
            model_name="memorytoken",
            name="token_project_token",
        ),
    ]
