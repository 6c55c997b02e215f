"""MCP streamable HTTP inside the WSGI server: each POST to /mcp is handed to the SDK's ASGI
app and its answer turned back into a Django response (integrations/mcp_view.py).

Why one short event loop per request rather than one long-lived loop per process:
`async_to_sync` runs the ASGI call on a fresh loop while this gunicorn thread waits, and the
tools' thread-sensitive `sync_to_async` calls are sent back to this very thread (asgiref's
CurrentThreadExecutor). So the ORM runs on the request thread with Django's usual
connection handling (stale connections closed at request start and end), as many MCP calls
run at once as gunicorn has threads, and nothing outlives the request: no background thread
to start after fork, nothing to shut down. A shared loop would instead funnel every tool
call of a process through asgiref's one global thread-sensitive executor thread. Django
serves async views under WSGI the same way.

The server is stateless with JSON responses: every POST is self-contained (no
Mcp-Session-Id), so any thread of any worker can answer it, and a session manager per
request (the SDK allows one `run()` per manager) costs nothing worth keeping.
"""

import functools
from dataclasses import dataclass, field
from urllib.parse import urlsplit

import anyio
from asgiref.sync import async_to_sync
from django.conf import settings
from django.http import HttpRequest, HttpResponse
from django.http.request import split_domain_port, validate_host
from mcp.server.mcpserver import MCPServer
from mcp.server.transport_security import TransportSecuritySettings
from starlette.types import Message, Scope

from config.errors import json_error_response
from integrations.mcp_server import build_server, header_principal

MCP_PATH = "/mcp"
# Nothing in a stateless JSON exchange waits on the client, so an answer this late means a
# stuck call; give the gunicorn thread back rather than hold it forever.
REQUEST_TIMEOUT_SECONDS = 120.0
# Framing headers describe the ASGI side's message; Django frames its own response.
_NOT_COPIED = {"content-length", "transfer-encoding", "connection", "keep-alive"}


@dataclass
class _Exchange:
    """One request/response over ASGI: the body goes in whole, the answer is collected."""

    body: bytes
    status: int = 500
    headers: list[tuple[str, str]] = field(default_factory=list)
    content: bytearray = field(default_factory=bytearray)
    body_sent: bool = False
    done: anyio.Event = field(default_factory=anyio.Event)

    async def receive(self) -> Message:
        if not self.body_sent:
            self.body_sent = True
            return {"type": "http.request", "body": self.body, "more_body": False}
        await self.done.wait()  # the client stays connected until the answer is complete
        return {"type": "http.disconnect"}

    async def send(self, message: Message) -> None:
        if message["type"] == "http.response.start":
            self.status = message["status"]
            self.headers = [
                (k.decode("latin-1"), v.decode("latin-1")) for k, v in message["headers"]
            ]
        elif message["type"] == "http.response.body":
            self.content.extend(message.get("body", b""))
            if not message.get("more_body", False):
                self.done.set()


@functools.cache
def _server() -> MCPServer:
    # Built once per process (tool schemas are derived on registration); the tools take
    # the API key from each request's own Authorization header.
    return build_server(header_principal)


def host_allowed(host: str) -> bool:
    domain, _port = split_domain_port(host)
    return bool(domain) and validate_host(domain, settings.ALLOWED_HOSTS)


def transport_security(*, host: str, origin: str | None) -> TransportSecuritySettings:
    """The SDK's DNS-rebinding guard, deciding as Django's ALLOWED_HOSTS does.

    The SDK matches exact names and `name:*` only; ALLOWED_HOSTS also has `.example.com`
    (a domain and its subdomains) and `*`. So Django's own matcher judges this request's
    Host and Origin, and the SDK gets the verdict: the values that passed, or nothing (it
    then answers 421 for the Host, 403 for the Origin)."""
    origin_parts = urlsplit(origin or "")
    origin_ok = origin_parts.scheme in {"http", "https"} and host_allowed(origin_parts.netloc)
    return TransportSecuritySettings(
        enable_dns_rebinding_protection=True,
        allowed_hosts=[host] if host_allowed(host) else [],
        allowed_origins=[origin] if origin and origin_ok else [],
    )


def asgi_scope(request: HttpRequest, body: bytes) -> Scope:
    headers = [
        (name.lower().encode("latin-1"), value.encode("latin-1"))
        for name, value in request.headers.items()
        if name.lower() not in {"host", "content-length", "transfer-encoding"}
    ]
    # The Host Django validated (X-Forwarded-Host when USE_X_FORWARDED_HOST is on).
    headers += [(b"host", request.get_host().encode("latin-1"))]
    headers += [(b"content-length", str(len(body)).encode("latin-1"))]
    return {
        "type": "http",
        "asgi": {"version": "3.0", "spec_version": "2.3"},
        "http_version": "1.1",
        "method": request.method,
        "scheme": request.scheme,
        "path": MCP_PATH,
        "raw_path": MCP_PATH.encode(),
        "root_path": "",
        "query_string": request.META.get("QUERY_STRING", "").encode("latin-1"),
        "headers": headers,
        "client": (request.META.get("REMOTE_ADDR", ""), 0),
        "server": (request.META.get("SERVER_NAME", ""), _port(request)),
    }


def _port(request: HttpRequest) -> int:
    port = str(request.META.get("SERVER_PORT", ""))
    return int(port) if port.isdigit() else 0


def _header(scope: Scope, name: bytes) -> str | None:
    return next((v.decode("latin-1") for k, v in scope["headers"] if k == name), None)


async def _serve(scope: Scope, body: bytes) -> _Exchange:
    security = transport_security(
        host=_header(scope, b"host") or "", origin=_header(scope, b"origin")
    )
    # A fresh app (and session manager) per request: a manager runs once only, and this loop
    # lives for this request alone. Building one takes microseconds; it also repoints the
    # shared server's `session_manager` attribute, which nothing here reads.
    app = _server().streamable_http_app(
        streamable_http_path=MCP_PATH,
        stateless_http=True,
        json_response=True,
        transport_security=security,
        max_request_body_size=settings.DATA_UPLOAD_MAX_MEMORY_SIZE,
    )
    exchange = _Exchange(body)
    # Starlette's lifespan is the session manager's run(): the task group the SDK starts
    # each request's server task in. No ASGI server runs it here, so enter it ourselves.
    with anyio.fail_after(REQUEST_TIMEOUT_SECONDS):
        async with app.router.lifespan_context(app):
            await app(scope, exchange.receive, exchange.send)
    return exchange


def mcp_http_response(request: HttpRequest) -> HttpResponse:
    """Answer one MCP POST (body already within DATA_UPLOAD_MAX_MEMORY_SIZE)."""
    body = request.body
    try:
        exchange = async_to_sync(_serve)(asgi_scope(request, body), body)
    except TimeoutError:
        return json_error_response(504, "timeout", "The MCP call took too long.")
    response = HttpResponse(bytes(exchange.content), status=exchange.status)
    for name, value in exchange.headers:
        if name.lower() not in _NOT_COPIED:
            response[name] = value
    return response
