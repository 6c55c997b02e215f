"""Compliance tests write through the API into committed tenants: infer=true adds leave
ingestion jobs and Celery messages nobody runs here. Other suites start real workers and
the job sweeper on the same database and queue, so each test leaves no pending work."""

from collections.abc import Iterator
from typing import Any

import pytest
from django.db import connection
from django.utils import timezone

from memory.models import IngestionJob
from tenants.context import tenant_context
from tenants.models import Project


@pytest.fixture(autouse=True)
def no_pending_work_left_behind(
    request: pytest.FixtureRequest, django_db_blocker: Any
) -> Iterator[None]:
    started = timezone.now()
    yield
    if "committed_db" not in request.fixturenames:
        return
    from config.celery import app

    app.control.purge()
    with django_db_blocker.unblock():
        for project in Project.objects.filter(created_at__gte=started):
            with tenant_context(project.id, project.organization_id):
                IngestionJob.objects.filter(project=project).exclude(
                    status__in=[IngestionJob.Status.SUCCEEDED, IngestionJob.Status.FAILED]
                ).update(status=IngestionJob.Status.FAILED, error="test finished")
        connection.close()
