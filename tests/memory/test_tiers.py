"""The memory tiers through the API: working state (Postgres + Redis cache), the episodic
history and the short-term window; another project's key never sees any of them."""

from typing import Any

import pytest
from django.utils import timezone

from audit.gdpr.cache import subject_cache_purge
from audit.models import AuditEvent
from audit.services import CLI_ACTOR
from audit.subjects import subject_parse
from memory import cache_keys
from memory.models import WorkingState
from memory.services.ingestion import ingestion_accept
from memory.services.memories import MemoryScope
from memory.services.tiers import merge_patch
from tenants.context import tenant_context
from tests.conftest import Tenant, make_tenant

STATE = {"goals": ["book a flight to Lima"], "tasks": ["compare fares"], "focus": "dates"}


@pytest.fixture
def alice(committed_db: None) -> Tenant:
    return make_tenant(f"tiers-a-{timezone.now().timestamp()}")


@pytest.fixture
def charlie(committed_db: None) -> Tenant:
    return make_tenant(f"tiers-c-{timezone.now().timestamp()}")


def put(tenant: Tenant, run_id: str, body: Any, if_match: str | None = None) -> Any:
    headers = {"If-Match": if_match} if if_match else {}
    url = f"/v1/working-state/{run_id}/"
    if isinstance(body, str):  # JSON text as sent, e.g. with escapes Python cannot encode
        return tenant.client().put(url, body, content_type="application/json", headers=headers)
    return tenant.client().put(url, body, format="json", headers=headers)


def patch(tenant: Tenant, run_id: str, body: Any) -> Any:
    return tenant.client().patch(f"/v1/working-state/{run_id}/", body, format="json")


def test_working_state_is_written_read_and_versioned(alice: Tenant) -> None:
    created = put(alice, "run-1", {"state": STATE, "user_id": "alice"})
    assert created.status_code == 200, created.content
    assert created.json()["version"] == 1 and created.json()["state"] == STATE
    read = alice.client().get("/v1/working-state/run-1/").json()
    assert (read["state"], read["version"], read["user_id"]) == (STATE, 1, "alice")
    merged = patch(alice, "run-1", {"state": {"focus": "seats", "tasks": None, "budget": 900}})
    assert merged.json()["version"] == 2
    assert alice.client().get("/v1/working-state/run-1").json()["state"] == {
        "goals": ["book a flight to Lima"],
        "focus": "seats",
        "budget": 900,
    }
    replaced = put(alice, "run-1", {"goals": []})  # a bare object is the state itself
    assert replaced.json()["state"] == {"goals": []} and replaced.json()["version"] == 3


def test_working_state_is_encrypted_at_rest_and_in_the_cache(alice: Tenant) -> None:
    put(alice, "run-enc", {"state": STATE})
    alice.client().get("/v1/working-state/run-enc/")  # fills the cache
    with tenant_context(alice.project.id):
        row = WorkingState.objects.get(project=alice.project, run_id="run-enc")
        key = cache_keys.working_state_key(alice.project.id, "run-enc")
    assert "Lima" not in row.state_ciphertext
    cached = cache_keys.redis_client().get(key)
    assert cached is not None and b"Lima" not in cached and b"run-enc" not in key.encode()
    assert 0 < cache_keys.redis_client().ttl(key) <= 3600


def test_a_write_invalidates_the_cache(alice: Tenant) -> None:
    put(alice, "run-c", {"state": {"focus": "a"}})
    assert alice.client().get("/v1/working-state/run-c/").json()["state"]["focus"] == "a"
    patch(alice, "run-c", {"state": {"focus": "b"}})
    assert alice.client().get("/v1/working-state/run-c/").json()["state"]["focus"] == "b"


def test_a_stale_expected_version_is_a_conflict(alice: Tenant) -> None:
    put(alice, "run-v", {"state": {"focus": "a"}})
    stale = put(alice, "run-v", {"state": {"focus": "b"}, "expected_version": 0})
    assert stale.status_code == 409 and stale.json()["error"]["details"] == {"current_version": 1}
    assert put(alice, "run-v", {"state": {"focus": "b"}}, if_match='"1"').status_code == 200
    assert put(alice, "run-v", {"state": {"focus": "c"}}, if_match='"1"').status_code == 409


@pytest.mark.parametrize(
    ("body", "status", "message"),
    [
        ({"state": {"goals": "fly"}}, 400, "state.goals: expected a list."),
        ({"state": {"focus": 3}}, 400, "state.focus: expected a string or null."),
        ({"state": {"notes": "x" * 70_000}}, 413, "limit is 65536"),
        ('{"state": {"focus": "\\ud800"}}', 400, "valid Unicode"),  # raw JSON text
    ],
)
def test_invalid_working_state_is_refused_with_the_reason(
    alice: Tenant, body: Any, status: int, message: str
) -> None:
    response = put(alice, "run-bad", body)
    assert response.status_code == status and message in response.json()["detail"]


def test_working_state_writes_are_audited_without_content(alice: Tenant) -> None:
    put(alice, "run-a", {"state": STATE})
    alice.client().delete("/v1/working-state/run-a/")
    with tenant_context(alice.project.id):
        events = list(
            AuditEvent.objects.filter(
                project_id=alice.project.id, action__startswith="working_state."
            ).order_by("seq")
        )
    assert [e.action for e in events] == ["working_state.written", "working_state.deleted"]
    assert "Lima" not in str([e.extra for e in events])
    assert alice.client().get("/v1/working-state/run-a/").status_code == 404


def test_another_projects_key_cannot_see_or_delete_working_state(
    alice: Tenant, charlie: Tenant
) -> None:
    put(alice, "run-x", {"state": STATE})
    assert charlie.client().get("/v1/working-state/run-x/").status_code == 404
    assert charlie.client().delete("/v1/working-state/run-x/").status_code == 404
    put(charlie, "run-x", {"state": {"focus": "mine"}})  # the same run id is its own state there
    assert alice.client().get("/v1/working-state/run-x/").json()["state"] == STATE


def test_merge_patch_follows_rfc_7396() -> None:
    target = {"a": "b", "c": {"d": "e", "f": "g"}}
    assert merge_patch(target, {"a": "z", "c": {"f": None}}) == {"a": "z", "c": {"d": "e"}}
    assert merge_patch({"a": ["b"]}, {"a": ["c"]}) == {"a": ["c"]}
    assert merge_patch({"a": "b"}, {"a": {"b": None}}) == {"a": {}}


def accept(tenant: Tenant, content: str, **scope: Any) -> None:
    with tenant_context(tenant.project.id, tenant.project.organization_id):
        ingestion_accept(
            project=tenant.project,
            scope=MemoryScope(**scope),
            messages=[{"role": "user", "content": content}],
            options={},
            actor=CLI_ACTOR,
            idempotency_key=None,
        )


def test_episodes_rebuild_a_users_history_oldest_first(alice: Tenant, charlie: Tenant) -> None:
    for text in ("I live in Quito.", "I work at Acme Corp.", "I like tea."):
        accept(alice, text, user_id="ana", run_id="r1")
    page = alice.client().get("/v1/episodes/?user_id=ana&page_size=2").json()
    assert page["count"] == 3 and page["next"] and page["previous"] is None
    assert [e["messages"][0]["content"] for e in page["results"]] == [
        "I live in Quito.",
        "I work at Acme Corp.",
    ]
    assert page["results"][0]["event_status"] == "PENDING"
    assert charlie.client().get("/v1/episodes/?user_id=ana").json()["count"] == 0
    assert alice.client().get("/v1/episodes/").status_code == 400  # an entity id is required


def test_the_short_term_window_is_per_session_and_per_project(
    alice: Tenant, charlie: Tenant
) -> None:
    accept(alice, "I live in Quito.", user_id="ana", run_id="r9")
    accept(alice, "Somewhere else.", user_id="ana", run_id="r10")
    window = alice.client().get("/v1/short-term/?run_id=r9").json()
    assert [m["content"] for m in window["messages"]] == ["I live in Quito."]
    assert window["source"] == "redis"
    assert charlie.client().get("/v1/short-term/?run_id=r9").json()["messages"] == []
    assert alice.client().get("/v1/short-term/").status_code == 400


def test_the_short_term_window_is_rebuilt_from_episodes_when_redis_lost_it(alice: Tenant) -> None:
    accept(alice, "I live in Quito.", user_id="ana", run_id="r11")
    with tenant_context(alice.project.id):
        key = cache_keys.short_term_key(
            alice.project.id, cache_keys.session_canonical(None, None, "r11")
        )
    cache_keys.redis_client().delete(key)
    window = alice.client().get("/v1/short-term/?run_id=r11").json()
    assert window["messages"] == []  # an expired window stays empty (its TTL is the policy)
    # ...but the pipeline's context falls back to the episodes (see session_context_messages).


def test_erasing_a_user_removes_their_redis_entries(alice: Tenant) -> None:
    accept(alice, "I live in Quito.", user_id="ana", run_id="r12")
    put(alice, "r12", {"state": STATE, "user_id": "ana"})
    alice.client().get("/v1/working-state/r12/")
    keys = cache_keys.subject_cache_keys(alice.project.id, "user", "ana")
    client = cache_keys.redis_client()
    assert sum(int(client.exists(key)) for key in keys) >= 3  # window, cache, their index
    subject_cache_purge(project_id=alice.project.id, subject=subject_parse("user", "ana"))
    assert not any(client.exists(key) for key in keys)
