"""POST /mcp and /mcp/: Engram's MCP server (streamable HTTP, stateless, JSON responses) on
the main server, so a stock MCP client needs only the URL and `Authorization: Bearer <key>`.

The key is checked here first, as the REST API checks it: a missing or bad key is a 401
(rather than an MCP session whose every tool call fails), each request counts against the
key's and the project's rate limits, and the key's last use is recorded. Each tool call
then authenticates the key again and needs its own scope (integrations/mcp_tools.py).
"""

from typing import cast

from django.http import HttpRequest, HttpResponse
from django.views.decorators.csrf import csrf_exempt
from rest_framework import exceptions
from rest_framework.request import Request

from config.errors import EngramError, RateLimited, json_error_response
from config.quotas import enforce_request_quota, rate_limit_headers
from integrations.mcp_http import mcp_http_response
from tenants.authentication import ApiKeyAuthentication, ApiPrincipal
from tenants.context import tenant_context
from tenants.services import api_key_touch

UNAUTHENTICATED = "Invalid or missing API key. Send 'Authorization: Bearer <Engram API key>'."


@csrf_exempt
def mcp_endpoint(request: HttpRequest) -> HttpResponse:
    if request.method != "POST":
        # Stateless: no standalone SSE stream to GET and no session to DELETE; the MCP spec
        # has a server that offers neither answer 405.
        refused = json_error_response(405, "method_not_allowed", "MCP requests are POSTs.")
        refused["Allow"] = "POST"
        return refused
    principal = _authenticated(request)
    if principal is None:
        refused = json_error_response(401, "unauthenticated", UNAUTHENTICATED)
        refused["WWW-Authenticate"] = 'Bearer realm="engram"'
        return refused
    try:
        enforce_request_quota(project=principal.project, api_key=principal.api_key, request=request)
    except EngramError as exc:
        return _limit_response(exc)
    response = mcp_http_response(request)
    rate_limit_headers(request, response)
    return response


def _authenticated(request: HttpRequest) -> ApiPrincipal | None:
    try:
        # The authenticator reads nothing but the headers, which a Django request has too.
        found = ApiKeyAuthentication().authenticate(cast(Request, request))
    except exceptions.AuthenticationFailed:
        return None
    if found is None:
        return None
    principal, api_key = found
    project = principal.project
    with tenant_context(project.id, project.organization_id):
        api_key_touch(api_key=api_key)
    # PrometheusMiddleware counts a request for its project's console charts by this.
    request.auth = api_key  # type: ignore[attr-defined]
    return principal


def _limit_response(exc: EngramError) -> HttpResponse:
    response = json_error_response(exc.status_code, exc.code, exc.message)
    if isinstance(exc, RateLimited):
        response["Retry-After"] = str(exc.retry_after)
    return response
