import time
from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone
from rest_framework.test import APIClient

from audit.models import AuditEvent
from audit.services import CLI_ACTOR
from tenants.accepted_keys import accepted_keys
from tenants.api_keys import parse_key_id
from tenants.context import tenant_context
from tenants.models import ApiKey
from tenants.services import api_key_create, api_key_revoke
from tests.conftest import Tenant

pytestmark = pytest.mark.django_db


def _ping(authorization: str | None) -> tuple[int, dict]:
    client = APIClient()
    if authorization is not None:
        client.credentials(HTTP_AUTHORIZATION=authorization)
    response = client.get("/v1/ping/")
    return response.status_code, response.json()


def test_ping_answers_org_and_project_of_the_key(tenant_a: Tenant) -> None:
    status, body = _ping(f"Token {tenant_a.api_key}")
    assert status == 200
    assert body["status"] == "ok"
    assert body["org_id"] == str(tenant_a.organization.id)
    assert body["project_id"] == str(tenant_a.project.id)


def test_bearer_scheme_is_accepted_too(tenant_a: Tenant) -> None:
    assert _ping(f"Bearer {tenant_a.api_key}")[0] == 200


def test_ping_path_without_trailing_slash(tenant_a: Tenant) -> None:
    assert tenant_a.client().get("/v1/ping").status_code == 200


def test_unknown_malformed_expired_and_revoked_keys_get_the_same_401(tenant_a: Tenant) -> None:
    expired = api_key_create(
        project=tenant_a.project,
        name="old",
        actor=CLI_ACTOR,
        expires_at=timezone.now() + timedelta(seconds=1),
    )
    with tenant_context(tenant_a.project.id):
        ApiKey.objects.filter(pk=expired.api_key.pk).update(
            expires_at=timezone.now() - timedelta(days=1)
        )
    revoked = api_key_create(project=tenant_a.project, name="gone", actor=CLI_ACTOR)
    api_key_revoke(project=tenant_a.project, key_id=revoked.api_key.key_id, actor=CLI_ACTOR)
    wrong_secret = tenant_a.api_key[:-4] + "abcd"
    answers = [
        _ping(f"Token {value}")
        for value in (
            "eng_AAAAAAAAAAAA_" + "B" * 32,
            "not-a-key",
            wrong_secret,
            expired.plaintext,
            revoked.plaintext,
        )
    ]
    answers.append(_ping(None))
    assert {status for status, _ in answers} == {401}
    assert len({str(body) for _, body in answers}) == 1
    assert "API key" in answers[0][1]["detail"]
    assert answers[0][1]["error"]["code"] == "unauthenticated"


def test_only_a_keyed_hash_of_the_key_is_stored(tenant_a: Tenant) -> None:
    with tenant_context(tenant_a.project.id):
        stored = list(
            ApiKey.objects.filter(project=tenant_a.project).values_list("secret_hash", "key_id")
        )
    secret = tenant_a.api_key.split("_")[2]
    assert stored and all(secret not in value for row in stored for value in row)


def test_key_creation_and_revocation_are_audited(tenant_a: Tenant) -> None:
    issued = api_key_create(project=tenant_a.project, name="ci", actor=CLI_ACTOR, scopes=["read"])
    api_key_revoke(project=tenant_a.project, key_id=issued.api_key.key_id, actor=CLI_ACTOR)
    with tenant_context(tenant_a.project.id):
        actions = list(
            AuditEvent.objects.filter(target_id=issued.api_key.prefix)
            .order_by("seq")
            .values_list("action", flat=True)
        )
    assert actions == ["api_key.created", "api_key.revoked"]


def test_last_used_time_is_recorded(tenant_a: Tenant) -> None:
    assert _ping(f"Token {tenant_a.api_key}")[0] == 200
    with tenant_context(tenant_a.project.id):
        key = ApiKey.objects.get(project=tenant_a.project, name="default")
    assert key.last_used_at is not None


def test_key_without_write_scope_cannot_write(tenant_a: Tenant) -> None:
    read_only = api_key_create(
        project=tenant_a.project, name="ro", actor=CLI_ACTOR, scopes=["read"]
    )
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {read_only.plaintext}")
    assert client.get("/v1/ping/").status_code == 200
    assert client.post("/v1/ping/", {}, format="json").status_code in (403, 405)


def test_unknown_scope_is_rejected(tenant_a: Tenant) -> None:
    from config.errors import InvalidInput

    with pytest.raises(InvalidInput, match="unknown scope"):
        api_key_create(project=tenant_a.project, name="x", actor=CLI_ACTOR, scopes=["root"])


def _key_lookups(captured: CaptureQueriesContext) -> int:
    return sum('FROM "tenants_apikey"' in query["sql"] for query in captured.captured_queries)


def test_a_key_accepted_lately_is_not_looked_up_again(
    tenant_a: Tenant, monkeypatch: pytest.MonkeyPatch
) -> None:
    # An earlier test may have left Redis marked unreachable for a few seconds.
    monkeypatch.setattr(accepted_keys, "_redis_skip_until", 0.0)
    assert _ping(f"Token {tenant_a.api_key}")[0] == 200
    with CaptureQueriesContext(connection) as captured:
        assert _ping(f"Token {tenant_a.api_key}")[0] == 200
    assert _key_lookups(captured) == 0
    wrong_secret = tenant_a.api_key[:-4] + "abcd"
    assert _ping(f"Token {wrong_secret}")[0] == 401  # the secret is checked every time


def test_revocation_applies_at_once_to_a_remembered_key(tenant_a: Tenant) -> None:
    issued = api_key_create(project=tenant_a.project, name="soon gone", actor=CLI_ACTOR)
    assert _ping(f"Token {issued.plaintext}")[0] == 200
    api_key_revoke(project=tenant_a.project, key_id=issued.api_key.key_id, actor=CLI_ACTOR)
    assert _ping(f"Token {issued.plaintext}")[0] == 401


def test_a_change_published_by_another_process_is_seen(tenant_a: Tenant) -> None:
    assert _ping(f"Token {tenant_a.api_key}")[0] == 200
    # Another process revokes the key: this one sees no signal, only the generation.
    with tenant_context(tenant_a.project.id):
        ApiKey.objects.filter(key_id=parse_key_id(tenant_a.api_key)).update(
            revoked_at=timezone.now()
        )
    accepted_keys.publish_change()
    assert _ping(f"Token {tenant_a.api_key}")[0] == 401


def test_without_redis_every_request_reads_the_key(
    tenant_a: Tenant, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(accepted_keys, "_redis_skip_until", time.monotonic() + 60)
    assert _ping(f"Token {tenant_a.api_key}")[0] == 200
    with CaptureQueriesContext(connection) as captured:
        assert _ping(f"Token {tenant_a.api_key}")[0] == 200
    assert _key_lookups(captured) == 1
