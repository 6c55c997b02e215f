"""Text → index terms, shared by the blind index (write side) and keyword search (query side).

Both sides must agree exactly, or a keyword can never match: NFKC, casefold, words of letters
and digits, possessives folded, stop-words dropped, then a light Porter-style stemmer (so
"hiking", "hiked" and "hikes" meet at "hike"). Question words are stop-words too: they are in
every query and almost no memory, and would only add noise to BM25.
"""

import re
import unicodedata
from collections import Counter
from functools import lru_cache

from memory.retrieval.stemmer import stem

_APOSTROPHES = "'\u2019"  # ASCII and typographic
_WORD = re.compile(rf"[^\W_]+(?:[{_APOSTROPHES}][^\W_]+)*")
_POSSESSIVE = re.compile(rf"[{_APOSTROPHES}]s$")

STOP_WORDS = frozenset(
    """
    a about above after again against all also am an and any are aren as at be because been
    before being below between both but by can cannot could couldn did didn do does doesn doing
    don down during each either else even ever few for from further get gets got had hadn has
    hasn have haven having he her here hers herself him himself his how however i if in into is
    isn it its itself just let ll me might more most mr mrs ms much must mustn my myself neither
    no nor not now of off on once only or other ought our ours ourselves out over own per quite
    rather re really s same shall shan she should shouldn so some such than that the their theirs
    them themselves then there these they this those though through thus to too under until up
    upon us ve very via was wasn we were weren what whatever when whenever where wherever whether
    which while who whoever whom whose why will with within without won would wouldn yes yet you
    your yours yourself yourselves d t m o y ain isnt dont doesnt didnt cant wont im ive youre
    thats whats hes shes theyre weve
    """.split()  # noqa: SIM905 - a word list reads better as text
)
MAX_TERM_CHARS = 64


@lru_cache(maxsize=65536)
def _term(word: str) -> str:
    """One casefolded word → its index term ('' to drop it). Cached: memory text is
    repetitive, and stemming is the costliest part of indexing."""
    word = _POSSESSIVE.sub("", word).replace("'", "").replace("\u2019", "")
    if not word or word in STOP_WORDS:
        return ""
    if len(word) == 1 and not word.isdigit():
        return ""
    if word.isdigit():
        return word
    stemmed = stem(word)
    return "" if stemmed in STOP_WORDS else stemmed[:MAX_TERM_CHARS]


def index_terms(text: str) -> list[str]:
    """The text's index terms in order, with repeats (term frequency matters to BM25)."""
    folded = unicodedata.normalize("NFKC", text).casefold()
    return [term for term in map(_term, _WORD.findall(folded)) if term]


def term_frequencies(text: str) -> Counter[str]:
    return Counter(index_terms(text))
