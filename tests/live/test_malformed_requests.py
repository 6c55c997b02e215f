"""Whatever a client sends over real HTTP, the answer is a JSON 4xx naming the problem,
never a 500, and never an empty body."""

from typing import Any

import httpx
import pytest

from tests.conftest import Tenant
from tests.support.live_server import LiveServer

pytestmark = pytest.mark.live

JSON = {"Content-Type": "application/json"}

BAD_REQUESTS: list[tuple[str, str, Any]] = [
    ("POST", "/v3/memories/add/", b"[]"),
    ("POST", "/v3/memories/add/", b'"x"'),
    ("POST", "/v3/memories/add/", b"null"),
    ("POST", "/v3/memories/add/", b"{not json"),
    ("POST", "/v3/memories/add/", b"[" * 50_000 + b"]" * 50_000),
    ("POST", "/v3/memories/add/", {"messages": 42, "user_id": "u"}),
    ("POST", "/v3/memories/add/", {"messages": [{"role": "user", "content": 5}], "user_id": "u"}),
    ("POST", "/v3/memories/add/", {"messages": "hi"}),
    ("POST", "/v3/memories/add/", {"messages": "hi\u0000there", "user_id": "u", "infer": False}),
    ("POST", "/v3/memories/add/", {"messages": "x" * 9000, "user_id": "u", "infer": False}),
    ("POST", "/v3/memories/add/", {"messages": "hi", "user_id": {"a": 1}}),
    ("POST", "/v3/memories/add/", {"messages": "hi", "user_id": "u", "timestamp": "yesterday"}),
    ("POST", "/v3/memories/add/", {"messages": "hi", "user_id": "u", "expiration_date": "31/12"}),
    ("POST", "/v3/memories/search/", {"query": "", "filters": {"user_id": "u"}}),
    ("POST", "/v3/memories/search/", {"query": "q"}),
    ("POST", "/v3/memories/search/", {"query": "q", "filters": {"user_id": "u"}, "top_k": 0}),
    ("POST", "/v3/memories/search/", {"query": "q", "filters": {"user_id": "u"}, "top_k": 5000}),
    ("POST", "/v3/memories/search/", {"query": "q", "filters": {"user_id": "u"}, "threshold": 2}),
    ("POST", "/v3/memories/search/", {"query": "q", "filters": {"user_id": {"like": "u"}}}),
    ("POST", "/v3/memories/search/", {"query": "q", "filters": {"colour": "red", "user_id": "u"}}),
    ("POST", "/v3/memories/search/", {"query": "q", "filters": {"user_id": "u\u0000"}}),
    ("POST", "/v3/memories/", {}),
    ("POST", "/v3/memories/?page_size=500", {"filters": {"user_id": "u"}}),
    ("POST", "/v3/memories/?page=0", {"filters": {"user_id": "u"}}),
    ("POST", "/v3/memories/?page=abc", {"filters": {"user_id": "u"}}),
    ("PUT", "/v1/memories/00000000-0000-0000-0000-000000000000/", {"text": 5}),
    ("DELETE", "/v1/memories/", None),
    ("DELETE", "/v1/memories/?metadata=%7B%27a%27%3A+1%7D", None),
    ("DELETE", "/v1/memories/?filters=__import__('os')", None),
    ("DELETE", "/v2/entities/planet/earth/", None),
    ("PUT", "/v1/batch/", {"memories": "all"}),
    ("DELETE", "/v1/batch/", {"memories": [{"memory_id": "x"}] * 1001}),
    ("POST", "/v1/feedback/", {"memory_id": "x", "feedback": "MEH"}),
    ("POST", "/v1/exports/", {"schema": "not json"}),
    ("POST", "/v1/summary/", {}),
]


def _send(server: LiveServer, key: str, method: str, path: str, body: Any) -> httpx.Response:
    headers = {"Authorization": f"Token {key}", **JSON}
    content = body if isinstance(body, bytes) else None
    payload = None if isinstance(body, bytes) or body is None else body
    return httpx.request(
        method, server.url + path, headers=headers, content=content, json=payload, timeout=30
    )


@pytest.mark.parametrize(("method", "path", "body"), BAD_REQUESTS)
def test_bad_request_is_a_json_4xx_naming_the_problem(
    gunicorn_server: LiveServer, fresh_tenant: Tenant, method: str, path: str, body: Any
) -> None:
    response = _send(gunicorn_server, fresh_tenant.api_key, method, path, body)
    assert 400 <= response.status_code < 500, (response.status_code, response.text)
    assert response.headers["content-type"].startswith("application/json")
    assert response.json()["detail"]


def test_missing_key_is_401_and_odd_inputs_still_answer(
    gunicorn_server: LiveServer, fresh_tenant: Tenant
) -> None:
    assert httpx.get(gunicorn_server.url + "/v1/entities/").status_code == 401
    key = fresh_tenant.api_key
    huge_page = _send(
        gunicorn_server, key, "POST", "/v3/memories/?page=999999999", {"filters": {"user_id": "u"}}
    )
    assert huge_page.status_code == 200 and huge_page.json()["results"] == []
    unicode_add = _send(
        gunicorn_server,
        key,
        "POST",
        "/v3/memories/add/",
        {
            "messages": [
                {
                    "role": "user",
                    "content": [
                        {"type": "text", "text": "Ich liebe Käse 🧀"},
                        {"type": "image_url", "image_url": {"url": "http://x/y.png"}},
                    ],
                }
            ],
            "user_id": "ü-ser",
            "infer": False,
            "unknown_field": [1, 2],
        },
    )
    assert unicode_add.status_code == 200, unicode_add.text
    assert unicode_add.json()["results"][0]["memory"] == "Ich liebe Käse 🧀"
    not_found = _send(gunicorn_server, key, "GET", "/v1/memories/not-a-uuid/", None)
    assert not_found.status_code == 404 and not_found.json()["detail"] == "Memory not found!"
