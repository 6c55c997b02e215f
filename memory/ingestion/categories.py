"""Keyword-based category assignment against a project's category catalog.

The built-in categories have hand-written keyword lists; a custom catalog is matched by the
words of each category's name and description (plus the built-in list when a custom category
reuses a built-in name), so "pets: animals the user owns" catches "User has a dog named Rex".
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping

from memory.ingestion.facts import DEFAULT_CATEGORIES

FALLBACK_CATEGORY = "misc"
MAX_CATEGORIES_PER_FACT = 3


def _words(text: str) -> frozenset[str]:
    return frozenset(text.split())


_KEYWORDS: dict[str, frozenset[str]] = {
    "personal_details": _words(
        "name named age old birthday born from nationality live lives living home hometown "
        "address email phone identity pronoun religion speak speaks language languages fluent "
        "nationality"
    ),
    "family": _words(
        "family sister brother mother mom mum father dad parent son daughter child children "
        "kid wife husband partner spouse boyfriend girlfriend fiance fiancee married marry "
        "wedding grandmother grandfather grandma grandpa aunt uncle cousin niece nephew "
        "sibling friend baby twin"
    ),
    "professional_details": _words(
        "work works working job employer employed company career engineer developer "
        "manager designer teacher doctor nurse lawyer analyst scientist consultant "
        "colleague office promoted promotion salary client startup intern student study "
        "studies university college degree graduated school professional title"
    ),
    "sports": _words(
        "sport sports football soccer basketball tennis golf running run runner marathon gym "
        "yoga swimming swim cycling bike climbing ski skiing hockey baseball volleyball "
        "fitness workout exercise team match boxing surfing"
    ),
    "travel": _words(
        "travel trip trips traveling travelling visit visited visiting vacation holiday "
        "flight fly flying abroad journey tour destination hotel passport been"
    ),
    "food": _words(
        "food eat eats eating meat vegetarian vegan pescatarian diet cuisine cook cooking "
        "restaurant pizza sushi pasta coffee tea drink drinks wine beer chocolate dish meal "
        "breakfast lunch dinner nut nuts peanut gluten lactose dairy fish chicken "
        "spicy dessert fruit keto"
    ),
    "music": _words(
        "music song songs band bands singer album concert guitar piano violin drum drums "
        "jazz rock pop classical hip hop rap sing singing playlist"
    ),
    "health": _words(
        "health allergic allergy allergies diabetes diabetic asthma medication medicine "
        "doctor sick illness condition pregnant injury therapy anxiety depression sleep "
        "intolerant intolerance disease blood pain surgery"
    ),
    "technology": _words(
        "python javascript typescript java rust golang kotlin swift ruby php programming "
        "code coding software computer laptop phone app apps linux windows mac macos "
        "iphone android ai tech technology developer database framework editor"
    ),
    "hobbies": _words(
        "hobby hobbies hiking hike photography painting drawing reading gardening knitting "
        "chess camping fishing woodworking crafts collecting baking writing dancing "
        "free time weekend learning"
    ),
    "fashion": _words(
        "fashion clothes clothing style wear wears dress shoes sneakers brand outfit jacket "
        "shirt jewelry"
    ),
    "entertainment": _words(
        "movie movies film films tv show shows series book books novel game games gaming "
        "netflix anime podcast theater theatre comedy"
    ),
    "milestones": _words(
        "birthday graduated graduation wedding married engaged anniversary promoted moved "
        "retired born baby milestone achievement won award first"
    ),
    "user_preferences": _words(
        "prefer prefers preference like likes love loves enjoy enjoys hate hates dislike "
        "dislikes favorite favourite fan"
    ),
}

# What a fact's kind says about it, as extra words to match ("User has a dog named Rex" is
# about pets and family even though no keyword says so).
_KIND_TOKENS: dict[str, frozenset[str]] = {
    "identity": frozenset({"personal", "identity"}),
    "location": frozenset({"personal", "location", "home"}),
    "professional": frozenset({"professional", "work", "career", "job"}),
    "education": frozenset({"professional", "education", "school"}),
    "relationship": frozenset({"family", "relationship"}),
    "pet": frozenset({"pet", "animal", "family"}),
    "health": frozenset({"health"}),
    "preference": frozenset({"preference"}),
    "hobby": frozenset({"hobby"}),
    "plan": frozenset({"plan", "goal"}),
    "task": frozenset({"task", "reminder", "todo"}),
    "skill": frozenset({"skill"}),
    "possession": frozenset({"possession"}),
    "event": frozenset({"event"}),
    "habit": frozenset({"habit", "routine"}),
    "assistant_profile": frozenset({"assistant", "agent"}),
}

_STOPWORDS = _words(
    "a an the and or of to in on at for with about like such as user users user's their "
    "them they is are was be it its this that these those any other e.g etc things thing "
    "information info data details detail anything everything"
)

_WORD = re.compile(r"[a-z0-9+#]+")


def stem(word: str) -> str:
    """Crude plural folding so "allergies" meets "allergy" and "hobbies" meets "hobby"."""
    if len(word) > 4 and word.endswith("ies"):
        return word[:-3] + "y"
    if len(word) > 3 and word.endswith("s") and not word.endswith("ss"):
        return word[:-1]
    return word


def keyword_tokens(text: str) -> set[str]:
    words = _WORD.findall(text.lower().replace("_", " "))
    return {stem(w) for w in words if w not in _STOPWORDS}


def category_keywords(name: str, description: str) -> set[str]:
    """Words that place a fact in a category.

    A built-in category with its built-in description uses only its curated list: the
    prose of the description ("travel plans") would otherwise pull in unrelated facts.
    """
    keywords = {stem(word) for word in _KEYWORDS.get(name, ())}
    if DEFAULT_CATEGORIES.get(name) == description:
        return keywords | keyword_tokens(name)
    return keywords | keyword_tokens(f"{name} {description}")


def categorize(text: str, kind: str, catalog: Mapping[str, str]) -> tuple[str, ...]:
    """Best matching catalog categories for a fact, most specific first."""
    tokens = keyword_tokens(text) | _KIND_TOKENS.get(kind, frozenset())
    scores: dict[str, int] = {}
    for name, description in catalog.items():
        score = len(tokens & category_keywords(name, description))
        if score and name != FALLBACK_CATEGORY:
            scores[name] = score
    ranked = sorted(scores, key=lambda name: (-scores[name], name))
    chosen = tuple(ranked[:MAX_CATEGORIES_PER_FACT])
    if chosen:
        return chosen
    return (FALLBACK_CATEGORY,) if FALLBACK_CATEGORY in catalog else ()


def categories_matching_topic(topic_words: Iterable[str], catalog: Mapping[str, str]) -> set[str]:
    """Catalog categories a topic ("health", "family members") refers to by name."""
    words = {stem(w) for w in topic_words}
    return {name for name in catalog if words & keyword_tokens(name)}
