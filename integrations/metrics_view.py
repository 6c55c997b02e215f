"""GET /metrics for Prometheus.

With ENGRAM_METRICS_TOKEN set, the scraper must send `Authorization: Bearer <token>`.
Unset, only a direct loopback client may scrape (a Prometheus on the same host): a request
that came through a proxy (it carries X-Forwarded-For) or from any other address is
refused, so a deployment that forgot the token does not publish its metrics to the world.
"""

import hmac
import ipaddress
import logging

from django.http import HttpRequest, HttpResponse, JsonResponse
from django.views.decorators.http import require_GET
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from config.errors import error_body
from integrations import conf
from integrations.metrics import registry

logger = logging.getLogger(__name__)


def _loopback(request: HttpRequest) -> bool:
    if "HTTP_X_FORWARDED_FOR" in request.META or "HTTP_FORWARDED" in request.META:
        return False
    try:
        return ipaddress.ip_address(request.META.get("REMOTE_ADDR", "")).is_loopback
    except ValueError:
        return False


def scrape_allowed(request: HttpRequest) -> bool:
    token = conf.metrics_token()
    if not token:
        return _loopback(request)
    scheme, _, presented = request.headers.get("Authorization", "").partition(" ")
    return scheme.lower() == "bearer" and hmac.compare_digest(presented.strip(), token)


@require_GET
def metrics(request: HttpRequest) -> HttpResponse:
    if not scrape_allowed(request):
        message = "Send 'Authorization: Bearer <ENGRAM_METRICS_TOKEN>' to scrape metrics."
        response = JsonResponse(error_body("unauthenticated", message), status=401)
        response["WWW-Authenticate"] = "Bearer"
        return response
    try:
        body = generate_latest(registry())
    except Exception:
        logger.exception("metrics scrape failed")
        return JsonResponse(error_body("service_unavailable", "Metrics unavailable."), status=503)
    return HttpResponse(body, content_type=CONTENT_TYPE_LATEST)
