"""Fixtures of the hostile-input tests: the live gunicorn server and tenants whose rows are
committed (the server only sees committed data), with rate limits lifted so that a fuzzing
burst measures the API, not the limiter."""

import uuid
from typing import Any

import pytest

from tenants.models import Project
from tests.conftest import Tenant, make_tenant
from tests.support.live_server import LiveServer, gunicorn_server

__all__ = ["LiveServer", "gunicorn_server"]

UNLIMITED = {"key_requests_per_minute": 0, "project_requests_per_minute": 0}


def committed_tenant(django_db_blocker: Any, name: str) -> Tenant:
    with django_db_blocker.unblock():
        tenant = make_tenant(f"{name}-{uuid.uuid4().hex[:10]}")
        Project.objects.filter(pk=tenant.project.id).update(options={"limits": UNLIMITED})
    return tenant


@pytest.fixture(scope="module")
def owner_tenant(django_db_setup: None, django_db_blocker: Any) -> Tenant:
    return committed_tenant(django_db_blocker, "hostile-owner")


@pytest.fixture(scope="module")
def intruder_tenant(django_db_setup: None, django_db_blocker: Any) -> Tenant:
    return committed_tenant(django_db_blocker, "hostile-intruder")
