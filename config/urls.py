"""URL map. Mem0-compatible paths are served with and without the trailing slash, because
the Mem0 client never follows redirects."""

from django.urls import include, path
from django.views.generic import RedirectView

from config import health
from config.openapi import docs_urlpatterns

urlpatterns = [
    path("healthz", health.healthz, name="healthz"),
    path("healthz/", health.healthz),
    path("readyz", health.readyz, name="readyz"),
    path("readyz/", health.readyz),
    # The staff console (config/console_urls.py); "/" and "/console" lead to it.
    path("", RedirectView.as_view(url="/console/", permanent=False), name="root"),
    path("console", RedirectView.as_view(url="/console/", permanent=False)),
    path("console/", include("config.console_urls")),
    # OpenAPI schema, Swagger UI and Redoc (local assets): config/openapi.py.
    *docs_urlpatterns(),
    path("", include("tenants.urls")),
    path("", include("memory.urls")),
    path("", include("audit.urls")),
    path("", include("integrations.urls")),
]

handler400 = "config.errors.json_bad_request"
handler403 = "config.errors.json_forbidden"
handler404 = "config.errors.json_not_found"
handler500 = "config.errors.json_server_error"

# Memory tiers (episodes, working state, short-term window): see memory/tier_urls.py.
urlpatterns.append(path("", include("memory.tier_urls")))
