"""Keyword candidates: Okapi BM25 over the blind index.

score(d) = Σ_t idf(t) · tf(t,d)·(k1+1) / (tf(t,d) + k1·(1 - b + b·|d|/avgdl))
idf(t)   = ln(1 + (N - df(t) + 0.5) / (df(t) + 0.5))            (Lucene's, never negative)

|d| is `Memory.token_count`. N, df and avgdl are the statistics of what is searched:
- a small scope (one user's or one conversation's memories, scored whole) uses its own: N its
  size, avgdl its mean length, df how many of its memories hold the term. Within one person's
  conversation their own name, or the topic of the whole chat, is in a large share of the
  turns and says little; across the project it looks rare and would outweigh the words that
  tell the turns apart. On LoCoMo this raised recall@10 by 2-5 points (bench/quality/README.md);
- a large scope uses the project's (memory_bm25stat), kept up to date on every write:
  counting a large scope's postings per query would cost more than the search.
Small scopes read their postings through the memory-id index; large scopes aggregate the
postings of the query's rarer terms first (a bounded number of rows), then filter and
re-score exactly.
"""

import math
from dataclasses import dataclass
from typing import Any
from uuid import UUID

from django.db import connection
from django.db.models import Count, QuerySet, Sum

from memory.models import Memory
from memory.retrieval.blind_index import CORPUS_TOKEN

K1 = 1.2
B = 0.75
# Large scopes: aggregate at most about this many postings per query (the rarest terms
# first; a term in more documents than this adds little to the ranking, as its idf is low).
POSTING_BUDGET = 20000
FIRST_PASS_POOL = 200


@dataclass(frozen=True)
class CorpusStats:
    documents: int
    average_length: float
    document_frequency: dict[int, int]

    def idf(self, token: int) -> float:
        df = self.document_frequency.get(token, 0)
        return math.log(1.0 + (self.documents - df + 0.5) / (df + 0.5))


def bm25_term(tf: int, idf: float, length: int, average_length: float) -> float:
    norm = 1.0 - B + B * (length / average_length if average_length > 0 else 1.0)
    return idf * tf * (K1 + 1.0) / (tf + K1 * norm)


_STATS_SQL = (
    "SELECT token, sum(doc_delta)::bigint AS documents, sum(length_delta)::bigint AS length"
    " FROM memory_bm25stat WHERE project_id = %s AND token = ANY(%s::bigint[]) GROUP BY token"
)


def corpus_stats(project_id: UUID, tokens: list[int]) -> CorpusStats:
    with connection.cursor() as cursor:
        cursor.execute(_STATS_SQL, [project_id, [CORPUS_TOKEN, *tokens]])
        rows = cursor.fetchall()
    return _stats_from_sums(rows)


def _stats_from_sums(rows: list[Any]) -> CorpusStats:
    sums = {int(token): (int(docs), int(length)) for token, docs, length in rows}
    documents, total_length = sums.pop(CORPUS_TOKEN, (0, 0))
    return CorpusStats(
        documents=max(documents, 0),
        average_length=(total_length / documents) if documents > 0 else 0.0,
        document_frequency={token: docs for token, (docs, _) in sums.items() if docs > 0},
    )


def scope_stats(
    documents: int, total_length: int, postings: dict[UUID, list[tuple[int, int]]]
) -> CorpusStats:
    """The statistics of a scope scored whole, from its size, its summed lengths and the
    postings of the query's terms in it (see the module's docstring)."""
    frequency: dict[int, int] = {}
    for terms in postings.values():
        for token, _ in terms:
            frequency[token] = frequency.get(token, 0) + 1
    average = total_length / documents if documents > 0 else 0.0
    return CorpusStats(documents, average, frequency)


def score_postings(
    postings: dict[UUID, list[tuple[int, int]]],
    lengths: dict[UUID, int],
    stats: CorpusStats,
    query: dict[int, int],
) -> list[tuple[UUID, float]]:
    """BM25 of each memory (bm25_term summed, weighted by the query's term counts), best
    first; ties by id. Written out for speed: a conversation's search scores hundreds."""
    weights = {token: count * stats.idf(token) * (K1 + 1.0) for token, count in query.items()}
    average = stats.average_length
    scored = []
    for memory_id, terms in postings.items():
        ratio = lengths.get(memory_id, 0) / average if average > 0 else 1.0
        norm = K1 * (1.0 - B + B * ratio)
        score = 0.0
        for token, tf in terms:  # postings are only ever read for the query's tokens
            score += weights[token] * tf / (tf + norm)
        scored.append((memory_id, score))
    # A UUID's int orders like its text: the same tie-break as by str, without formatting.
    scored.sort(key=lambda item: (-item[1], item[0].int))
    return scored


def keyword_candidates(
    scope: QuerySet[Memory],
    *,
    project_id: UUID,
    query: dict[int, int],
    limit: int,
    small_scope: bool,
) -> tuple[list[tuple[UUID, float]], CorpusStats]:
    """The `limit` best BM25 matches in scope, and the statistics they were scored with."""
    if small_scope:
        postings, lengths = _scope_postings(scope, project_id, list(query))
        if not postings:
            return [], scope_stats(0, 0, {})
        totals = scope.order_by().aggregate(documents=Count("pk"), length=Sum("token_count"))
        stats = scope_stats(totals["documents"], totals["length"] or 0, postings)
        return score_postings(postings, lengths, stats, query)[:limit], stats
    stats = corpus_stats(project_id, list(query))
    present = [token for token in query if stats.document_frequency.get(token)]
    if not present or stats.documents == 0:
        return [], stats
    postings, lengths = _large_scope_postings(scope, project_id, present, stats)
    return score_postings(postings, lengths, stats, query)[:limit], stats


def _scope_postings(
    scope: QuerySet[Memory], project_id: UUID, tokens: list[int]
) -> tuple[dict[UUID, list[tuple[int, int]]], dict[UUID, int]]:
    # One join from the scope's rows to their postings (through the memory-id index): a
    # `memory__in=<scope>` subquery made PostgreSQL join the memory table twice.
    rows = (
        scope.order_by()
        .filter(tokens__project_id=project_id, tokens__token__in=tokens)
        .values_list("pk", "tokens__token", "tokens__term_frequency", "token_count")
    )
    postings: dict[UUID, list[tuple[int, int]]] = {}
    lengths: dict[UUID, int] = {}
    for memory_id, token, tf, length in rows:
        postings.setdefault(memory_id, []).append((token, tf))
        lengths[memory_id] = length
    return postings, lengths


_POSTINGS_POOL_SQL = """
SELECT t.memory_id, array_agg(t.token), array_agg(t.term_frequency)
FROM memory_memorytoken t
JOIN unnest(%(tokens)s::bigint[], %(idfs)s::float8[]) AS q(token, idf) ON q.token = t.token
WHERE t.project_id = %(project)s AND t.token = ANY(%(tokens)s::bigint[])
GROUP BY t.memory_id
ORDER BY sum(q.idf * t.term_frequency * %(k1p1)s / (t.term_frequency + %(k1)s)) DESC
LIMIT %(pool)s
"""


def _large_scope_postings(
    scope: QuerySet[Memory], project_id: UUID, tokens: list[int], stats: CorpusStats
) -> tuple[dict[UUID, list[tuple[int, int]]], dict[UUID, int]]:
    chosen, budget = [], POSTING_BUDGET
    for token in sorted(tokens, key=lambda t: stats.document_frequency[t]):
        if stats.document_frequency[token] > budget:
            break
        chosen.append(token)
        budget -= stats.document_frequency[token]
    if not chosen:
        return {}, {}
    params: dict[str, Any] = {
        "tokens": chosen,
        "idfs": [stats.idf(token) for token in chosen],
        "project": project_id,
        "k1p1": K1 + 1.0,
        "k1": K1,
        "pool": FIRST_PASS_POOL,
    }
    with connection.cursor() as cursor:
        cursor.execute(_POSTINGS_POOL_SQL, params)
        pool = {row[0]: list(zip(row[1], row[2], strict=True)) for row in cursor.fetchall()}
    # Second pass: the scope's own filters, and each document's real length.
    lengths = dict(scope.order_by().filter(pk__in=list(pool)).values_list("pk", "token_count"))
    return {memory_id: pool[memory_id] for memory_id in lengths}, lengths
