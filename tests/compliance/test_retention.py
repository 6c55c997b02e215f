"""Retention: finite defaults, policies by tier, category and agent, Mem0 expiration dates,
a batched and audited sweep, and legal holds that suspend it."""

from datetime import timedelta
from typing import Any

from django.conf import settings
from django.utils import timezone

from audit.models import AuditEvent
from audit.retention import legal_hold_place
from audit.services import CLI_ACTOR
from audit.sweeper import retention_sweep_project
from config.celery import app
from memory.models import Episode, IngestionJob, Memory, MemoryToken, MemoryVersion, WorkingState
from tenants.context import tenant_context
from tests.compliance.builders import (
    add_conversation,
    add_memory,
    api_ok,
    make_working_state,
    update_memory,
)
from tests.conftest import Tenant

DAY = timedelta(days=1)


def _put(tenant: Tenant, **changes: Any) -> Any:
    return tenant.client().put("/v1/retention/", changes, format="json")


def _alive(tenant: Tenant, model: Any, **filters: Any) -> int:
    with tenant_context(tenant.project.id, tenant.organization.id):
        return int(model.objects.filter(project=tenant.project, **filters).count())


def _sweep(tenant: Tenant, after: timedelta) -> dict[str, int]:
    report = retention_sweep_project(project=tenant.project, now=timezone.now() + after)
    return dict(report.removed)


def test_every_project_has_a_finite_default_policy(tenant_a: Tenant) -> None:
    policy = api_ok(tenant_a.client().get("/v1/retention/"))
    assert policy["is_default"] is True
    assert policy["long_term"] == "365d" and policy["episodic"] == "90d"
    assert policy["ingestion_payloads"] == "30d" and policy["exports"] == "7d"
    assert policy["short_term"] == "1d" and policy["working_state"] == "90d"


def test_policy_changes_are_validated_and_audited(tenant_a: Tenant) -> None:
    assert _put(tenant_a, long_term=None).status_code == 400
    bad = _put(tenant_a, episodic="forever")
    assert bad.status_code == 400 and "episodic" in bad.json()["detail"]
    assert _put(tenant_a, eternity="1d").status_code == 400
    changed = api_ok(_put(tenant_a, long_term="30d", categories={"health": "7d"}, short_term=600))
    assert changed["long_term"] == "30d" and changed["categories"] == {"health": "7d"}
    assert changed["short_term"] == "10m" and changed["episodic"] == "90d"
    with tenant_context(tenant_a.project.id, tenant_a.organization.id):
        event = AuditEvent.objects.filter(action="retention.policy_updated").get()
    assert event.extra["changed"]["long_term_seconds"] == 30 * 86400
    assert event.extra["changed"]["category_rules"] == {"rules": 1}


def test_retention_api_needs_the_admin_scope_and_stays_in_its_tenant(
    tenant_a: Tenant, tenant_b: Tenant
) -> None:
    from tenants.services import api_key_create

    reader = api_key_create(project=tenant_a.project, name="r", actor=CLI_ACTOR, scopes=["read"])
    client = tenant_a.client()
    client.credentials(HTTP_AUTHORIZATION=f"Token {reader.plaintext}")
    assert client.get("/v1/retention/").status_code == 403
    api_ok(_put(tenant_a, long_term="2d"))
    assert api_ok(tenant_b.client().get("/v1/retention/"))["long_term"] == "365d"


def test_sweep_deletes_expired_memories_with_versions_tokens_and_vectors(
    tenant_a: Tenant,
) -> None:
    old = add_memory(tenant_a, "I like green tea", user_id="u1")
    update_memory(tenant_a, old, text="I like jasmine tea")
    api_ok(_put(tenant_a, long_term="1d"))
    assert _sweep(tenant_a, after=timedelta(hours=12)) == {}
    removed = _sweep(tenant_a, after=2 * DAY)
    assert removed["memory_memory"] == 1 and removed["memory_memoryversion"] == 2
    assert removed["memory_memorytoken"] > 0
    assert _alive(tenant_a, Memory) == _alive(tenant_a, MemoryVersion) == 0
    assert _alive(tenant_a, MemoryToken) == 0
    with tenant_context(tenant_a.project.id, tenant_a.organization.id):
        event = AuditEvent.objects.filter(action="retention.swept").get()
    assert event.extra["step"] == "memories" and event.extra["removed"] == removed
    assert "tea" not in str(event.extra)


def test_category_and_agent_rules_override_the_default(tenant_a: Tenant) -> None:
    health = add_memory(tenant_a, "I take vitamin D daily", user_id="u1")
    plain = add_memory(tenant_a, "I live in Porto", user_id="u1")
    bot = add_memory(tenant_a, "Prefers short answers", agent_id="support-bot")
    with tenant_context(tenant_a.project.id, tenant_a.organization.id):
        Memory.objects.filter(pk=health).update(categories=["health"])
    api_ok(_put(tenant_a, categories={"health": "7d"}, agents={"support-bot": "3d"}))
    _sweep(tenant_a, after=4 * DAY)
    assert _alive(tenant_a, Memory, pk=bot) == 0 and _alive(tenant_a, Memory, pk=health) == 1
    _sweep(tenant_a, after=8 * DAY)
    assert _alive(tenant_a, Memory, pk=health) == 0 and _alive(tenant_a, Memory, pk=plain) == 1


def test_mem0_expiration_date_is_inclusive_then_swept(tenant_a: Tenant) -> None:
    today = timezone.now().date()
    past = add_memory(
        tenant_a, "Trip to Rome next week", user_id="u1", expiration_date=(today - DAY).isoformat()
    )
    current = add_memory(tenant_a, "Dentist today", user_id="u1", expiration_date=today.isoformat())
    removed = _sweep(tenant_a, after=timedelta(0))
    assert removed["memory_memory"] == 1
    assert _alive(tenant_a, Memory, pk=past) == 0 and _alive(tenant_a, Memory, pk=current) == 1


def test_episodes_jobs_and_working_state_expire_by_their_tier(tenant_a: Tenant) -> None:
    add_conversation(tenant_a, "We talked about chess openings", user_id="u1", run_id="r1")
    make_working_state(tenant_a.project, run_id="r1", user_id="u1", state={"focus": "chess"})
    api_ok(_put(tenant_a, episodic="2d", ingestion_payloads="1d", working_state="1d"))
    _sweep(tenant_a, after=3 * DAY)
    # The job never ran: its episode is its input and stays until the job finishes.
    assert _alive(tenant_a, Episode) == 1 and _alive(tenant_a, WorkingState) == 0
    with tenant_context(tenant_a.project.id, tenant_a.organization.id):
        IngestionJob.objects.update(status=IngestionJob.Status.SUCCEEDED)
    removed = _sweep(tenant_a, after=3 * DAY)
    assert removed["memory_episode"] == 1 and removed["memory_ingestionjob"] == 1
    assert _alive(tenant_a, IngestionJob) == 0


def test_legal_holds_suspend_the_sweep(tenant_a: Tenant) -> None:
    held = add_memory(tenant_a, "Signed the contract", user_id="held-user")
    free = add_memory(tenant_a, "Likes sailing", user_id="held-user2")
    api_ok(_put(tenant_a, long_term="1d"))
    hold = legal_hold_place(
        project=tenant_a.project, scope="project", reason="audit", actor=CLI_ACTOR
    )
    assert _sweep(tenant_a, after=5 * DAY) == {}
    api_ok(tenant_a.client().delete(f"/v1/legal-holds/{hold.id}/"))
    api_ok(
        tenant_a.client().post(
            "/v1/legal-holds/", {"scope": "user", "subject_id": "held-user"}, format="json"
        ),
        201,
    )
    _sweep(tenant_a, after=5 * DAY)
    assert _alive(tenant_a, Memory, pk=held) == 1 and _alive(tenant_a, Memory, pk=free) == 0
    with tenant_context(tenant_a.project.id, tenant_a.organization.id):
        actions = set(AuditEvent.objects.values_list("action", flat=True))
    assert {"legal_hold.placed", "legal_hold.released"} <= actions


def test_legal_holds_are_tenant_scoped(tenant_a: Tenant, tenant_b: Tenant) -> None:
    hold = api_ok(
        tenant_a.client().post("/v1/legal-holds/", {"scope": "project"}, format="json"), 201
    )
    assert tenant_b.client().delete(f"/v1/legal-holds/{hold['id']}/").status_code == 404
    assert api_ok(tenant_b.client().get("/v1/legal-holds/"))["results"] == []
    duplicate = tenant_a.client().post("/v1/legal-holds/", {"scope": "project"}, format="json")
    assert duplicate.status_code == 409


def test_the_sweeper_runs_from_celery_beat() -> None:
    schedule = {entry["task"]: entry for entry in settings.CELERY_BEAT_SCHEDULE.values()}
    assert "audit.retention_sweep" in schedule and "audit.checkpoint" in schedule
    app.loader.import_default_modules()
    assert {"audit.retention_sweep", "audit.checkpoint", "audit.gdpr_request"} <= set(app.tasks)
