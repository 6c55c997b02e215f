"""Engram as an MCP server (the official `mcp` SDK): memory tools for any MCP client.

Two transports, one set of tools:
- streamable HTTP: POST `/mcp/` (and `/mcp`) on the main server, e.g.
  `http://127.0.0.1:8000/mcp/`; integrations/mcp_view.py and mcp_http.py bridge the
  WSGI request to the SDK's ASGI app. Stateless with JSON responses, so any gunicorn
  worker answers any request. Each request carries its own key (`Authorization: Bearer
  <key>` or `Token <key>`), so one server serves every project, each call confined to its
  key's project.
- stdio: `manage.py engram_mcp` with the key in ENGRAM_API_KEY (or `--api-key`, which other
  users of the machine can read in the process list). The key is checked once at start.

Tools run the synchronous service calls of integrations/mcp_tools.py through
`sync_to_async(thread_sensitive=True)`, since the ORM must not run on the event loop. Over
HTTP that is the gunicorn thread serving the request (it waits in `async_to_sync`); over
stdio it is asgiref's one thread-sensitive thread, where `close_old_connections` below does
what Django's request signals do for a web request.
"""

from collections.abc import Awaitable, Callable
from typing import Any

from asgiref.sync import sync_to_async
from django.db import close_old_connections
from mcp.server.mcpserver import Context, MCPServer

from integrations import mcp_tools
from integrations.mcp_tools import ToolError
from tenants.authentication import ApiPrincipal

INSTRUCTIONS = (
    "Long-term memory for this conversation's user or agent. Search before answering "
    "questions about the user's preferences, history or facts they told you; add a memory "
    "when they tell you something worth remembering. Always pass the same user_id."
)
PrincipalResolver = Callable[[Context], Awaitable[ApiPrincipal]]


def _call(function: Callable[..., dict[str, Any]], *args: Any, **kwargs: Any) -> Any:
    def run() -> dict[str, Any]:
        # stdio is one long-lived process: drop connections the database closed meanwhile
        # (the web server does this at the start and end of each request anyway).
        close_old_connections()
        return function(*args, **kwargs)

    return sync_to_async(run, thread_sensitive=True)()


def fixed_principal(principal: ApiPrincipal) -> PrincipalResolver:
    async def resolve(ctx: Context) -> ApiPrincipal:
        return principal

    return resolve


async def header_principal(ctx: Context) -> ApiPrincipal:
    """The key of this HTTP request (MCP over HTTP has no session-wide identity)."""
    headers = ctx.headers or {}
    scheme, _, key = (headers.get("authorization") or "").strip().partition(" ")
    if scheme.lower() not in {"bearer", "token"} or not key.strip():
        raise ToolError("Send 'Authorization: Bearer <Engram API key>'.")
    principal: ApiPrincipal = await _call_principal(key.strip())
    return principal


async def _call_principal(key: str) -> ApiPrincipal:
    def run() -> ApiPrincipal:
        close_old_connections()
        return mcp_tools.principal_for_key(key)

    return await sync_to_async(run, thread_sensitive=True)()


def build_server(resolve: PrincipalResolver) -> MCPServer:
    # No subscriptions/listen: Engram publishes no resources, and over HTTP an open-ended
    # notification stream would hold a gunicorn thread for as long as the client listens.
    server = MCPServer(
        name="engram", instructions=INSTRUCTIONS, version="1.0.0", subscriptions=False
    )

    @server.tool(description="Remember a fact or message for a user, agent or run.")
    async def add_memory(
        ctx: Context,
        text: str,
        user_id: str | None = None,
        agent_id: str | None = None,
        run_id: str | None = None,
        metadata: dict[str, Any] | None = None,
        infer: bool = True,
    ) -> dict[str, Any]:
        principal = await resolve(ctx)
        return await _call(
            mcp_tools.add_memory,
            principal,
            text=text,
            user_id=user_id,
            agent_id=agent_id,
            run_id=run_id,
            metadata=metadata,
            infer=infer,
        )

    @server.tool(description="Find the memories most relevant to a query, best first.")
    async def search_memories(
        ctx: Context,
        query: str,
        user_id: str | None = None,
        agent_id: str | None = None,
        run_id: str | None = None,
        top_k: int = 10,
    ) -> dict[str, Any]:
        principal = await resolve(ctx)
        return await _call(
            mcp_tools.search_memories,
            principal,
            query=query,
            user_id=user_id,
            agent_id=agent_id,
            run_id=run_id,
            top_k=top_k,
        )

    _register_reads_and_deletes(server, resolve)
    return server


def _register_reads_and_deletes(server: MCPServer, resolve: PrincipalResolver) -> None:
    @server.tool(description="List the stored memories of a user, agent or run, newest first.")
    async def list_memories(
        ctx: Context,
        user_id: str | None = None,
        agent_id: str | None = None,
        run_id: str | None = None,
        page: int = 1,
        page_size: int = 50,
    ) -> dict[str, Any]:
        principal = await resolve(ctx)
        return await _call(
            mcp_tools.list_memories,
            principal,
            user_id=user_id,
            agent_id=agent_id,
            run_id=run_id,
            page=page,
            page_size=page_size,
        )

    @server.tool(description="Read one memory by its id.")
    async def get_memory(ctx: Context, memory_id: str) -> dict[str, Any]:
        principal = await resolve(ctx)
        return await _call(mcp_tools.get_memory, principal, memory_id=memory_id)

    @server.tool(description="Delete one memory by its id (its history is kept).")
    async def delete_memory(ctx: Context, memory_id: str) -> dict[str, Any]:
        principal = await resolve(ctx)
        return await _call(mcp_tools.delete_memory, principal, memory_id=memory_id)
