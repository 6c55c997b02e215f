"""The streamable-HTTP MCP app: `/mcp` and `/mcp/` (the SDK mounts one exact path and
would answer the other with a redirect, which some clients do not follow)."""

from typing import Any

from mcp.server.transport_security import TransportSecuritySettings

from integrations.mcp_server import build_server, header_principal

MCP_PATH = "/mcp"
ASGIApp = Any


def _security(host: str, allowed_hosts: list[str]) -> TransportSecuritySettings:
    names = {host, "127.0.0.1", "localhost", *allowed_hosts}
    return TransportSecuritySettings(
        enable_dns_rebinding_protection=True,
        allowed_hosts=[*names, *(f"{name}:*" for name in names)],
        allowed_origins=[f"{scheme}://{name}" for name in names for scheme in ("http", "https")]
        + [f"{scheme}://{name}:*" for name in names for scheme in ("http", "https")],
    )


def mcp_http_app(*, host: str = "127.0.0.1", allowed_hosts: list[str] | None = None) -> ASGIApp:
    server = build_server(header_principal)
    inner = server.streamable_http_app(
        streamable_http_path=MCP_PATH,
        stateless_http=True,
        json_response=True,
        transport_security=_security(host, allowed_hosts or []),
        host=host,
    )

    async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope.get("type") == "http" and scope.get("path") == MCP_PATH + "/":
            scope = {**scope, "path": MCP_PATH, "raw_path": MCP_PATH.encode()}
        await inner(scope, receive, send)

    return app
