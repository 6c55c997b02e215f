"""Catch-all rules tried after the specific ones: "I am ...", "I have ...", "my X is ..."."""

from __future__ import annotations

import re
from dataclasses import dataclass

from memory.ingestion.facts import CandidateFact, ExtractedEntity, ExtractedRelation
from memory.ingestion.local_lexicon import (
    DEMONYMS,
    DIETS,
    EMPLOYMENT_STATUS,
    HEALTH_CONDITIONS,
    HEALTH_TRAITS,
    HOBBY_ROLES,
    PERSONALITY_TRAITS,
    PET_PATTERN,
    PROFESSIONS,
    RELATIONSHIP_STATUS,
    RELATIVE_PATTERN,
    TRANSIENT_HAVE,
    TRANSIENT_STATES,
)
from memory.ingestion.local_rules import (
    DIET,
    HABIT,
    HEALTH,
    HOBBY,
    IDENTITY,
    MILESTONE,
    PLAN,
    POSSESSION,
    PREFERENCE,
    RELATIONSHIP,
    SKILL,
    TRIVIA,
    WORK,
    Clause,
    RuleBook,
    entity,
    make_fact,
    places_in,
    proper_names,
    relation,
    strip_article,
    with_time,
)
from memory.ingestion.local_rules_about import has_pet, person_name, relative_named
from memory.ingestion.local_text import (
    clean_value,
    first_word,
    slug,
    split_list,
    swap_pronouns,
)

TRAIT_RULES = RuleBook()


# ---------------------------------------------------------------- "I am ..."


@dataclass(frozen=True)
class Predicate:
    """What follows "User is": "vegetarian", "allergic to nuts", "married to Anna"."""

    phrase: str
    kind: str
    importance: float
    subject_key: str | None = None
    entities: tuple[ExtractedEntity | None, ...] = ()
    relations: tuple[ExtractedRelation, ...] = ()
    text: str | None = None  # when "User is <phrase>" reads badly ("User works as a ...")
    negatable: bool = True


_GERUND_ACTIVITIES: dict[str, tuple[str, float]] = {
    "training for": ("hobby", SKILL),
    "working on": ("professional", PREFERENCE),
    "reading": ("hobby", HABIT),
    "writing": ("hobby", PREFERENCE),
    "building": ("professional", PREFERENCE),
    "saving for": ("plan", SKILL),
    "saving up for": ("plan", SKILL),
    "trying to": ("plan", PREFERENCE),
    "preparing for": ("plan", SKILL),
    "taking": ("education", PREFERENCE),
    "renovating": ("plan", PREFERENCE),
    "looking for a new job": ("professional", PLAN),
    "looking for a new apartment": ("plan", PLAN),
    "expecting a baby": ("relationship", MILESTONE),
}


def classify_predicate(part: str) -> list[Predicate] | None:
    """Predicates for one "I am" part; [] for passing states, None when not understood."""
    part = clean_value(part)
    lower = part.lower()
    words = lower.split()
    if not words:
        return []
    head = strip_article(lower)
    for classify in (_health_predicate, _status_predicate, _role_predicate, _activity_predicate):
        found = classify(part, lower, head)
        if found is not None:
            return found
    if words[0] in TRANSIENT_STATES or lower.startswith(("a bit", "a little", "not sure")):
        return []
    return None


def _health_predicate(part: str, lower: str, head: str) -> list[Predicate] | None:
    allergy = re.match(r"^(?:severely |very |mildly )?allergic to (?P<x>.+)$", part, re.I)
    if allergy:
        return [
            Predicate(
                f"allergic to {item}",
                "health",
                HEALTH,
                entities=(entity(item, "thing"),),
                relations=(relation("user", "allergic_to", item),),
            )
            for item in split_list(allergy["x"])
        ]
    diet = re.sub(r"^(?:a |on a )|(?: diet)$", "", lower)
    if diet in DIETS:
        return [Predicate(diet, "preference", DIET, subject_key="diet")]
    if re.fullmatch(r"[\w-]+ intolerant", lower) or head in HEALTH_TRAITS:
        return [Predicate(lower, "health", HEALTH)]
    return None


def _status_predicate(part: str, lower: str, head: str) -> list[Predicate] | None:
    married = re.match(r"^(?P<status>married|engaged) to (?P<who>.+)$", part, re.I)
    if married:
        name = person_name(married["who"]) or clean_value(married["who"])
        status = married["status"].lower()
        return [
            Predicate(
                f"{status} to {name}",
                "relationship",
                RELATIONSHIP,
                subject_key="spouse",
                entities=(entity(name, "person"),),
                relations=(relation("user", f"{status}_to", name),),
            )
        ]
    if lower in RELATIONSHIP_STATUS or lower.startswith("in a relationship"):
        return [Predicate(lower, "relationship", RELATIONSHIP, subject_key="relationship_status")]
    if head in EMPLOYMENT_STATUS or head == "freelancer":
        return [Predicate(lower, "professional", WORK, subject_key="employment_status")]
    if head in PERSONALITY_TRAITS or head in {"morning person", "night owl", "early bird"}:
        return [Predicate(lower, "identity", HABIT)]
    if re.sub(r"^half ", "", lower) in DEMONYMS:
        nationality = " ".join(w.capitalize() if w in DEMONYMS else w for w in lower.split())
        return [Predicate(nationality, "identity", 0.7, subject_key="nationality")]
    return None


_AMATEUR = frozenset({"amateur", "hobby", "keen", "avid", "casual", "big", "huge", "aspiring"})
_PARENT = re.compile(r"^(?:mother|father|mom|dad|parent|mum)(?: of .+)?$|^(?:only child|twin)$")


def _role_predicate(part: str, lower: str, head: str) -> list[Predicate] | None:
    if lower == head:
        return None  # roles come with an article: "a nurse", "an avid reader"
    phrase = part[:1].lower() + part[1:]  # as written: "the CEO of a startup"
    noun = re.split(r"\s+(?:of|at|for|in|with)\s+", head)[0].split()
    amateur = bool(_AMATEUR & set(noun))
    if noun[-1] in PROFESSIONS and not amateur:
        if noun[-1] == "student":
            return [Predicate(phrase, "education", WORK, subject_key="occupation")]
        return [
            Predicate(
                phrase,
                "professional",
                WORK,
                subject_key="job_title",
                text=f"User works as {phrase}",
            )
        ]
    if noun[-1] in HOBBY_ROLES or noun[-1] in PROFESSIONS:
        return [Predicate(phrase, "hobby", HOBBY)]
    if _PARENT.match(head):
        return [Predicate(phrase, "relationship", RELATIONSHIP)]
    if len(noun) <= 4 and noun[0] not in TRANSIENT_STATES | {"question", "fan", "bit", "lot"}:
        return [Predicate(phrase, "identity", TRIVIA)]
    return None


def _activity_predicate(part: str, lower: str, head: str) -> list[Predicate] | None:
    del head
    for opener, (kind, importance) in _GERUND_ACTIVITIES.items():
        if lower.startswith(opener):
            return [Predicate(swap_pronouns(part), kind, importance, negatable=False)]
    return None


def _merge_unclassified(parts: list[str]) -> list[str]:
    """ "allergic to nuts", "shellfish" -> "allergic to nuts and shellfish"."""
    merged: list[str] = []
    for part in parts:
        if merged and classify_predicate(part) is None:
            merged[-1] = f"{merged[-1]} and {part}"
        else:
            merged.append(part)
    return merged


@TRAIT_RULES.rule(r"^I am (?P<neg>not |no longer )?(?P<pred>.+)$")
def _i_am(match: re.Match[str], clause: Clause) -> list[CandidateFact] | None:
    parts = _merge_unclassified(re.split(r",\s*(?:and\s+)?|\s+and\s+", match["pred"]))
    negation = (match["neg"] or "").strip().lower()
    if negation == "not" and clause.says_anymore:
        negation = "no longer"
    facts: list[CandidateFact] = []
    for part in parts:
        for predicate in classify_predicate(part) or []:
            facts.extend(_predicate_fact(predicate, negation, clause))
    return facts


def _predicate_fact(predicate: Predicate, negation: str, clause: Clause) -> list[CandidateFact]:
    if negation and not predicate.negatable:
        return []
    text = (
        f"User is {negation} {predicate.phrase}"
        if negation
        else (predicate.text or f"User is {predicate.phrase}")
    )
    return [
        make_fact(
            clause,
            text,
            predicate.kind,
            predicate.importance,
            subject_key=None if negation else predicate.subject_key,
            entities=predicate.entities,
            relations=() if negation else predicate.relations,
            correction=negation == "no longer",
        )
    ]


# ---------------------------------------------------------------- "I have ..."

_COUNT = r"(?P<count>a|an|one|two|three|four|five|six|\d+)"
_PET_OWNED = re.compile(
    rf"^{_COUNT} (?:(?P<breed>[\w-]+) )?(?P<animal>{PET_PATTERN})"
    rf"(?: (?:named|called) (?P<names>.+))?$",
    re.IGNORECASE,
)
_RELATIVE_HAD = re.compile(
    rf"^{_COUNT} (?:(?P<adj>older|younger|little|big|twin|baby|step) )?(?P<rel>{RELATIVE_PATTERN})"
    rf"(?: (?:named|called) (?P<names>.+))?$",
    re.IGNORECASE,
)


@TRAIT_RULES.rule(r"^I have (?:got )?(?P<obj>.+)$")
def _i_have(match: re.Match[str], clause: Clause) -> list[CandidateFact] | None:
    thing = clean_value(match["obj"])
    for classify in (_owned_pet, _relatives, _condition, _possession):
        facts = classify(thing, clause)
        if facts is not None:
            return facts
    return []


def _names(value: str | None) -> list[str]:
    names = [person_name(item) for item in split_list(value or "")]
    return [name for name in names if name]


def _owned_pet(thing: str, clause: Clause) -> list[CandidateFact] | None:
    found = _PET_OWNED.match(thing)
    if found is None:
        return None
    breed = f"{found['breed']} " if found["breed"] else ""
    return [has_pet(f"{found['count']} {breed}{found['animal']}", _names(found["names"]), clause)]


def _relatives(thing: str, clause: Clause) -> list[CandidateFact] | None:
    found = _RELATIVE_HAD.match(thing)
    if found is None:
        return None
    names = _names(found["names"])
    if len(names) == 1 and found["count"].lower() in {"a", "an", "one"}:
        return [relative_named(found["rel"], found["adj"], names[0], clause)]
    named = f" named {' and '.join(names)}" if names else ""
    return [
        make_fact(
            clause,
            f"User has {thing.split(' named')[0].split(' called')[0]}{named}",
            "relationship",
            RELATIONSHIP if names else RELATIONSHIP - 0.1,
            entities=[entity(name, "person") for name in names],
        )
    ]


def _condition(thing: str, clause: Clause) -> list[CandidateFact] | None:
    allergy = re.match(r"^(?:a |an )?(?:(?P<x>[\w ]+) allergy|allergy to (?P<y>.+))$", thing, re.I)
    core = strip_article(thing.lower())
    if allergy is None and first_word(core) not in HEALTH_CONDITIONS:
        return None
    allergen = (allergy["x"] or allergy["y"]) if allergy else None
    return [
        make_fact(
            clause,
            f"User has {swap_pronouns(thing)}",
            "health",
            HEALTH,
            entities=[entity(allergen, "thing")] if allergen else [],
            relations=[relation("user", "allergic_to", allergen)] if allergen else [],
        )
    ]


def _possession(thing: str, clause: Clause) -> list[CandidateFact] | None:
    words = thing.lower().split()
    if len(words) < 2 or len(words) > 6 or not re.match(r"^(?:a|an|two|three|\d+)$", words[0]):
        return []  # "I have no idea", "I have to..."; long objects are rarely possessions
    if words[1] in TRANSIENT_HAVE or (len(words) > 2 and words[2] in TRANSIENT_HAVE):
        return []
    return [
        make_fact(
            clause,
            f"User has {swap_pronouns(thing)}",
            "possession",
            POSSESSION,
            entities=[entity(name, "thing") for name in proper_names(thing)],
        )
    ]


# ---------------------------------------------------------------- "my X is ..."

_NOT_FACT_NOUNS = frozenset(
    {
        "question",
        "problem",
        "issue",
        "point",
        "guess",
        "bad",
        "pleasure",
        "order",
        "request",
        "answer",
        "turn",
        "fault",
        "apologies",
        "concern",
        "main question",
        "first question",
    }
)
_IDENTITY_NOUNS = frozenset({"email", "email address", "phone number", "address", "nickname"})


@TRAIT_RULES.rule(r"^my (?P<noun>[a-z][\w -]{0,30}?) (?P<verb>is|are) (?P<v>.+)$")
def _my_thing(match: re.Match[str], clause: Clause) -> list[CandidateFact] | None:
    noun, value = match["noun"].lower(), clean_value(match["v"])
    if noun in _NOT_FACT_NOUNS or not value:
        return []
    goal = re.match(r"^to (?P<action>.+)$", value)
    if noun in {"plan", "goal", "dream", "aim", "new year's resolution"} and goal:
        text = with_time(f"User's {noun} is to {swap_pronouns(goal['action'])}", clause)
        return [make_fact(clause, text, "plan", PLAN, entities=places_in(text))]
    kind, importance = (
        ("identity", IDENTITY - 0.1) if noun in _IDENTITY_NOUNS else ("other", PREFERENCE)
    )
    single = match["verb"].lower() == "is"
    return [
        make_fact(
            clause,
            f"User's {noun} {match['verb'].lower()} {swap_pronouns(value)}",
            kind,
            importance,
            subject_key=slug(noun) if single else None,
            entities=[entity(name, "thing") for name in proper_names(value)],
        )
    ]
