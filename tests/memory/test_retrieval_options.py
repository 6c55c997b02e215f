"""Search options, time expressions, reranking and the query-vector cache."""

from datetime import UTC, date, datetime

import numpy as np
import pytest
from django.test.utils import override_settings

from config.errors import InvalidInput
from memory.providers.embedder import LocalMiniLMEmbedder
from memory.retrieval import query_cache, search_options_from_request
from memory.retrieval.query_cache import query_vector
from memory.retrieval.temporal import query_time_window
from tenants.context import tenant_context
from tests.conftest import Tenant
from tests.memory.test_retrieval import make_memories, search
from tests.support.fake_openai import FakeOpenAIServer

REFERENCE = datetime(2025, 6, 18, 15, 30, tzinfo=UTC)  # a Wednesday


@pytest.mark.parametrize(
    ("query", "first", "last"),
    [
        ("what did I eat yesterday?", date(2025, 6, 17), date(2025, 6, 17)),
        ("plans for today", date(2025, 6, 18), date(2025, 6, 18)),
        ("what happened last week", date(2025, 6, 9), date(2025, 6, 15)),
        ("books I read last month", date(2025, 5, 1), date(2025, 5, 31)),
        ("the trip in March", date(2025, 3, 1), date(2025, 3, 31)),
        ("the trip in August", date(2024, 8, 1), date(2024, 8, 31)),
        ("concert on 2024-11-02", date(2024, 11, 2), date(2024, 11, 2)),
        ("dinner on May 7th", date(2025, 5, 7), date(2025, 5, 7)),
        ("the party on 3 January 2024", date(2024, 1, 3), date(2024, 1, 3)),
        ("what did we do last friday", date(2025, 6, 13), date(2025, 6, 13)),
        ("the movie two weeks ago", date(2025, 5, 28), date(2025, 6, 11)),
        ("what I did in 2023", date(2023, 1, 1), date(2023, 12, 31)),
    ],
)
def test_queries_naming_a_time_get_that_window(query: str, first: date, last: date) -> None:
    window = query_time_window(query, REFERENCE)
    assert window is not None
    assert (window.start.date(), window.end.date()) == (
        first,
        date.fromordinal(last.toordinal() + 1),
    )


@pytest.mark.parametrize(
    "query", ["what is my dog called", "I may go hiking", "march of the penguins documentary"]
)
def test_queries_without_a_time_get_no_window(query: str) -> None:
    assert query_time_window(query, REFERENCE) is None


def test_search_options_are_parsed_from_the_request_body() -> None:
    options = search_options_from_request(
        {
            "rerank": True,
            "reference_date": "2025-06-18",
            "latest_only": False,
            "show_expired": True,
            "categories": ["health"],
            "metadata": {"k": "v"},
            "weights": {"bm25": 0.5},
            "unknown_pass_through": 1,
        }
    )
    assert options.rerank and options.show_expired and not options.latest_only
    assert options.reference_date == datetime(2025, 6, 18, tzinfo=UTC)
    assert options.categories == ["health"] and options.metadata == {"k": "v"}
    assert options.weight("keyword") == 0.5 and options.weight("semantic") == 1.0
    only_vector = search_options_from_request({"signals": ["semantic"]})
    assert only_vector.weight("keyword") == 0 and only_vector.weight("temporal") == 0
    assert search_options_from_request({}).weight("recency") == 0


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"rerank": "yes"}, "rerank"),
        ({"reference_date": "last tuesday"}, "reference_date"),
        ({"weights": {"semantic": -1}}, "weights.semantic"),
        ({"weights": {"graph": 1}}, "weights"),
        ({"signals": ["temporal"]}, "signals"),
        ({"categories": 5}, "categories"),
    ],
)
def test_bad_search_options_are_a_400_naming_the_field(body: dict[str, object], field: str) -> None:
    with pytest.raises(InvalidInput, match=field):
        search_options_from_request(body)


def test_rerank_without_a_provider_keeps_the_order_and_says_so(tenant_a: Tenant) -> None:
    with tenant_context(tenant_a.project.id):
        make_memories(tenant_a.project, ["I like green tea.", "I like black coffee."])
        with override_settings(OPENAI_BASE_URL="", OPENAI_API_KEY=""):
            plain = search(tenant_a.project, "tea")
            reranked = search(tenant_a.project, "tea", rerank=True)
    assert [r.text for r in reranked] == [r.text for r in plain]
    assert reranked[0].score_breakdown["rerank"] == "unavailable"


def test_rerank_with_a_provider_reorders_the_results(tenant_a: Tenant) -> None:
    with tenant_context(tenant_a.project.id), FakeOpenAIServer() as server:
        make_memories(tenant_a.project, ["I like green tea.", "I like black coffee."])
        plain = search(tenant_a.project, "tea")
        server.script_chat(['{"order": [2, 1]}'])
        with override_settings(OPENAI_BASE_URL=server.base_url, OPENAI_API_KEY="test"):
            reranked = search(tenant_a.project, "tea", rerank=True)
        prompt = server.requests[0].body["messages"][1]["content"]
    assert [r.text for r in reranked] == [r.text for r in reversed(plain)]
    assert [r.score for r in reranked] == [r.score for r in plain]  # still descending
    assert reranked[0].score_breakdown["rerank"] == "reranked"
    assert "I like green tea." in prompt and str(plain[0].memory.id) not in prompt


def test_query_vectors_are_cached() -> None:
    query = f"a query seen twice {datetime.now(UTC).timestamp()}"
    first, first_cached = query_vector(query)
    # The vector is stored off the search's path, by the cache's one writer thread.
    query_cache._WRITER.submit(lambda: None).result(timeout=5)
    second, second_cached = query_vector(query)
    assert (first_cached, second_cached) == (False, True)
    assert np.array_equal(first, second)


def test_int8_and_fp32_query_vectors_are_cached_apart() -> None:
    int8 = LocalMiniLMEmbedder(precision="int8")
    fp32 = LocalMiniLMEmbedder(precision="fp32")
    keys = {
        query_cache.query_cache_key(query_cache.embedder_identity(e), "tea") for e in (int8, fp32)
    }
    assert len(keys) == 2
