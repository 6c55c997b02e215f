"""Conversation context: a question turn that matches the query lends its score to the turn
that answers it, in the whole-scope path (a pinned user) and in the general one."""

from datetime import UTC, datetime, timedelta
from uuid import UUID

import pytest
from django.utils import timezone

from memory.models import Memory
from memory.retrieval import ScoredMemory
from memory.retrieval.context import asks_question
from memory.services.memories import MemoryScope, NewMemory, memories_create
from tenants.context import tenant_context
from tests.conftest import Tenant
from tests.memory.test_retrieval import make_memories, search, texts
from tests.support.memory_api import add_memory

DIALOGUE = [
    "Melanie: How was your weekend, Caroline?",
    "Caroline: Quiet, I mostly stayed in and cooked.",
    "Melanie: Books have such an awesome power! Which one has been your favourite guide?",
    'Caroline: I loved "Becoming Nicole" by Amy Ellis Nutt, a true story of a family.',
    "Melanie: That sounds lovely. Did you see the game last night?",
    "Caroline: No, I fell asleep early. Work has been exhausting lately.",
    "Melanie: My kids painted the fence yellow on Saturday.",
    "Caroline: Ha, I bet they had fun with that.",
]
QUERY = "Which book did Melanie ask Caroline about as a favourite guide?"
ANSWER = DIALOGUE[3]


def _turns(tenant: Tenant, turns: list[str], start: datetime, run_id: str | None) -> None:
    moments = [start + timedelta(seconds=30 * i) for i in range(len(turns))]
    make_memories(tenant.project, turns, run_id=run_id, created_at=moments)


def _dialogue(tenant: Tenant) -> None:
    _turns(tenant, DIALOGUE, timezone.now() - timedelta(days=3), "s1")


def _lent_to(results: list[ScoredMemory], text: str) -> float:
    return next(r.score_breakdown["context"] for r in results if r.text == text)


def test_asks_question_looks_for_a_question_mark() -> None:
    assert asks_question("Which one has been your favourite?")
    assert asks_question("What? No way, really.")
    assert not asks_question("I loved Becoming Nicole.")


@pytest.mark.parametrize("filters", [{"user_id": "alice"}, {"user_id": "*"}])
def test_the_answer_to_a_matching_question_is_lifted(tenant_a: Tenant, filters: dict) -> None:
    with tenant_context(tenant_a.project.id):
        _dialogue(tenant_a)
        plain = texts(search(tenant_a.project, QUERY, filters, top_k=2, reply_strength=0.0))
        results = search(tenant_a.project, QUERY, filters, top_k=3)
    assert ANSWER not in plain
    assert texts(results)[:2] == [DIALOGUE[2], ANSWER]
    answer = results[1]
    assert answer.score_breakdown["context"] > 0
    assert answer.score == pytest.approx(0.9 * results[0].score, rel=1e-3)


def test_only_the_next_turn_of_the_same_conversation_gets_it(tenant_a: Tenant) -> None:
    with tenant_context(tenant_a.project.id):
        start = timezone.now() - timedelta(days=3)
        # The question ends one session; the next turn is in another run.
        _turns(tenant_a, DIALOGUE[:3], start, "s1")
        _turns(tenant_a, DIALOGUE[3:], start + timedelta(seconds=90), "s2")
        results = search(tenant_a.project, QUERY, top_k=len(DIALOGUE))
    assert texts(results)[0] == DIALOGUE[2]
    assert _lent_to(results, ANSWER) == 0


def test_turns_far_apart_in_time_are_not_neighbours(tenant_a: Tenant) -> None:
    with tenant_context(tenant_a.project.id):
        start = timezone.now() - timedelta(days=3)
        _turns(tenant_a, DIALOGUE[:3], start, None)
        _turns(tenant_a, DIALOGUE[3:], start + timedelta(hours=5), None)
        results = search(tenant_a.project, QUERY, top_k=len(DIALOGUE))
    assert texts(results)[0] == DIALOGUE[2]
    assert _lent_to(results, ANSWER) == 0


def test_a_statement_lends_nothing_unless_context_strength_is_set(tenant_a: Tenant) -> None:
    with tenant_context(tenant_a.project.id):
        _dialogue(tenant_a)
        query = "Did the kids paint the fence yellow?"
        plain = search(tenant_a.project, query, top_k=3)
        lending = search(tenant_a.project, query, top_k=3, context_strength=0.8)
    assert texts(plain)[0] == DIALOGUE[6]
    assert plain[1].score_breakdown["context"] == 0
    assert DIALOGUE[7] in texts(lending)[:2]


def test_services_store_whether_a_memory_asks_a_question(tenant_a: Tenant) -> None:
    from audit.services import CLI_ACTOR

    with tenant_context(tenant_a.project.id):
        changes = memories_create(
            project=tenant_a.project,
            scope=MemoryScope(user_id="alice"),
            items=[NewMemory(text="Where do you live?"), NewMemory(text="In Lisbon.")],
            actor=CLI_ACTOR,
        )
        flags = dict(
            Memory.objects.filter(pk__in=[c.memory.id for c in changes]).values_list(
                "pk", "asks_question"
            )
        )
    assert [flags[c.memory.id] for c in changes] == [True, False]


def test_turns_stored_at_the_same_moment_lend_nothing(tenant_a: Tenant) -> None:
    with tenant_context(tenant_a.project.id):
        # Each turn added on its own with the session's timestamp: their order is unknown.
        make_memories(tenant_a.project, DIALOGUE, run_id="s1", created_at=timezone.now())
        results = search(tenant_a.project, QUERY, top_k=len(DIALOGUE))
    assert texts(results)[0] == DIALOGUE[2]
    assert all(result.score_breakdown["context"] == 0 for result in results)


def test_turns_added_one_by_one_with_one_timestamp_keep_their_order(tenant_a: Tenant) -> None:
    """A client that adds each turn on its own, all with the session's `timestamp`: the
    turns keep the order they arrived in, so the reply is still found."""
    session_time = 1_700_000_000
    client = tenant_a.client()
    ids = [
        add_memory(client, turn, run_id="s1", infer=False, timestamp=session_time)
        for turn in DIALOGUE
    ]
    with tenant_context(tenant_a.project.id):
        moments = dict(Memory.objects.filter(pk__in=ids).values_list("pk", "created_at"))
        results = search(tenant_a.project, QUERY, top_k=3)
    ordered = [moments[UUID(memory_id)] for memory_id in ids]
    assert ordered == sorted(ordered) and len(set(ordered)) == len(ids)
    assert ordered[0] == datetime.fromtimestamp(session_time, UTC)
    assert ordered[-1] - ordered[0] < timedelta(seconds=1)
    assert ANSWER in texts(results)[:2] and _lent_to(results, ANSWER) > 0
