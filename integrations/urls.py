"""Webhook endpoints (Mem0 wire, with and without the trailing slash: the Mem0 client never
follows redirects), the MCP server (/mcp and /mcp/: MCP clients do not all follow redirects
either) and the Prometheus scrape endpoint."""

from django.urls import URLPattern, re_path

from integrations import api, mcp_view, metrics_view

WEBHOOK = r"^api/v1/webhooks/(?P<webhook_id>wh_[A-Za-z0-9_-]+)"

urlpatterns: list[URLPattern] = [
    re_path(
        r"^api/v1/webhooks/projects/(?P<project_id>[^/]+)/?$",
        api.ProjectWebhooksApi.as_view(),
        name="project-webhooks",
    ),
    re_path(WEBHOOK + r"/?$", api.WebhookDetailApi.as_view(), name="webhook-detail"),
    re_path(
        WEBHOOK + r"/deliveries/?$",
        api.WebhookDeliveriesApi.as_view(),
        name="webhook-deliveries",
    ),
    re_path(r"^mcp/?$", mcp_view.mcp_endpoint, name="mcp"),
    re_path(r"^metrics/?$", metrics_view.metrics, name="metrics"),
]
