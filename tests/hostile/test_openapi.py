"""The OpenAPI schema covers the whole API and is valid OpenAPI 3; its pages work offline."""

import re
from collections.abc import Iterator
from typing import Any

import pytest
from django.test import Client
from django.urls import URLPattern, URLResolver, get_resolver
from drf_spectacular.validation import validate_schema
from rest_framework.views import APIView

from config.openapi import EngramAutoSchema

HTTP_METHODS = ("get", "post", "put", "patch", "delete")


@pytest.fixture(scope="module")
def schema() -> dict[str, Any]:
    answer = Client().get("/api/schema/", {"format": "json"})
    assert answer.status_code == 200
    return answer.json()


def is_docs_page(view_class: type) -> bool:
    """The schema's own pages are not part of the API."""
    return any(cls.__module__.startswith("drf_spectacular") for cls in view_class.__mro__)


def api_views(patterns: list[Any] | None = None) -> Iterator[type[APIView]]:
    for entry in patterns if patterns is not None else get_resolver().url_patterns:
        if isinstance(entry, URLResolver):
            yield from api_views(entry.url_patterns)
        elif isinstance(entry, URLPattern):
            view_class = getattr(entry.callback, "view_class", None)
            if view_class and issubclass(view_class, APIView) and not is_docs_page(view_class):
                yield view_class


def test_schema_is_valid_openapi_3(schema):
    validate_schema(schema)  # drf-spectacular's bundled OpenAPI 3.0 JSON Schema
    assert schema["openapi"].startswith("3.")
    assert schema["components"]["securitySchemes"]["ApiKey"]["name"] == "Authorization"


def test_every_api_view_and_method_is_in_the_schema(schema):
    operation_ids = {
        operation["operationId"]
        for item in schema["paths"].values()
        for operation in item.values()
        if isinstance(operation, dict) and "operationId" in operation
    }
    missing = []
    for view_class in set(api_views()):
        stem = re.sub(r"(?<!^)(?=[A-Z])", "_", view_class.__name__.removesuffix("Api")).lower()
        for method in HTTP_METHODS:
            if hasattr(view_class, method) and f"{stem}_{method}" not in operation_ids:
                missing.append(f"{view_class.__name__}.{method}")
    assert not missing, f"not in the schema: {missing}"


def test_add_documents_its_body_and_the_error_contract(schema):
    add = schema["paths"]["/v3/memories/add/"]["post"]
    body = add["requestBody"]["content"]["application/json"]["schema"]["$ref"]
    assert body.endswith("/AddInputRequest")
    add_input = schema["components"]["schemas"]["AddInputRequest"]["properties"]
    assert {"messages", "user_id", "infer", "metadata"} <= set(add_input)
    assert add["responses"]["429"] == {"$ref": "#/components/responses/Error429"}
    too_many = schema["components"]["responses"]["Error429"]
    assert {"Retry-After", "X-RateLimit-Limit", "X-RateLimit-Reset"} <= set(too_many["headers"])


def test_every_request_serializer_hint_still_resolves():
    """A renamed input serializer would silently drop a body from the schema: catch it."""
    from config.openapi import REQUEST_SERIALIZERS, _resolve

    for dotted, _name in REQUEST_SERIALIZERS.values():
        assert _resolve(dotted) is not None, dotted
    assert EngramAutoSchema is not None


@pytest.mark.parametrize("page", ["/api/docs/", "/api/redoc/"])
def test_docs_pages_load_every_asset_from_this_server(page):
    client = Client()
    answer = client.get(page)
    assert answer.status_code == 200
    html = answer.content.decode()
    assert not re.search(r"""(?:src|href)=["']?(?:https?:)?//""", html), "external asset"
    assets = re.findall(r"""(?:src|href)=["'](/static/[^"']+)""", html)
    assert assets
    for asset in assets:
        assert client.get(asset).status_code == 200, asset
