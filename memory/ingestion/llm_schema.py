"""The JSON an extraction model must return, validated before anything is stored.

Types are strict (a number given as "0.8" or a boolean given as "yes" fails the reply, which
is then retried); values are forgiving where the intent is clear (ranges are clamped, an
unknown entity type becomes "thing", unknown categories are dropped).
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Mapping
from typing import Annotated, Any, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, ValidationError

from memory.ingestion.facts import (
    ENTITY_TYPES,
    FACT_KINDS,
    CandidateFact,
    ExtractedEntity,
    ExtractedRelation,
)

MAX_FACTS = 50
MAX_TEXT_CHARS = 1000
MAX_NAME_CHARS = 200
MAX_ENTITIES_PER_FACT = 20


class ReplyInvalid(ValueError):
    """The model's reply cannot be used; `problem` is told to the model on retry."""

    def __init__(self, problem: str) -> None:
        super().__init__(problem)
        self.problem = problem


def _lower_stripped(value: Any) -> Any:
    return value.strip().lower() if isinstance(value, str) else value


class _Strict(BaseModel):
    model_config = ConfigDict(strict=True, extra="ignore", frozen=True)


class EntityReply(_Strict):
    name: str
    type: Annotated[str, BeforeValidator(_lower_stripped)] = "thing"


class RelationReply(_Strict):
    source: str
    relation: str
    target: str


class FactReply(_Strict):
    text: str
    attributed_to: Annotated[Literal["user", "assistant"], BeforeValidator(_lower_stripped)]
    kind: Annotated[str, BeforeValidator(_lower_stripped)] = "other"
    importance: float = Field(default=0.5)
    confidence: float = Field(default=0.8)
    categories: list[str] = Field(default_factory=list)
    entities: list[EntityReply] = Field(default_factory=list)
    relations: list[RelationReply] = Field(default_factory=list)
    subject_key: str | None = None
    is_correction: bool = False


class ExtractionReply(_Strict):
    facts: list[FactReply]


def parse_reply(content: str | None, catalog: Mapping[str, str]) -> list[CandidateFact]:
    """Candidate facts from a model reply, or ReplyInvalid saying what is wrong with it."""
    if not content or not content.strip():
        raise ReplyInvalid("the reply was empty")
    try:
        data = json.loads(_without_code_fence(content))
    except json.JSONDecodeError as exc:
        problem = f"invalid JSON ({exc.msg} at line {exc.lineno} column {exc.colno})"
        raise ReplyInvalid(problem) from None
    if not isinstance(data, dict):
        raise ReplyInvalid('the reply must be a JSON object with a "facts" array')
    try:
        reply = ExtractionReply.model_validate(data)
    except ValidationError as exc:
        raise ReplyInvalid(f"schema mismatch: {_describe(exc)}") from None
    facts = [fact for item in reply.facts if (fact := _to_fact(item, catalog)) is not None]
    # Keep the most important when the model over-produces; order otherwise as given.
    keep = sorted(range(len(facts)), key=lambda i: -facts[i].importance)[:MAX_FACTS]
    return [facts[i] for i in sorted(keep)]


def _without_code_fence(content: str) -> str:
    fenced = re.fullmatch(r"\s*```(?:json)?\s*(.*?)\s*```\s*", content, re.DOTALL)
    return fenced.group(1) if fenced else content


def _describe(error: ValidationError, limit: int = 5) -> str:
    """ "facts.0.importance: Input should be a valid number"; never echoes the input."""
    problems = [
        f"{'.'.join(str(part) for part in item['loc']) or 'reply'}: {item['msg']}"
        for item in error.errors(include_input=False, include_url=False)
    ]
    extra = f" (and {len(problems) - limit} more)" if len(problems) > limit else ""
    return "; ".join(problems[:limit]) + extra


def _unit_interval(value: float) -> float:
    if math.isnan(value):
        return 0.0
    return min(1.0, max(0.0, value))


def _to_fact(item: FactReply, catalog: Mapping[str, str]) -> CandidateFact | None:
    text = " ".join(item.text.split())
    if not text or len(text) > MAX_TEXT_CHARS:
        return None  # a "fact" that long is an echo of the conversation, not a fact
    return CandidateFact(
        text=text,
        attributed_to=item.attributed_to,
        kind=item.kind if item.kind in FACT_KINDS else "other",
        importance=_unit_interval(item.importance),
        confidence=_unit_interval(item.confidence),
        categories=_known_categories(item.categories, catalog),
        entities=_entities(item.entities),
        relations=_relations(item.relations),
        subject_key=_subject_key(item.subject_key),
        is_correction=item.is_correction,
    )


def _known_categories(names: list[str], catalog: Mapping[str, str]) -> tuple[str, ...]:
    by_lower = {name.lower(): name for name in catalog}
    found = (by_lower.get(name.strip().lower()) for name in names)
    return tuple(dict.fromkeys(name for name in found if name is not None))


def _entities(items: list[EntityReply]) -> tuple[ExtractedEntity, ...]:
    entities = (
        ExtractedEntity(
            name=" ".join(item.name.split())[:MAX_NAME_CHARS],
            type=item.type if item.type in ENTITY_TYPES else "thing",
        )
        for item in items
        if item.name.strip()
    )
    return tuple(dict.fromkeys(entities))[:MAX_ENTITIES_PER_FACT]


def _relations(items: list[RelationReply]) -> tuple[ExtractedRelation, ...]:
    relations = (
        ExtractedRelation(
            source=" ".join(item.source.split())[:MAX_NAME_CHARS],
            relation=_snake_case(item.relation),
            target=" ".join(item.target.split())[:MAX_NAME_CHARS],
        )
        for item in items
    )
    usable = (r for r in relations if r.source and r.relation and r.target)
    return tuple(dict.fromkeys(usable))[:MAX_ENTITIES_PER_FACT]


def _snake_case(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "_", text.lower()).strip("_")[:64]


def _subject_key(value: str | None) -> str | None:
    if value is None:
        return None
    key = re.sub(r"[^a-z0-9_:.-]+", "_", value.strip().lower()).strip("_")[:100]
    return key or None
