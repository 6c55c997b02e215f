"""The statement that ranks a small scope in PostgreSQL (memory/retrieval/whole_scope.py)
must agree with the engine's Python scoring, whichever way it reads the postings, and
whether or not it runs prepared."""

from datetime import timedelta
from typing import Any

import numpy as np
import pytest
from django.db import connection
from django.test.utils import override_settings
from django.utils import timezone

from memory.filters import parse_filters
from memory.providers.embedder import get_embedder
from memory.retrieval import SearchOptions, whole_scope
from memory.retrieval import engine as engine_module
from memory.retrieval.blind_index import query_tokens
from memory.retrieval.keyword import scope_stats, score_postings
from memory.retrieval.whole_scope import (
    equality_scope,
    rank_scope,
    scope_keyword_candidates,
    vector_text,
)
from tenants.context import tenant_context
from tests.conftest import Tenant
from tests.memory.test_retrieval import make_memories, search

DIALOGUE = [
    "Caroline: I went to the LGBTQ support group yesterday, it was powerful.",
    "Melanie: That sounds amazing! What happened there?",
    "Caroline: People shared their transgender stories and I felt accepted.",
    "Melanie: I painted a sunrise over the lake last week.",
    "Caroline: Which book are you reading these days?",
    "Melanie: Charlotte's Web, my kids love it, we read it at bedtime.",
    "Caroline: My friends and family supported me through my transition.",
    "Melanie: We went camping at the beach, the kids roasted marshmallows.",
    "Caroline: I am researching adoption agencies for next year.",
    "Melanie: Pottery class is my favourite way to destress.",
]


def _conversation(tenant: Tenant, user_id: str = "caroline") -> None:
    start = timezone.now() - timedelta(days=3)
    moments = [start + timedelta(seconds=30 * i) for i in range(len(DIALOGUE))]
    make_memories(tenant.project, DIALOGUE, user_id=user_id, run_id=None, created_at=moments)


def _rank(tenant: Tenant, query: str, **overrides: Any) -> whole_scope.RankedScope:
    project_id = tenant.project.id
    arguments: dict[str, Any] = {
        "scope": equality_scope(
            project_id=project_id,
            equalities={"user_id": "caroline"},
            states=["active"],
            expiring_after=None,
        ),
        "project_id": project_id,
        "vector": np.asarray(get_embedder().embed_one(query), dtype=np.float32),
        "query": query_tokens(project_id, query),
        "pool": 30,
        "recent": 5,
        "period": None,
        "lend_to": "replies",
        "limit": 100,
        "prepare": True,
    }
    arguments.update(overrides)
    ranked = rank_scope(**arguments)
    assert ranked is not None
    return ranked


def _python_bm25(tenant: Tenant, query: str) -> list[tuple[Any, float]]:
    """The same scope scored by keyword.score_postings() with the scope's own statistics,
    from the postings table and the scope's rows."""
    project_id = tenant.project.id
    tokens = query_tokens(project_id, query)
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT t.memory_id, t.token, t.term_frequency, m.token_count"
            " FROM memory_memorytoken t JOIN memory_memory m ON m.id = t.memory_id"
            " WHERE m.project_id = %s AND m.user_id = 'caroline' AND t.token = ANY(%s)",
            [project_id, list(tokens)],
        )
        rows = cursor.fetchall()
        cursor.execute(
            "SELECT count(*), sum(token_count) FROM memory_memory"
            " WHERE project_id = %s AND user_id = 'caroline'",
            [project_id],
        )
        documents, total_length = cursor.fetchone()
    postings: dict[Any, list[tuple[int, int]]] = {}
    lengths = {}
    for memory_id, token, tf, length in rows:
        postings.setdefault(memory_id, []).append((token, tf))
        lengths[memory_id] = length
    stats = scope_stats(documents, total_length, postings)
    return score_postings(postings, lengths, stats, tokens)


@pytest.mark.parametrize("walk_factor", [0, 10_000])  # per-row lookups, then walked lists
def test_bm25_in_sql_equals_the_python_scoring_both_ways_of_reading_postings(
    tenant_a: Tenant, monkeypatch: pytest.MonkeyPatch, walk_factor: int
) -> None:
    monkeypatch.setattr(whole_scope, "WALK_FACTOR", walk_factor)
    query = "Which book do the kids read at bedtime? camping beach"
    with tenant_context(tenant_a.project.id):
        _conversation(tenant_a)
        make_memories(tenant_a.project, ["Bob reads a book at the beach"], user_id="bob")
        ranked = _rank(tenant_a, query)
        expected = _python_bm25(tenant_a, query)
    assert len(expected) >= 3
    assert [memory_id for memory_id, _ in ranked.keyword] == [m for m, _ in expected]
    for (_, got), (_, want) in zip(ranked.keyword, expected, strict=True):
        assert got == pytest.approx(want, rel=1e-12)


def test_the_candidate_lists_are_the_scopes_true_rankings(tenant_a: Tenant) -> None:
    query = "What is Melanie reading?"
    with tenant_context(tenant_a.project.id):
        _conversation(tenant_a)
        rows = list(
            engine_module.Memory.objects.filter(user_id="caroline").values_list(
                "id", "embedding", "created_at"
            )
        )
        ranked = _rank(tenant_a, query, pool=4, recent=3)
    vector = np.asarray(get_embedder().embed_one(query), dtype=np.float32)
    nearest = sorted(
        rows, key=lambda row: (1.0 - float(np.dot(np.asarray(row[1]), vector)), row[0])
    )
    assert [memory_id for memory_id, _ in ranked.semantic] == [row[0] for row in nearest[:4]]
    newest = sorted(rows, key=lambda row: row[2], reverse=True)
    assert ranked.recent == [row[0] for row in newest[:3]]
    assert ranked.size == len(DIALOGUE)


def test_a_question_turn_brings_its_reply_along(tenant_a: Tenant) -> None:
    with tenant_context(tenant_a.project.id):
        _conversation(tenant_a)
        ranked = _rank(tenant_a, "Which book are you reading these days?", pool=1, recent=0)
        (question_id, _) = ranked.semantic[0]
        question = ranked.members[question_id]
        neighbours = ranked.neighbours_of([question], False)[question_id]
    assert "Which book" in DIALOGUE[4]
    reply = neighbours[1][0]
    assert reply.created_at - question[0].created_at == timedelta(seconds=30)
    assert reply.id not in dict(ranked.semantic)  # returned only as the neighbour


def test_a_scope_over_the_limit_is_left_to_the_general_path(tenant_a: Tenant) -> None:
    with tenant_context(tenant_a.project.id):
        _conversation(tenant_a)
        project_id = tenant_a.project.id
        vector = np.asarray(get_embedder().embed_one("book"), dtype=np.float32)
        assert (
            rank_scope(
                scope=equality_scope(
                    project_id=project_id,
                    equalities={"user_id": "caroline"},
                    states=["active"],
                    expiring_after=None,
                ),
                project_id=project_id,
                vector=vector,
                query={},
                pool=30,
                recent=0,
                period=None,
                lend_to="none",
                limit=len(DIALOGUE) - 1,
            )
            is None
        )


@override_settings(DATABASE_PREPARED_STATEMENTS=False)
def test_unprepared_statements_give_the_same_results(tenant_a: Tenant) -> None:
    with tenant_context(tenant_a.project.id):
        _conversation(tenant_a)
        unprepared = search(tenant_a.project, "Which book?", {"user_id": "caroline"})
        with override_settings(DATABASE_PREPARED_STATEMENTS=True):
            prepared = search(tenant_a.project, "Which book?", {"user_id": "caroline"})
    assert [(r.memory.id, r.score) for r in unprepared] == [
        (r.memory.id, r.score) for r in prepared
    ]
    # The question, then its reply (lent most of the question's score).
    assert [r.text for r in unprepared[:2]] == [DIALOGUE[4], DIALOGUE[5]]


def test_vector_text_is_pgvectors_text_form() -> None:
    from pgvector import Vector

    vector = np.random.default_rng(7).standard_normal(384).astype(np.float32)
    assert vector_text(vector) == Vector(vector).to_text()


def test_keyword_candidates_found_first_rank_as_in_one_statement(tenant_a: Tenant) -> None:
    """The engine finds the keyword candidates while the query is being embedded, then
    ranks with them: the same lists as the one statement that does both."""
    query = "Which book do the kids read at bedtime? camping beach"
    with tenant_context(tenant_a.project.id):
        _conversation(tenant_a)
        project_id = tenant_a.project.id
        scope = equality_scope(
            project_id=project_id,
            equalities={"user_id": "caroline"},
            states=["active"],
            expiring_after=None,
        )
        found_first = scope_keyword_candidates(
            scope=scope,
            project_id=project_id,
            query=query_tokens(project_id, query),
            pool=30,
            limit=100,
            prepare=True,
        )
        assert found_first is not None and len(found_first) >= 3
        together = _rank(tenant_a, query)
        apart = _rank(tenant_a, query, keyword=found_first)
        nothing = scope_keyword_candidates(
            scope=scope, project_id=project_id, query={}, pool=30, limit=100
        )
        too_many = scope_keyword_candidates(
            scope=scope, project_id=project_id, query={}, pool=30, limit=3
        )
    assert found_first == together.keyword
    for name in ("semantic", "keyword", "recent", "period", "members", "neighbour_ids"):
        assert getattr(apart, name) == getattr(together, name), name
    assert nothing == [] and too_many is None


def test_a_search_whose_query_is_still_being_embedded_finds_the_same(
    tenant_a: Tenant, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The engine's other order (keyword statement first) gives the same results."""
    import threading
    from concurrent.futures import Future

    from memory.retrieval.query_cache import query_vector

    early_keyword: list[int] = []
    real = engine_module.scope_keyword_candidates

    def recording(**kwargs: Any) -> Any:
        found = real(**kwargs)
        early_keyword.append(len(found or []))
        return found

    monkeypatch.setattr(engine_module, "scope_keyword_candidates", recording)

    query = "What does Melanie read to her kids?"
    with tenant_context(tenant_a.project.id):
        _conversation(tenant_a)
        ready = search(tenant_a.project, query, {"user_id": "caroline"})
        late: Future[Any] = Future()
        vector = query_vector(query)
        timer = threading.Timer(0.2, lambda: late.set_result(vector))
        timer.start()
        parsed = parse_filters(tenant_a.project.id, {"user_id": "caroline"})
        delayed = engine_module.search_memories(
            project_id=tenant_a.project.id,
            query=query,
            filters=parsed,
            top_k=10,
            threshold=0.0,
            options=SearchOptions(),
            query_embedding=late,
        )
        timer.join()
    assert early_keyword and early_keyword[-1] > 0  # the delayed search took the other order
    assert [(r.memory.id, r.score) for r in delayed] == [(r.memory.id, r.score) for r in ready]


@pytest.mark.parametrize("query", ["and the of", "?"])
def test_a_query_without_keywords_is_ranked_by_vector_alone(tenant_a: Tenant, query: str) -> None:
    with tenant_context(tenant_a.project.id):
        _conversation(tenant_a)
        assert query_tokens(tenant_a.project.id, query) == {}
        results = search(tenant_a.project, query, {"user_id": "caroline"})
    assert len(results) == 10
    assert all(r.score_breakdown["bm25"] == 0 and r.score_breakdown["scope"] == 10 for r in results)


def test_bm25_weighs_terms_by_how_common_they_are_in_the_searched_scope(
    tenant_a: Tenant,
) -> None:
    """A name in most of one conversation's turns says little there, however rare it is in
    the project; a word rare in the conversation decides, even if the project is full of it.
    Both ways of scoring a small scope (one statement, or Python) weigh them so."""
    project_id = tenant_a.project.id
    query = "Caroline adoption"
    with tenant_context(project_id):
        _conversation(tenant_a)  # "Caroline" in 5 of 10 turns, "adoption" in 1
        others = [f"The adoption fair number {n} was busy." for n in range(30)]
        make_memories(tenant_a.project, others, user_id="someone-else")
        ranked = _rank(tenant_a, query)
        keyword_only = {"semantic": 0.0, "keyword": 1.0, "temporal": 0.0, "recency": 0.0}
        found = search(
            tenant_a.project, query, filters={"user_id": "caroline"}, weights=keyword_only
        )
    adoption_turn = "Caroline: I am researching adoption agencies for next year."
    scores = dict(ranked.keyword)
    by_text = {result.text: result.memory.id for result in found}
    best = max(scores, key=lambda memory_id: scores[memory_id])
    assert best == by_text[adoption_turn]
    # Project-wide, "adoption" (31 of 40 memories) would weigh less than "Caroline" (5 of 40);
    # in the scope its weight is the higher one by far: twice the next turn's score at least.
    runner_up = sorted(scores.values(), reverse=True)[1]
    assert scores[best] > 2 * runner_up
    assert found[0].text == adoption_turn


@pytest.mark.django_db
def test_embeddings_stay_in_their_rows() -> None:
    """Migration 0008: TOAST may move a long memory's ciphertexts out of its row, never its
    vector, which the whole-scope statement reads for every row of the scope."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT attstorage FROM pg_attribute"
            " WHERE attrelid = 'memory_memory'::regclass AND attname = 'embedding'"
        )
        assert cursor.fetchone() == ("p",)
