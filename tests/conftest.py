"""Shared fixtures. Every test module has a second tenant at hand ("project_b") that must
never see the first one's things."""

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from django.conf import settings
from django.db import connections
from django.test.utils import setup_databases, teardown_databases
from rest_framework.test import APIClient

from audit.services import CLI_ACTOR
from tenants.models import Organization, Project
from tenants.services import tenant_bootstrap


def _switch_role(alias: str, url_user: str, url_password: str) -> None:
    connection = connections[alias]
    connection.close()
    connection.settings_dict["USER"] = url_user
    connection.settings_dict["PASSWORD"] = url_password


@pytest.fixture(scope="session")
def django_db_setup(
    request: Any, django_test_environment: None, django_db_blocker: Any
) -> Iterator[None]:
    """Create and migrate the test database as the owner role, then run every test as the
    application role, exactly as production does (so RLS and grants are under test)."""
    import dj_database_url

    owner = dj_database_url.parse(settings.DATABASE_OWNER_URL)
    app = connections["default"].settings_dict
    app_user, app_password = app["USER"], app["PASSWORD"]
    _switch_role("default", owner["USER"], owner["PASSWORD"])
    with django_db_blocker.unblock():
        config = setup_databases(verbosity=0, interactive=False, keepdb=False)
    _switch_role("default", app_user, app_password)
    yield
    _switch_role("default", owner["USER"], owner["PASSWORD"])
    with django_db_blocker.unblock():
        teardown_databases(config, verbosity=0)


@dataclass
class Tenant:
    organization: Organization
    project: Project
    api_key: str

    def client(self) -> APIClient:
        client = APIClient()
        client.credentials(HTTP_AUTHORIZATION=f"Token {self.api_key}")
        return client


def make_tenant(name: str) -> Tenant:
    org, project, issued = tenant_bootstrap(
        org_name=f"{name} org", project_name=f"{name} project", actor=CLI_ACTOR
    )
    return Tenant(organization=org, project=project, api_key=issued.plaintext)


@pytest.fixture
def tenant_a(db: None) -> Tenant:
    return make_tenant("alice")


@pytest.fixture
def tenant_b(db: None) -> Tenant:
    return make_tenant("charlie")


@pytest.fixture
def committed_db(django_db_setup: None, django_db_blocker: Any) -> Iterator[None]:
    """Database access in autocommit mode: what a test writes is visible to other processes
    (a live server, a Celery worker, a second connection) and stays there. Tests that use
    it create their own tenants, so leftovers never meet another test's data."""
    with django_db_blocker.unblock():
        yield


def owner_connection_kwargs() -> dict[str, Any]:
    """psycopg connection arguments for the owner role on the test database."""
    import dj_database_url

    owner = dj_database_url.parse(settings.DATABASE_OWNER_URL)
    return {
        "host": owner["HOST"],
        "port": owner["PORT"] or 5432,
        "user": owner["USER"],
        "password": owner["PASSWORD"],
        "dbname": connections["default"].settings_dict["NAME"],
        "autocommit": True,
    }


def database_url(role: str = "app") -> str:
    """A URL for the test database, for processes the tests start."""
    import dj_database_url

    source = settings.DATABASE_OWNER_URL if role == "owner" else settings.DATABASE_URL
    parsed = dj_database_url.parse(source)
    name = connections["default"].settings_dict["NAME"]
    return (
        f"postgres://{parsed['USER']}:{parsed['PASSWORD']}@{parsed['HOST']}:"
        f"{parsed['PORT'] or 5432}/{name}"
    )
