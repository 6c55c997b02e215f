"""Fixtures of the live tests: a real gunicorn, real `mem0ai` clients, fresh tenants."""

import uuid
from collections.abc import Iterator
from typing import Any

import pytest

from tests.conftest import Tenant, make_tenant
from tests.support.live_server import LiveServer, gunicorn_server

__all__ = ["gunicorn_server"]


@pytest.fixture
def fresh_tenant(committed_db: None) -> Tenant:
    return make_tenant(f"live-{uuid.uuid4().hex[:10]}")


@pytest.fixture
def other_tenant(committed_db: None) -> Tenant:
    return make_tenant(f"live-other-{uuid.uuid4().hex[:10]}")


@pytest.fixture
def mem0_client(gunicorn_server: LiveServer, fresh_tenant: Tenant) -> Iterator[Any]:
    from mem0 import MemoryClient

    yield MemoryClient(api_key=fresh_tenant.api_key, host=gunicorn_server.url)
