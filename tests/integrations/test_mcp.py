"""The MCP server, driven by the official SDK's own client: over stdio (a real
`manage.py engram_mcp` process) and over streamable HTTP (`manage.py engram_mcp_http`)."""

import asyncio
import os
import subprocess
import sys
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx2
import pytest
from mcp import Client
from mcp.client.stdio import StdioServerParameters
from mcp.client.streamable_http import streamable_http_client

from tests.conftest import Tenant, database_url, make_tenant
from tests.support.live_server import free_port

pytestmark = pytest.mark.live
REPO = Path(__file__).resolve().parents[2]
TOOLS = {"add_memory", "search_memories", "list_memories", "get_memory", "delete_memory"}


def server_env() -> dict[str, str]:
    return {
        **os.environ,
        "DATABASE_URL": database_url(),
        "DATABASE_OWNER_URL": database_url("owner"),
        "ENGRAM_TESTING": "1",
        "DATABASE_CONN_MAX_AGE": "0",
    }


@pytest.fixture
def tenant(committed_db: None) -> Tenant:
    return make_tenant(f"mcp-{uuid.uuid4().hex[:10]}")


async def memory_round_trip(client: Client, user_id: str) -> dict[str, Any]:
    """add -> search -> list -> get -> delete -> list, as an agent would."""
    tools = {tool.name for tool in (await client.list_tools()).tools}
    added = await client.call_tool(
        "add_memory",
        {"text": "I love green tea in the morning", "user_id": user_id, "infer": False},
    )
    assert not added.is_error, added.content
    memory_id = added.structured_content["results"][0]["id"]
    found = await client.call_tool("search_memories", {"query": "tea", "user_id": user_id})
    listed = await client.call_tool("list_memories", {"user_id": user_id})
    got = await client.call_tool("get_memory", {"memory_id": memory_id})
    deleted = await client.call_tool("delete_memory", {"memory_id": memory_id})
    after = await client.call_tool("list_memories", {"user_id": user_id})
    return {
        "tools": tools,
        "found": found.structured_content["results"],
        "listed": listed.structured_content,
        "got": got.structured_content,
        "deleted": deleted.structured_content,
        "after": after.structured_content,
    }


def assert_round_trip(outcome: dict[str, Any]) -> None:
    assert outcome["tools"] >= TOOLS
    assert outcome["found"][0]["memory"] == "I love green tea in the morning"
    assert outcome["found"][0]["score"] > 0
    assert outcome["listed"]["count"] == 1
    assert outcome["got"]["memory"] == "I love green tea in the morning"
    assert outcome["deleted"]["message"] == "Memory deleted successfully!"
    assert outcome["after"] == {"count": 0, "results": []}


def test_stdio_session_lists_tools_adds_searches_and_deletes(tenant: Tenant) -> None:
    params = StdioServerParameters(
        command=sys.executable,
        args=["manage.py", "engram_mcp"],
        env={**server_env(), "ENGRAM_API_KEY": tenant.api_key},
        cwd=str(REPO),
    )

    async def run() -> dict[str, Any]:
        async with Client(params, read_timeout_seconds=60) as client:
            return await memory_round_trip(client, "alice")

    assert_round_trip(asyncio.run(run()))


def test_stdio_server_refuses_to_start_with_a_bad_key(committed_db: None) -> None:
    result = subprocess.run(
        [sys.executable, "manage.py", "engram_mcp", "--api-key", "eng_nope_nope"],
        cwd=REPO,
        env=server_env(),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode != 0 and "Invalid API key" in result.stderr


@pytest.fixture
def mcp_http_url(committed_db: None) -> Iterator[str]:
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, "manage.py", "engram_mcp_http", "--port", str(port)],
        cwd=REPO,
        env=server_env(),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}/mcp"
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                urllib.request.urlopen(url, timeout=1)
            except urllib.error.HTTPError:
                break  # it answers (405/406 for a bare GET): up
            except OSError:
                time.sleep(0.2)
        yield url
    finally:
        process.terminate()
        process.wait(timeout=15)


def http_client(url: str, key: str) -> Client:
    http = httpx2.AsyncClient(headers={"Authorization": f"Bearer {key}"}, timeout=60)
    return Client(streamable_http_client(url, http_client=http), read_timeout_seconds=60)


def test_http_transport_serves_each_key_its_own_project(
    mcp_http_url: str, tenant: Tenant, committed_db: None
) -> None:
    other = make_tenant(f"mcp-other-{uuid.uuid4().hex[:10]}")

    async def run() -> tuple[dict[str, Any], Any, Any]:
        async with http_client(mcp_http_url + "/", tenant.api_key) as client:
            outcome = await memory_round_trip(client, "bob")
            kept = await client.call_tool(
                "add_memory", {"text": "Bob's secret plan", "user_id": "bob", "infer": False}
            )
        async with http_client(mcp_http_url, other.api_key) as client:
            foreign = await client.call_tool(
                "get_memory", {"memory_id": kept.structured_content["results"][0]["id"]}
            )
        async with http_client(mcp_http_url, "eng_nope_nope") as client:
            refused = await client.call_tool("list_memories", {"user_id": "bob"})
        return outcome, foreign, refused

    outcome, foreign, refused = asyncio.run(run())
    assert_round_trip(outcome)
    assert foreign.is_error and "not found" in str(foreign.content).lower()
    assert refused.is_error and "Invalid API key" in str(refused.content)
