"""Memories, jobs and the overview in the console: decrypted views are audited, search uses
the API's engine, failed jobs can be retried."""

import pytest
from django.urls import reverse

from audit.models import AuditEvent
from config.metrics import record_request
from memory.models import IngestionJob
from memory.retrieval.tasks import record_access
from tenants.context import tenant_context
from tests.conftest import Tenant
from tests.console.builders import Staff, make_failed_job, make_memory, update_memory
from tests.console.conftest import signed_in

pytestmark = pytest.mark.django_db


def content_views(org: Tenant) -> list[AuditEvent]:
    with tenant_context(org.project.id, org.organization.id):
        return list(
            AuditEvent.objects.filter(
                chain_id=org.project.id, action="memory.content_viewed"
            ).order_by("seq")
        )


def test_opening_a_memory_is_audited_without_its_text(org_a: Tenant, owner: Staff) -> None:
    memory = make_memory(org_a.project, "User is allergic to peanuts")
    update_memory(org_a.project, memory, "User is allergic to peanuts and shellfish")
    response = signed_in(owner).get(reverse("console:memory", args=[org_a.project.id, memory.id]))
    assert b"allergic to peanuts and shellfish" in response.content
    assert b"UPDATE" in response.content  # the version history
    event = content_views(org_a)[-1]
    assert event.target_id == str(memory.id)
    assert event.actor_id == owner.email and event.extra["view"] == "detail"
    assert "peanuts" not in str(event.extra)


def test_a_memory_shows_how_often_searches_returned_it(org_a: Tenant, owner: Staff) -> None:
    memory = make_memory(org_a.project, "User swims on Sundays")
    url = reverse("console:memory", args=[org_a.project.id, memory.id])
    assert b"not yet returned by a search" in signed_in(owner).get(url).content
    with tenant_context(org_a.project.id):
        record_access(project_id=org_a.project.id, memory_ids=[memory.id], uses=3)
    assert b"3 times in search results" in signed_in(owner).get(url).content


def test_browsing_a_user_lists_only_their_memories_and_audits_the_ids(
    org_a: Tenant, owner: Staff
) -> None:
    mine = make_memory(org_a.project, "User runs marathons", user_id="alice")
    make_memory(org_a.project, "User collects stamps", user_id="bob")
    url = reverse("console:memories", args=[org_a.project.id]) + "?user_id=alice"
    response = signed_in(owner).get(url)
    assert b"marathons" in response.content and b"stamps" not in response.content
    assert content_views(org_a)[-1].extra["memory_ids"] == [str(mine.id)]


def test_directory_lists_users_agents_and_sessions(org_a: Tenant, owner: Staff) -> None:
    make_memory(org_a.project, "Agent greets in Dutch", user_id=None, agent_id="greeter")
    make_memory(org_a.project, "User is on a trip", run_id="trip-1")
    client = signed_in(owner)
    base = reverse("console:memories", args=[org_a.project.id])
    assert b"alice" in client.get(base).content
    assert b"greeter" in client.get(base + "?view=agents").content
    assert b"trip-1" in client.get(base + "?view=sessions").content
    assert content_views(org_a) == []  # ids only, nothing decrypted


def test_search_box_uses_the_retrieval_engine(org_a: Tenant, owner: Staff) -> None:
    make_memory(org_a.project, "User lives in Lisbon", embed=True)
    make_memory(org_a.project, "User plays the cello", embed=True)
    url = reverse("console:memories", args=[org_a.project.id]) + "?q=where+does+the+user+live"
    response = signed_in(owner).get(url)
    rows = response.context["listing"].records
    assert rows[0]["memory"] == "User lives in Lisbon"
    assert content_views(org_a)[-1].extra["view"] == "search"


def test_a_bad_filter_is_explained_not_a_500(org_a: Tenant, owner: Staff) -> None:
    url = reverse("console:memories", args=[org_a.project.id]) + "?all=1&since=2026-13-45"
    assert signed_in(owner).get(url).status_code == 200


def test_failed_job_shows_its_reason_and_can_be_retried(org_a: Tenant, owner: Staff) -> None:
    job = make_failed_job(org_a.project, reason="LLM provider returned 503")
    client = signed_in(owner)
    page = client.get(reverse("console:job", args=[org_a.project.id, job.id]))
    assert b"LLM provider returned 503" in page.content
    response = client.post(reverse("console:job-retry", args=[org_a.project.id, job.id]))
    assert response.status_code == 302
    with tenant_context(org_a.project.id, org_a.organization.id):
        job.refresh_from_db()
        assert job.status == IngestionJob.Status.PENDING
        assert job.max_attempts > job.attempts
        assert AuditEvent.objects.filter(action="ingestion.retried", target_id=str(job.id)).exists()
    again = client.post(reverse("console:job-retry", args=[org_a.project.id, job.id]))
    assert again.status_code == 302  # only failed jobs move; the second click changes nothing


def test_overview_draws_charts_from_recorded_requests(org_a: Tenant, owner: Staff) -> None:
    make_memory(org_a.project, "User likes jazz")
    for ms in (5, 8, 12, 40, 250):
        record_request(org_a.project.id, "POST /v3/memories/search/", ms)
    record_request(org_a.project.id, "POST /v3/memories/add/", 30)
    response = signed_in(owner).get(reverse("console:overview", args=[org_a.project.id]))
    assert response.context["requests_today"] == 6
    assert response.content.count(b"<svg") == 4
    latency = response.context["charts"][2]
    assert latency.series[0].values[-1] == "15 ms" and latency.series[1].values[-1] == "300 ms"


def test_jobs_page_filters_by_status(org_a: Tenant, owner: Staff) -> None:
    make_failed_job(org_a.project)
    client = signed_in(owner)
    base = reverse("console:jobs", args=[org_a.project.id])
    assert b"Failed" in client.get(base + "?status=FAILED").content
    assert b"No jobs." in client.get(base + "?status=SUCCEEDED").content
