"""The one error contract of the API, and the one handler that renders it.

Every error body is `{"detail": str, "error": {"code", "message", "details"}}`: `detail` is
what the Mem0 client shows its caller, `error` is for programs. Domain code raises the typed
errors below; DRF and database errors are translated here so that nothing becomes a 500.
"""

import logging
from typing import Any

from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.db import DataError, IntegrityError, OperationalError
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from rest_framework import exceptions as drf
from rest_framework.response import Response

logger = logging.getLogger(__name__)


class EngramError(Exception):
    """A domain error with an HTTP status and a stable machine-readable code."""

    status_code = 400
    code = "bad_request"

    def __init__(self, message: str, *, details: dict[str, Any] | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.details = details or {}


class InvalidInput(EngramError):
    status_code = 400
    code = "invalid_input"


class NotFound(EngramError):
    """Missing and not-yours are the same answer: another tenant's ids are not an oracle."""

    status_code = 404
    code = "not_found"


class Forbidden(EngramError):
    status_code = 403
    code = "forbidden"


class Conflict(EngramError):
    status_code = 409
    code = "conflict"


class PayloadTooLarge(EngramError):
    status_code = 413
    code = "payload_too_large"


class RateLimited(EngramError):
    status_code = 429
    code = "rate_limited"

    def __init__(self, message: str, *, retry_after: int, details: dict[str, Any] | None = None):
        super().__init__(message, details=details)
        self.retry_after = retry_after


class ServiceUnavailable(EngramError):
    status_code = 503
    code = "service_unavailable"

    def __init__(self, message: str, *, retry_after: int = 5) -> None:
        super().__init__(message)
        self.retry_after = retry_after


UNAUTHENTICATED_MESSAGE = "Invalid or missing API key. Send 'Authorization: Token <api key>'."


def error_body(code: str, message: str, details: dict[str, Any] | None = None) -> dict[str, Any]:
    return {
        "detail": message,
        "error": {"code": code, "message": message, "details": details or {}},
    }


def api_exception_handler(exc: Exception, context: dict[str, Any]) -> Response | None:
    # Imported here: rest_framework.views imports the authentication classes, which import
    # this module, so a top-level import would be circular.
    from rest_framework.views import set_rollback

    status, code, message, details, headers = _translate(exc)
    set_rollback()
    response = Response(error_body(code, message, details), status=status)
    for name, value in headers.items():
        response[name] = value
    return response


def _translate(exc: Exception) -> tuple[int, str, str, dict[str, Any], dict[str, str]]:
    if isinstance(exc, EngramError):
        headers = {}
        if isinstance(exc, RateLimited | ServiceUnavailable):
            headers["Retry-After"] = str(exc.retry_after)
        return exc.status_code, exc.code, exc.message, exc.details, headers
    if isinstance(exc, drf.APIException):
        return _translate_drf(exc)
    if isinstance(exc, Http404):
        return 404, "not_found", "Not found.", {}, {}
    if isinstance(exc, DjangoPermissionDenied):
        return 403, "forbidden", "You do not have permission to perform this action.", {}, {}
    if isinstance(exc, IntegrityError):
        # Constraint names and values can describe other tenants' rows: say nothing specific.
        logger.warning("integrity error mapped to 409: %s", exc)
        return 409, "conflict", "The request conflicts with existing data.", {}, {}
    if isinstance(exc, DataError):
        logger.warning("data error mapped to 400: %s", exc)
        return 400, "invalid_input", "A value in the request is out of range or malformed.", {}, {}
    if isinstance(exc, OperationalError):
        logger.exception("database unavailable")
        message = "The database is temporarily unavailable; retry shortly."
        return 503, "service_unavailable", message, {}, {"Retry-After": "5"}
    logger.exception("unhandled error in API view")
    return 500, "internal_error", "Internal server error.", {}, {}


def _translate_drf(exc: drf.APIException) -> tuple[int, str, str, dict[str, Any], dict[str, str]]:
    headers: dict[str, str] = {}
    if isinstance(exc, drf.NotAuthenticated | drf.AuthenticationFailed):
        return 401, "unauthenticated", UNAUTHENTICATED_MESSAGE, {}, {"WWW-Authenticate": "Token"}
    if isinstance(exc, drf.ValidationError):
        details = exc.detail if isinstance(exc.detail, dict) else {"non_field_errors": exc.detail}
        return 400, "invalid_input", validation_message(details), _plain(details), {}
    if isinstance(exc, drf.ParseError):
        return 400, "malformed_json", f"Malformed request body: {exc.detail}", {}, {}
    if isinstance(exc, drf.Throttled):
        headers["Retry-After"] = str(int(getattr(exc, "wait", None) or 1))
    return exc.status_code, str(exc.default_code), str(exc.detail), {}, headers


def validation_message(details: Any, prefix: str = "") -> str:
    """The first problem, named by its field path: 'messages.0.content: This field is required.'"""
    if isinstance(details, dict):
        for key, value in details.items():
            name = "" if key == "non_field_errors" else str(key)
            path = f"{prefix}.{name}" if prefix and name else (prefix or name)
            return validation_message(value, path)
    if isinstance(details, list) and details:
        first = next((item for item in details if item), details[0])
        if isinstance(first, dict | list):
            index = details.index(first)
            return validation_message(first, f"{prefix}.{index}" if prefix else str(index))
        return f"{prefix}: {first}" if prefix else str(first)
    return f"{prefix}: {details}" if prefix else str(details)


def _plain(value: Any) -> Any:
    if isinstance(value, dict):
        return {str(key): _plain(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_plain(item) for item in value]
    return str(value)


def json_error_response(status: int, code: str, message: str) -> JsonResponse:
    return JsonResponse(error_body(code, message), status=status)


CONSOLE_PREFIX = "/console"


def is_console(request: HttpRequest) -> bool:
    """Console pages answer errors with HTML pages; everything else is the JSON API."""
    return request.path == CONSOLE_PREFIX or request.path.startswith(CONSOLE_PREFIX + "/")


def console_error_page(request: HttpRequest, status: int) -> HttpResponse:
    from django.template import loader

    try:
        from django.contrib.auth.models import User

        from tenants.console.pages import navigation

        user = getattr(request, "user", None)
        signed_in = isinstance(user, User) and user.is_authenticated
        context = {"nav_orgs": navigation(user) if isinstance(user, User) and signed_in else []}
        body: str = loader.render_to_string(f"console/{status}.html", context, request=request)
    except Exception:  # a broken template must not hide the original error
        logger.exception("console error page %s failed to render", status)
        body = f"<!doctype html><title>Error {status}</title><h1>Error {status}</h1>"
    return HttpResponse(body, status=status, content_type="text/html; charset=utf-8")


def json_not_found(request: HttpRequest, exception: Exception | None = None) -> HttpResponse:
    if is_console(request):
        return console_error_page(request, 404)
    return json_error_response(404, "not_found", f"No endpoint at {request.path}.")


def json_server_error(request: HttpRequest) -> HttpResponse:
    if is_console(request):
        return console_error_page(request, 500)
    return json_error_response(500, "internal_error", "Internal server error.")


def json_bad_request(request: HttpRequest, exception: Exception | None = None) -> HttpResponse:
    if is_console(request):
        return console_error_page(request, 400)
    return json_error_response(400, "bad_request", "Bad request.")


def json_forbidden(request: HttpRequest, exception: Exception | None = None) -> HttpResponse:
    if is_console(request):
        return console_error_page(request, 403)
    return json_error_response(403, "forbidden", "Forbidden.")
