"""The MCP server, driven by the official SDK's own client: over stdio (a real
`manage.py engram_mcp` process) and over streamable HTTP at /mcp/ of the real gunicorn
server (the WSGI app `make run` starts)."""

import asyncio
import logging
import os
import subprocess
import sys
import uuid
from pathlib import Path
from typing import Any

import httpx2
import pytest
from mcp import Client, MCPError
from mcp.client.stdio import StdioServerParameters
from mcp.client.streamable_http import streamable_http_client

from tenants.selectors import api_key_list
from tests.conftest import Tenant, database_url, make_tenant
from tests.support.live_server import LiveServer

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


def http_client(url: str, key: str) -> Client:
    http = httpx2.AsyncClient(headers={"Authorization": f"Bearer {key}"}, timeout=60)
    return Client(streamable_http_client(url, http_client=http), read_timeout_seconds=60)


def initialize_request(headers: dict[str, str] | None = None) -> dict[str, Any]:
    """The raw first message of an MCP session, with the headers a client sends."""
    return {
        "headers": {
            "Content-Type": "application/json",
            "Accept": "application/json, text/event-stream",
            **(headers or {}),
        },
        "json": {
            "jsonrpc": "2.0",
            "id": 1,
            "method": "initialize",
            "params": {
                "protocolVersion": "2025-06-18",
                "capabilities": {},
                "clientInfo": {"name": "raw", "version": "1"},
            },
        },
    }


@pytest.mark.parametrize("path", ["/mcp/", "/mcp"])
def test_main_server_serves_mcp_with_each_key_confined_to_its_project(
    gunicorn_server: LiveServer, committed_db: None, path: str
) -> None:
    owner = make_tenant(f"mcp-a-{uuid.uuid4().hex[:10]}")
    other = make_tenant(f"mcp-b-{uuid.uuid4().hex[:10]}")
    url = gunicorn_server.url + path

    async def run() -> dict[str, Any]:
        async with http_client(url, owner.api_key) as client:
            outcome = await memory_round_trip(client, "bob")
            kept = await client.call_tool(
                "add_memory", {"text": "Bob's secret plan", "user_id": "bob", "infer": False}
            )
            memory_id = kept.structured_content["results"][0]["id"]
        async with http_client(url, other.api_key) as client:
            foreign_get = await client.call_tool("get_memory", {"memory_id": memory_id})
            foreign_delete = await client.call_tool("delete_memory", {"memory_id": memory_id})
            foreign_list = await client.call_tool("list_memories", {"user_id": "bob"})
        async with http_client(url, owner.api_key) as client:
            still_there = await client.call_tool("get_memory", {"memory_id": memory_id})
        return {
            "outcome": outcome,
            "foreign": [foreign_get, foreign_delete],
            "foreign_list": foreign_list.structured_content,
            "still_there": still_there,
        }

    result = asyncio.run(run())
    assert_round_trip(result["outcome"])
    for answer in result["foreign"]:
        assert answer.is_error and "not found" in str(answer.content).lower()
    assert result["foreign_list"] == {"count": 0, "results": []}
    assert not result["still_there"].is_error
    assert result["still_there"].structured_content["memory"] == "Bob's secret plan"


def test_concurrent_mcp_clients_each_get_their_own_answers(
    gunicorn_server: LiveServer, committed_db: None
) -> None:
    """Eight sessions at once over 2 processes x 4 threads: no answer crosses over."""
    tenants = [make_tenant(f"mcp-c{n}-{uuid.uuid4().hex[:8]}") for n in range(2)]
    url = f"{gunicorn_server.url}/mcp/"

    async def session(tenant: Tenant, n: int) -> tuple[str, list[str]]:
        text = f"fact number {n} of {tenant.project.name}"
        async with http_client(url, tenant.api_key) as client:
            added = await client.call_tool(
                "add_memory", {"text": text, "user_id": f"u{n}", "infer": False}
            )
            assert not added.is_error, added.content
            listed = await client.call_tool("list_memories", {"user_id": f"u{n}"})
        return text, [row["memory"] for row in listed.structured_content["results"]]

    async def run() -> list[tuple[str, list[str]]]:
        return await asyncio.gather(*(session(tenants[n % 2], n) for n in range(8)))

    for text, listed in asyncio.run(run()):
        assert listed == [text]


@pytest.mark.parametrize(
    "authorization", [None, "Bearer eng_nope_nope", "Token", "Basic dXNlcjpwYXNz"]
)
def test_mcp_refuses_a_missing_or_invalid_key_with_401(
    gunicorn_server: LiveServer, authorization: str | None
) -> None:
    headers = {"Authorization": authorization} if authorization else {}
    answer = httpx2.post(f"{gunicorn_server.url}/mcp/", timeout=30, **initialize_request(headers))
    assert answer.status_code == 401
    assert answer.headers["WWW-Authenticate"].startswith("Bearer")
    assert "Bearer" in answer.json()["error"]["message"]


def test_sdk_client_with_a_bad_key_cannot_connect(
    gunicorn_server: LiveServer, caplog: pytest.LogCaptureFixture
) -> None:
    async def run() -> None:
        async with http_client(f"{gunicorn_server.url}/mcp/", "eng_nope_nope") as client:
            await client.list_tools()

    caplog.set_level(logging.INFO, logger="httpx2")
    with pytest.raises(ExceptionGroup) as caught:
        asyncio.run(run())
    assert caught.group_contains(MCPError)
    # The SDK reports any HTTP error the same way; what the server said was a 401.
    assert "401 Unauthorized" in caplog.text


def test_mcp_refuses_a_foreign_host_or_origin(gunicorn_server: LiveServer, tenant: Tenant) -> None:
    """DNS rebinding: a page on evil.example that resolves to this server sends its own
    Host (refused by ALLOWED_HOSTS) or, from a browser, its own Origin."""
    key = {"Authorization": f"Bearer {tenant.api_key}"}
    url = f"{gunicorn_server.url}/mcp/"
    port = gunicorn_server.url.rsplit(":", 1)[1]
    bad_host = httpx2.post(url, timeout=30, **initialize_request({**key, "Host": "evil.example"}))
    bad_origin = httpx2.post(
        url, timeout=30, **initialize_request({**key, "Origin": "http://evil.example"})
    )
    # Any name in ALLOWED_HOSTS passes, with any port, as Host and as Origin.
    allowed = httpx2.post(
        url,
        timeout=30,
        **initialize_request(
            {**key, "Host": f"localhost:{port}", "Origin": "http://localhost:3000"}
        ),
    )
    assert bad_host.status_code == 400
    assert bad_origin.status_code == 403
    assert allowed.status_code == 200, allowed.text
    assert allowed.json()["result"]["serverInfo"]["name"] == "engram"


@pytest.mark.parametrize("method", ["GET", "DELETE", "PUT"])
def test_mcp_answers_other_methods_with_405(
    gunicorn_server: LiveServer, tenant: Tenant, method: str
) -> None:
    """Stateless: no standalone SSE stream (GET) and no session to end (DELETE)."""
    answer = httpx2.request(
        method,
        f"{gunicorn_server.url}/mcp/",
        headers={"Authorization": f"Bearer {tenant.api_key}", "Accept": "text/event-stream"},
        timeout=30,
    )
    assert answer.status_code == 405
    assert answer.headers["Allow"] == "POST"
    assert answer.json()["error"]["code"] == "method_not_allowed"


def test_mcp_response_went_through_django_middleware(
    gunicorn_server: LiveServer, tenant: Tenant
) -> None:
    key = {"Authorization": f"Bearer {tenant.api_key}", "X-Request-ID": "mcp-probe-1"}
    answer = httpx2.post(f"{gunicorn_server.url}/mcp", timeout=30, **initialize_request(key))
    assert answer.status_code == 200
    assert answer.headers["Content-Type"].startswith("application/json")
    assert answer.headers["X-Request-ID"] == "mcp-probe-1"
    assert answer.headers["X-Content-Type-Options"] == "nosniff"
    assert int(answer.headers["X-RateLimit-Limit"]) > 0
    # Like a REST call, the key's use is recorded (the console shows it).
    assert api_key_list(project=tenant.project)[0].last_used_at is not None
