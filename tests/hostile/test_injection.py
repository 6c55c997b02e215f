"""Injection attempts in filters, metadata keys, entity ids, search text, query strings and
path ids: SQL metacharacters, LIKE wildcards, NUL bytes, lone surrogates, 10k-deep JSON and
1 MB strings. The API answers every one with a 4xx (or a harmless 2xx), never a 5xx, and
another project's data stays exactly as it was."""

import json
from collections.abc import Callable
from typing import Any
from urllib.parse import quote

import pytest

from tests.conftest import Tenant

SECRET = "I keep my spare key under the blue flowerpot"
PAYLOADS = [
    "' OR '1'='1",
    "'; DROP TABLE memory_memory; --",
    '") OR 1=1 --',
    "%",
    "_",
    "%_%\\",
    "a\x00b",
    "\U0001f600 \u202e rtl",
    "x" * 1_000_000,
]
Body = Callable[[Any], dict[str, Any]]
BODY_TEMPLATES: list[tuple[str, str, Body]] = [
    ("post", "/v3/memories/add/", lambda p: {"messages": [{"role": "user", "content": p}],
                                             "user_id": p, "metadata": {p: p}, "infer": False}),
    ("post", "/v3/memories/add/", lambda p: {"messages": p, "user_id": "bob", "metadata": {p: 1}}),
    ("post", "/v3/memories/search/", lambda p: {"query": p, "filters": {"user_id": p}}),
    ("post", "/v3/memories/search/", lambda p: {"query": "key", "filters": {
        "AND": [{"user_id": "bob"}, {"metadata": {p: p}}, {"categories": {"contains": p}}]}}),
    ("post", "/v3/memories/", lambda p: {"filters": {"OR": [{"user_id": p}, {"agent_id": p}]}}),
    ("post", "/v3/memories/", lambda p: {"filters": {"user_id": "bob", p: p}}),
    ("post", "/v1/memories/search/", lambda p: {"query": p, "user_id": p}),
    ("post", "/v2/memories/search/", lambda p: {"query": p, "filters": {"user_id": p}}),
    ("post", "/v1/summary/", lambda p: {"filters": {"user_id": p}}),
    ("post", "/v1/feedback/", lambda p: {"memory_id": p, "feedback": p}),
    ("post", "/v1/exports/get/", lambda p: {"memory_export_id": p}),
    ("put", "/v1/batch/", lambda p: {"memories": [{"memory_id": p, "text": p}]}),
    ("delete", "/v1/batch/", lambda p: {"memories": [{"memory_id": p}]}),
    ("post", "/v1/gdpr/requests/", lambda p: {"kind": "export", "subject_type": "user",
                                              "subject_id": p}),
    ("post", "/v1/legal-holds/", lambda p: {"scope": "user", "subject_id": p, "reason": p}),
    ("put", "/v1/working-state/run-x/", lambda p: {"state": {p: p}, "user_id": p}),
]  # fmt: skip
QUERY_PATHS = [
    "/v1/memories/?user_id={p}",
    "/v1/entities/?user_id={p}",
    "/v1/episodes/?user_id={p}",
    "/v1/short-term/?user_id={p}",
    "/v1/events/?page={p}",
    "/v1/audit/events/?actor={p}&action={p}&since={p}",
    "/v1/memories/{p}/",
    "/v1/memories/{p}/history/",
    "/v1/event/{p}/",
    "/v1/working-state/{p}/",
]


def raw_json(value: Any) -> bytes:
    # ensure_ascii writes a lone surrogate as the escape "\ud800", which is valid JSON.
    return json.dumps(value, ensure_ascii=True).encode()


def send(tenant: Tenant, method: str, path: str, body: bytes | None = None) -> Any:
    client = tenant.client()
    if body is None:
        return getattr(client, method)(path)
    return getattr(client, method)(path, body, content_type="application/json")


def snapshot(owner: Tenant) -> Any:
    answer = owner.client().post("/v3/memories/", {"filters": {"user_id": "alice"}}, format="json")
    assert answer.status_code == 200
    return answer.json()


@pytest.fixture
def owner(tenant_a: Tenant) -> Tenant:
    added = tenant_a.client().post("/v3/memories/add/", {
        "messages": [{"role": "user", "content": SECRET}], "user_id": "alice", "infer": False,
    }, format="json")  # fmt: skip
    assert added.status_code == 200, added.content
    return tenant_a


def test_hostile_bodies_never_cause_a_server_error(owner, tenant_b):
    before = snapshot(owner)
    errors = []
    for payload in PAYLOADS:
        for method, path, template in BODY_TEMPLATES:
            answer = send(tenant_b, method, path, raw_json(template(payload)))
            if answer.status_code >= 500 or SECRET in answer.content.decode(errors="replace"):
                errors.append(f"{method} {path} {payload[:20]!r}: {answer.status_code}")
    assert not errors, "\n".join(errors)
    assert snapshot(owner) == before


def test_hostile_query_strings_and_path_ids_never_cause_a_server_error(owner, tenant_b):
    before = snapshot(owner)
    errors = []
    for payload in PAYLOADS[:-1]:  # 1 MB does not fit in a URL; bodies cover it
        encoded = quote(payload.encode("utf-8", "surrogatepass"), safe="")
        for template in QUERY_PATHS:
            answer = send(tenant_b, "get", template.format(p=encoded))
            if answer.status_code >= 500 or SECRET in answer.content.decode(errors="replace"):
                errors.append(f"GET {template} {payload[:20]!r}: {answer.status_code}")
    assert not errors, "\n".join(errors)
    assert snapshot(owner) == before


# A lone surrogate: valid JSON text ("\\ud800"), not encodable as UTF-8, so not storable.
SURROGATE = "\ud800"


def test_lone_surrogates_in_memory_bodies_are_a_400(owner, tenant_b):
    codes = {
        path: send(tenant_b, method, path, raw_json(template(SURROGATE))).status_code
        for method, path, template in BODY_TEMPLATES
    }
    assert all(code < 500 for code in codes.values()), codes


def test_lone_surrogates_are_a_400_where_the_default_parser_applies(tenant_b):
    body = raw_json({"kind": "export", "subject_type": "user", "subject_id": SURROGATE})
    answer = send(tenant_b, "post", "/v1/gdpr/requests/", body)
    assert answer.status_code == 400
    assert "surrogate" in answer.json()["detail"]


@pytest.mark.parametrize(
    "path",
    ["/v3/memories/add/", "/v3/memories/search/", "/v1/gdpr/requests/", "/v1/legal-holds/"],
)
def test_ten_thousand_deep_json_is_a_400(tenant_b, path):
    deep = b'{"a":' * 10_000 + b"1" + b"}" * 10_000
    answer = send(tenant_b, "post", path, deep)
    assert 400 <= answer.status_code < 500, answer.content[:300]
    assert answer.json()["detail"]


def test_malformed_and_non_object_json_is_a_400(tenant_b):
    for raw in (b"{", b"[]", b'"text"', b"null", b"\xff\xfe", b'{"messages": NaN}'):
        answer = send(tenant_b, "post", "/v3/memories/add/", raw)
        assert answer.status_code == 400, (raw, answer.status_code, answer.content[:200])
