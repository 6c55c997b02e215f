"""Fixtures of the integration tests: a webhook receiver, the loopback allow-list, and the
live gunicorn (tests/support/live_server.py) for the examples and the JS client."""

import uuid
from collections.abc import Iterator

import pytest

from tests.conftest import Tenant, make_tenant
from tests.integrations.receiver import WebhookReceiver
from tests.support.live_server import gunicorn_server

__all__ = ["gunicorn_server"]


@pytest.fixture
def receiver() -> Iterator[WebhookReceiver]:
    with WebhookReceiver() as server:
        yield server


@pytest.fixture
def loopback_allowed(settings: object) -> None:
    """Self-hosted receivers on this machine: the explicit allow-list, as a deployment would."""
    settings.ENGRAM_WEBHOOK_ALLOWED_HOSTS = ["127.0.0.1"]  # type: ignore[attr-defined]


@pytest.fixture
def live_tenant(committed_db: None) -> Tenant:
    """A tenant the live server can see (committed), unique to the test."""
    return make_tenant(f"integ-{uuid.uuid4().hex[:10]}")
