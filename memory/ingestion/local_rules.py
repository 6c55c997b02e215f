"""The machinery shared by the local extractor's rule tables.

A rule is an anchored, case-insensitive regex over one prepared clause ("I live in Paris")
and a builder that turns the match into facts. A builder returns None when the clause is not
really its case (the next rule is tried) and [] when it is, but says nothing worth keeping
("I love it").
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass

from memory.ingestion.facts import Attribution, CandidateFact, ExtractedEntity, ExtractedRelation
from memory.ingestion.local_lexicon import MONTHS
from memory.ingestion.local_text import ground_time, split_trailing_time

# Default importance by what a fact is about: who the user is and what could hurt them
# matters most; passing tastes and trivia least.
IDENTITY = 0.9
HEALTH = 0.9
RELATIONSHIP = 0.8
LOCATION = 0.8
WORK = 0.8
DIET = 0.8
PLAN = 0.7
MILESTONE = 0.7
STRONG_PREFERENCE = 0.6
SKILL = 0.6
TASK = 0.6
PREFERENCE = 0.5
HOBBY = 0.5
EXPERIENCE = 0.5
HABIT = 0.4
POSSESSION = 0.4
TRIVIA = 0.3


@dataclass(frozen=True)
class Clause:
    text: str  # prepared: contractions expanded, fillers and hedges removed
    raw: str  # as written, for cues the preparation removed ("anymore")
    confidence: float
    correction: bool
    observed: dt.date
    speaker: Attribution

    @property
    def says_anymore(self) -> bool:
        return bool(re.search(r"\b(?:anymore|any more|no longer)\b", self.raw, re.IGNORECASE))


Builder = Callable[[re.Match[str], Clause], list[CandidateFact] | None]


class RuleBook:
    """An ordered list of rules, filled with the `@book.rule(pattern)` decorator."""

    def __init__(self) -> None:
        self._rules: list[tuple[re.Pattern[str], Builder]] = []

    def rule(self, pattern: str) -> Callable[[Builder], Builder]:
        def register(builder: Builder) -> Builder:
            self._rules.append((re.compile(pattern, re.IGNORECASE), builder))
            return builder

        return register

    def __iter__(self) -> Iterator[tuple[re.Pattern[str], Builder]]:
        return iter(self._rules)


def apply_rules(books: Iterable[RuleBook], clause: Clause) -> list[CandidateFact]:
    """Facts from the first rule that claims the clause; none when no rule does."""
    for book in books:
        for pattern, builder in book:
            match = pattern.match(clause.text)
            if match is None:
                continue
            facts = builder(match, clause)
            if facts is not None:
                return facts
    return []


def make_fact(
    clause: Clause,
    text: str,
    kind: str,
    importance: float,
    *,
    subject_key: str | None = None,
    entities: Iterable[ExtractedEntity | None] = (),
    relations: Iterable[ExtractedRelation] = (),
    correction: bool = False,
) -> CandidateFact:
    return CandidateFact(
        text=tidy(text),
        attributed_to=clause.speaker,
        kind=kind,
        importance=round(importance, 2),
        confidence=clause.confidence,
        entities=tuple(dict.fromkeys(e for e in entities if e is not None)),
        relations=tuple(dict.fromkeys(relations)),
        subject_key=subject_key,
        is_correction=correction or clause.correction,
    )


def tidy(text: str) -> str:
    text = " ".join(text.split()).strip(" ,;:")
    return text[:1].upper() + text[1:]


def entity(name: str, entity_type: str) -> ExtractedEntity | None:
    name = name.strip(" ,.!?\"'")
    return ExtractedEntity(name=name, type=entity_type) if name else None


def relation(source: str, label: str, target: str) -> ExtractedRelation:
    return ExtractedRelation(source=source, relation=label, target=target.strip(" ,.!?"))


def article(noun_phrase: str) -> str:
    """ "data engineer" -> "a data engineer"; leaves an existing article alone."""
    if re.match(r"^(?:a|an|the|my|their)\s", noun_phrase, re.IGNORECASE):
        return noun_phrase
    return ("an " if noun_phrase[:1].lower() in "aeiou" else "a ") + noun_phrase


def strip_article(noun_phrase: str) -> str:
    return re.sub(r"^(?:a|an|the)\s+", "", noun_phrase, flags=re.IGNORECASE)


def with_time(value: str, clause: Clause) -> str:
    """Keep a time phrase, grounded to the observation date ("last year" -> "in 2024")."""
    core, when = split_trailing_time(value)
    return f"{core} {ground_time(when, clause.observed)}" if when else core


_PROPER_RUN = re.compile(r"\b[A-Z][\w'&.-]*(?:\s+(?:of\s+|de\s+)?(?:[A-Z][\w'&.-]*|\d+\b))*")
_WEEKDAYS = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")
_NOT_NAMES = frozenset(
    {"I", "User", "The", "A", "An", "In", "On", "At", "My", "Their", *_WEEKDAYS}
    | {month.capitalize() for month in MONTHS}
)


def proper_names(text: str) -> list[str]:
    """Capitalised runs that look like names ("Acme Corp", "New York"), not sentence starts."""
    names = []
    for run in _PROPER_RUN.findall(text):
        words = run.split()
        if words[0] in _NOT_NAMES:
            # "In April": a date, not a name; "The Beatles": keep the name without "The".
            if words[0].lower() in MONTHS or words[0] in _WEEKDAYS or len(words) == 1:
                continue
            words = words[1:]
        names.append(" ".join(words))
    return names


_PLACE_AFTER = re.compile(
    r"\b(?:to|in|from|near|visit|visiting|visited)\s+([A-Z][\w'&.-]*(?:\s+(?:of\s+)?[A-Z][\w'&.-]*)*)"
)


def places_in(text: str) -> list[ExtractedEntity | None]:
    """Named places after "to", "in" or "from" ("a trip to Japan in April" -> Japan)."""
    return [
        entity(name, "place")
        for match in _PLACE_AFTER.finditer(text)
        for name in proper_names(match.group(1))[:1]
    ]
