"""Text plumbing for the local rule extractor: sentences, clauses, verbs, pronouns, dates."""

from __future__ import annotations

import calendar
import datetime as dt
import re
from dataclasses import dataclass

from memory.ingestion.local_lexicon import COMPOUND_PHRASES, E_DROPPING_GERUNDS, MONTHS

_CONTRACTIONS: tuple[tuple[str, str], ...] = (
    (r"\bi'm\b", "I am"),
    (r"\bim\b", "I am"),
    (r"\bi've\b", "I have"),
    (r"\bi'd\b", "I would"),
    (r"\bi'll\b", "I will"),
    (r"\bcan't\b", "cannot"),
    (r"\bwon't\b", "will not"),
    (r"\bain't\b", "am not"),
    (r"\b(\w+)n't\b", r"\1 not"),
    (r"\b(it|that|there|what|he|she)'s\b", r"\1 is"),
    (r"\b(you|we|they)'re\b", r"\1 are"),
    (r"\bgonna\b", "going to"),
    (r"\bwanna\b", "want to"),
    (r"\bgotta\b", "have to"),
    (r"\bfavourite\b", "favorite"),
)

# Openers that carry no content; "actually", "now" and friends also mark a correction.
_CORRECTION_OPENERS = r"actually|correction|update|now|these days|scratch that|i meant|sorry"
_FILLER_OPENERS = (
    r"hi|hello|hey|well|so|oh|ok|okay|also|and|but|anyway|btw|by the way|fyi|yeah|yes|yep|"
    r"no|nope|honestly|to be honest|fun fact|as you know|just so you know|just to let you know|"
    r"please|um|uh|hmm|ah|alright|right|oh and|in fact|" + _CORRECTION_OPENERS
)
_OPENER = re.compile(rf"^(?:(?:{_FILLER_OPENERS})\b[\s,!.:-]*)", re.IGNORECASE)
_CORRECTION = re.compile(
    rf"^(?:{_CORRECTION_OPENERS})\b|\b(?:anymore|any more|no longer|instead|now|actually)\b",
    re.IGNORECASE,
)
_HEDGE = re.compile(
    r"^(?:i think|i guess|i believe|i suppose|i reckon|probably|i am pretty sure|"
    r"i am not sure but|if i remember correctly|apparently)\b[\s,]*(?:that\s+)?",
    re.IGNORECASE,
)
# Case-sensitive so that the month "May" is not a hedge.
_WEAK_HEDGE = re.compile(r"\b(?:[Mm]ight|may|[Mm]aybe|[Pp]erhaps|[Pp]ossibly)\b")
_MILD_HEDGE = re.compile(r"\b(?:probably|I think|I guess|I believe)\b", re.IGNORECASE)
# Adverbs between "I" and the verb that change nothing about the fact.
_NOISE_ADVERBS = re.compile(
    r"^(I am|I|my [\w ]+? (?:is|are))\s+(?:(?:really|absolutely|also|just|currently|still|"
    r"totally|truly|definitely|actually|recently|now|honestly|literally|genuinely|kind of|"
    r"sort of|mostly|mainly|probably|maybe|perhaps|possibly|so|very|do)\s+)+(?!not\b)",
    re.IGNORECASE,
)

EXPLICIT_CONFIDENCE = 0.95
HEDGED_CONFIDENCE = 0.6
WEAK_HEDGED_CONFIDENCE = 0.5


@dataclass(frozen=True)
class PreparedClause:
    text: str
    confidence: float
    correction: bool


def expand_contractions(text: str) -> str:
    text = text.replace("\u2019", "'").replace("\u2018", "'")
    for pattern, replacement in _CONTRACTIONS:
        text = re.sub(pattern, replacement, text, flags=re.IGNORECASE)
    return text


def split_sentences(text: str) -> list[tuple[str, bool]]:
    """(sentence, is_question) pairs; a sentence keeps no final punctuation."""
    protected = re.sub(r"\b(Dr|Mr|Mrs|Ms|St|Jr|Sr|Prof|e\.g|i\.e|vs)\.", r"\1", text)
    sentences: list[tuple[str, bool]] = []
    for piece in re.split(r"(?<=[.!?])\s+|\n+", protected):
        stripped = piece.strip()
        if stripped:
            sentences.append((stripped.rstrip(".!? "), stripped.endswith("?")))
    return sentences


_QUESTION_START = re.compile(
    r"^(?:what|when|where|who|whom|whose|why|how|which|can|could|would|will|do|does|did|"
    r"is|are|was|were|should|shall|may|am|have|has|tell me|show me|any)\b",
    re.IGNORECASE,
)
_CLAUSE_BREAK = re.compile(
    r"\s*[;\u2014\u2013]\s*|\s+-\s+|:\s+|"
    r",?\s+(?:and|but|so|because|although|though|while|plus)\s+"
    r"(?=(?:(?:also|now|then|actually|currently|recently)\s+)?(?:I|my)\b)|"
    r",\s*(?=(?:I|my)\s)",
    re.IGNORECASE,
)
# "I live in Paris and work at Acme": the second verb keeps the first clause's subject.
_IMPLIED_SUBJECT = re.compile(
    r",?\s+(?:and|but)\s+(?:also\s+)?(?=(?:live|work|have|love|like|enjoy|hate|play|speak|"
    r"study|own|drive|prefer|moved|switched|was|need|want|plan)\b)",
    re.IGNORECASE,
)


def split_clauses(sentence: str, is_question: bool) -> list[str]:
    """Independent clauses of a sentence; the question part of a question is dropped."""
    sentence = _IMPLIED_SUBJECT.sub(" and I ", sentence)
    clauses = [c.strip(" ,") for c in _CLAUSE_BREAK.split(sentence) if c and c.strip(" ,")]
    if is_question:
        # "What should I cook, I am vegetarian?" keeps only the statement.
        if len(clauses) == 1:
            return []
        clauses = [c for c in clauses if not _QUESTION_START.match(strip_openers(c))]
    return clauses


def strip_openers(clause: str) -> str:
    previous = None
    while previous != clause:
        previous = clause
        clause = _OPENER.sub("", clause).strip()
    return clause


def prepare_clause(clause: str, *, after_correction: bool = False) -> PreparedClause:
    """Strip fillers and hedges, remembering what they said about certainty and change.

    `after_correction` is set when an earlier clause of the sentence was only a correction
    marker ("Update: I now work at Globex").
    """
    correction = after_correction or bool(_CORRECTION.search(clause))
    text = strip_openers(clause)
    confidence = HEDGED_CONFIDENCE if _MILD_HEDGE.search(text) else EXPLICIT_CONFIDENCE
    text = strip_openers(_HEDGE.sub("", text))
    if _WEAK_HEDGE.search(text):
        confidence = WEAK_HEDGED_CONFIDENCE
    text = _NOISE_ADVERBS.sub(r"\1 ", text)
    return PreparedClause(text=" ".join(text.split()), confidence=confidence, correction=correction)


# ---------------------------------------------------------------- grammar


def third_person_verb(verb: str) -> str:
    lower = verb.lower()
    irregular = {"have": "has", "do": "does", "go": "goes", "be": "is", "am": "is"}
    if lower in irregular:
        return irregular[lower]
    if re.search(r"(?:s|sh|ch|x|z|o)$", lower):
        return verb + "es"
    if re.search(r"[^aeiou]y$", lower):
        return verb[:-1] + "ies"
    return verb + "s"


def third_person_phrase(phrase: str) -> str:
    """Conjugate the leading verb: "walk my dog" -> "walks their dog"."""
    head, _, tail = phrase.partition(" ")
    return " ".join(part for part in (third_person_verb(head), swap_pronouns(tail)) if part)


def gerund_base(gerund: str) -> str:
    lower = gerund.lower()
    if lower in E_DROPPING_GERUNDS:
        return E_DROPPING_GERUNDS[lower]
    stem = lower[:-3] if lower.endswith("ing") else lower
    if len(stem) > 2 and stem[-1] == stem[-2] and stem[-1] not in "lsz":
        stem = stem[:-1]  # running -> run
    return stem


_PRONOUNS = {
    "my": "their",
    "me": "them",
    "myself": "themselves",
    "mine": "theirs",
    "i": "they",
    "your": "the assistant's",
    "you": "the assistant",
}


def swap_pronouns(text: str) -> str:
    """Rewrite a first-person fragment for a third-person fact."""
    text = re.sub(r"\bI am\b", "they are", text)
    return re.sub(
        r"\b(?:my|me|myself|mine|I|your|you)\b",
        lambda match: _PRONOUNS[match.group(0).lower()],
        text,
        flags=re.IGNORECASE,
    )


_LIST_SPLIT = re.compile(r"\s*,\s*(?:and\s+|or\s+)?|\s+(?:and|or|as well as|&)\s+")


def split_list(value: str, max_words: int = 5) -> list[str]:
    """ "hiking, photography and jazz" -> three items; "rock and roll" stays one."""
    lowered = value.lower()
    if any(phrase in lowered for phrase in COMPOUND_PHRASES):
        return [value]
    parts = [p.strip() for p in _LIST_SPLIT.split(value) if p.strip()]
    if len(parts) < 2 or any(len(p.split()) > max_words for p in parts):
        return [value]
    return parts


_TRAILING_FILLER = re.compile(
    r"(?:\s+(?:too|as well|also|a lot|so much|very much|really|lol|haha|though|anyway|"
    r"anymore|any more|now|btw|right now|these days|at the moment))+$",
    re.IGNORECASE,
)


def clean_value(value: str) -> str:
    value = value.strip(" ,.!;:\"'")
    return _TRAILING_FILLER.sub("", value).strip(" ,.!;:\"'")


_HEAD_CUT = re.compile(
    r"\s+(?:with|because|since|for|but|which|where|who|so|and|as|near|when|until)\s|,",
    re.IGNORECASE,
)


def head_value(value: str) -> str:
    """The name part of a place or organisation: "Berlin with my wife" -> "Berlin"."""
    head = _HEAD_CUT.split(clean_value(value), maxsplit=1)[0]
    head = re.sub(r"^(?:the city of|the town of)\s+", "", head, flags=re.IGNORECASE)
    return proper_case(head.strip())


def proper_case(name: str) -> str:
    """Names typed in lower case ("berlin") get capitals; mixed case is left alone."""
    if name.islower() and len(name.split()) <= 3:
        return " ".join(word.capitalize() for word in name.split())
    return name


def first_word(text: str) -> str:
    words = text.split()
    return words[0].lower() if words else ""


def last_word(text: str) -> str:
    words = text.split()
    return words[-1].lower() if words else ""


def looks_proper(value: str) -> bool:
    return bool(value) and value[0].isupper()


def slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "_", text.lower()).strip("_")


# ---------------------------------------------------------------- dates

_MONTH = "|".join(MONTHS)
_TRAILING_TIME = re.compile(
    rf"\s+(?:(?:last|this|next|every) (?:year|month|week|weekend|summer|winter|spring|fall|"
    rf"autumn|morning|night|evening|day|monday|tuesday|wednesday|thursday|friday|saturday|"
    rf"sunday|{_MONTH})|yesterday|today|tonight|tomorrow|recently|soon|someday|one day|"
    rf"(?:a|one|two|three|four|five|six|a few|a couple of|\d+) (?:days?|weeks?|months?|years?) "
    rf"ago|(?:in|since|on|by|during) (?:the )?(?:(?:early|late|mid) )?(?:\d{{4}}|{_MONTH}|"
    rf"spring|summer|fall|autumn|winter)(?: \d{{1,2}}(?:st|nd|rd|th)?)?(?:,? \d{{4}})?|"
    rf"for (?:\d+|a few|many|several|two|three|four|five|ten) (?:days|weeks|months|years)|"
    rf"(?:a|two|three) (?:years?|months?) ago)$",
    re.IGNORECASE,
)


def split_trailing_time(value: str) -> tuple[str, str]:
    """("Berlin last year") -> ("Berlin", "last year")."""
    times: list[str] = []
    while match := _TRAILING_TIME.search(value):
        times.insert(0, match.group(0).strip())
        value = value[: match.start()].rstrip(" ,")
    return value, " ".join(times)


def _shift_month(date: dt.date, months: int) -> dt.date:
    index = date.year * 12 + date.month - 1 + months
    return dt.date(index // 12, index % 12 + 1, 1)


def ground_time(phrase: str, observed: dt.date) -> str:
    """Turn relative time into a date that stays true later ("last year" -> "in 2024")."""
    lower = phrase.lower()
    days = {"yesterday": -1, "today": 0, "tonight": 0, "tomorrow": 1}
    if lower in days:
        return f"on {observed + dt.timedelta(days=days[lower])}"
    match = re.fullmatch(r"(last|this|next) (year|month|week)", lower)
    if match:
        offset = {"last": -1, "this": 0, "next": 1}[match.group(1)]
        if match.group(2) == "year":
            return f"in {observed.year + offset}"
        if match.group(2) == "month":
            month = _shift_month(observed, offset)
            return f"in {calendar.month_name[month.month]} {month.year}"
        monday = observed - dt.timedelta(days=observed.weekday()) + dt.timedelta(weeks=offset)
        return f"in the week of {monday}"
    match = re.fullmatch(r"(last|this|next) (spring|summer|fall|autumn)", lower)
    if match:
        return f"in {match.group(2)} {_season_year(match.group(1), match.group(2), observed)}"
    match = re.fullmatch(r"(a|one|two|three|four|five|six|\d+) years? ago", lower)
    if match:
        words = {"a": 1, "one": 1, "two": 2, "three": 3, "four": 4, "five": 5, "six": 6}
        count = words.get(match.group(1)) or int(match.group(1))
        return f"in {observed.year - count}"
    return phrase


# (first month, last month) of the northern-hemisphere seasons people name in chat.
_SEASONS = {"spring": (3, 5), "summer": (6, 8), "fall": (9, 11), "autumn": (9, 11)}


def _season_year(which: str, season: str, observed: dt.date) -> int:
    """The year of "last/this/next summer" as seen on the observation date."""
    first, last = _SEASONS[season]
    if which == "last":  # the most recent one that is over
        return observed.year if observed.month > last else observed.year - 1
    if which == "next":  # the first one that has not started
        return observed.year if observed.month < first else observed.year + 1
    return observed.year
