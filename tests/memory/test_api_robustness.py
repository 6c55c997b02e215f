"""Nothing a client sends produces a 500: odd bodies and values get a 400 naming them."""

import json
from typing import Any

import pytest

from tests.conftest import Tenant
from tests.support.memory_api import add_memory

ADD = "/v3/memories/add/"


def raw(tenant: Tenant, method: str, path: str, body: bytes) -> Any:
    return tenant.client().generic(
        method, path, data=body.decode(), content_type="application/json"
    )


@pytest.mark.parametrize("body", [b"[]", b'"x"', b"null", b"42", b"{bad json", b"[" * 20000])
@pytest.mark.parametrize("path", [ADD, "/v3/memories/search/", "/v3/memories/", "/v1/batch/"])
def test_non_object_bodies_are_400(tenant_a: Tenant, body: bytes, path: str) -> None:
    method = "PUT" if path == "/v1/batch/" else "POST"
    response = raw(tenant_a, method, path, body)
    assert response.status_code == 400, response.content
    assert response.json()["detail"]


@pytest.mark.parametrize(
    ("body", "named"),
    [
        ({"messages": {"role": "user", "content": 7}, "user_id": "u"}, "messages.0"),
        ({"messages": [{"role": "robot", "content": "x"}], "user_id": "u"}, "role"),
        ({"messages": [], "user_id": "u"}, "messages"),
        ({"messages": "x", "user_id": "u\u0000"}, "NUL"),
        ({"messages": "x", "user_id": "u", "metadata": {"k": "v\u0000"}}, "metadata.k"),
        ({"messages": "x", "user_id": "u", "metadata": "not an object"}, "metadata"),
        ({"messages": "x", "user_id": "u", "metadata": {"k": "v" * 20_000}}, "metadata"),
        ({"messages": "x", "user_id": "u", "infer": "perhaps"}, "infer"),
        ({"messages": "x", "user_id": "u", "custom_categories": ["food"]}, "custom_categories"),
        ({"messages": "x", "user_id": "*", "infer": False}, "user_id"),
        ({"messages": "x", "user_id": "u" * 300}, "user_id"),
    ],
)
def test_bad_add_values_are_400_naming_the_field(tenant_a: Tenant, body: Any, named: str) -> None:
    response = raw(tenant_a, "POST", ADD, json.dumps(body).encode())
    assert response.status_code == 400, response.content
    assert named in response.json()["detail"]


def test_deeply_nested_filters_are_400(tenant_a: Tenant) -> None:
    nested: dict[str, Any] = {"user_id": "u"}
    for _ in range(40):
        nested = {"AND": [nested]}
    body = json.dumps({"query": "q", "filters": nested}).encode()
    response = raw(tenant_a, "POST", "/v3/memories/search/", body)
    assert response.status_code == 400 and "nested" in response.json()["detail"]


def test_messages_as_a_plain_string_or_object_are_accepted(tenant_a: Tenant) -> None:
    for messages in ("I like tea", {"role": "user", "content": "I like jazz"}):
        body = {"messages": messages, "user_id": "u", "infer": False}
        assert tenant_a.client().post(ADD, body, format="json").status_code == 200


def test_unicode_round_trips(tenant_a: Tenant) -> None:
    memory_id = add_memory(tenant_a.client(), "Ich mag Käse 🧀 и чай", user_id="ü")
    assert tenant_a.client().get(f"/v1/memories/{memory_id}/").json()["memory"] == (
        "Ich mag Käse 🧀 и чай"
    )


def test_every_success_has_a_json_body(tenant_a: Tenant) -> None:
    memory_id = add_memory(tenant_a.client(), "fact")
    client = tenant_a.client()
    for response in (
        client.delete(f"/v1/memories/{memory_id}/"),
        client.delete("/v1/memories/?user_id=alice"),
        client.get("/v1/entities/"),
    ):
        assert response.status_code == 200 and response.json() is not None


def test_nul_in_query_and_path_is_400_or_404(tenant_a: Tenant) -> None:
    client = tenant_a.client()
    assert client.delete("/v1/memories/?user_id=a%00b").status_code == 400
    assert client.delete("/v2/entities/user/a%00b/").status_code == 400
    assert client.get("/v1/memories/a%00b/").status_code == 404


def test_json_without_a_json_content_type_is_still_read(tenant_a: Tenant) -> None:
    body = json.dumps({"messages": "I like tea", "user_id": "u", "infer": False})
    for content_type in ("text/plain", "application/x-www-form-urlencoded", ""):
        response = tenant_a.client().generic("POST", ADD, data=body, content_type=content_type)
        assert response.status_code == 200, (content_type, response.content)
    form = tenant_a.client().generic("POST", ADD, data="a=1&b=2", content_type="text/plain")
    assert form.status_code == 400 and form.json()["detail"]
