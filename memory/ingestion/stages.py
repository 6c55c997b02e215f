"""Pure pipeline stages between extraction and storage.

Thresholds are cosine similarities between unit vectors and were checked against the local
all-MiniLM-L6-v2 embedder on fact-shaped sentences:

- paraphrases ("User lives in Berlin" / "User resides in Berlin") land at 0.88-0.97;
- a changed value in the same slot ("lives in Berlin" / "lives in Munich") at 0.57-0.80,
  but a changed number or swapped order ("is 34" / "is 35", "prefers Python over
  JavaScript" / the reverse) reaches 0.97-0.98;
- negations ("User eats meat" / "User does not eat meat") reach 0.88-0.93, and opposite
  sentiment ("loves jazz" / "hates jazz") 0.89;
- related but different facts sit at 0.3-0.8.

So similarity alone can never tell a duplicate from a contradiction. Every "same fact"
decision also requires the same polarity and the same key tokens (names, numbers, in
order), and contradictions and slot changes are checked before near-duplicates.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import math
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np
from numpy.typing import NDArray

from memory.ingestion.categories import categorize
from memory.ingestion.facts import CandidateFact

# Facts scored below this are not worth a memory (small talk, trivia the model was unsure of).
MIN_IMPORTANCE = 0.2
# Above the paraphrase floor seen with MiniLM (0.88) so that merely related facts (<= 0.8)
# and sentiment flips (0.89) are never merged; below exact restatements (0.96-0.99).
NEAR_DUPLICATE = 0.92
# A hedged fact ("I think I might have moved") does not supersede a confident memory.
LOW_CONFIDENCE = 0.5
CONFIDENCE_MARGIN = 0.3
# Token overlap needed to call two propositions "the same" when their wording differs a bit.
SAME_PROPOSITION_OVERLAP = 0.8
# ...and the cosine floor that must accompany such a fuzzy match.
CONTRADICTION_MIN_SIMILARITY = 0.75

Action = Literal["ADD", "UPDATE", "DELETE", "NONE"]


@dataclass(frozen=True)
class Neighbour:
    memory_id: str
    text: str
    similarity: float
    subject_key: str | None
    confidence: float
    created_at: dt.datetime


@dataclass(frozen=True)
class Decision:
    """What to do with one candidate fact.

    - ADD: store the fact as a new memory.
    - UPDATE: the fact replaces `target_memory_id`'s content; the old content stays as a
      superseded version that keeps `previous_confidence` (nothing is overwritten silently).
    - DELETE: the fact contradicts `target_memory_id`, which is invalidated; `add_new` says
      whether the fact itself is also stored (it is, the negation is information).
    - NONE: already known.
    `conflicts_with` marks an ADD that disagrees with a memory but was too unsure to
    supersede it: both are kept, each with its own confidence.
    """

    action: Action
    target_memory_id: str | None
    reason: str
    add_new: bool
    previous_confidence: float | None = None
    conflicts_with: str | None = None


# ---------------------------------------------------------------- importance


_SMALL_TALK = re.compile(
    r"\b(greeted|said (hello|hi|goodbye|bye)|thanked|says? thanks|small talk|"
    r"asked how (the assistant|you) (is|are|was)|is doing (fine|well|good|ok))\b",
    re.IGNORECASE,
)


def score_importance(fact: CandidateFact) -> float:
    """The fact's importance clamped to [0, 1]; zero for small talk and empty facts."""
    importance = fact.importance
    # One word cannot be a self-contained fact ("User smokes" already needs two).
    if math.isnan(importance) or len(fact.text.split()) < 2 or _SMALL_TALK.search(fact.text):
        return 0.0
    return min(1.0, max(0.0, importance))


def drop_unimportant(
    facts: Sequence[CandidateFact], min_importance: float = MIN_IMPORTANCE
) -> list[CandidateFact]:
    """Facts worth keeping, each carrying its scored importance."""
    scored = [dataclasses.replace(fact, importance=score_importance(fact)) for fact in facts]
    return [fact for fact in scored if fact.importance >= min_importance]


# ---------------------------------------------------------------- deduplication


def normalize_for_hash(text: str) -> str:
    """Case, whitespace and a trailing full stop never make two memories different."""
    collapsed = " ".join(text.split()).casefold()
    return collapsed.rstrip(" .!")


def content_hash(text: str, hash_fn: Callable[[str], str]) -> str:
    """The hash to store with a memory; callers must hash existing memories the same way."""
    return hash_fn(normalize_for_hash(text))


def dedupe_exact(
    facts: Sequence[CandidateFact],
    existing_hashes: set[str],
    hash_fn: Callable[[str], str],
) -> list[CandidateFact]:
    """Drop facts whose normalised text repeats an earlier fact or a stored memory."""
    seen = set(existing_hashes)
    kept: list[CandidateFact] = []
    for fact in facts:
        digest = content_hash(fact.text, hash_fn)
        if digest not in seen:
            seen.add(digest)
            kept.append(fact)
    return kept


def _unit_rows(vectors: NDArray[np.floating]) -> NDArray[np.float64]:
    matrix = np.asarray(vectors, dtype=np.float64)
    norms = np.linalg.norm(matrix, axis=1, keepdims=True)
    unit: NDArray[np.float64] = np.divide(matrix, norms, out=np.zeros_like(matrix), where=norms > 0)
    return unit


def dedupe_near(
    facts: Sequence[CandidateFact],
    vectors: NDArray[np.floating],
    threshold: float = NEAR_DUPLICATE,
) -> list[int]:
    """Indices (ascending) of the facts to keep after merging near-duplicates in a batch.

    Of a group of near-duplicates the most confident, then most important, fact wins.
    """
    if len(facts) != len(vectors):
        raise ValueError(f"{len(facts)} facts but {len(vectors)} vectors")
    if not facts:
        return []
    similarity = _unit_rows(vectors) @ _unit_rows(vectors).T
    order = sorted(range(len(facts)), key=lambda i: (-facts[i].confidence, -facts[i].importance, i))
    kept: list[int] = []
    for index in order:
        if not any(
            similarity[index, other] >= threshold
            and same_statement_shape(facts[index].text, facts[other].text)
            for other in kept
        ):
            kept.append(index)
    return sorted(kept)


# ---------------------------------------------------------------- propositions

# Words that flip a statement's polarity, and auxiliaries that only carry the negation.
_POLARITY_FLIPS = frozenset({"not", "no", "never", "cannot"})
_NEGATION_FILLERS = frozenset({"does", "do", "did", "longer", "anymore"})
_NEGATIVE_SENTIMENT = frozenset({"hate", "hates", "dislike", "dislikes", "detest", "detests"})
_POSITIVE_SENTIMENT = frozenset(
    {"love", "loves", "like", "likes", "enjoy", "enjoys", "adore", "adores"}
)
_TOKEN = re.compile(r"[\w']+")
_KEY_TOKEN = re.compile(r"\b(?:[A-Z][\w'+#-]*|\d[\d.,:/-]*)")
_SPEAKERS = frozenset({"User", "User's", "Assistant", "Assistant's"})


def _stem_verb(token: str) -> str:
    if len(token) > 3 and token.endswith("s") and not token.endswith("ss"):
        return token[:-1]
    return token


def proposition(text: str) -> tuple[tuple[str, ...], bool]:
    """(core tokens, is_positive): "User no longer eats meat" -> (("user","eat","meat"), False).

    Negation words are removed and sentiment verbs folded to one token, so a fact and its
    denial share a core and differ only in polarity.
    """
    positive = True
    core: list[str] = []
    for raw in _TOKEN.findall(text.lower()):
        if raw in _POLARITY_FLIPS or raw.endswith("n't"):
            positive = not positive
        elif raw in _NEGATION_FILLERS:
            continue
        elif raw in _NEGATIVE_SENTIMENT:
            positive = not positive
            core.append("<like>")
        elif raw in _POSITIVE_SENTIMENT:
            core.append("<like>")
        else:
            core.append(_stem_verb(raw))
    return tuple(core), positive


def key_tokens(text: str) -> tuple[str, ...]:
    """Names and numbers in order: what a paraphrase must keep and a new value changes."""
    return tuple(t for t in _KEY_TOKEN.findall(text) if t not in _SPEAKERS)


def same_statement_shape(text_a: str, text_b: str) -> bool:
    """Could two highly similar texts be the same fact (same names, numbers, polarity)?"""
    return (
        key_tokens(text_a) == key_tokens(text_b)
        and proposition(text_a)[1] == proposition(text_b)[1]
    )


def _overlap(a: tuple[str, ...], b: tuple[str, ...]) -> float:
    union = set(a) | set(b)
    return len(set(a) & set(b)) / len(union) if union else 0.0


def contradicts(text_a: str, text_b: str, similarity: float) -> bool:
    """Same proposition, opposite polarity ("User eats meat" / "User no longer eats meat")."""
    core_a, positive_a = proposition(text_a)
    core_b, positive_b = proposition(text_b)
    if positive_a == positive_b:
        return False
    if core_a == core_b:
        return True
    return (
        similarity >= CONTRADICTION_MIN_SIMILARITY
        and _overlap(core_a, core_b) >= SAME_PROPOSITION_OVERLAP
    )


# ---------------------------------------------------------------- resolution


def resolve(
    fact: CandidateFact,
    fact_vector: NDArray[np.floating] | None,
    neighbours: Sequence[Neighbour],
) -> Decision:
    """Decide ADD / UPDATE / DELETE / NONE for a fact against its nearest stored memories.

    `neighbours` carry their cosine similarity to `fact_vector` already (the vector search
    computed it); the vector is accepted so a caller without scores could add them later.
    Order matters: exact repeats, then contradictions and slot changes (which look like
    near-duplicates to an embedder), then near-duplicates, then ADD.
    """
    del fact_vector  # similarities arrive precomputed on the neighbours
    normalized = normalize_for_hash(fact.text)
    for neighbour in neighbours:
        if normalize_for_hash(neighbour.text) == normalized:
            return Decision("NONE", neighbour.memory_id, "same text already stored", False)
    for decide in (_contradiction_decision, _same_slot_decision, _near_duplicate_decision):
        decision = decide(fact, neighbours)
        if decision is not None:
            return decision
    return Decision("ADD", None, "new information", True)


def _contradiction_decision(
    fact: CandidateFact, neighbours: Sequence[Neighbour]
) -> Decision | None:
    contradicted = [n for n in neighbours if contradicts(fact.text, n.text, n.similarity)]
    if not contradicted:
        return None
    target = max(contradicted, key=lambda n: n.similarity)
    if _too_unsure_to_override(fact, target):
        return Decision(
            "ADD",
            None,
            "contradicts a more confident memory; both kept",
            True,
            conflicts_with=target.memory_id,
        )
    return Decision(
        "DELETE",
        target.memory_id,
        f"contradicted by: {fact.text}",
        True,
        previous_confidence=target.confidence,
    )


def _same_slot_decision(fact: CandidateFact, neighbours: Sequence[Neighbour]) -> Decision | None:
    if fact.subject_key is None:
        return None
    same_slot = [n for n in neighbours if n.subject_key == fact.subject_key]
    if not same_slot:
        return None
    # The newest value of the slot is the current one; that is the one to supersede.
    current = max(same_slot, key=lambda n: (n.created_at, n.similarity))
    if current.similarity >= NEAR_DUPLICATE and same_statement_shape(fact.text, current.text):
        return Decision("NONE", current.memory_id, f"same {fact.subject_key} already stored", False)
    if _too_unsure_to_override(fact, current):
        return Decision(
            "ADD",
            None,
            f"uncertain new {fact.subject_key}; both kept",
            True,
            conflicts_with=current.memory_id,
        )
    return Decision(
        "UPDATE",
        current.memory_id,
        f"new value for {fact.subject_key}",
        False,
        previous_confidence=current.confidence,
    )


def _near_duplicate_decision(
    fact: CandidateFact, neighbours: Sequence[Neighbour]
) -> Decision | None:
    for neighbour in sorted(neighbours, key=lambda n: -n.similarity):
        if neighbour.similarity < NEAR_DUPLICATE:
            break
        if same_statement_shape(fact.text, neighbour.text):
            return Decision("NONE", neighbour.memory_id, "near-duplicate of a stored memory", False)
    return None


def _too_unsure_to_override(fact: CandidateFact, existing: Neighbour) -> bool:
    return (
        not fact.is_correction
        and fact.confidence < LOW_CONFIDENCE
        and existing.confidence >= fact.confidence + CONFIDENCE_MARGIN
    )


# ---------------------------------------------------------------- categories


def assign_categories(fact: CandidateFact, catalog: Mapping[str, str]) -> tuple[str, ...]:
    """The fact's own categories that exist in the catalog, else keyword-matched ones."""
    own = tuple(dict.fromkeys(c for c in fact.categories if c in catalog))
    return own or categorize(fact.text, fact.kind, catalog)
