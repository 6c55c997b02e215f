"""The 429 contract through gunicorn and the real `mem0ai` client: RateLimitError carries
the detail naming the limit, Retry-After and the X-RateLimit-* headers; an oversize body
is the client's MemoryQuotaExceededError (413)."""

from typing import Any

import pytest
from mem0 import MemoryClient
from mem0.exceptions import MemoryQuotaExceededError, RateLimitError

from tenants.models import Project
from tests.conftest import Tenant
from tests.hostile.conftest import committed_tenant
from tests.support.live_server import LiveServer

pytestmark = pytest.mark.live


@pytest.fixture
def limited_tenant(django_db_setup: None, django_db_blocker: Any) -> Tenant:
    tenant = committed_tenant(django_db_blocker, "limited")
    with django_db_blocker.unblock():
        limits = {"key_requests_per_minute": 3, "request_bytes": 5000}
        Project.objects.filter(pk=tenant.project.id).update(options={"limits": limits})
    return tenant


def test_mem0_client_gets_rate_limit_error_with_retry_details(
    gunicorn_server: LiveServer, limited_tenant: Tenant
) -> None:
    client = MemoryClient(api_key=limited_tenant.api_key, host=gunicorn_server.url)  # ping: 1
    client.get_all(filters={"user_id": "alice"})  # 2
    client.get_all(filters={"user_id": "alice"})  # 3
    with pytest.raises(RateLimitError) as refused:
        client.get_all(filters={"user_id": "alice"})
    assert "key_requests_per_minute" in str(refused.value)
    debug = refused.value.debug_info
    assert 1 <= int(debug["retry_after"]) <= 60
    assert str(debug.get("x_ratelimit_limit")) == "3"
    assert str(debug.get("x_ratelimit_remaining")) == "0"


def test_mem0_client_gets_quota_error_for_an_oversize_body(
    gunicorn_server: LiveServer, limited_tenant: Tenant
) -> None:
    client = MemoryClient(api_key=limited_tenant.api_key, host=gunicorn_server.url)
    with pytest.raises(MemoryQuotaExceededError):
        client.add([{"role": "user", "content": "x" * 10_000}], user_id="alice", infer=False)
