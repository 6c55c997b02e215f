"""The blind keyword index and BM25: what is stored, and how it scores."""

import hashlib
import math
from typing import Any
from uuid import UUID

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from audit.services import CLI_ACTOR
from memory.models import Memory, MemoryAccess, MemoryToken
from memory.retrieval import (
    blind_index_tokens,
    bm25_stats_compact,
    bm25_stats_rebuild,
    remove_memory_tokens,
)
from memory.retrieval.blind_index import query_tokens
from memory.retrieval.keyword import corpus_stats, keyword_candidates
from memory.retrieval.tasks import record_access
from memory.retrieval.text import index_terms
from memory.services.memories import MemoryScope, NewMemory, memories_create
from tenants.context import tenant_context
from tests.conftest import Tenant
from tests.memory.test_retrieval import make_memories, make_memory, search


def test_index_terms_are_normalised_stemmed_and_free_of_stop_words() -> None:
    assert index_terms("What did Caroline's mom say about the HIKING trips? ﬁne!") == [
        "carolin", "mom", "sai", "hike", "trip", "fine",
    ]  # fmt: skip
    assert index_terms("hiked hikes hiking") == ["hike", "hike", "hike"]


def test_blind_index_stores_no_plaintext_tokens(tenant_a: Tenant, tenant_b: Tenant) -> None:
    text = "Caroline adores pottery and pottery classes"
    with tenant_context(tenant_a.project.id):
        memory = make_memory(tenant_a.project, text)
        stored = dict(
            MemoryToken.objects.filter(memory=memory).values_list("token", "term_frequency")
        )
        hashes_a = blind_index_tokens(tenant_a.project.id, text)
    with tenant_context(tenant_b.project.id):
        hashes_b = blind_index_tokens(tenant_b.project.id, text)
    assert stored == dict(hashes_a)  # "pottery" twice → one posting with tf 2
    assert sorted(stored.values()) == [1, 1, 1, 2]
    # Unkeyed digests of the terms (what an attacker could precompute) appear nowhere.
    for term in index_terms(text):
        unkeyed = int.from_bytes(hashlib.sha256(term.encode()).digest()[:8], "big", signed=True)
        assert unkeyed not in stored
    # Per-project keys: the same word hashes differently in another project.
    assert not set(hashes_a) & set(hashes_b)


TOY_CORPUS = [
    "apple banana apple",  # terms: appl banana appl (length 3)
    "banana cherry",  # banana cherri (2)
    "cherry durian elderberry",  # cherri durian elderberri (3)
]


def bm25(tf: int, df: int, n: int, length: int, avgdl: float) -> float:
    idf = math.log(1 + (n - df + 0.5) / (df + 0.5))
    return idf * tf * 2.2 / (tf + 1.2 * (0.25 + 0.75 * length / avgdl))


def test_bm25_scores_match_the_hand_computed_values(tenant_a: Tenant) -> None:
    with tenant_context(tenant_a.project.id):
        d1, d2, d3 = make_memories(tenant_a.project, TOY_CORPUS)
        scope = Memory.objects.filter(project=tenant_a.project)
        tokens = query_tokens(tenant_a.project.id, "apple banana")
        hits, stats = keyword_candidates(
            scope, project_id=tenant_a.project.id, query=tokens, limit=10, small_scope=True
        )
        large_hits, _ = keyword_candidates(
            scope, project_id=tenant_a.project.id, query=tokens, limit=10, small_scope=False
        )
    assert (stats.documents, stats.average_length) == (3, pytest.approx(8 / 3))
    # By hand: N=3, avgdl=8/3; apple: df 1, banana: df 2.
    # idf(apple) = ln(1 + 2.5/1.5) = 0.98083, idf(banana) = ln(1 + 1.5/2.5) = 0.47000
    # d1 = apple(tf 2, |d| 3) + banana(tf 1, |d| 3) = 1.30284 + 0.44714 = 1.74998
    # d2 = banana(tf 1, |d| 2) = 0.52355
    expected = {d1.id: 1.74998, d2.id: 0.52355}
    assert bm25(2, 1, 3, 3, 8 / 3) + bm25(1, 2, 3, 3, 8 / 3) == pytest.approx(1.74998, abs=1e-5)
    for found in (hits, large_hits):
        assert [memory_id for memory_id, _ in found] == [d1.id, d2.id]
        for memory_id, score in found:
            assert score == pytest.approx(expected[memory_id], abs=1e-5)
    assert d3.id not in dict(hits)


def test_removing_and_compacting_keep_bm25_statistics_exact(tenant_a: Tenant) -> None:
    project_id = tenant_a.project.id
    with tenant_context(project_id):
        d1, d2, _ = make_memories(tenant_a.project, TOY_CORPUS)
        remove_memory_tokens(project_id=project_id, memory_ids=[d1.id])
        cherry = list(query_tokens(project_id, "cherry banana"))
        after_remove = corpus_stats(project_id, cherry)
        bm25_stats_compact(project_id=project_id)
        after_compact = corpus_stats(project_id, cherry)
        bm25_stats_rebuild(project_id=project_id)
        rebuilt = corpus_stats(project_id, cherry)
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT count(*) FROM memory_bm25stat WHERE project_id = %s", [project_id]
            )
            rows = cursor.fetchone()[0]
        assert MemoryToken.objects.filter(memory=d1).count() == 0
    assert after_remove == after_compact == rebuilt
    assert (rebuilt.documents, rebuilt.average_length) == (2, 2.5)
    assert sorted(rebuilt.document_frequency.values()) == [1, 2]  # banana 1, cherry 2
    assert rows == 5  # the corpus row, banana, cherri, durian, elderberri (appl is gone)
    assert d2.id


def test_keyword_search_matches_words_the_embedding_misses(tenant_a: Tenant) -> None:
    with tenant_context(tenant_a.project.id):
        make_memories(
            tenant_a.project,
            [
                "My locker code at the Zephyrhills gym is 4471.",
                "I usually go to the gym on Mondays and Thursdays.",
                "The gym near work has a sauna.",
            ],
        )
        results = search(tenant_a.project, "zephyrhills", top_k=3)
    assert results[0].text.startswith("My locker code at the Zephyrhills")
    assert results[0].score_breakdown["ranks"]["keyword"] == 1


def test_access_counts_are_recorded_after_commit_off_the_request_path(
    tenant_a: Tenant, django_capture_on_commit_callbacks: object
) -> None:
    with tenant_context(tenant_a.project.id):
        memory = make_memory(tenant_a.project, "I keep my passport in the blue drawer.")
        with django_capture_on_commit_callbacks() as callbacks:  # type: ignore[operator]
            results = search(tenant_a.project, "where is my passport")
        assert not MemoryAccess.objects.exists()  # the search itself wrote nothing
        assert len(callbacks) == 1
        record_access(project_id=tenant_a.project.id, memory_ids=[results[0].memory.id])
        record_access(project_id=tenant_a.project.id, memory_ids=[memory.id], uses=2)
        access = MemoryAccess.objects.get(memory=memory)
    assert access.access_count == 3 and access.last_accessed_at is not None


def test_counting_uses_never_rewrites_the_memory_row(tenant_a: Tenant) -> None:
    """The memory's row holds its vector: rewriting it on every use would add an entry to
    every index of memory_memory (HNSW included) per search result."""
    with tenant_context(tenant_a.project.id):
        memory = make_memory(tenant_a.project, "The spare key is under the flower pot.")
        before = _row_version(memory.id)
        for _ in range(3):
            record_access(project_id=tenant_a.project.id, memory_ids=[memory.id])
        assert _row_version(memory.id) == before
        assert MemoryAccess.objects.get(memory=memory).access_count == 3


def test_uses_of_another_projects_memory_are_not_counted(
    tenant_a: Tenant, tenant_b: Tenant
) -> None:
    with tenant_context(tenant_b.project.id):
        theirs = make_memory(tenant_b.project, "Their locker code is 1234.")
    with tenant_context(tenant_a.project.id):
        counted = record_access(project_id=tenant_a.project.id, memory_ids=[theirs.id])
    assert counted == 0
    with tenant_context(tenant_b.project.id):
        assert not MemoryAccess.objects.filter(memory_id=theirs.id).exists()


def _row_version(memory_id: UUID) -> tuple[str, str]:
    """The row's physical place and creating transaction: both change when it is rewritten."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT ctid::text, xmin::text FROM memory_memory WHERE id = %s", [memory_id]
        )
        row = cursor.fetchone()
    return row[0], row[1]


def test_new_memories_are_inserted_with_their_length_never_updated_after(
    tenant_a: Tenant,
) -> None:
    """An update right after the insert would write a second version of each new row into
    every index of memory_memory (HNSW included): the length is known before the insert."""
    items = [NewMemory(text=text) for text in TOY_CORPUS]
    with tenant_context(tenant_a.project.id), CaptureQueriesContext(connection) as queries:
        changes = memories_create(
            project=tenant_a.project,
            scope=MemoryScope(user_id="alice"),
            items=items,
            actor=CLI_ACTOR,
        )
    statements = [query["sql"].lstrip().upper() for query in queries.captured_queries]
    assert any(sql.startswith('INSERT INTO "MEMORY_MEMORY"') for sql in statements)
    assert not [sql for sql in statements if sql.startswith('UPDATE "MEMORY_MEMORY"')]
    with tenant_context(tenant_a.project.id):
        lengths = dict(Memory.objects.values_list("pk", "token_count"))
    assert [lengths[change.memory.id] for change in changes] == [3, 2, 3]


@pytest.mark.parametrize(
    "weights", [None, {"keyword": 1.0}], ids=["whole-scope", "general-path-keyword-only"]
)
def test_counted_uses_feed_the_frequency_boost(
    tenant_a: Tenant, weights: dict[str, float] | None
) -> None:
    with tenant_context(tenant_a.project.id):
        used, unused = make_memories(
            tenant_a.project, ["My bike lock code is 2468.", "My gym lock code is 1357."]
        )
        record_access(project_id=tenant_a.project.id, memory_ids=[used.id], uses=6)
        options: dict[str, Any] = {"weights": weights} if weights else {}
        found = {r.memory.id: r for r in search(tenant_a.project, "lock code", **options)}
    assert found[used.id].score_breakdown["frequency"] == pytest.approx(0.5, abs=0.05)
    assert found[unused.id].score_breakdown["frequency"] == 0.0
