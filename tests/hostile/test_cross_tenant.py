"""The cross-tenant matrix: for EVERY route of the URL conf that carries an id, project B's
key aimed at project A's objects gets 403/404 and changes nothing. Project A's objects are
built through the API (a memory, an ingestion event, an export, working state, a GDPR
request, a legal hold, a webhook). A new id-bearing route fails this test until it is given
an id here (ROUTE_IDS), so no endpoint escapes the matrix."""

import re
from collections.abc import Iterator
from typing import Any

import pytest
from django.urls import URLPattern, URLResolver, get_resolver
from rest_framework.test import APIClient
from rest_framework.views import APIView

from tests.conftest import Tenant

SECRET = "allergic to peanuts, code word zebra-42"
SECRET_STATE = "secret-goal-of-alice"
# Ids that name a namespace inside the caller's own project, not an object: B using them
# reaches B's (empty) namespace. The answer may be any non-5xx, but never A's data.
NAMESPACE_PARAMETERS = {"run_id", "entity_type", "entity_id"}
HOSTILE_BODY = {
    "text": "pwned",
    "metadata": {"pwned": True},
    "state": {"pwned": True},
    "name": "pwned",
    "url": "https://hooks.invalid/pwned",
    "event_types": ["memory_add"],
    "is_active": False,
    "custom_instructions": "pwned",
    "reason": "pwned",
}


def id_routes(patterns: list[Any] | None = None, prefix: str = "") -> Iterator[tuple[str, type]]:
    """(route regex, view class) of every API route with named parameters."""
    for entry in patterns if patterns is not None else get_resolver().url_patterns:
        if isinstance(entry, URLResolver):
            yield from id_routes(entry.url_patterns, prefix + str(entry.pattern))
        elif isinstance(entry, URLPattern):
            view_class = getattr(entry.callback, "view_class", None)
            regex = prefix + str(entry.pattern)
            if view_class and issubclass(view_class, APIView) and "(?P<" in regex:
                yield regex, view_class


def concrete_path(regex: str, ids: dict[str, str]) -> str:
    """The route regex with each named group replaced by A's id for it."""
    names = re.findall(r"\(\?P<(\w+)>", regex)
    missing = [name for name in names if name not in ids]
    assert not missing, f"route {regex} has ids {missing} the matrix does not know: add them"
    path = regex
    for name in names:
        path = re.sub(rf"\(\?P<{name}>(?:[^()]|\([^()]*\))*\)", ids[name], path, count=1)
    path = re.sub(r"\(\?:[^()]*\)\?", "", path)  # optional suffixes such as (?:/release)?
    return "/" + path.replace("^", "").replace("$", "").replace("/?", "/").lstrip("/")


def ok(answer: Any, what: str) -> dict[str, Any]:
    assert answer.status_code in (200, 201, 202), (what, answer.status_code, answer.content[:300])
    return answer.json()


def build_objects(owner: Tenant) -> dict[str, str]:
    client = owner.client()
    added = ok(client.post("/v3/memories/add/", {
        "messages": [{"role": "user", "content": f"I am {SECRET}"}],
        "user_id": "alice", "run_id": "run-a", "infer": False,
    }, format="json"), "add")  # fmt: skip
    queued = ok(client.post("/v3/memories/add/", {
        "messages": [{"role": "user", "content": "I like tea"}], "user_id": "alice",
    }, format="json"), "add infer")  # fmt: skip
    export = ok(client.post("/v1/exports/", {
        "schema": {"type": "object"}, "filters": {"user_id": "alice"},
    }, format="json"), "export")  # fmt: skip
    ok(
        client.put(
            "/v1/working-state/run-a/",
            {"state": {"goal": SECRET_STATE}, "user_id": "alice"},
            format="json",
        ),
        "state",
    )
    gdpr = ok(client.post("/v1/gdpr/requests/", {
        "kind": "export", "subject_type": "user", "subject_id": "alice",
    }, format="json"), "gdpr")  # fmt: skip
    hold = ok(client.post("/v1/legal-holds/", {"scope": "user", "subject_id": "alice"},
                          format="json"), "hold")  # fmt: skip
    hook = ok(client.post(f"/api/v1/webhooks/projects/{owner.project.id}/", {
        "name": "a hook", "url": "https://hooks.invalid/a", "event_types": ["memory_add"],
    }, format="json"), "webhook")  # fmt: skip
    return {
        "org_id": str(owner.organization.id), "project_id": str(owner.project.id),
        "memory_id": added["results"][0]["id"], "event_id": queued["event_id"],
        "export_id": export["id"], "request_id": gdpr["id"], "hold_id": hold["id"],
        "webhook_id": hook.get("webhook_id") or hook["id"], "run_id": "run-a",
        "entity_type": "user", "entity_id": "alice",
    }  # fmt: skip


def owner_snapshot(owner: Tenant, ids: dict[str, str]) -> dict[str, Any]:
    """What A sees of its objects; must be identical before and after B's attempts."""
    client = owner.client()
    reads = {
        "memory": f"/v1/memories/{ids['memory_id']}/",
        "history": f"/v1/memories/{ids['memory_id']}/history/",
        "event": f"/v1/event/{ids['event_id']}/",
        "state": "/v1/working-state/run-a/?user_id=alice",
        "gdpr": f"/v1/gdpr/requests/{ids['request_id']}/",
        "holds": "/v1/legal-holds/",
        "webhook": f"/api/v1/webhooks/{ids['webhook_id']}/",
        "project": f"/api/v1/orgs/organizations/{ids['org_id']}/projects/{ids['project_id']}/",
        "memories": "/v1/memories/?user_id=alice",
    }
    snapshot = {}
    for name, path in reads.items():
        answer = client.get(path)
        assert answer.status_code == 200, (name, answer.status_code, answer.content[:300])
        snapshot[name] = _without_volatile(answer.json())
    return snapshot


def _without_volatile(value: Any) -> Any:
    # Timestamps of use (last access, updated_at of counters) may move when A reads.
    volatile = {"last_accessed_at", "access_count", "updated_at", "last_used_at"}
    if isinstance(value, dict):
        return {k: _without_volatile(v) for k, v in value.items() if k not in volatile}
    if isinstance(value, list):
        return [_without_volatile(item) for item in value]
    return value


def attempt(client: APIClient, method: str, path: str) -> Any:
    return getattr(client, method)(path, HOSTILE_BODY, format="json")


@pytest.fixture
def matrix(tenant_a: Tenant, tenant_b: Tenant) -> tuple[Tenant, Tenant, dict[str, str]]:
    return tenant_a, tenant_b, build_objects(tenant_a)


def refused_everyone(owner: Tenant, method: str, path: str, answer: Any) -> bool:
    """A 400/405 that A itself gets too (a route that refuses the request outright) tells B
    nothing about A's objects. Only ever asked for 4xx answers, so A's data is not changed
    by the comparison unless the route would have let B through as well."""
    if answer.status_code not in (400, 405):
        return False
    own = attempt(owner.client(), method, path)
    return own.status_code == answer.status_code and own.content == answer.content


def test_other_projects_key_cannot_reach_any_id_bearing_route(matrix):
    owner, intruder, ids = matrix
    before = owner_snapshot(owner, ids)
    client = intruder.client()
    leaks, tried = [], 0
    for regex, view_class in id_routes():
        path = concrete_path(regex, ids)
        names = set(re.findall(r"\(\?P<(\w+)>", regex))
        for method in ("get", "put", "patch", "post", "delete"):
            if not hasattr(view_class, method):
                continue
            answer = attempt(client, method, path)
            tried += 1
            body = answer.content.decode(errors="replace")
            leaked = SECRET in body or SECRET_STATE in body or answer.status_code >= 500
            foreign_object = bool(names - NAMESPACE_PARAMETERS)
            if leaked or (
                foreign_object
                and answer.status_code not in (403, 404)
                and not refused_everyone(owner, method, path, answer)
            ):
                leaks.append(f"{method.upper()} {path}: {answer.status_code} {body[:200]}")
    assert tried >= 20
    assert not leaks, "\n".join(leaks)
    assert owner_snapshot(owner, ids) == before


def test_other_projects_key_cannot_use_ids_in_bodies(matrix):
    owner, intruder, ids = matrix
    before = owner_snapshot(owner, ids)
    client = intruder.client()
    attempts = [
        ("post", "/v1/feedback/", {"memory_id": ids["memory_id"], "feedback": "NEGATIVE"}),
        ("post", "/v1/exports/get/", {"memory_export_id": ids["export_id"]}),
        ("put", "/v1/batch/", {"memories": [{"memory_id": ids["memory_id"], "text": "pwned"}]}),
        ("delete", "/v1/batch/", {"memories": [{"memory_id": ids["memory_id"]}]}),
    ]
    for method, path, body in attempts:
        answer = getattr(client, method)(path, body, format="json")
        assert answer.status_code in (400, 403, 404), (path, answer.status_code, answer.content)
        assert SECRET not in answer.content.decode(errors="replace")
    assert owner_snapshot(owner, ids) == before
