"""URL map. Mem0-compatible paths are served with and without the trailing slash, because
the Mem0 client never follows redirects."""

from django.urls import include, path

from config import health

urlpatterns = [
    path("healthz", health.healthz, name="healthz"),
    path("healthz/", health.healthz),
    path("readyz", health.readyz, name="readyz"),
    path("readyz/", health.readyz),
    path("", include("tenants.urls")),
    path("", include("memory.urls")),
    path("", include("audit.urls")),
]

handler400 = "config.errors.json_bad_request"
handler403 = "config.errors.json_forbidden"
handler404 = "config.errors.json_not_found"
handler500 = "config.errors.json_server_error"

# Memory tiers (episodes, working state, short-term window): see memory/tier_urls.py.
urlpatterns.append(path("", include("memory.tier_urls")))
