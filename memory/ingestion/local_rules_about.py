"""Rules about who the user is: name, age, origin, home, work, studies, family and pets."""

from __future__ import annotations

import re

from memory.ingestion.facts import CandidateFact, ExtractedRelation
from memory.ingestion.local_lexicon import (
    DEMONYMS,
    MONTHS,
    PET_PATTERN,
    PROFESSIONS,
    RELATIVE_PATTERN,
    RELATIVES,
    SINGLE_VALUED_RELATIVES,
)
from memory.ingestion.local_rules import (
    EXPERIENCE,
    IDENTITY,
    LOCATION,
    MILESTONE,
    RELATIONSHIP,
    WORK,
    Clause,
    RuleBook,
    article,
    entity,
    make_fact,
    places_in,
    relation,
    strip_article,
    with_time,
)
from memory.ingestion.local_text import (
    clean_value,
    first_word,
    head_value,
    last_word,
    looks_proper,
    proper_case,
    split_trailing_time,
    swap_pronouns,
)

ABOUT_RULES = RuleBook()
rule = ABOUT_RULES.rule

_NAME_WORD = re.compile(r"^[A-Za-z][\w'-]*$")


def person_name(value: str) -> str | None:
    """ "sam smith" -> "Sam Smith"; None when the value is not a plausible name."""
    words = head_value(value).split()[:3]
    if not words or not all(_NAME_WORD.match(word) for word in words):
        return None
    return proper_case(" ".join(words))


# ---------------------------------------------------------------- name, age, origin


@rule(r"^my (?:full |first |real )?name is (?P<v>.+)$")
def _name(match: re.Match[str], clause: Clause) -> list[CandidateFact] | None:
    name = person_name(match["v"])
    if name is None:
        return []
    return [
        make_fact(
            clause,
            f"User's name is {name}",
            "identity",
            IDENTITY,
            subject_key="name",
            entities=[entity(name, "person")],
            relations=[relation("user", "has_name", name)],
        )
    ]


@rule(r"^(?:call me|you can call me|people call me|I go by|I prefer to be called) (?P<v>.+)$")
def _preferred_name(match: re.Match[str], clause: Clause) -> list[CandidateFact] | None:
    name = person_name(match["v"])
    if name is None:
        return []
    return [
        make_fact(
            clause,
            f"User prefers to be called {name}",
            "identity",
            IDENTITY,
            subject_key="preferred_name",
            entities=[entity(name, "person")],
        )
    ]


@rule(r"^I am (?P<v>[A-Za-z][\w'-]*(?: [A-Za-z][\w'-]*)?)$")
def _introduction(match: re.Match[str], clause: Clause) -> list[CandidateFact] | None:
    """ "I am Sam" introduces a name only when written with capitals and not a nationality."""
    words = match["v"].split()
    capitalised = all(word[0].isupper() and not word.isupper() for word in words)
    if not capitalised or words[0].lower() in DEMONYMS:
        return None  # "I'm Spanish", "IM VEGAN": not a name
    return _name(match, clause)


@rule(r"^I am (?P<n>\d{1,3})(?: years? old| yrs? old| yo)?$")
def _age(match: re.Match[str], clause: Clause) -> list[CandidateFact] | None:
    age = int(match["n"])
    if not 0 < age < 120:
        return None
    return [make_fact(clause, f"User is {age} years old", "identity", 0.7, subject_key="age")]


@rule(r"^my birthday is (?:on )?(?P<v>.+)$")
def _birthday(match: re.Match[str], clause: Clause) -> list[CandidateFact] | None:
    day = clean_value(match["v"])
    return [make_fact(clause, f"User's birthday is {day}", "identity", 0.7, subject_key="birthday")]


@rule(r"^I (?:am|come) (?:originally )?from (?P<v>.+)$")
def _origin(match: re.Match[str], clause: Clause) -> list[CandidateFact] | None:
    place = head_value(match["v"])
    return [
        make_fact(
            clause,
            f"User is from {place}",
            "identity",
            0.7,
            subject_key="origin",
            entities=[entity(place, "place")],
            relations=[relation("user", "from", place)],
        )
    ]


@rule(r"^I (?P<verb>grew up|was born|was raised) (?:in|on) (?P<v>.+)$")
def _birthplace(match: re.Match[str], clause: Clause) -> list[CandidateFact] | None:
    value = head_value(match["v"])
    verb = match["verb"].lower()
    if re.fullmatch(r"\d{4}", value):
        return [
            make_fact(
                clause, f"User was born in {value}", "identity", 0.7, subject_key="birth_year"
            )
        ]
    if first_word(value) in MONTHS:
        return [
            make_fact(clause, f"User was born on {value}", "identity", 0.7, subject_key="birthday")
        ]
    key = "birthplace" if verb == "was born" else "hometown"
    return [
        make_fact(
            clause,
            f"User {verb} in {value}",
            "identity",
            0.7,
            subject_key=key,
            entities=[entity(value, "place")],
            relations=[relation("user", key, value)],
        )
    ]


# ---------------------------------------------------------------- home


def lives_in(place: str, clause: Clause, *, correction: bool = False) -> CandidateFact:
    return make_fact(
        clause,
        f"User lives in {place}",
        "location",
        LOCATION,
        subject_key="home_location",
        entities=[entity(place, "place")],
        relations=[relation("user", "lives_in", place)],
        correction=correction,
    )


@rule(r"^I (?:no longer|do not) live in (?P<v>.+)$")
def _not_living(match: re.Match[str], clause: Clause) -> list[CandidateFact] | None:
    place = head_value(match["v"])
    moved_away = clause.says_anymore
    verb = "no longer lives" if moved_away else "does not live"
    return [
        make_fact(
            clause,
            f"User {verb} in {place}",
            "location",
            LOCATION,
            entities=[entity(place, "place")],
            correction=moved_away,
        )
    ]


@rule(r"^I (?:live|reside|am living|am based|am located) in (?P<v>.+)$")
def _living(match: re.Match[str], clause: Clause) -> list[CandidateFact] | None:
    return [lives_in(head_value(match["v"]), clause)]


@rule(r"^I live with (?P<v>.+)$")
def _living_with(match: re.Match[str], clause: Clause) -> list[CandidateFact] | None:
    who = swap_pronouns(clean_value(match["v"]))
    return [
        make_fact(
            clause, f"User lives with {who}", "relationship", 0.6, subject_key="living_situation"
        )
    ]


@rule(r"^I (?:have )?(?:moved|relocated)(?: from (?P<old>.+?))? to (?P<v>.+)$")
def _moved(match: re.Match[str], clause: Clause) -> list[CandidateFact] | None:
    place, when = split_trailing_time(clean_value(match["v"]))
    place = head_value(place)
    facts = [lives_in(place, clause, correction=True)]
    if match["old"] or when:
        origin = f" from {head_value(match['old'])}" if match["old"] else ""
        event = with_time(f"User moved{origin} to {place} {when}", clause)
        facts.append(make_fact(clause, event, "event", EXPERIENCE, entities=places_in(event)))
    return facts


@rule(r"^I am (?:moving|relocating) to (?P<v>.+)$")
def _moving(match: re.Match[str], clause: Clause) -> list[CandidateFact] | None:
    place, when = split_trailing_time(clean_value(match["v"]))
    place = head_value(place)
    text = with_time(f"User is moving to {place} {when}", clause)
    return [
        make_fact(
            clause,
            text,
            "plan",
            LOCATION,
            entities=[entity(place, "place")],
            relations=[relation("user", "moving_to", place)],
        )
    ]


# ---------------------------------------------------------------- work and studies


def works_at(org: str, clause: Clause, *, correction: bool = False) -> CandidateFact:
    return make_fact(
        clause,
        f"User works at {org}",
        "professional",
        WORK,
        subject_key="employer",
        entities=[entity(org, "organization")],
        relations=[relation("user", "works_at", org)],
        correction=correction,
    )


def works_as(title: str, clause: Clause) -> CandidateFact:
    title = strip_article(clean_value(title))
    return make_fact(
        clause,
        f"User works as {article(title)}",
        "professional",
        WORK,
        subject_key="job_title",
        relations=[relation("user", "works_as", title)],
    )


@rule(r"^I (?:work|am working) (?:at|for) (?P<org>.+?)(?: as (?P<title>.+))?$")
def _work_at(match: re.Match[str], clause: Clause) -> list[CandidateFact] | None:
    facts = [works_at(head_value(match["org"]), clause)]
    if match["title"]:
        facts.append(works_as(match["title"], clause))
    return facts


@rule(r"^I (?:work|am working) as (?P<title>.+?)(?: (?:at|for) (?P<org>.+))?$")
def _work_as(match: re.Match[str], clause: Clause) -> list[CandidateFact] | None:
    facts = [works_as(match["title"], clause)]
    if match["org"]:
        facts.append(works_at(head_value(match["org"]), clause))
    return facts


@rule(r"^I (?:work|am working) in (?P<v>[a-z][\w -]+)$")
def _work_field(match: re.Match[str], clause: Clause) -> list[CandidateFact] | None:
    field = clean_value(match["v"])
    return [
        make_fact(clause, f"User works in {field}", "professional", WORK, subject_key="industry")
    ]


@rule(r"^I am (?:a |an |the )(?P<title>[\w -]+?) (?:at|for|with) (?P<org>.+)$")
def _title_at(match: re.Match[str], clause: Clause) -> list[CandidateFact] | None:
    title, org = match["title"], head_value(match["org"])
    if last_word(title) not in PROFESSIONS or not looks_proper(org):
        return None
    if title.lower() == "student":
        return [studies_at(org, clause)]
    return [works_as(title, clause), works_at(org, clause)]


@rule(
    r"^I (?:joined|got a job at|got hired at|got hired by|was hired by|started working at|"
    r"started working for|started a new job at) (?P<org>.+)$"
)
def _joined(match: re.Match[str], clause: Clause) -> list[CandidateFact] | None:
    org, when = split_trailing_time(clean_value(match["org"]))
    org = head_value(org)
    if not looks_proper(org):
        text = with_time(f"User joined {swap_pronouns(org)} {when}", clause)
        return [make_fact(clause, text, "event", EXPERIENCE)]
    return [works_at(org, clause, correction=True)]


@rule(
    r"^I (?P<verb>no longer work|do not work|quit|left|stopped working)(?: at| for)? (?P<org>.+)$"
)
def _left_job(match: re.Match[str], clause: Clause) -> list[CandidateFact] | None:
    org = clean_value(match["org"])
    if not org or first_word(org).endswith("ing"):
        return None  # "I quit smoking" is a habit, not a job
    if not looks_proper(org):
        text = f"User left {swap_pronouns(org)}"  # "I quit my job"
        return [make_fact(clause, text, "professional", WORK, correction=True)]
    org = head_value(org)
    still_denied = match["verb"].lower() == "do not work" and not clause.says_anymore
    verb = "does not work" if still_denied else "no longer works"
    return [
        make_fact(
            clause,
            f"User {verb} at {org}",
            "professional",
            WORK,
            entities=[entity(org, "organization")],
            correction=not still_denied,
        )
    ]


def studies_at(school: str, clause: Clause) -> CandidateFact:
    return make_fact(
        clause,
        f"User studies at {school}",
        "education",
        WORK,
        subject_key="school",
        entities=[entity(school, "organization")],
        relations=[relation("user", "studies_at", school)],
    )


@rule(r"^I (?:study|am studying|am a student) at (?P<org>.+)$")
def _study_at(match: re.Match[str], clause: Clause) -> list[CandidateFact] | None:
    return [studies_at(head_value(match["org"]), clause)]


@rule(r"^I (?:study|am studying|major in|am majoring in) (?P<field>.+?)(?: at (?P<org>.+))?$")
def _study_field(match: re.Match[str], clause: Clause) -> list[CandidateFact] | None:
    field = clean_value(match["field"])
    facts = [
        make_fact(clause, f"User studies {field}", "education", WORK, subject_key="field_of_study")
    ]
    if match["org"]:
        facts.append(studies_at(head_value(match["org"]), clause))
    return facts


@rule(r"^I (?:have )?graduated from (?P<v>.+)$")
def _graduated(match: re.Match[str], clause: Clause) -> list[CandidateFact] | None:
    school, when = split_trailing_time(clean_value(match["v"]))
    school = head_value(school)
    text = with_time(f"User graduated from {school} {when}", clause)
    return [
        make_fact(
            clause,
            text,
            "education",
            MILESTONE,
            entities=[entity(school, "organization")],
            relations=[relation("user", "graduated_from", school)],
        )
    ]


# ---------------------------------------------------------------- family and pets

_REL = rf"(?:(?P<adj>older|younger|little|big|baby|twin|step|best) )?(?P<rel>{RELATIVE_PATTERN})"


def relative_named(rel: str, adj: str | None, name: str, clause: Clause) -> CandidateFact:
    canonical = RELATIVES[rel.lower()]
    label = f"{adj.lower()} {canonical}" if adj else canonical
    single = canonical in SINGLE_VALUED_RELATIVES
    return make_fact(
        clause,
        f"User's {label} is named {name}",
        "relationship",
        RELATIONSHIP,
        subject_key=f"family:{canonical}" if single else None,
        entities=[entity(name, "person")],
        relations=[relation("user", label.replace(" ", "_"), name)],
    )


@rule(rf"^my {_REL}(?:'s name is| is named| is called) (?P<name>.+)$")
def _relative_name(match: re.Match[str], clause: Clause) -> list[CandidateFact] | None:
    name = person_name(match["name"])
    return [relative_named(match["rel"], match["adj"], name, clause)] if name else []


@rule(rf"^my {_REL},? (?P<name>[A-Za-z][\w-]*),? (?P<rest>.+)$")
def _relative_with_name(match: re.Match[str], clause: Clause) -> list[CandidateFact] | None:
    name = match["name"]
    if not name[0].isupper() or name == "I":
        return None
    facts = [relative_named(match["rel"], match["adj"], name, clause)]
    rest = swap_pronouns(with_time(clean_value(match["rest"]), clause))
    label = RELATIVES[match["rel"].lower()]
    predicate = _relative_relation(name, rest)
    facts.append(
        make_fact(
            clause,
            f"User's {label} {name} {rest}",
            "relationship",
            0.6,
            entities=[entity(name, "person"), *places_in(rest)],
            relations=[predicate] if predicate else [],
        )
    )
    return facts


def _relative_relation(name: str, rest: str) -> ExtractedRelation | None:
    job = re.match(r"^is (?:a|an) (?P<job>[\w -]+)$", rest)
    if job and last_word(job["job"]) in PROFESSIONS:
        return relation(name, "works_as", job["job"])
    home = re.match(r"^lives in (?P<place>.+)$", rest)
    return relation(name, "lives_in", head_value(home["place"])) if home else None


@rule(
    rf"^my {_REL} (?P<rest>(?:is|was|lives|works|loves|likes|has|just|recently|got|plays|"
    rf"studies|teaches|moved|hates|enjoys|will|passed)\b.+)$"
)
def _relative_fact(match: re.Match[str], clause: Clause) -> list[CandidateFact] | None:
    label = RELATIVES[match["rel"].lower()]
    adj = f"{match['adj'].lower()} " if match["adj"] else ""
    rest = swap_pronouns(with_time(clean_value(match["rest"]), clause))
    return [
        make_fact(
            clause, f"User's {adj}{label} {rest}", "relationship", 0.6, entities=places_in(rest)
        )
    ]


@rule(
    rf"^my (?P<animal>{PET_PATTERN})(?:'s name is| is named| is called|,)? (?P<name>[\w-]+),?"
    rf"(?: (?P<rest>.+))?$"
)
def _pet(match: re.Match[str], clause: Clause) -> list[CandidateFact] | None:
    name, animal = match["name"], match["animal"].lower()
    if not name[0].isupper():
        return None
    facts = [has_pet(f"a {animal}", [name], clause)]
    if match["rest"]:
        rest = swap_pronouns(with_time(clean_value(match["rest"]), clause))
        facts.append(
            make_fact(
                clause, f"User's {animal} {name} {rest}", "pet", 0.5, entities=[entity(name, "pet")]
            )
        )
    return facts


def has_pet(what: str, names: list[str], clause: Clause) -> CandidateFact:
    named = f" named {' and '.join(names)}" if names else ""
    return make_fact(
        clause,
        f"User has {what}{named}",
        "pet",
        0.7,
        entities=[entity(name, "pet") for name in names],
        relations=[relation("user", "has_pet", name) for name in names],
    )
