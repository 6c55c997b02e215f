"""Search as a user of the Mem0 search endpoint sees it: scoping, filters, expiry,
superseded facts, thresholds, time-aware queries, scores. Real PostgreSQL + pgvector, real
MiniLM embeddings. The builders below write memories the way the services do (encrypted text,
embeddings, blind-index postings), so other retrieval test modules import them."""

from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import UUID, uuid4

import numpy as np
import pytest
from django.db import connection
from django.test.utils import override_settings
from django.utils import timezone

from memory.filters import parse_filters
from memory.models import Memory, MemoryState
from memory.providers.embedder import get_embedder
from memory.records import content_hash, field, metadata_hashes, seal, seal_json
from memory.retrieval import ScoredMemory, SearchOptions, search_memories
from memory.retrieval import engine as engine_module
from memory.retrieval import vector as vector_module
from memory.retrieval.blind_index import memory_postings, write_postings
from memory.retrieval.context import asks_question
from memory.retrieval.vector import exact_candidates, hnsw_candidates, vector_candidates
from memory.retrieval.whole_scope import equality_scope
from tenants.context import tenant_context
from tenants.models import Project
from tests.conftest import Tenant


def make_memories(
    project: Project,
    texts: list[str],
    *,
    user_id: str | None = "alice",
    agent_id: str | None = None,
    run_id: str | None = None,
    created_at: list[datetime] | datetime | None = None,
    embeddings: np.ndarray | None = None,
    **fields: Any,
) -> list[Memory]:
    """Memories in one scope; call inside tenant_context(project.id)."""
    vectors = get_embedder().embed(texts) if embeddings is None else embeddings
    now = timezone.now()
    moments = created_at if isinstance(created_at, list) else [created_at or now] * len(texts)
    metadata = fields.pop("metadata", None)
    rows = []
    for text, vector, moment in zip(texts, vectors, moments, strict=True):
        memory_id = uuid4()
        rows.append(
            Memory(
                id=memory_id,
                project=project,
                user_id=user_id,
                agent_id=agent_id,
                run_id=run_id,
                text_ciphertext=seal(project.id, text, field(memory_id, "text"), user_id),
                content_hash=content_hash(project.id, text),
                metadata_ciphertext=(
                    seal_json(project.id, metadata, field(memory_id, "metadata"), user_id)
                    if metadata
                    else None
                ),
                metadata_hashes=metadata_hashes(project.id, metadata),
                embedding=vector,
                created_at=moment,
                updated_at=now,
                asks_question=fields.get("asks_question", asks_question(text)),
                **{name: value for name, value in fields.items() if name != "asks_question"},
            )
        )
    # As memories_create() does: each row inserted with its length, the postings after it.
    pairs = [(row.id, text) for row, text in zip(rows, texts, strict=True)]
    postings = memory_postings(project_id=project.id, items=pairs)
    for row in rows:
        row.token_count = postings.lengths[row.id]
    Memory.objects.bulk_create(rows)
    write_postings(project_id=project.id, postings=postings)
    return rows


def make_memory(project: Project, text: str, **kwargs: Any) -> Memory:
    return make_memories(project, [text], **kwargs)[0]


def search(
    project: Project,
    query: str,
    filters: dict[str, Any] | None = None,
    *,
    top_k: int = 10,
    threshold: float = 0.0,
    **options: Any,
) -> list[ScoredMemory]:
    parsed = parse_filters(project.id, filters if filters is not None else {"user_id": "alice"})
    return search_memories(
        project_id=project.id,
        query=query,
        filters=parsed,
        top_k=top_k,
        threshold=threshold,
        options=SearchOptions(**options),
    )


def texts(results: list[ScoredMemory]) -> list[str]:
    return [result.text for result in results]


def ids(results: list[ScoredMemory]) -> list[UUID]:
    return [result.memory.id for result in results]


def superseded(old: Memory, new: Memory) -> None:
    Memory.objects.filter(pk=old.pk).update(state=MemoryState.SUPERSEDED, replaced_by=new)


ALICE_FACTS = [
    "I adopted a golden retriever puppy named Biscuit last spring.",
    "My favourite programming language is Python, I use it at work every day.",
    "I am allergic to peanuts and shellfish.",
    "I moved to Lisbon for a new job at a fintech startup.",
    "My sister Maria is getting married in September.",
    "I started learning to play the cello two months ago.",
    "I prefer window seats on long flights.",
    "My daughter's birthday party is at the bowling alley.",
]


@pytest.fixture
def alice_memories(tenant_a: Tenant) -> list[Memory]:
    with tenant_context(tenant_a.project.id):
        return make_memories(tenant_a.project, ALICE_FACTS)


def test_search_finds_the_memory_that_answers_the_question(
    tenant_a: Tenant, alice_memories: list[Memory]
) -> None:
    with tenant_context(tenant_a.project.id):
        assert texts(search(tenant_a.project, "What is my dog called?"))[0] == ALICE_FACTS[0]
        assert texts(search(tenant_a.project, "food allergies"))[0] == ALICE_FACTS[2]
        # A keyword the embedding alone might miss: the blind index matches "cello".
        assert texts(search(tenant_a.project, "cello lessons"))[0] == ALICE_FACTS[5]


def test_user_scoped_search_never_returns_another_users_memories(
    tenant_a: Tenant, alice_memories: list[Memory]
) -> None:
    with tenant_context(tenant_a.project.id):
        make_memories(tenant_a.project, ["My dog is called Rex."], user_id="charlie")
        found = search(tenant_a.project, "What is my dog called?", top_k=50)
        charlie = search(tenant_a.project, "dog", {"user_id": "charlie"}, top_k=50)
    assert found and all(result.memory.user_id == "alice" for result in found)
    assert texts(charlie) == ["My dog is called Rex."]


def test_search_never_returns_other_projects_memories(
    tenant_a: Tenant, tenant_b: Tenant, alice_memories: list[Memory]
) -> None:
    with tenant_context(tenant_b.project.id):
        make_memories(tenant_b.project, ["I adopted a golden retriever named Biscuit."])
    with tenant_context(tenant_a.project.id):
        everyone = search(tenant_a.project, "golden retriever Biscuit", {"user_id": "*"}, top_k=100)
    assert {result.memory.project_id for result in everyone} == {tenant_a.project.id}
    with tenant_context(tenant_b.project.id):
        other = search(tenant_b.project, "golden retriever Biscuit", {"user_id": "*"}, top_k=100)
    assert texts(other) == ["I adopted a golden retriever named Biscuit."]


def test_scores_are_between_zero_and_one_and_sorted(
    tenant_a: Tenant, alice_memories: list[Memory]
) -> None:
    with tenant_context(tenant_a.project.id):
        results = search(tenant_a.project, "Python programming at work", top_k=8)
    scores = [result.score for result in results]
    assert len(results) == 8
    assert all(0.0 <= score <= 1.0 for score in scores)
    assert scores == sorted(scores, reverse=True)
    top = results[0].score_breakdown
    assert results[0].text == ALICE_FACTS[1]
    assert top["semantic"] > 0.3 and top["bm25"] > 0 and top["vector_path"] == "exact"


def test_top_k_and_threshold_are_honoured(tenant_a: Tenant, alice_memories: list[Memory]) -> None:
    with tenant_context(tenant_a.project.id):
        assert len(search(tenant_a.project, "my family", top_k=3)) == 3
        everything = search(tenant_a.project, "my family", top_k=100)
        cut = (everything[2].score + everything[3].score) / 2
        above = search(tenant_a.project, "my family", top_k=100, threshold=cut)
    assert len(everything) == len(ALICE_FACTS)
    assert ids(above) == ids(everything)[:3]


def test_expired_memories_are_hidden_unless_show_expired(tenant_a: Tenant) -> None:
    today = timezone.now().astimezone(UTC).date()
    with tenant_context(tenant_a.project.id):
        make_memory(
            tenant_a.project,
            "My gym pass is valid at Fitness Hub.",
            expiration_date=today - timedelta(days=1),
        )
        make_memory(
            tenant_a.project, "My parking permit is valid at Fitness Hub.", expiration_date=today
        )  # the last day is still visible (inclusive)
        visible = texts(search(tenant_a.project, "Fitness Hub pass"))
        everything = texts(search(tenant_a.project, "Fitness Hub pass", show_expired=True))
    assert visible == ["My parking permit is valid at Fitness Hub."]
    assert len(everything) == 2


def test_superseded_memory_loses_to_its_successor(tenant_a: Tenant) -> None:
    with tenant_context(tenant_a.project.id):
        old = make_memory(
            tenant_a.project,
            "I live in Berlin, in Kreuzberg.",
            created_at=timezone.now() - timedelta(days=200),
        )
        new = make_memory(tenant_a.project, "I moved from Berlin to Munich.")
        superseded(old, new)
        latest = texts(search(tenant_a.project, "Where do I live? Berlin Kreuzberg"))
        history = search(tenant_a.project, "Where do I live? Berlin Kreuzberg", latest_only=False)
    assert latest == ["I moved from Berlin to Munich."]
    assert ids(history) == [new.id, old.id]
    assert history[0].score > history[1].score


def test_filters_are_honoured(tenant_a: Tenant) -> None:
    with tenant_context(tenant_a.project.id):
        make_memory(
            tenant_a.project,
            "Book the dentist for Tuesday.",
            agent_id="planner",
            run_id="r1",
            categories=["health"],
            metadata={"source": "chat"},
        )
        make_memory(
            tenant_a.project,
            "Book the dentist cleaning in May.",
            agent_id="helper",
            run_id="r2",
            categories=["misc"],
            metadata={"source": "email"},
        )
        project = tenant_a.project
        by_agent = search(
            project, "dentist", {"AND": [{"user_id": "alice"}, {"agent_id": "planner"}]}
        )
        by_run = search(project, "dentist", {"run_id": "r2"})
        by_category = search(project, "dentist", categories=["health"])
        by_metadata = search(project, "dentist", metadata={"source": "email"})
        by_meta_filter = search(
            project, "dentist", {"user_id": "alice", "metadata": {"source": "chat"}}
        )
        by_text = search(project, "dentist", {"user_id": "alice", "keywords": {"icontains": "MAY"}})
    assert texts(by_agent) == ["Book the dentist for Tuesday."]
    assert texts(by_run) == ["Book the dentist cleaning in May."]
    assert texts(by_category) == ["Book the dentist for Tuesday."]
    assert texts(by_metadata) == ["Book the dentist cleaning in May."]
    assert texts(by_meta_filter) == ["Book the dentist for Tuesday."]
    assert texts(by_text) == ["Book the dentist cleaning in May."]


def test_time_aware_query_prefers_memories_from_that_time(tenant_a: Tenant) -> None:
    reference = datetime(2025, 6, 18, 12, 0, tzinfo=UTC)
    with tenant_context(tenant_a.project.id):
        recent, old = make_memories(
            tenant_a.project,
            ["I went hiking in the hills with Sam.", "I went hiking in the mountains with Sam."],
            created_at=[reference - timedelta(days=1), reference - timedelta(days=80)],
        )
        yesterday = search(
            tenant_a.project, "Where did I go hiking yesterday?", reference_date=reference
        )
        in_march = search(
            tenant_a.project, "Who did I go hiking with in March?", reference_date=reference
        )
    assert ids(yesterday)[0] == recent.id
    assert yesterday[0].score_breakdown["in_time_window"] is True
    assert ids(in_march)[0] == old.id


def walk_the_graph() -> None:
    """Small test tables make the planner sort instead of using HNSW; on a large table it
    takes the graph. Forbid the sort, so these tests exercise the HNSW index."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT set_config('enable_sort', 'off', true)")


def test_exact_and_hnsw_paths_agree(tenant_a: Tenant) -> None:
    topics = ["coffee", "chess", "sailing", "jazz", "tax forms", "gardening", "Rust", "yoga"]
    sentences = [
        f"Note {i}: I talked about {topics[i % 8]} with friend number {i}." for i in range(240)
    ]
    with tenant_context(tenant_a.project.id):
        make_memories(tenant_a.project, sentences)
        scope = Memory.objects.filter(project=tenant_a.project, user_id="alice")
        walk_the_graph()
        for query in ["sailing trip", "jazz concert", "filing taxes"]:
            vector = get_embedder().embed_one(query)
            exact = exact_candidates(scope, vector, 10)
            hnsw = hnsw_candidates(scope, vector, 10, ef_search=100, iterative=False)
            assert len({m for m, _ in exact} & {m for m, _ in hnsw}) >= 9
            assert exact[0] == pytest.approx(hnsw[0])


def test_hnsw_never_returns_fewer_memories_than_available(
    tenant_a: Tenant, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A selective filter hides most of what the HNSW walk visits: the engine must keep
    walking (iterative scan) or answer exactly, never return fewer memories than exist."""
    rng = np.random.default_rng(3)
    noise = rng.normal(size=(1500, 384)).astype(np.float32)
    noise /= np.linalg.norm(noise, axis=1, keepdims=True)
    monkeypatch.setattr(vector_module, "HNSW_MAX_EF_SEARCH", 40)
    with tenant_context(tenant_a.project.id):
        make_memories(
            tenant_a.project, [f"filler {i}" for i in range(1500)], user_id="bob", embeddings=noise
        )
        mine = make_memories(tenant_a.project, [f"Alice's note {i} about tea." for i in range(5)])
        scope = Memory.objects.filter(project=tenant_a.project, user_id="alice")
        walk_the_graph()
        graph_only = hnsw_candidates(scope, noise[0], 10, ef_search=40, iterative=False)
        with override_settings(ENGRAM_SEARCH_EXACT_MAX=2):
            found = vector_candidates(scope, noise[0], 10, scope_size=3)
            results = search(tenant_a.project, "filler", top_k=10)
    assert len(graph_only) < 5  # what a plain HNSW walk returns
    # pgvector >= 0.8 keeps walking the graph (iterative scan), which on random vectors may
    # still miss a poorly connected node and then answers exactly; older ones answer exactly.
    if vector_module.supports_iterative_scan():
        assert found.path in {"hnsw-iterative", "hnsw-iterative→exact"}
    else:
        assert found.path == "hnsw→exact"
    assert {memory_id for memory_id, _ in found.hits} == {row.id for row in mine}
    assert len(results) == 5


def test_the_threshold_sees_each_memorys_own_relevance_as_mem0s_does(tenant_a: Tenant) -> None:
    """Fusion is relative: with few candidates the runner-up fused to almost 0 and fell under
    the threshold however similar it was. Its score is floored at its own relevance (as
    Mem0 gates on the semantic score), never above the memory ranked before it."""
    with tenant_context(tenant_a.project.id):
        make_memories(
            tenant_a.project,
            [
                "I am allergic to peanuts.",
                "Peanut allergy runs in my family, my sister has it too.",
                "My favourite colour is teal.",
            ],
        )
        results = search(tenant_a.project, "Which snack is safe with my allergy?", threshold=0.3)
    assert sorted(texts(results)) == [
        "I am allergic to peanuts.",
        "Peanut allergy runs in my family, my sister has it too.",
    ]
    scores = [result.score for result in results]
    assert scores == sorted(scores, reverse=True) and min(scores) >= 0.3
    for before, result in zip([None, *results], results, strict=False):
        floor = result.score_breakdown["semantic"]
        if before is not None:
            floor = min(floor, before.score)
        assert result.score >= floor - 1e-4


def test_relevance_floor_keeps_the_order_and_never_rises_above_the_memory_before() -> None:
    from memory.retrieval.fusion import with_relevance_floor

    a, b, c, d = uuid4(), uuid4(), uuid4(), uuid4()
    scores = {a: 0.9, b: 0.2, c: 0.01, d: 0.0}
    floors = {a: 0.5, b: 0.95, c: 0.3, d: 0.05}
    raised = with_relevance_floor([a, b, c, d], scores, floors)
    # b is capped at a's score; c rises to its own relevance; d to its own.
    assert raised == {a: 0.9, b: 0.9, c: 0.3, d: 0.05}


def test_large_pinned_scopes_rank_alike_on_every_path(
    tenant_a: Tenant, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A pinned scope is read whole in one statement when small; a larger one goes through
    the general path (and is remembered as large, to skip the whole read next time). All
    three ways must return the same memories with the same scores."""
    from memory.retrieval import engine

    facts = [
        "I drink green tea every morning",
        "My sister lives in Madrid",
        "I play the violin on Sundays",
        "The dog is called Luna",
        "I am allergic to peanuts",
        "We moved to Lisbon last spring",
        "My favourite tea is sencha",
        "I work as a nurse at night",
        "Coffee keeps me awake",
        "I run five kilometres on Saturdays",
        "The car needs new tyres",
        "Tea with milk is my grandmother's habit",
    ]
    with tenant_context(tenant_a.project.id):
        make_memories(tenant_a.project, facts)
        make_memories(tenant_a.project, ["Bob drinks tea too"], user_id="bob")
        whole = search(tenant_a.project, "which tea do I like?")
        monkeypatch.setattr(engine, "WHOLE_SCOPE_MAX", 5)
        monkeypatch.setattr(engine, "_large_scopes", engine._LargeScopeMemo())
        overflowing = search(tenant_a.project, "which tea do I like?")
        assert len(engine._large_scopes._until) == 1  # remembered as large
        remembered = search(tenant_a.project, "which tea do I like?")
    expected = [(r.text, r.score) for r in whole]
    assert [(r.text, r.score) for r in overflowing] == expected
    assert [(r.text, r.score) for r in remembered] == expected
    assert "Bob drinks tea too" not in texts(whole)
    assert whole[0].score_breakdown["scope"] == overflowing[0].score_breakdown["scope"] == 12


def test_hnsw_settings_are_put_back_after_the_walk(tenant_a: Tenant) -> None:
    """ef_search and the iterative-scan settings are SET LOCAL for one query, in one round
    trip, and put back (or reset) after it, so later queries of the transaction see theirs."""

    def setting(name: str) -> str:
        with connection.cursor() as cursor:
            cursor.execute("SELECT coalesce(current_setting(%s, true), '')", [name])
            return str(cursor.fetchone()[0])

    with tenant_context(tenant_a.project.id):
        rows = make_memories(tenant_a.project, ["I like green tea", "The sky is blue"])
        scope = Memory.objects.filter(project=tenant_a.project, user_id="alice")
        with connection.cursor() as cursor:
            cursor.execute("SET LOCAL hnsw.ef_search = 77")
        before = {name: setting(name) for name in ("hnsw.iterative_scan", "hnsw.max_scan_tuples")}
        found = hnsw_candidates(
            scope, np.asarray(rows[0].embedding), 2, ef_search=300, iterative=True
        )
        assert setting("hnsw.ef_search") == "77"
        assert {name: setting(name) for name in before} == before
    assert found[0][0] == rows[0].id


def test_results_from_many_users_load_their_keys_in_one_query(tenant_a: Tenant) -> None:
    from django.test.utils import CaptureQueriesContext

    from tenants.keyring import key_cache

    with tenant_context(tenant_a.project.id):
        for user in ("ann", "ben", "cat", "dan"):
            make_memories(tenant_a.project, [f"{user} drinks green tea"], user_id=user)
        key_cache.forget()  # as in a process that has not seen these users yet
        with CaptureQueriesContext(connection) as queries:
            results = search(tenant_a.project, "green tea", {"user_id": "*"})
    assert sorted(texts(results)) == [f"{u} drinks green tea" for u in ("ann", "ben", "cat", "dan")]
    key_reads = [q["sql"] for q in queries.captured_queries if '"tenants_datakey"' in q["sql"]]
    # One for the project's index key (the query's keyword hashes), one for the four users'
    # keys together; one each would make five.
    assert len(key_reads) == 2, key_reads


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ({"user_id": "alice"}, True),
        ({"user_id": "alice", "run_id": "r1"}, True),
        ({"AND": [{"user_id": "alice"}, {"agent_id": {"eq": "planner"}}]}, True),
        ({"user_id": "*"}, False),
        ({"user_id": "alice", "created_at": {"gte": "2000-01-01"}}, False),
        ({"AND": [{"user_id": "alice"}, {"user_id": "bob"}]}, False),
        ({"OR": [{"user_id": "alice"}, {"user_id": "bob"}]}, False),
        ({"user_id": {"in": ["alice"]}}, False),
    ],
)
def test_filters_that_only_pin_entities_are_recognised(raw: dict, expected: bool) -> None:
    assert parse_filters(uuid4(), raw).equalities_only is expected


def test_the_hand_written_and_the_orm_scope_statements_agree(
    tenant_a: Tenant, alice_memories: list[Memory], monkeypatch: pytest.MonkeyPatch
) -> None:
    calls: list[dict[str, str]] = []

    def counted(**kwargs: Any) -> tuple[str, dict[str, Any]]:
        calls.append(kwargs["equalities"])
        return equality_scope(**kwargs)

    monkeypatch.setattr(engine_module, "equality_scope", counted)
    with tenant_context(tenant_a.project.id):
        make_memory(tenant_a.project, "My cello teacher is strict.", run_id="r1")
        make_memory(tenant_a.project, "Gone", expiration_date=timezone.now().date() - timedelta(1))
        for query in ("cello lessons", "which pets do I have?", "peanut allergy"):
            pinned = search(tenant_a.project, query, {"user_id": "alice"})
            # A date condition that holds for every memory sends the search down the ORM.
            general = search(
                tenant_a.project,
                query,
                {"AND": [{"user_id": "alice"}, {"created_at": {"gte": "2000-01-01"}}]},
            )
            assert [(r.memory.id, r.score) for r in pinned] == [
                (r.memory.id, r.score) for r in general
            ]
            assert texts(pinned) and "Gone" not in texts(pinned)
    assert calls == [{"user_id": "alice"}] * 3  # the pinned searches only
