"""Process-wide HTTP middleware: request ids and slash normalisation."""

import re
import uuid
from collections.abc import Callable

from django.http import HttpRequest, HttpResponse

from config.logging import request_id_var

REQUEST_ID_HEADER = "X-Request-ID"
_SAFE_REQUEST_ID = re.compile(r"^[A-Za-z0-9._:-]{1,64}$")
_REPEATED_SLASHES = re.compile(r"/{2,}")


class RequestIdMiddleware:
    """Tags every request (and its log lines) with an id the client can quote back."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        incoming = request.headers.get(REQUEST_ID_HEADER, "")
        request_id = incoming if _SAFE_REQUEST_ID.match(incoming) else uuid.uuid4().hex
        request.request_id = request_id  # type: ignore[attr-defined]
        token = request_id_var.set(request_id)
        try:
            response = self.get_response(request)
        finally:
            request_id_var.reset(token)
        response[REQUEST_ID_HEADER] = request_id
        return response


class CollapseSlashesMiddleware:
    """The async Mem0 client pings `{host}/v1/ping/`, which doubles the slash when `host`
    ends with one; treat `//v1/ping/` as `/v1/ping/` instead of answering 404."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if "//" in request.path_info:
            request.path_info = _REPEATED_SLASHES.sub("/", request.path_info)
        return self.get_response(request)
