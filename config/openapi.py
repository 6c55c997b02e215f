"""The OpenAPI 3 schema of the API (drf-spectacular) and its Swagger UI / Redoc pages.

The API views are plain APIViews that parse with their own input serializers (`self.parse`),
so drf-spectacular cannot see what they read. Rather than decorate every view, this module
tells it: REQUEST_SERIALIZERS maps a view and method to the serializer it parses with (looked
up lazily by dotted path, so a renamed serializer degrades to "no body schema" instead of
breaking the schema), QUERY_PARAMETERS lists the query strings the GET views read, and every
operation documents the error contract of config.errors (400/401/403/404/409/413/429/503 with
`{"detail", "error"}`; 429 with Retry-After and X-RateLimit-*).
"""

import re
from importlib import import_module
from typing import Any

from drf_spectacular.extensions import (
    OpenApiAuthenticationExtension,
    OpenApiSerializerFieldExtension,
)
from drf_spectacular.openapi import AutoSchema
from drf_spectacular.plumbing import build_basic_type
from drf_spectacular.types import OpenApiTypes

Endpoint = tuple[str, str, str, Any]

# (view class, HTTP method) -> (input serializer, component name)
REQUEST_SERIALIZERS: dict[tuple[str, str], tuple[str, str]] = {
    ("memory.api.add.MemoryAddApi", "POST"): ("memory.api.add.AddInput", "AddInput"),
    ("memory.api.memories.MemoriesRootApi", "POST"): ("memory.api.add.AddInput", "AddInput"),
    ("memory.api.search.MemorySearchApi", "POST"): ("memory.api.search.SearchInput", "SearchInput"),
    ("memory.api.search.MemoryListApi", "POST"): ("memory.api.search.ListInput", "ListInput"),
    ("memory.api.memories.MemoryDetailApi", "PUT"): (
        "memory.api.memories.MemoryDetailApi.UpdateInput",
        "MemoryUpdateInput",
    ),
    ("memory.api.batch.MemoryBatchApi", "PUT"): (
        "memory.api.batch.BatchUpdateInput",
        "BatchUpdateInput",
    ),
    ("memory.api.batch.MemoryBatchApi", "DELETE"): (
        "memory.api.batch.BatchDeleteInput",
        "BatchDeleteInput",
    ),
    ("memory.api.extras.ExportCreateApi", "POST"): (
        "memory.api.extras.ExportCreateApi.Input",
        "ExportCreateInput",
    ),
    ("memory.api.extras.ExportGetApi", "POST"): (
        "memory.api.extras.ExportGetApi.Input",
        "ExportGetInput",
    ),
    ("memory.api.extras.SummaryApi", "POST"): (
        "memory.api.extras.SummaryApi.Input",
        "SummaryInput",
    ),
    ("memory.api.extras.FeedbackApi", "POST"): (
        "memory.api.extras.FeedbackApi.Input",
        "FeedbackInput",
    ),
    ("memory.api.tiers.WorkingStateApi", "PUT"): (
        "memory.api.tiers.WorkingStateInput",
        "WorkingStateInput",
    ),
    ("tenants.api.ProjectApi", "PATCH"): ("tenants.api.ProjectApi.UpdateInput", "ProjectUpdate"),
    ("tenants.api.ProjectApi", "PUT"): ("tenants.api.ProjectApi.UpdateInput", "ProjectUpdate"),
    ("integrations.api.ProjectWebhooksApi", "POST"): (
        "integrations.api.ProjectWebhooksApi.CreateInput",
        "WebhookCreateInput",
    ),
    ("integrations.api.WebhookDetailApi", "PUT"): (
        "integrations.api.WebhookDetailApi.UpdateInput",
        "WebhookUpdateInput",
    ),
    ("integrations.api.WebhookDetailApi", "PATCH"): (
        "integrations.api.WebhookDetailApi.UpdateInput",
        "WebhookUpdateInput",
    ),
    ("audit.api.GdprRequestListApi", "POST"): ("audit.api.GdprRequestInput", "GdprRequestInput"),
    ("audit.api.LegalHoldListApi", "POST"): ("audit.api.LegalHoldInput", "LegalHoldInput"),
}

ENTITY_PARAMETERS = ("user_id", "agent_id", "app_id", "run_id")
PAGE_PARAMETERS = ("page", "page_size")
# (path, method) -> query parameters the view reads (all optional strings on the wire).
QUERY_PARAMETERS: dict[tuple[str, str], tuple[str, ...]] = {
    ("/v1/memories/", "get"): (*ENTITY_PARAMETERS, *PAGE_PARAMETERS),
    ("/v1/memories/", "delete"): ENTITY_PARAMETERS,
    ("/v1/events/", "get"): PAGE_PARAMETERS,
    ("/v1/entities/", "get"): (*ENTITY_PARAMETERS, *PAGE_PARAMETERS),
    ("/v1/episodes/", "get"): ENTITY_PARAMETERS,
    ("/v1/short-term/", "get"): ENTITY_PARAMETERS,
    ("/v1/working-state/{run_id}/", "get"): ("user_id", "agent_id"),
    ("/v1/audit/events/", "get"): PAGE_PARAMETERS,
}

# Success bodies that are not JSON: (path, method) -> media type.
SUCCESS_MEDIA_TYPES: dict[tuple[str, str], str] = {
    ("/v1/audit/export/", "get"): "application/x-ndjson",
}

ERROR_STATUSES = {
    "400": "Invalid input: `detail` names the field.",
    "401": "Missing, unknown, expired or revoked API key.",
    "403": "The key lacks the scope this endpoint needs.",
    "404": "Not found (another project's object is not found either).",
    "405": "Method not allowed.",
    "409": "Conflicts with existing data.",
    "413": "Request body too large, or the project's memory quota is used up.",
    "429": "A rate or quota limit was hit; retry after `Retry-After` seconds.",
    "503": "A backing service is unavailable; retry after `Retry-After` seconds.",
}
ERROR_BODY = {
    "type": "object",
    "required": ["detail"],
    "properties": {
        "detail": {"type": "string"},
        # config.errors sends an object; some Mem0-shaped answers send the message itself.
        "error": {
            "anyOf": [
                {
                    "type": "object",
                    "properties": {
                        "code": {"type": "string"},
                        "message": {"type": "string"},
                        "details": {},
                    },
                },
                {"type": "string"},
            ]
        },
    },
}
RATE_HEADERS = {
    "X-RateLimit-Limit": "Requests allowed in the window of the counter closest to its limit.",
    "X-RateLimit-Remaining": "Requests left in that window.",
    "X-RateLimit-Reset": "Seconds until that window resets.",
}


def _resolve(dotted: str) -> Any:
    """A class by dotted path, nested classes included (`module.View.Input`)."""
    parts = dotted.split(".")
    for split in range(len(parts) - 1, 0, -1):
        try:
            target = import_module(".".join(parts[:split]))
        except ImportError:
            continue
        for attribute in parts[split:]:
            target = getattr(target, attribute)
        return target
    raise ImportError(dotted)


# One named subclass per input serializer: components are named after the class, and many
# views call theirs `Input`.
_named_serializers: dict[str, type] = {}


def _named(entry: tuple[str, str]) -> type | None:
    dotted, name = entry
    if dotted not in _named_serializers:
        try:
            serializer_class = _resolve(dotted)
        except (ImportError, AttributeError):
            return None  # the schema loses a body description, never the operation
        _named_serializers[dotted] = type(name, (serializer_class,), {})
    return _named_serializers[dotted]


def _view_path(view: Any) -> str:
    cls = type(view)
    return f"{cls.__module__}.{cls.__qualname__}"


class EngramAutoSchema(AutoSchema):
    """AutoSchema that knows the input serializers of the plain APIViews."""

    def get_request_serializer(self) -> Any:
        entry = REQUEST_SERIALIZERS.get((_view_path(self.view), self.method.upper()))
        return _named(entry) if entry else None

    def get_operation_id(self) -> str:
        # The view's name: unique, and stable when two paths share a prefix.
        name = re.sub(r"(?<!^)(?=[A-Z])", "_", type(self.view).__name__.removesuffix("Api"))
        return f"{name.lower()}_{self.method.lower()}"

    def get_response_serializers(self) -> Any:
        # Response bodies are Mem0's shapes, built as dicts; postprocess_schema documents them.
        return OpenApiTypes.ANY


class ApiKeyScheme(OpenApiAuthenticationExtension):
    target_class = "tenants.authentication.ApiKeyAuthentication"
    name = "ApiKey"

    def get_security_definition(self, auto_schema: Any) -> dict[str, str]:
        return {
            "type": "apiKey",
            "in": "header",
            "name": "Authorization",
            "description": "`Token <api key>` (what the Mem0 client sends); `Bearer` works too.",
        }


def _field_extension(target: str, schema: dict[str, Any]) -> None:
    """Describe a custom serializer field (they are typed by hand in the API)."""
    type(
        f"{target.rsplit('.', 1)[-1]}Schema",
        (OpenApiSerializerFieldExtension,),
        {"target_class": target, "map_serializer_field": lambda self, auto, direction: schema},
    )


MESSAGE = {
    "type": "object",
    "properties": {
        "role": {"type": "string", "enum": ["user", "assistant", "system", "tool"]},
        "content": {"type": "string"},
        "name": {"type": "string"},
    },
    "required": ["content"],
}
_field_extension(
    "memory.api.common.MessagesField",
    {"oneOf": [{"type": "string"}, {"type": "array", "minItems": 1, "items": MESSAGE}]},
)
_field_extension(
    "memory.api.common.TimestampField",
    {"oneOf": [{"type": "integer"}, {"type": "string", "format": "date-time"}], "nullable": True},
)
_field_extension(
    "memory.api.common.CategoriesCatalogField",
    {"type": "array", "nullable": True,
     "items": {"type": "object", "additionalProperties": {"type": "string"}}},
)  # fmt: skip
_field_extension(
    "memory.api.extras.SchemaField", {"oneOf": [{"type": "object"}, {"type": "string"}]}
)
_field_extension(
    "tenants.api.CategoriesField",
    {"type": "array", "nullable": True, "items": {"type": "object"}},
)


# --- hooks ------------------------------------------------------------------------------------


def preprocess_endpoints(endpoints: list[Endpoint]) -> list[Endpoint]:
    """Only the API: the console, probes and the schema pages are not part of it."""
    hidden = ("/api/schema", "/api/docs", "/api/redoc", "/console", "/healthz", "/readyz",
              "/static")  # fmt: skip
    return [endpoint for endpoint in endpoints if not endpoint[0].startswith(hidden)]


def postprocess_schema(result: dict[str, Any], generator: Any, **kwargs: Any) -> dict[str, Any]:
    components = result.setdefault("components", {})
    components.setdefault("schemas", {})["Error"] = ERROR_BODY
    components["responses"] = _shared_responses()
    for route, operations in result.get("paths", {}).items():
        for method, operation in operations.items():
            if not isinstance(operation, dict) or "responses" not in operation:
                continue
            operation["responses"] = {
                code: {"$ref": f"#/components/responses/{name}"}
                for code, name in RESPONSE_NAMES.items()
            }
            media_type = SUCCESS_MEDIA_TYPES.get((route, method))
            if media_type:
                operation["responses"]["2XX"] = {
                    "description": "Success.", "content": {media_type: {"schema": {}}}
                }  # fmt: skip
            _json_only(operation)
            _document_query(operation, QUERY_PARAMETERS.get((route, method), ()))
    return result


RESPONSE_NAMES = {"2XX": "Success", **{code: f"Error{code}" for code in ERROR_STATUSES}}


def _shared_responses() -> dict[str, Any]:
    error = {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}
    rate = {name: {"schema": {"type": "integer"}, "description": text}
            for name, text in RATE_HEADERS.items()}  # fmt: skip
    retry = {"Retry-After": {"schema": {"type": "integer"}, "description": "Seconds."}}
    responses: dict[str, Any] = {
        # Bodies follow the Mem0 platform (objects or arrays); they are not modelled here.
        "Success": {"description": "Success.", "headers": rate,
                    "content": {"application/json": {"schema": {}}}},
    }  # fmt: skip
    for code, text in ERROR_STATUSES.items():
        responses[f"Error{code}"] = {"description": text, "content": error}
    responses["Error429"]["headers"] = {**retry, **rate}
    responses["Error503"]["headers"] = retry
    return responses


def _json_only(operation: dict[str, Any]) -> None:
    """The API parses JSON only (REST_FRAMEWORK DEFAULT_PARSER_CLASSES)."""
    content = operation.get("requestBody", {}).get("content")
    if content:
        operation["requestBody"]["content"] = {
            "application/json": content.get("application/json") or next(iter(content.values()))
        }


def _document_query(operation: dict[str, Any], names: tuple[str, ...]) -> None:
    present = {(p.get("in"), p.get("name")) for p in operation.get("parameters", [])}
    for name in names:
        if ("query", name) in present:
            continue
        operation.setdefault("parameters", []).append(
            {"in": "query", "name": name, "required": False, "schema": build_basic_type(str)}
        )


# --- pages ------------------------------------------------------------------------------------

EXTERNAL_FONTS = re.compile(rb"<link[^>]+fonts\.(?:googleapis|gstatic)\.com[^>]*>\s*")


def _without_external_fonts(response: Any) -> Any:
    response.content = EXTERNAL_FONTS.sub(b"", response.content)
    return response


def docs_urlpatterns() -> list[Any]:
    """/api/schema/, /api/docs/ (Swagger UI) and /api/redoc/, all assets served from this
    server (drf-spectacular-sidecar): no CDN, no font service, works offline. Public: the
    schema describes the API and holds no tenant data."""
    # Imported here: drf_spectacular.views resolves DEFAULT_SCHEMA_CLASS (this module).
    from django.urls import path
    from drf_spectacular.views import (
        SpectacularAPIView,
        SpectacularRedocView,
        SpectacularSwaggerView,
    )
    from rest_framework.permissions import AllowAny

    class LocalRedocView(SpectacularRedocView):
        def get(self, request: Any, *args: Any, **kwargs: Any) -> Any:
            response = super().get(request, *args, **kwargs)
            response.add_post_render_callback(_without_external_fonts)
            return response

    public: dict[str, Any] = {"authentication_classes": [], "permission_classes": [AllowAny]}
    return [
        path("api/schema/", SpectacularAPIView.as_view(**public), name="api-schema"),
        path("api/docs/", SpectacularSwaggerView.as_view(url_name="api-schema", **public),
             name="api-docs"),
        path("api/redoc/", LocalRedocView.as_view(url_name="api-schema", **public),
             name="api-redoc"),
    ]  # fmt: skip
