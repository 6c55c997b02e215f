"""The exact requests of the recorded mem0ai 2.2.1 wire trace (spec §14) are all accepted."""

from urllib.parse import quote

from tests.conftest import Tenant
from tests.support.memory_api import add_memory


def test_recorded_search_and_list_bodies(tenant_a: Tenant) -> None:
    client = tenant_a.client()
    add_memory(client, "I like tea", metadata={"k": "v"})
    search = {
        "query": "tea?",
        "filters": {"OR": [{"user_id": "alice"}, {"agent_id": {"in": ["a", "b"]}}]},
        "top_k": 5,
        "threshold": 0.0,
        "rerank": True,
        "keyword_search": True,
        "fields": ["memory"],
        "categories": ["food"],
        "show_expired": False,
        "reference_date": "2025-01-01",
        "latest_only": True,
        "metadata": {"k": "v"},
    }
    response = client.post("/v3/memories/search/", search, format="json")
    assert response.status_code == 200, response.content
    assert [hit["memory"] for hit in response.json()["results"]] == ["I like tea"]
    listing = {
        "filters": {"AND": [{"user_id": "alice"}, {"created_at": {"gte": "2024-01-01"}}]},
        "start_date": "2024-01-01",
        "end_date": "2999-02-01",
        "categories": ["food"],
        "show_expired": True,
        "latest_only": True,
        "fields": ["id", "memory"],
        "keywords": "tea",
    }
    page = client.post("/v3/memories/?page=1&page_size=50", listing, format="json").json()
    assert page["results"] == [{"id": page["results"][0]["id"], "memory": "I like tea"}]


def test_recorded_update_and_delete_all_requests(tenant_a: Tenant) -> None:
    client = tenant_a.client()
    memory_id = add_memory(client, "old", metadata={"k": "v"}, run_id="r1")
    body = {"text": "new", "metadata": {"a": 1}, "timestamp": 1700000000}
    assert client.put(f"/v1/memories/{memory_id}/", body, format="json").status_code == 200
    cleared = client.put(f"/v1/memories/{memory_id}/", {"expiration_date": None}, format="json")
    assert cleared.status_code == 200
    metadata = quote(str({"a": 1}))
    response = client.delete(f"/v1/memories/?user_id=alice&metadata={metadata}")
    assert response.json()["deleted_count"] == 1


def test_recorded_project_requests(tenant_a: Tenant) -> None:
    client = tenant_a.client()
    org, project = tenant_a.organization.id, tenant_a.project.id
    base = f"/api/v1/orgs/organizations/{org}/projects/{project}/"
    query = (
        f"?fields=custom_instructions&fields=custom_categories&org_id={org}&project_id={project}"
    )
    assert client.get(base + query).status_code == 200
    body = {
        "custom_instructions": "x",
        "custom_categories": [{"a": "b"}],
        "multilingual": True,
        "decay": False,
        "agent_custom_instructions": "",
        "org_id": str(org),
        "project_id": str(project),
    }
    assert client.patch(base, body, format="json").status_code == 200
