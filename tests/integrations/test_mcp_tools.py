"""The MCP tools' rules, without a transport: the key's scopes and project bound every call."""

import pytest

from audit.services import CLI_ACTOR
from integrations import mcp_tools
from integrations.mcp_tools import ToolError, principal_for_key
from tenants.services import api_key_create, api_key_revoke
from tests.conftest import Tenant

pytestmark = pytest.mark.django_db


def add(tenant: Tenant, text: str) -> str:
    principal = principal_for_key(tenant.api_key)
    added = mcp_tools.add_memory(principal, text=text, user_id="alice", infer=False)
    return str(added["results"][0]["id"])


def test_another_projects_memory_is_not_found(tenant_a: Tenant, tenant_b: Tenant) -> None:
    memory_id = add(tenant_b, "charlie's secret")
    with pytest.raises(ToolError, match="not found"):
        mcp_tools.get_memory(principal_for_key(tenant_a.api_key), memory_id=memory_id)
    with pytest.raises(ToolError, match="not found"):
        mcp_tools.delete_memory(principal_for_key(tenant_a.api_key), memory_id=memory_id)
    listed = mcp_tools.list_memories(principal_for_key(tenant_a.api_key), user_id="alice")
    assert listed == {"count": 0, "results": []}


def test_a_read_only_key_can_search_but_not_write(tenant_a: Tenant) -> None:
    issued = api_key_create(
        project=tenant_a.project, name="reader", scopes=["read"], actor=CLI_ACTOR
    )
    reader = principal_for_key(issued.plaintext)
    with pytest.raises(ToolError, match="'write' scope"):
        mcp_tools.add_memory(reader, text="x", user_id="alice", infer=False)
    add(tenant_a, "Likes hiking")
    found = mcp_tools.search_memories(reader, query="hiking", user_id="alice")
    assert [hit["memory"] for hit in found["results"]] == ["Likes hiking"]


def test_revoked_and_unknown_keys_fail_alike(tenant_a: Tenant) -> None:
    api_key_revoke(project=tenant_a.project, key_id=tenant_a.api_key.split("_")[1], actor=CLI_ACTOR)
    for key in (tenant_a.api_key, "eng_unknown_secret", "garbage"):
        with pytest.raises(ToolError, match="Invalid API key"):
            principal_for_key(key)


def test_an_entity_id_is_required(tenant_a: Tenant) -> None:
    with pytest.raises(ToolError, match="user_id"):
        mcp_tools.list_memories(principal_for_key(tenant_a.api_key))
