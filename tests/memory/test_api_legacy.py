"""The 1.x client's endpoints (spec §10): v1 add, v1/v2 search, v1/v2 list."""

from tests.conftest import Tenant
from tests.support.memory_api import add_memory


def test_v1_add_answers_a_bare_array_or_the_v11_envelope(tenant_a: Tenant) -> None:
    client = tenant_a.client()
    body = {
        "messages": [{"role": "user", "content": "I like tea"}],
        "user_id": "alice",
        "infer": False,
        "org_id": "o",
        "project_id": "p",
    }
    bare = client.post("/v1/memories/", body, format="json").json()
    assert isinstance(bare, list) and bare[0]["memory"] == "I like tea"
    envelope = client.post(
        "/v1/memories/",
        {**body, "messages": "I like jazz", "output_format": "v1.1", "version": "v2"},
        format="json",
    ).json()
    assert envelope["relations"] == [] and envelope["results"][0]["memory"] == "I like jazz"
    queued = client.post(
        "/v1/memories/", {"messages": "I moved", "user_id": "alice"}, format="json"
    ).json()
    assert queued[0]["status"] == "PENDING" and queued[0]["event_id"]


def test_v2_search_and_list_answer_bare_arrays(tenant_a: Tenant) -> None:
    client = tenant_a.client()
    add_memory(client, "I drink green tea")
    hits = client.post(
        "/v2/memories/search/",
        {"query": "green tea", "filters": {"user_id": "alice"}},
        format="json",
    ).json()
    assert isinstance(hits, list) and hits[0]["memory"] == "I drink green tea"
    old = client.post(
        "/v1/memories/search/", {"query": "green tea", "user_id": "alice"}, format="json"
    ).json()
    assert old[0]["memory"] == "I drink green tea"
    listed = client.post("/v2/memories/", {"filters": {"user_id": "alice"}}, format="json").json()
    assert [m["memory"] for m in listed] == ["I drink green tea"]
    paged = client.post(
        "/v2/memories/?page=1&page_size=5", {"filters": {"user_id": "alice"}}, format="json"
    ).json()
    assert paged["count"] == 1
    by_query = client.get("/v1/memories/?user_id=alice").json()
    assert [m["memory"] for m in by_query] == ["I drink green tea"]


def test_legacy_endpoints_never_cross_projects(tenant_a: Tenant, tenant_b: Tenant) -> None:
    add_memory(tenant_a.client(), "Alice's secret")
    intruder = tenant_b.client()
    body = {"query": "secret", "filters": {"user_id": "alice"}, "threshold": 0}
    assert intruder.post("/v2/memories/search/", body, format="json").json() == []
    assert (
        intruder.post("/v2/memories/", {"filters": {"user_id": "alice"}}, format="json").json()
        == []
    )
    assert intruder.get("/v1/memories/?user_id=alice").json() == []
