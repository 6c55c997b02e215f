"""Fusion of the candidate lists, and the boosts applied after it.

Scores (all in [0, 1], documented for API users):
- `fused` (default method "zscore"): score-aware fusion. Each signal's scores (cosine
  similarity, BM25, in-period similarity) are standardised over that signal's top
  candidates, shifted so its weakest counted candidate is 0, weighted and summed; the sum is
  divided by the best candidate's, so the top memory has 1.0. A signal that separates one
  memory sharply from the rest (a rare keyword hit) thus outweighs one whose scores are flat,
  query by query, which plain rank fusion cannot do: on our quality set and on the issue's
  held-out set, equal-weight RRF scored *below* the best single signal.
- method "rrf": weighted reciprocal-rank fusion, Σ_s w_s / (k + rank_s), divided by its
  maximum Σ_s w_s / (k + 1). 1.0 means "first in every list".
- both are blended 75/25 with absolute relevance (cosine similarity, BM25 mapped to [0, 1)),
  so scores mean something across queries and a `threshold` cuts weak matches.
- boosts: the final score is fused * (1 - Σβ + Σ β_i·x_i), where each x_i ∈ [0, 1] is recency
  (a half-life decay of age), access frequency, importance and confidence, and β_i its
  strength (SearchOptions). So boosts reorder close calls but cannot lift a weak match far,
  and the score never exceeds 1.
- time-aware queries: memories created outside the named period are multiplied by
  (1 - time_window_penalty).
- superseded memories (only present with latest_only=false) are halved and always rank
  below their successor when both are returned.
"""

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import NamedTuple
from uuid import UUID

from memory.models import MemoryState
from memory.retrieval.options import SearchOptions
from memory.retrieval.temporal import TimeWindow

RRF_K = 20
SUPERSEDED_FACTOR = 0.5


class ScoringRow(NamedTuple):
    """The columns of a candidate memory that fusion and boosts look at."""

    id: UUID
    created_at: datetime
    last_accessed_at: datetime | None  # these two: None when no search returned it yet
    access_count: int | None
    importance: float
    confidence: float
    state: str
    replaced_by_id: UUID | None
    asks_question: bool


# The use counters live beside the memory (models.MemoryAccess), the rest in its row.
USE_COUNTERS = {
    "last_accessed_at": "access__last_accessed_at",
    "access_count": "access__access_count",
}
# What to read for a ScoringRow from a Memory queryset (values_list), in field order.
SCORING_COLUMNS = tuple(USE_COUNTERS.get(name, name) for name in ScoringRow._fields)


@dataclass
class Fused:
    memory_id: UUID
    fused: float
    ranks: dict[str, int] = field(default_factory=dict)
    context: float = 0.0  # score lent by a neighbouring turn (retrieval/context.py)


Scored = Mapping[str, Sequence[tuple[UUID, float]]]
ZSCORE_DEPTH = 50
# Share of the final fused score that is absolute relevance (tuned on the quality set's
# training split: 0.2-0.3 cost nothing there and keeps scores meaningful for thresholds).
ABSOLUTE_SHARE = 0.25
BM25_HALF = 5.0
MIN_RELATIVE_SPREAD = 0.1


def _active(
    scored: Scored, weights: Mapping[str, float]
) -> dict[str, Sequence[tuple[UUID, float]]]:
    return {name: hits for name, hits in scored.items() if hits and weights.get(name, 0) > 0}


def weighted_rrf(scored: Scored, weights: Mapping[str, float], k: int = RRF_K) -> dict[UUID, Fused]:
    active = _active(scored, weights)
    ceiling = sum(weights[name] / (k + 1) for name in active)
    fused: dict[UUID, Fused] = {}
    for name, hits in active.items():
        for position, (memory_id, _) in enumerate(hits, start=1):
            entry = fused.setdefault(memory_id, Fused(memory_id, 0.0))
            entry.fused += weights[name] / (k + position)
            entry.ranks[name] = position
    for entry in fused.values():
        entry.fused = entry.fused / ceiling if ceiling > 0 else 0.0
    return fused


def zscore_fusion(
    scored: Scored, weights: Mapping[str, float], depth: int = ZSCORE_DEPTH
) -> dict[UUID, Fused]:
    fused: dict[UUID, Fused] = {}
    for name, hits in _active(scored, weights).items():
        values = [score for _, score in hits[:depth]]
        mean = sum(values) / len(values)
        # A floor under the spread: with a handful of candidates, near-equal scores must not
        # be stretched into a decisive difference.
        deviation = math.sqrt(sum((v - mean) ** 2 for v in values) / len(values))
        spread = max(deviation, MIN_RELATIVE_SPREAD * abs(mean), 1e-9)
        floor = (values[-1] - mean) / spread if len(values) > 1 else -1.0
        for position, (memory_id, score) in enumerate(hits, start=1):
            entry = fused.setdefault(memory_id, Fused(memory_id, 0.0))
            entry.ranks[name] = position
            if position <= depth:
                entry.fused += weights[name] * max(0.0, (score - mean) / spread - floor)
    best = max((entry.fused for entry in fused.values()), default=0.0)
    for entry in fused.values():
        entry.fused = entry.fused / best if best > 0 else 0.0
    return fused


def keyword_relevance(bm25: float) -> float:
    """BM25 mapped to [0, 1): 0.5 at a score of 5 (a rare term matched, or several)."""
    return bm25 / (bm25 + BM25_HALF) if bm25 > 0 else 0.0


def fuse(
    scored: Scored,
    options: SearchOptions,
    semantic: Mapping[UUID, float],
    bm25: Mapping[UUID, float],
) -> dict[UUID, Fused]:
    """Relative fusion (z-score or RRF), blended with each memory's absolute relevance
    (cosine similarity and mapped BM25, weighted like the signals), so that a memory that
    merely comes last among few candidates does not score 0, and scores stay comparable
    across queries for `threshold`."""
    if options.fusion == "rrf":
        fused = weighted_rrf(scored, options.weights, options.rrf_k)
    else:
        fused = zscore_fusion(scored, options.weights)
    w_semantic, w_keyword = options.weight("semantic"), options.weight("keyword")
    total = (w_semantic + w_keyword) or 1.0
    for memory_id, entry in fused.items():
        cosine = max(0.0, semantic.get(memory_id, 0.0))
        absolute = w_semantic * cosine + w_keyword * keyword_relevance(bm25.get(memory_id, 0.0))
        entry.fused = (1 - ABSOLUTE_SHARE) * entry.fused + ABSOLUTE_SHARE * absolute / total
    return fused


def relevance(options: SearchOptions, cosine: float | None, bm25: float | None) -> float:
    """A memory's own relevance to the query, whatever the other candidates: the best of its
    cosine similarity and its mapped BM25 score, over the signals in use."""
    found = 0.0
    if cosine is not None and options.weight("semantic") > 0:
        found = max(found, cosine)
    if bm25 is not None and options.weight("keyword") > 0:
        found = max(found, keyword_relevance(bm25))
    return min(found, 1.0)


def with_relevance_floor(
    order: Sequence[UUID], scores: Mapping[UUID, float], floors: Mapping[UUID, float]
) -> dict[UUID, float]:
    """Scores raised to each memory's own relevance, but never above the score of the memory
    ranked before it: the order stays as fused, scores stay non-increasing down the list.

    Fusion is relative: among a handful of candidates the last one fuses to nearly 0 even
    when it is almost as similar as the first (cosine 0.30 against 0.31). `threshold` is
    meant to drop what is irrelevant, not the runner-up of a near tie, so it must see at
    least the memory's own relevance."""
    raised: dict[UUID, float] = {}
    ceiling = math.inf
    for memory_id in order:
        score = max(scores[memory_id], min(floors.get(memory_id, 0.0), ceiling))
        raised[memory_id] = ceiling = score
    return raised


def recency(created_at: datetime, now: datetime, half_life_days: float) -> float:
    age_days = max(0.0, (now - created_at).total_seconds() / 86400.0)
    return math.pow(0.5, age_days / half_life_days) if half_life_days > 0 else 1.0


def frequency(access_count: int) -> float:
    """0 for never used, 0.5 at about 6 uses, approaching 1."""
    return 1.0 - 1.0 / (1.0 + math.log1p(max(access_count, 0)) / 2.0)


def boost_parts(memory: ScoringRow, now: datetime, options: SearchOptions) -> dict[str, float]:
    last_used = memory.last_accessed_at or memory.created_at
    return {
        "recency": recency(max(memory.created_at, last_used), now, options.recency_half_life_days),
        "frequency": frequency(memory.access_count or 0),
        "importance": min(max(memory.importance, 0.0), 1.0),
        "confidence": min(max(memory.confidence, 0.0), 1.0),
    }


def boost_factor(parts: Mapping[str, float], options: SearchOptions) -> float:
    strengths = {
        "recency": options.recency_boost,
        "frequency": options.frequency_boost,
        "importance": options.importance_boost,
        "confidence": options.confidence_boost,
    }
    total = sum(strengths.values())
    return 1.0 - total + sum(strengths[name] * parts[name] for name in strengths)


def time_factor(memory: ScoringRow, window: TimeWindow | None, options: SearchOptions) -> float:
    if window is None or window.start <= memory.created_at < window.end:
        return 1.0
    return 1.0 - options.time_window_penalty


def demote_superseded(scores: dict[UUID, float], memories: Mapping[UUID, ScoringRow]) -> None:
    """A superseded memory loses to its successor: halved, and capped just below it."""
    for memory_id, memory in memories.items():
        if memory.state != MemoryState.SUPERSEDED or memory_id not in scores:
            continue
        scores[memory_id] *= SUPERSEDED_FACTOR
        successor = memory.replaced_by_id
        if successor is not None and successor in scores:
            scores[memory_id] = min(scores[memory_id], scores[successor] * 0.99)
