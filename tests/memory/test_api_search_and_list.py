"""POST /v3/memories/search/ and POST /v3/memories/ (spec §4.3, §4.4, §7)."""

from typing import Any

import pytest

from tests.conftest import Tenant
from tests.support.memory_api import add_memory, listed, texts

SEARCH = "/v3/memories/search/"
LIST = "/v3/memories/"


def search(tenant: Tenant, query: str, filters: dict[str, Any], **body: Any) -> Any:
    return tenant.client().post(SEARCH, {"query": query, "filters": filters, **body}, format="json")


@pytest.fixture
def garden(tenant_a: Tenant) -> Tenant:
    client = tenant_a.client()
    add_memory(client, "I drink green tea every morning", metadata={"topic": "drinks"})
    add_memory(client, "My sister lives in Madrid", metadata={"topic": "family"})
    add_memory(client, "I play the violin", user_id="bob", agent_id="coach")
    add_memory(client, "The assistant speaks French", user_id=None, agent_id="coach")
    return tenant_a


def test_search_ranks_relevant_first_with_scores(garden: Tenant) -> None:
    response = search(garden, "what does she drink?", {"user_id": "alice"}, threshold=0.0)
    results = response.json()["results"]
    assert results[0]["memory"] == "I drink green tea every morning"
    assert all(0 <= hit["score"] <= 1 for hit in results)
    assert {hit["user_id"] for hit in results} == {"alice"}


def test_search_nested_filters_and_fields(garden: Tenant) -> None:
    filters = {
        "OR": [
            {"AND": [{"user_id": "alice"}, {"metadata": {"topic": "family"}}]},
            {"agent_id": {"in": ["coach"]}, "NOT": {"user_id": "*"}},
        ]
    }
    body = {"threshold": 0.0, "fields": ["memory"]}
    results = search(garden, "where do people live", filters, **body).json()["results"]
    assert texts(results) == ["My sister lives in Madrid", "The assistant speaks French"]
    assert all(set(hit) <= {"id", "memory", "score", "score_breakdown"} for hit in results)


def test_search_top_k_and_threshold_bounds(garden: Tenant) -> None:
    results = search(garden, "tea", {"user_id": "alice"}, top_k=1, threshold=0.0).json()
    assert len(results["results"]) == 1
    for bad in ({"top_k": 0}, {"top_k": 1001}, {"threshold": 1.5}, {"top_k": "many"}):
        response = search(garden, "tea", {"user_id": "alice"}, **bad)
        assert response.status_code == 400 and next(iter(bad)) in response.json()["detail"]


def test_search_requires_scope_and_known_operators(garden: Tenant) -> None:
    assert "user_id" in search(garden, "tea", {}).json()["detail"]
    unknown = search(garden, "tea", {"user_id": {"like": "a"}})
    assert unknown.status_code == 400 and "like" in unknown.json()["detail"]
    blank = garden.client().post(
        SEARCH, {"query": "  ", "filters": {"user_id": "a"}}, format="json"
    )
    assert blank.status_code == 400 and "query" in blank.json()["detail"]


def test_list_paginates_newest_first(garden: Tenant) -> None:
    client = garden.client()
    page = client.post(
        f"{LIST}?page=1&page_size=1", {"filters": {"user_id": "alice"}}, format="json"
    )
    payload = page.json()
    assert payload["count"] == 2 and payload["previous"] is None
    assert payload["next"].startswith("http://testserver/v3/memories/?")
    assert payload["results"][0]["memory"] == "My sister lives in Madrid"
    second = client.post(
        f"{LIST}?page=2&page_size=1", {"filters": {"user_id": "alice"}}, format="json"
    )
    assert second.json()["next"] is None and second.json()["previous"]
    beyond = client.post(f"{LIST}?page=99", {"filters": {"user_id": "alice"}}, format="json")
    assert beyond.json()["results"] == [] and beyond.json()["count"] == 2


def test_list_page_size_bounds(garden: Tenant) -> None:
    for query in ("page_size=0", "page_size=201", "page=0", "page=x"):
        response = garden.client().post(
            f"{LIST}?{query}", {"filters": {"user_id": "a"}}, format="json"
        )
        assert response.status_code == 400 and query.split("=")[0] in response.json()["detail"]


def test_list_filter_grammar(garden: Tenant) -> None:
    client = garden.client()
    assert texts(listed(client, {"user_id": "*", "metadata": {"topic": "drinks"}})) == [
        "I drink green tea every morning"
    ]
    assert texts(listed(client, {"agent_id": "coach", "user_id": {"ne": "bob"}})) == [
        "The assistant speaks French"
    ]
    assert len(listed(client, {"user_id": {"in": ["alice", "bob"]}})) == 3
    assert listed(client, {"user_id": "alice", "created_at": {"lt": "2000-01-01"}}) == []
    assert len(listed(client, {"user_id": "alice", "created_at": {"gte": "2000-01-01"}})) == 2
    contains = {"AND": [{"user_id": "*"}, {"keywords": {"icontains": "VIOLIN"}}]}
    assert texts(listed(client, contains)) == ["I play the violin"]
    assert texts(listed(client, {"user_id": "alice"}, keywords="madrid")) == [
        "My sister lives in Madrid"
    ]
    family = listed(client, {"user_id": "alice", "categories": {"in": ["family"]}})
    assert texts(family) == ["My sister lives in Madrid"]


def test_list_requires_filters(garden: Tenant) -> None:
    response = garden.client().post(LIST, {}, format="json")
    assert response.status_code == 400 and "filters" in response.json()["detail"]


def test_other_project_finds_nothing(garden: Tenant, tenant_b: Tenant) -> None:
    assert search(tenant_b, "tea", {"user_id": "*"}, threshold=0.0).json()["results"] == []
    assert listed(tenant_b.client(), {"user_id": "*"}) == []


# --- the query's embedding, started before authentication for keys seen lately ------------------


@pytest.fixture
def embedding_starts(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Records where each query embedding was started (the real embedding still runs)."""
    from memory.api import search as search_module

    started: list[str] = []
    real = search_module.start_query_embedding

    def recording(query: str, options: Any) -> Any:
        import inspect

        started.append(inspect.stack()[1].function)
        return real(query, options)

    monkeypatch.setattr(search_module, "start_query_embedding", recording)
    return started


def test_a_key_seen_lately_has_its_query_embedded_before_authentication(
    garden: Tenant, embedding_starts: list[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    from tenants import authentication

    monkeypatch.setattr(authentication, "_recent_keys", {})  # as in a freshly started process
    first = search(garden, "what does she drink?", {"user_id": "alice"}, threshold=0.0)
    second = search(garden, "what does she drink now?", {"user_id": "alice"}, threshold=0.0)
    # The first request authenticates the key; the second starts its embedding early and
    # the search uses that one embedding (no second start).
    assert embedding_starts == ["search_records", "_early_embedding"]
    assert first.json()["results"][0]["memory"] == "I drink green tea every morning"
    assert second.json()["results"][0]["memory"] == "I drink green tea every morning"


def test_no_embedding_starts_for_a_key_never_accepted(
    garden: Tenant, embedding_starts: list[str]
) -> None:
    from rest_framework.test import APIClient

    stranger = APIClient()
    stranger.credentials(HTTP_AUTHORIZATION="Token eng_AAAAAAAAAAAA_" + "B" * 32)
    body = {"query": "what does she drink?", "filters": {"user_id": "alice"}}
    response = stranger.post(SEARCH, body, format="json")
    assert response.status_code == 401
    assert embedding_starts == []


def test_a_seen_key_id_with_a_wrong_secret_is_still_refused(garden: Tenant) -> None:
    from rest_framework.test import APIClient

    search(garden, "tea", {"user_id": "alice"})  # the key id is now "seen lately"
    forged = APIClient()
    forged.credentials(HTTP_AUTHORIZATION=f"Token {garden.api_key[:-32]}{'x' * 32}")
    response = forged.post(SEARCH, {"query": "tea", "filters": {"user_id": "alice"}}, format="json")
    assert response.status_code == 401
    assert "results" not in response.json()


def test_an_early_started_request_with_a_bad_body_gets_the_usual_answers(garden: Tenant) -> None:
    search(garden, "tea", {"user_id": "alice"})
    client = garden.client()
    broken = client.post(SEARCH, "{not json", content_type="application/json")
    assert broken.status_code == 400
    no_query = client.post(SEARCH, {"filters": {"user_id": "alice"}}, format="json")
    assert no_query.status_code == 400 and "query" in no_query.json()["detail"]
    bad_options = search(garden, "tea", {"user_id": "alice"}, weights={"semantic": "lots"})
    assert bad_options.status_code == 400 and "weights" in bad_options.json()["detail"]
