"""Console fixtures: two organizations (alice's and charlie's), staff of every role, a
signed-in Django test client per staff member."""

import uuid
from collections.abc import Callable

import pytest
from django.test import Client

from tenants.models import Role
from tests.conftest import Tenant, make_tenant
from tests.console.builders import Staff, make_staff


@pytest.fixture
def org_a(db: None) -> Tenant:
    return make_tenant(f"console-a-{uuid.uuid4().hex[:6]}")


@pytest.fixture
def org_b(db: None) -> Tenant:
    return make_tenant(f"console-b-{uuid.uuid4().hex[:6]}")


@pytest.fixture
def staff_of(org_a: Tenant) -> Callable[[str], Staff]:
    return lambda role: make_staff(org_a.organization, role)


@pytest.fixture
def owner(org_a: Tenant) -> Staff:
    return make_staff(org_a.organization, Role.OWNER)


@pytest.fixture
def charlie(org_b: Tenant) -> Staff:
    """An owner of the other organization: must never see anything of org_a."""
    return make_staff(org_b.organization, Role.OWNER)


def signed_in(staff: Staff) -> Client:
    client = Client()
    client.force_login(staff.user)
    return client
