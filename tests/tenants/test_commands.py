"""The management commands a user scripts against."""

import json
from io import StringIO

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from rest_framework.test import APIClient

from tenants.context import tenant_context
from tenants.models import ApiKey

pytestmark = pytest.mark.django_db


def _call(*args: str) -> str:
    out = StringIO()
    call_command(*args, stdout=out)
    return out.getvalue()


def _ping(key: str) -> int:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {key}")
    return client.get("/v1/ping/").status_code


def test_tenant_create_json_gives_a_working_key() -> None:
    result = json.loads(
        _call("engram_tenant", "create", "--org", "Acme", "--project", "bot", "--json")
    )
    assert set(result) == {"org_id", "project_id", "api_key"}
    assert result["api_key"].startswith("eng_")
    assert _ping(result["api_key"]) == 200


def test_key_create_list_and_revoke() -> None:
    tenant = json.loads(_call("engram_tenant", "create", "--org", "K", "--project", "p", "--json"))
    project = tenant["project_id"]
    created = json.loads(
        _call(
            "engram_key",
            "create",
            "--project",
            project,
            "--name",
            "ci",
            "--scopes",
            "read",
            "--json",
        )
    )
    listing = json.loads(_call("engram_key", "list", "--project", project, "--json"))
    assert {row["prefix"] for row in listing} >= {created["prefix"]}
    assert all("secret" not in json.dumps(row) for row in listing)
    assert _ping(created["api_key"]) == 200
    _call("engram_key", "revoke", "--project", project, created["prefix"])
    assert _ping(created["api_key"]) == 401
    with tenant_context(project):
        assert ApiKey.objects.get(key_id=created["prefix"][4:]).revoked_at is not None


def test_commands_reject_bad_input_with_a_message() -> None:
    with pytest.raises(CommandError, match="not a project id"):
        _call("engram_key", "list", "--project", "not-a-uuid")
    with pytest.raises(CommandError, match="Project not found"):
        _call("engram_key", "list", "--project", "00000000-0000-0000-0000-000000000000")
    tenant = json.loads(_call("engram_tenant", "create", "--org", "S", "--project", "p", "--json"))
    with pytest.raises(CommandError, match="unknown scope"):
        _call("engram_key", "create", "--project", tenant["project_id"], "--scopes", "root")


def test_demo_tenant_is_created_once_with_a_key_and_a_console_owner() -> None:
    from django.test import Client

    first = _call("engram_demo")
    key = next(line.split(": ")[1] for line in first.splitlines() if "API key" in line)
    password = next(line.split(": ")[1] for line in first.splitlines() if "password" in line)
    assert _ping(key) == 200
    client = Client()
    assert client.login(username="owner@demo.engram.local", password=password)
    assert client.get("/console/").status_code == 200
    second = _call("engram_demo")
    assert "exists" in second and "eng_" not in second and password not in second
