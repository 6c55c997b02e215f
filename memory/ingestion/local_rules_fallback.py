"""Last-resort rules (habits, negations, past events) and what an assistant says of itself."""

from __future__ import annotations

import re

from memory.ingestion.facts import CandidateFact
from memory.ingestion.local_lexicon import CONVERSATIONAL_VERBS, TRANSIENT_STATES
from memory.ingestion.local_rules import (
    EXPERIENCE,
    HABIT,
    HEALTH,
    IDENTITY,
    MILESTONE,
    PREFERENCE,
    Clause,
    RuleBook,
    article,
    entity,
    make_fact,
    places_in,
    proper_names,
    with_time,
)
from memory.ingestion.local_rules_about import person_name
from memory.ingestion.local_text import (
    clean_value,
    gerund_base,
    swap_pronouns,
    third_person_phrase,
)

FALLBACK_RULES = RuleBook()
ASSISTANT_RULES = RuleBook()
rule = FALLBACK_RULES.rule

# Giving up these is about health or diet, which matters more than other habits.
_HEALTH_VERBS = frozenset({"smoke", "drink", "eat", "vape"})


def _habit_importance(verb: str) -> tuple[str, float]:
    return ("health", HEALTH - 0.2) if verb.lower() in _HEALTH_VERBS else ("habit", PREFERENCE)


@rule(r"^I (?:stopped|quit|gave up) (?P<g>\w+ing)\b(?P<rest>.*)$")
def _stopped(match: re.Match[str], clause: Clause) -> list[CandidateFact] | None:
    base = gerund_base(match["g"])
    rest = swap_pronouns(clean_value(match["rest"])) if match["rest"].strip() else ""
    kind, importance = _habit_importance(base)
    text = f"User no longer {third_person_phrase(base)} {rest}"
    return [make_fact(clause, text, kind, importance, correction=True)]


@rule(r"^I (?P<neg>do not|never|no longer|cannot|can not) (?P<v>[a-z]+)\b(?P<rest>.*)$")
def _negated(match: re.Match[str], clause: Clause) -> list[CandidateFact] | None:
    verb = match["v"].lower()
    if verb in CONVERSATIONAL_VERBS:
        return []  # "I don't know", "I never thought about it"
    rest = swap_pronouns(clean_value(match["rest"])) if match["rest"].strip() else ""
    negation = match["neg"].lower()
    if negation == "no longer" or (negation == "do not" and clause.says_anymore):
        text, correction = f"User no longer {third_person_phrase(verb)} {rest}", True
    elif negation == "never":
        text, correction = f"User never {third_person_phrase(verb)} {rest}", False
    else:
        auxiliary = "does not" if negation == "do not" else "cannot"
        text, correction = f"User {auxiliary} {verb} {rest}", False
    kind, importance = _habit_importance(verb)
    return [make_fact(clause, text, kind, importance, correction=correction)]


@rule(
    r"^I (?P<freq>usually|always|often|normally|typically|sometimes|rarely|regularly|mostly) "
    r"(?P<v>[a-z]+)\b(?P<rest>.*)$"
)
def _frequent(match: re.Match[str], clause: Clause) -> list[CandidateFact] | None:
    verb = match["v"].lower()
    if verb in CONVERSATIONAL_VERBS or verb in {"am", "was", "forget", "wonder"}:
        return []
    rest = swap_pronouns(with_time(clean_value(match["rest"]), clause))
    text = f"User {match['freq'].lower()} {third_person_phrase(verb)} {rest}"
    return [make_fact(clause, text, "habit", HABIT)]


_EVENT_IMPORTANCE = {
    "got married": MILESTONE,
    "got engaged": MILESTONE,
    "got divorced": MILESTONE,
    "got promoted": MILESTONE,
    "got a promotion": MILESTONE,
    "had a baby": MILESTONE,
    "retired": MILESTONE,
    "became": MILESTONE,
    "had surgery": HEALTH - 0.1,
    "broke": EXPERIENCE,
    "visited": EXPERIENCE,
    "traveled to": EXPERIENCE,
    "travelled to": EXPERIENCE,
    "went to": EXPERIENCE,
    "adopted": MILESTONE,
    "bought": EXPERIENCE,
    "ran": EXPERIENCE,
    "won": EXPERIENCE,
    "completed": EXPERIENCE,
    "finished": EXPERIENCE,
    "started": EXPERIENCE,
    "passed": EXPERIENCE,
    "met": HABIT,
}
_EVENT_VERBS = "|".join(sorted(_EVENT_IMPORTANCE, key=len, reverse=True))


@rule(rf"^I (?P<verb>{_EVENT_VERBS})\b(?P<rest>.*)$")
def _past_event(match: re.Match[str], clause: Clause) -> list[CandidateFact] | None:
    verb = match["verb"].lower()
    rest = clean_value(match["rest"])
    if verb in {"went to", "visited", "traveled to", "travelled to"} and not proper_names(rest):
        return []  # "I went to bed", "I went to the store"
    text = with_time(f"User {verb} {swap_pronouns(rest)}", clause)
    kind = "health" if verb in {"had surgery", "broke"} else "event"
    named = re.search(r"\b(?:named|called) (?P<name>[A-Z]\w+)", rest)
    entities = [*places_in(text), entity(named["name"], "pet") if named else None]
    return [make_fact(clause, text, kind, _EVENT_IMPORTANCE[verb], entities=entities)]


@rule(r"^I used to (?P<v>[a-z]+)\b(?P<rest>.*)$")
def _used_to(match: re.Match[str], clause: Clause) -> list[CandidateFact] | None:
    if match["v"].lower() in CONVERSATIONAL_VERBS | {"be"}:
        return []
    rest = swap_pronouns(clean_value(match["rest"]))
    text = f"User used to {match['v'].lower()} {rest}"
    return [make_fact(clause, text, "event", HABIT, entities=places_in(text))]


@rule(
    r"^I (?P<v>[a-z]+) (?P<rest>.*\b(?:every|each|daily|weekly|on weekends|twice a|once a|"
    r"three times a)\b.*)$"
)
def _routine(match: re.Match[str], clause: Clause) -> list[CandidateFact] | None:
    verb = match["v"].lower()
    if verb in CONVERSATIONAL_VERBS | TRANSIENT_STATES | {"am", "was", "will", "would", "can"}:
        return None
    rest = swap_pronouns(clean_value(match["rest"]))
    return [make_fact(clause, f"User {third_person_phrase(verb)} {rest}", "habit", HABIT)]


# ---------------------------------------------------------------- the assistant itself

_ASSISTANT_SMALL_TALK = re.compile(
    r"^(?:happy|glad|sorry|here|just|not|afraid|unable|able|sure|always happy)\b", re.I
)


@ASSISTANT_RULES.rule(r"^my name is (?P<v>.+)$")
def _assistant_name(match: re.Match[str], clause: Clause) -> list[CandidateFact] | None:
    name = person_name(match["v"])
    if name is None:
        return []
    return [
        make_fact(
            clause,
            f"Assistant's name is {name}",
            "assistant_profile",
            IDENTITY,
            subject_key="assistant_name",
        )
    ]


@ASSISTANT_RULES.rule(r"^I am (?:a|an|your) (?P<v>.+)$")
def _assistant_role(match: re.Match[str], clause: Clause) -> list[CandidateFact] | None:
    role = clean_value(match["v"])
    if _ASSISTANT_SMALL_TALK.match(role):
        return []
    return [
        make_fact(
            clause,
            f"Assistant is {article(role)}",
            "assistant_profile",
            PREFERENCE,
            subject_key="assistant_role",
        )
    ]


@ASSISTANT_RULES.rule(r"^I (?:specialize|specialise|focus) (?:in|on) (?P<v>.+)$")
def _assistant_specialty(match: re.Match[str], clause: Clause) -> list[CandidateFact] | None:
    return [
        make_fact(
            clause,
            f"Assistant specializes in {clean_value(match['v'])}",
            "assistant_profile",
            PREFERENCE,
        )
    ]
