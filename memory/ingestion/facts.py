"""Plain data shared by the extractors and the pipeline stages."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Literal, Protocol

Attribution = Literal["user", "assistant"]

ENTITY_TYPES: frozenset[str] = frozenset(
    {"person", "place", "organization", "preference", "skill", "thing", "event", "pet"}
)

# The kinds both extractors use; they drive default importance and category hints.
FACT_KINDS: frozenset[str] = frozenset(
    {
        "identity",
        "location",
        "professional",
        "education",
        "preference",
        "health",
        "relationship",
        "pet",
        "plan",
        "task",
        "event",
        "skill",
        "hobby",
        "habit",
        "possession",
        "assistant_profile",
        "other",
    }
)

# Mem0's built-in catalog (platform API reference §6.1); used when neither the call nor the
# project defines custom categories.
DEFAULT_CATEGORIES: dict[str, str] = {
    "personal_details": "Name, age, nationality, origin, home, contact details, identity",
    "family": "Family members, partner, children, friends and relationships",
    "professional_details": "Job, employer, career, colleagues, work projects, education",
    "sports": "Sports played or followed, fitness and exercise",
    "travel": "Trips, destinations, travel plans and places visited",
    "food": "Food and drink, diet, cuisines, restaurants, cooking",
    "music": "Music, instruments, artists, genres, concerts",
    "health": "Health conditions, allergies, medication, wellbeing",
    "technology": "Programming, software, devices, tools and tech preferences",
    "hobbies": "Hobbies, pastimes and leisure activities",
    "fashion": "Clothing, style, brands and shopping",
    "entertainment": "Movies, TV, books, games and media",
    "milestones": "Life events and achievements: birthdays, graduation, weddings, moves",
    "user_preferences": "Likes, dislikes and general preferences",
    "misc": "Anything that fits no other category",
}


@dataclass(frozen=True)
class ConversationMessage:
    role: str
    content: str
    name: str | None = None


@dataclass(frozen=True)
class ExtractedEntity:
    name: str
    type: str  # one of ENTITY_TYPES


@dataclass(frozen=True)
class ExtractedRelation:
    source: str
    relation: str  # snake_case predicate, e.g. "lives_in", "sister"
    target: str


@dataclass(frozen=True)
class CandidateFact:
    """One durable, self-contained, third-person fact ("User lives in Berlin").

    `subject_key` names the slot of a single-valued fact ("home_location", "employer",
    "preferred_language:programming") so a later fact in the same slot supersedes the
    earlier one; it is None for multi-valued facts such as likes and hobbies.
    """

    text: str
    attributed_to: Attribution
    kind: str
    importance: float
    confidence: float
    categories: tuple[str, ...] = ()
    entities: tuple[ExtractedEntity, ...] = ()
    relations: tuple[ExtractedRelation, ...] = ()
    subject_key: str | None = None
    is_correction: bool = False


@dataclass(frozen=True)
class ExtractionContext:
    custom_instructions: str | None = None
    categories: dict[str, str] = field(default_factory=lambda: dict(DEFAULT_CATEGORIES))
    recent_messages: list[ConversationMessage] = field(default_factory=list)
    # (temporary id, text): the model sees short ids, never database UUIDs.
    existing_memories: list[tuple[str, str]] = field(default_factory=list)
    observation_date: dt.date = field(default_factory=dt.date.today)
    user_id: str | None = None
    agent_id: str | None = None


class Extractor(Protocol):
    def extract(
        self, messages: Sequence[ConversationMessage], context: ExtractionContext
    ) -> list[CandidateFact]: ...


class ExtractionError(Exception):
    """Extraction failed; `reason` is safe to show to the project owner.

    `retryable` tells the job runner whether trying again later may help (network errors,
    timeouts, 5xx) or not (the model keeps answering garbage).
    """

    def __init__(self, reason: str, *, retryable: bool = False) -> None:
        super().__init__(reason)
        self.reason = reason
        self.retryable = retryable
