"""Search options: the Mem0 pass-through fields of a search request, parsed and validated.

Mem0 fields (spec §4.3): rerank, reference_date, latest_only, show_expired, categories,
metadata, keyword_search. Engram extensions (ignored by other servers, so clients may send
them freely): `signals` (which candidate sets to use: "semantic", "keyword", "temporal",
"recency"), `weights` (e.g. {"semantic": 1.0, "keyword": 1.0}), `fusion` ("zscore" or "rrf"),
`rrf_k`, `reply_strength` (score a question turn lends to the turn that answers it, 0 = off)
and `context_strength` (score lent to every neighbouring dialogue turn, 0 = off).
"""

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import Any

from config.errors import InvalidInput

SIGNALS = ("semantic", "keyword", "temporal", "recency")
# Tuned on bench/quality; see bench/quality/README.md. Keyword 1.5: on real conversations
# (LoCoMo) BM25 is the stronger single signal and 1.5 gained 0.4-1.8 points of recall@10 over
# equal weights; on our synthetic set, where MiniLM is the stronger one, it cost up to 1.5.
# "temporal": the closest memories created in a period the query names ("last week");
# "recency": the most recent memories, whatever the query (off by default: on the quality
# set's training split it cost recall; recency still acts as a boost, see fusion.py).
DEFAULT_WEIGHTS: dict[str, float] = {
    "semantic": 1.0,
    "keyword": 1.5,
    "temporal": 1.0,
    "recency": 0.0,
}
WEIGHT_ALIASES = {"bm25": "keyword", "vector": "semantic"}


@dataclass(frozen=True)
class SearchOptions:
    weights: dict[str, float] = field(default_factory=lambda: dict(DEFAULT_WEIGHTS))
    rerank: bool = False
    reference_date: datetime | None = None
    latest_only: bool = True
    show_expired: bool = False
    categories: list[str] | None = None
    metadata: dict[str, Any] | None = None
    fusion: str = "zscore"  # or "rrf" (see retrieval/fusion.py)
    rrf_k: int = 20
    # Share of a strong candidate's score lent to the next turn when it asks a question (its
    # answer), and to every neighbouring turn (retrieval/context.py). 0 turns either off.
    reply_strength: float = 0.9
    context_strength: float = 0.0
    # Boost strengths (fractions of the score they may move) and the recency half-life.
    recency_half_life_days: float = 30.0
    recency_boost: float = 0.05
    frequency_boost: float = 0.03
    importance_boost: float = 0.05
    confidence_boost: float = 0.05
    time_window_penalty: float = 0.5

    def weight(self, signal: str) -> float:
        return self.weights.get(signal, 0.0)

    def with_weights(self, **weights: float) -> "SearchOptions":
        return replace(self, weights={**self.weights, **weights})


def search_options_from_request(data: Mapping[str, Any]) -> SearchOptions:
    """Parse the optional fields of a search body; a wrong type is a 400 naming the field."""
    weights = _weights(data.get("weights"), data.get("signals"), data.get("keyword_search"))
    return SearchOptions(
        weights=weights,
        rerank=_bool(data, "rerank", False),
        reference_date=_reference_date(data.get("reference_date")),
        latest_only=_bool(data, "latest_only", True),
        show_expired=_bool(data, "show_expired", False),
        categories=_categories(data.get("categories")),
        metadata=_metadata(data.get("metadata")),
        fusion=_choice(data, "fusion", SearchOptions.fusion, ("zscore", "rrf")),
        rrf_k=_int(data, "rrf_k", SearchOptions.rrf_k, 1, 1000),
        reply_strength=_fraction(data, "reply_strength", SearchOptions.reply_strength),
        context_strength=_fraction(data, "context_strength", SearchOptions.context_strength),
    )


def _bool(data: Mapping[str, Any], name: str, default: bool) -> bool:
    value = data.get(name)
    if value is None:
        return default
    if not isinstance(value, bool):
        raise InvalidInput(f"{name}: must be true or false.")
    return value


def _choice(data: Mapping[str, Any], name: str, default: str, allowed: tuple[str, ...]) -> str:
    value = data.get(name)
    if value is None:
        return default
    if value not in allowed:
        raise InvalidInput(f"{name}: must be one of {', '.join(allowed)}.")
    return str(value)


def _int(data: Mapping[str, Any], name: str, default: int, low: int, high: int) -> int:
    value = data.get(name)
    if value is None:
        return default
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise InvalidInput(f"{name}: must be an integer from {low} to {high}.")
    return value


def _fraction(data: Mapping[str, Any], name: str, default: float) -> float:
    value = data.get(name)
    if value is None:
        return default
    if isinstance(value, bool) or not isinstance(value, int | float) or not 0 <= value <= 1:
        raise InvalidInput(f"{name}: must be a number from 0 to 1.")
    return float(value)


def _weights(raw: Any, signals: Any, keyword_search: Any) -> dict[str, float]:
    weights = dict(DEFAULT_WEIGHTS)
    if raw is not None:
        if not isinstance(raw, dict):
            raise InvalidInput('weights: must be an object like {"semantic": 1, "keyword": 1}.')
        for key, value in raw.items():
            name = WEIGHT_ALIASES.get(str(key), str(key))
            if name not in SIGNALS:
                raise InvalidInput(f"weights: unknown signal {key!r}; use {', '.join(SIGNALS)}.")
            if isinstance(value, bool) or not isinstance(value, int | float) or value < 0:
                raise InvalidInput(f"weights.{key}: must be a number >= 0.")
            weights[name] = float(value)
    if signals is not None:
        if not isinstance(signals, list) or not all(isinstance(s, str) for s in signals):
            raise InvalidInput('signals: must be a list like ["semantic", "keyword"].')
        wanted = {WEIGHT_ALIASES.get(s, s) for s in signals}
        if unknown := wanted - set(SIGNALS):
            names = ", ".join(sorted(str(name) for name in unknown))
            raise InvalidInput(f"signals: unknown {names}; use {', '.join(SIGNALS)}.")
        weights = {name: (weight if name in wanted else 0.0) for name, weight in weights.items()}
    if keyword_search is False:
        weights["keyword"] = 0.0
    if not any(weights[name] > 0 for name in ("semantic", "keyword")):
        raise InvalidInput("signals: at least one of semantic or keyword must be enabled.")
    return weights


def _reference_date(value: Any) -> datetime | None:
    if value is None or value == "":
        return None
    try:
        if isinstance(value, bool):
            raise TypeError
        if isinstance(value, int | float):
            return datetime.fromtimestamp(float(value), UTC)
        if isinstance(value, str):
            moment = datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
            return moment if moment.tzinfo else moment.replace(tzinfo=UTC)
    except (TypeError, ValueError, OverflowError, OSError):
        pass
    raise InvalidInput("reference_date: expected a Unix timestamp, YYYY-MM-DD or ISO datetime.")


def _categories(value: Any) -> list[str] | None:
    if value is None:
        return None
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
        raise InvalidInput("categories: must be a list of category names.")
    return value or None


def _metadata(value: Any) -> dict[str, Any] | None:
    if value is None:
        return None
    if not isinstance(value, dict):
        raise InvalidInput("metadata: must be an object of key: value pairs.")
    return value or None
