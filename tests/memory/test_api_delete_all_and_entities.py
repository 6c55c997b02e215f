"""DELETE /v1/memories/ (delete_all), GET /v1/entities/, DELETE /v2/entities/{type}/{id}/."""

from urllib.parse import quote

from audit.models import AuditEvent
from tests.conftest import Tenant
from tests.support.memory_api import add_memory, listed, texts


def _people(tenant: Tenant) -> None:
    client = tenant.client()
    add_memory(client, "Alice fact one", run_id="r1")
    add_memory(client, "Alice fact two", run_id="r2")
    add_memory(client, "Bob fact", user_id="bob")
    add_memory(client, "Bot fact", user_id=None, agent_id="bot")


def test_delete_all_by_user_and_run_ands_the_ids(tenant_a: Tenant) -> None:
    _people(tenant_a)
    client = tenant_a.client()
    response = client.delete("/v1/memories/?user_id=alice&run_id=r1")
    assert response.json() == {"message": "Memories deleted successfully!", "deleted_count": 1}
    assert texts(listed(client, {"user_id": "*"})) == ["Alice fact two", "Bob fact"]


def test_delete_all_accepts_python_repr_filters(tenant_a: Tenant) -> None:
    _people(tenant_a)
    client = tenant_a.client()
    query = quote(str({"user_id": "alice"}))
    assert client.delete(f"/v1/memories/?filters={query}").json()["deleted_count"] == 2
    assert texts(listed(client, {"user_id": "*"})) == ["Bob fact"]


def test_delete_all_never_widens(tenant_a: Tenant) -> None:
    _people(tenant_a)
    client = tenant_a.client()
    for query in ("", "?metadata=%7B%27a%27%3A+1%7D", "?filters=%7B%7D", "?org_id=x"):
        response = client.delete(f"/v1/memories/{query}")
        assert response.status_code == 400, query
    assert len(listed(client, {"user_id": "*"})) == 3


def test_delete_all_with_four_wildcards_empties_the_project(tenant_a: Tenant) -> None:
    _people(tenant_a)
    client = tenant_a.client()
    response = client.delete("/v1/memories/?user_id=*&agent_id=*&app_id=*&run_id=*")
    assert response.status_code == 200
    assert client.get("/v1/entities/").json()["results"] == []


def test_entities_lists_each_distinct_id_with_counts(tenant_a: Tenant) -> None:
    _people(tenant_a)
    payload = tenant_a.client().get("/v1/entities/").json()
    found = {(e["type"], e["name"], e["total_memories"]) for e in payload["results"]}
    assert found == {
        ("user", "alice", 2),
        ("user", "bob", 1),
        ("agent", "bot", 1),
        ("run", "r1", 1),
        ("run", "r2", 1),
    }
    assert (payload["count"], payload["total_users"], payload["total_runs"]) == (5, 2, 2)
    assert all(e["id"] and e["created_at"] for e in payload["results"])


def test_entity_delete_removes_its_memories_and_is_audited(tenant_a: Tenant) -> None:
    _people(tenant_a)
    client = tenant_a.client()
    response = client.delete("/v2/entities/user/alice/")
    assert response.status_code == 200 and response.json()["deleted_count"] == 2
    assert texts(listed(client, {"user_id": "*"})) == ["Bob fact"]
    event = AuditEvent.objects.get(action="entity.deleted")
    assert "alice" not in event.target_id and event.extra == {"count": 2}
    # Its memories are gone, but it existed: deleting it again is not an error (reset()).
    assert client.delete("/v2/entities/run/r1/").status_code == 200


def test_entity_delete_unknown_is_404_and_bad_type_400(tenant_a: Tenant) -> None:
    _people(tenant_a)
    client = tenant_a.client()
    assert client.delete("/v2/entities/user/nobody/").status_code == 404
    bad = client.delete("/v2/entities/planet/earth/")
    assert bad.status_code == 400 and "entity_type" in bad.json()["detail"]


def test_entity_ids_with_slashes_and_spaces(tenant_a: Tenant) -> None:
    client = tenant_a.client()
    add_memory(client, "Odd id fact", user_id="a b/c")
    assert client.delete(f"/v2/entities/user/{quote('a b/c', safe='')}/").status_code == 200


def test_other_project_cannot_list_or_delete(tenant_a: Tenant, tenant_b: Tenant) -> None:
    _people(tenant_a)
    intruder = tenant_b.client()
    assert intruder.get("/v1/entities/").json()["results"] == []
    assert intruder.delete("/v2/entities/user/alice/").status_code == 404
    assert intruder.delete("/v1/memories/?user_id=alice").json()["deleted_count"] == 0
    assert (
        intruder.delete("/v1/memories/?user_id=*&agent_id=*&app_id=*&run_id=*").json()[
            "deleted_count"
        ]
        == 0
    )
    assert len(listed(tenant_a.client(), {"user_id": "*"})) == 3
