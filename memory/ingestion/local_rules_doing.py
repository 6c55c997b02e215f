"""Rules about what the user likes, plans, needs and does."""

from __future__ import annotations

import re

from memory.ingestion.facts import CandidateFact
from memory.ingestion.local_lexicon import PREFERENCE_DOMAINS, REQUEST_VERBS
from memory.ingestion.local_rules import (
    EXPERIENCE,
    HOBBY,
    PLAN,
    POSSESSION,
    PREFERENCE,
    SKILL,
    STRONG_PREFERENCE,
    TASK,
    Clause,
    RuleBook,
    entity,
    make_fact,
    places_in,
    proper_names,
    relation,
    with_time,
)
from memory.ingestion.local_text import (
    clean_value,
    looks_proper,
    slug,
    split_list,
    split_trailing_time,
    swap_pronouns,
    third_person_phrase,
)

DOING_RULES = RuleBook()
rule = DOING_RULES.rule

# "I love it", "I like that idea": reactions to the conversation, not preferences.
_REACTION = re.compile(
    r"^(?:it|that|this|these|those|them|you|your\b|the idea|the suggestion|how|what|when|"
    r"the way|hearing|talking to you|chatting)\b",
    re.IGNORECASE,
)


def preference_slot(*values: str) -> str | None:
    """The single-valued slot two compared things share ("Python" vs "Go" -> programming)."""
    words = [v.lower().strip() for v in values]
    for key, members in PREFERENCE_DOMAINS.items():
        if all(word in members for word in words):
            return key
    return None


# ---------------------------------------------------------------- preferences


@rule(
    r"^I (?:have )?(?:switched|changed|migrated|converted|moved over|transitioned) "
    r"from (?P<old>.+?) to (?P<new>.+)$"
)
def _switched(match: re.Match[str], clause: Clause) -> list[CandidateFact] | None:
    new, when = split_trailing_time(clean_value(match["new"]))
    old = clean_value(match["old"])
    preferred = make_fact(
        clause,
        f"User prefers {new} over {old}",
        "preference",
        STRONG_PREFERENCE,
        subject_key=preference_slot(new, old),
        correction=True,
        relations=[relation("user", "prefers", new)],
    )
    event = with_time(f"User switched from {old} to {new} {when}", clause)
    return [preferred, make_fact(clause, event, "event", EXPERIENCE)]


@rule(
    r"^I (?:much |generally |definitely )?prefer (?P<a>.+?) "
    r"(?:over|to|rather than|instead of|more than) (?P<b>.+)$"
)
def _prefer_over(match: re.Match[str], clause: Clause) -> list[CandidateFact] | None:
    better, worse = clean_value(match["a"]), clean_value(match["b"])
    if better.lower() == "to":
        return None
    return [
        make_fact(
            clause,
            f"User prefers {swap_pronouns(better)} over {swap_pronouns(worse)}",
            "preference",
            STRONG_PREFERENCE,
            subject_key=preference_slot(better, worse),
            relations=[relation("user", "prefers", better)],
        )
    ]


@rule(r"^I (?:much |generally )?prefer (?P<a>.+)$")
def _prefer(match: re.Match[str], clause: Clause) -> list[CandidateFact] | None:
    what = swap_pronouns(clean_value(match["a"]))
    if _REACTION.match(what):
        return []
    return [make_fact(clause, f"User prefers {what}", "preference", PREFERENCE)]


@rule(r"^I would rather (?P<a>.+?) than (?P<b>.+)$")
def _rather(match: re.Match[str], clause: Clause) -> list[CandidateFact] | None:
    text = f"User would rather {swap_pronouns(match['a'])} than {swap_pronouns(match['b'])}"
    return [make_fact(clause, clean_value(text), "preference", PREFERENCE)]


_FAVORITE = r"(?:absolute |all-time |all time |current )?favorite"


@rule(rf"^my {_FAVORITE} (?P<what>[\w -]+?) (?:is|are) (?P<v>.+)$")
@rule(rf"^(?P<v>.+?) (?:is|are) my {_FAVORITE} (?P<what>[\w -]+)$")
def _favorite(match: re.Match[str], clause: Clause) -> list[CandidateFact] | None:
    what, value = clean_value(match["what"]), clean_value(match["v"])
    return [
        make_fact(
            clause,
            f"User's favorite {what} is {value}",
            "preference",
            PREFERENCE,
            subject_key=f"favorite:{slug(what)}",
            entities=[entity(value, "preference")],
            relations=[relation("user", f"favorite_{slug(what)}", value)],
        )
    ]


_DISLIKE_VERBS = {
    "hate": "hates",
    "dislike": "dislikes",
    "detest": "dislikes",
    "loathe": "hates",
    "cannot stand": "cannot stand",
    "can not stand": "cannot stand",
    "am not a fan of": "is not a fan of",
    "am not a big fan of": "is not a fan of",
    "am not into": "is not into",
}
_LIKE_VERBS = {
    "love": "loves",
    "like": "likes",
    "enjoy": "enjoys",
    "adore": "adores",
    "am into": "is into",
    "am a fan of": "is a fan of",
    "am a big fan of": "is a fan of",
    "am a huge fan of": "is a fan of",
    "am passionate about": "is passionate about",
    "am obsessed with": "is obsessed with",
    "am keen on": "is keen on",
    "am fond of": "is fond of",
    "am crazy about": "is crazy about",
}
_STRONG_VERBS = frozenset({"loves", "adores", "hates", "is passionate about", "is obsessed with"})


def _alternation(verbs: dict[str, str]) -> str:
    return "|".join(sorted(verbs, key=len, reverse=True))


def taste_facts(
    verb: str, value: str, clause: Clause, *, correction: bool = False
) -> list[CandidateFact]:
    """One fact per liked or disliked thing: "User loves hiking", "User loves jazz"."""
    value = clean_value(value)
    if not value or _REACTION.match(value):
        return []
    items = [value] if value.lower().startswith("to ") else split_list(value)
    importance = STRONG_PREFERENCE if verb in _STRONG_VERBS else PREFERENCE
    label = slug(re.sub(r"^is (?:a )?", "", verb))
    return [
        make_fact(
            clause,
            f"User {verb} {swap_pronouns(item)}",
            "preference",
            importance,
            entities=[entity(item, "preference") if len(item.split()) <= 4 else None],
            relations=[relation("user", label, item)],
            correction=correction,
        )
        for item in items
    ]


@rule(rf"^I (?P<verb>{_alternation(_DISLIKE_VERBS)}) (?P<v>.+)$")
def _dislike(match: re.Match[str], clause: Clause) -> list[CandidateFact] | None:
    return taste_facts(_DISLIKE_VERBS[match["verb"].lower()], match["v"], clause)


@rule(r"^I (?P<neg>no longer|do not|never) (?:really )?(?P<verb>like|love|enjoy) (?P<v>.+)$")
def _not_like(match: re.Match[str], clause: Clause) -> list[CandidateFact] | None:
    stopped = match["neg"].lower() == "no longer" or clause.says_anymore
    verb = match["verb"].lower()
    phrase = f"no longer {verb}s" if stopped else f"does not {verb}"
    return taste_facts(phrase, match["v"], clause, correction=stopped)


@rule(rf"^I (?P<verb>{_alternation(_LIKE_VERBS)}) (?P<v>.+)$")
def _like(match: re.Match[str], clause: Clause) -> list[CandidateFact] | None:
    return taste_facts(_LIKE_VERBS[match["verb"].lower()], match["v"], clause)


# ---------------------------------------------------------------- plans and tasks


def _is_request(action: str) -> bool:
    words = action.split()
    return not words or words[0].lower() in REQUEST_VERBS


@rule(r"^I would (?:really |very much )?(?P<verb>love|like) to (?P<v>.+)$")
def _would_like(match: re.Match[str], clause: Clause) -> list[CandidateFact] | None:
    action = clean_value(match["v"])
    if _is_request(action):
        return []
    text = with_time(f"User would {match['verb'].lower()} to {swap_pronouns(action)}", clause)
    return [make_fact(clause, text, "plan", PREFERENCE, entities=places_in(text))]


_INTENT_VERBS = {
    "want": "wants to",
    "hope": "hopes to",
    "plan": "plans to",
    "intend": "plans to",
    "am planning": "plans to",
    "am going": "plans to",
    "aim": "aims to",
    "aspire": "aspires to",
    "dream": "dreams to",
    "am hoping": "hopes to",
}


@rule(rf"^I (?P<verb>{_alternation(_INTENT_VERBS)}) to (?P<v>.+)$")
def _intent(match: re.Match[str], clause: Clause) -> list[CandidateFact] | None:
    action = clean_value(match["v"])
    if _is_request(action):
        return []
    if looks_proper(action):  # "I am going to Japan": a trip, not a verb
        return trip_facts(action, clause)
    text = with_time(f"User {_INTENT_VERBS[match['verb'].lower()]} {swap_pronouns(action)}", clause)
    return [make_fact(clause, text, "plan", PLAN, entities=places_in(text))]


@rule(r"^I am (?:planning|organizing|organising|booking) (?P<v>(?:a|an|my|our) .+)$")
def _planning(match: re.Match[str], clause: Clause) -> list[CandidateFact] | None:
    text = with_time(f"User is planning {swap_pronouns(clean_value(match['v']))}", clause)
    places = [e for e in places_in(text) if e is not None]
    trip = re.search(r"\b(?:trip|vacation|holiday|visit|journey|tour)\b", text, re.IGNORECASE)
    relations = [relation("user", "plans_trip_to", p.name) for p in places] if trip else []
    return [make_fact(clause, text, "plan", PLAN, entities=places, relations=relations)]


def trip_facts(target: str, clause: Clause) -> list[CandidateFact]:
    text = with_time(f"User is traveling to {target}", clause)
    places = [e for e in places_in(text) if e is not None]
    return [
        make_fact(
            clause,
            text,
            "plan",
            PLAN,
            entities=places,
            relations=[relation("user", "plans_trip_to", p.name) for p in places],
        )
    ]


@rule(
    r"^I (?:am|will be) (?:going|traveling|travelling|flying|heading|driving|visiting|"
    r"off) (?:to )?(?P<v>.+)$"
)
def _trip(match: re.Match[str], clause: Clause) -> list[CandidateFact] | None:
    target = clean_value(match["v"])
    return trip_facts(target, clause) if looks_proper(target) else None


@rule(r"^(?:remind me|do not let me forget|don't let me forget) (?:to |about |that )?(?P<v>.+)$")
def _reminder(match: re.Match[str], clause: Clause) -> list[CandidateFact] | None:
    task = swap_pronouns(with_time(clean_value(match["v"]), clause))
    about = "about" if re.search(r"\babout\s", clause.text[:30]) else "to"
    return [make_fact(clause, f"User wants to be reminded {about} {task}", "task", TASK)]


@rule(r"^I (?:need|have|must|should|have got|got)(?: to)?(?: remember)? to (?P<v>.+)$")
def _need_to(match: re.Match[str], clause: Clause) -> list[CandidateFact] | None:
    task = clean_value(match["v"])
    if _is_request(task) or len(task.split()) < 2:
        return []  # "I need to go", "I have to ask you something"
    text = with_time(f"User needs to {swap_pronouns(task)}", clause)
    return [make_fact(clause, text, "task", TASK - 0.1)]


# ---------------------------------------------------------------- skills and pastimes


@rule(r"^I (?:speak|am fluent in|can speak) (?P<v>.+)$")
def _speaks(match: re.Match[str], clause: Clause) -> list[CandidateFact] | None:
    facts = []
    for item in split_list(clean_value(match["v"])):
        language = re.sub(r"^(?:fluent|some|a little|basic|native)\s+", "", item, flags=re.I)
        facts.append(
            make_fact(
                clause,
                f"User speaks {item}",
                "skill",
                SKILL,
                entities=[entity(language, "skill")],
                relations=[relation("user", "speaks", language)],
            )
        )
    return facts


def _activity_facts(
    verb: str, label: str, value: str, clause: Clause, kind: str, importance: float
) -> list[CandidateFact]:
    things, when = split_trailing_time(clean_value(value))
    return [
        make_fact(
            clause,
            with_time(f"User {verb} {swap_pronouns(item)} {when}", clause),
            kind,
            importance,
            entities=[entity(item, "skill" if kind == "skill" else "thing")],
            relations=[relation("user", label, item)],
        )
        for item in split_list(things)
    ]


@rule(r"^I am (?:learning|taking lessons in|studying how to) (?P<v>.+)$")
def _learning(match: re.Match[str], clause: Clause) -> list[CandidateFact] | None:
    return _activity_facts("is learning", "learning", match["v"], clause, "skill", SKILL)


@rule(r"^I (?:play|am playing) (?P<v>.+)$")
def _plays(match: re.Match[str], clause: Clause) -> list[CandidateFact] | None:
    if _REACTION.match(match["v"]):
        return []
    return _activity_facts("plays", "plays", match["v"], clause, "hobby", HOBBY)


@rule(r"^I (?:code|program|develop|write code|write software) (?:mostly )?in (?P<v>.+)$")
def _codes_in(match: re.Match[str], clause: Clause) -> list[CandidateFact] | None:
    return _activity_facts("codes in", "codes_in", match["v"], clause, "skill", SKILL)


@rule(r"^I know how to (?P<v>.+)$")
def _knows_how(match: re.Match[str], clause: Clause) -> list[CandidateFact] | None:
    skill = swap_pronouns(clean_value(match["v"]))
    return [make_fact(clause, f"User knows how to {skill}", "skill", HOBBY)]


@rule(r"^I (?P<verb>use|drive|ride|own) (?P<v>.+)$")
def _uses(match: re.Match[str], clause: Clause) -> list[CandidateFact] | None:
    thing = clean_value(match["v"])
    if _REACTION.match(thing) or thing.lower().startswith(("to ", "a lot")):
        return []
    verb = third_person_phrase(match["verb"].lower())
    names = proper_names(thing)
    return [
        make_fact(
            clause,
            f"User {verb} {swap_pronouns(thing)}",
            "possession",
            POSSESSION,
            entities=[entity(name, "thing") for name in names],
        )
    ]


@rule(r"^I (?:go|often go|usually go) (?P<v>\w+ing)\b(?P<rest>.*)$")
def _goes(match: re.Match[str], clause: Clause) -> list[CandidateFact] | None:
    rest = swap_pronouns(clean_value(match["rest"])) if match["rest"].strip() else ""
    activity = match["v"].lower()
    return [
        make_fact(
            clause,
            f"User goes {activity} {rest}",
            "hobby",
            HOBBY,
            entities=[entity(activity, "preference")],
            relations=[relation("user", "enjoys", activity)],
        )
    ]


@rule(r"^in my (?:free|spare) time,? I (?P<v>.+)$")
def _free_time(match: re.Match[str], clause: Clause) -> list[CandidateFact] | None:
    activity = third_person_phrase(clean_value(match["v"]))
    return [make_fact(clause, f"User {activity} in their free time", "hobby", HOBBY)]


@rule(r"^my (?:main )?hobb(?:y|ies) (?:is|are|include) (?P<v>.+)$")
def _hobbies(match: re.Match[str], clause: Clause) -> list[CandidateFact] | None:
    return [
        make_fact(
            clause,
            f"User's hobbies include {swap_pronouns(item)}",
            "hobby",
            HOBBY,
            entities=[entity(item, "preference")],
            relations=[relation("user", "hobby", item)],
        )
        for item in split_list(clean_value(match["v"]))
    ]


@rule(r"^I have (?P<never>never )?been to (?P<v>.+)$")
def _been_to(match: re.Match[str], clause: Clause) -> list[CandidateFact] | None:
    place = with_time(clean_value(match["v"]), clause)
    verb = "has never been" if match["never"] else "has been"
    importance = EXPERIENCE - 0.1 if match["never"] else EXPERIENCE
    return [
        make_fact(
            clause,
            f"User {verb} to {place}",
            "event",
            importance,
            entities=places_in(f"to {place}"),
        )
    ]
