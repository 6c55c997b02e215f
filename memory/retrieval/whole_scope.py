"""A small scope ranked in one statement: a user's memories, a conversation of a few hundred
turns. PostgreSQL scores every row of the scope (cosine distance, BM25 over the blind
index) and ranks it every way the engine asks (nearest, best keyword match, newest, nearest
in a named period), and returns only the rows that make some candidate list, with the
turns next to them in their conversation (for retrieval/context.py).

Shipping the whole scope to Python instead cost a 700-turn conversation about 10 ms of row
parsing and scoring per search; this statement returns a hundred-odd rows.

BM25 here is keyword.score_postings() written in SQL, with the same statistics as a small
scope scored in Python (keyword.scope_stats()): the two must agree, as a search that skips
this path (no vector wanted) scores the same scope in Python (tests/memory/test_whole_scope.py
checks that they do).
"""

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from functools import lru_cache
from typing import Any, Literal
from uuid import UUID

import numpy as np
from django.db.models import QuerySet

from memory.filters import ENTITY_FIELDS
from memory.models import Memory
from memory.retrieval.context import GROUP_COLUMNS, Member
from memory.retrieval.fusion import USE_COUNTERS, ScoringRow
from memory.retrieval.keyword import K1, B
from memory.retrieval.prepared import fetch_all

# Offsets of the turns returned next to a candidate (context.DECAY's): the next two and the
# previous one.
NEIGHBOUR_COLUMNS = {1: "next_id", 2: "after_next_id", -1: "previous_id"}

_ROW_COLUMNS = (*ScoringRow._fields, *GROUP_COLUMNS)
# The scope reads the memory's own columns; the use counters (models.MemoryAccess) are joined
# to the hundred-odd rows returned only, one primary-key probe each (LATERAL + LIMIT 1,
# whatever the planner guesses of the scope's size: a plain join once read every counter
# row of the project instead).
_SCOPE_COLUMNS = tuple(name for name in _ROW_COLUMNS if name not in USE_COUNTERS)
_OUTPUT_COLUMNS = tuple(
    f"a.{name}" if name in USE_COUNTERS else f"s.{name}" for name in _ROW_COLUMNS
)
_RANKING_COLUMNS = ("s.distance", "s.bm25", "s.in_period",
                    *(f"t.{name}" for name in NEIGHBOUR_COLUMNS.values()))  # fmt: skip

# Postings: a query term in fewer memories of the project than WALK_FACTOR times the scope's
# size has its posting list walked (an index-only range, joined to the scope by hash); a
# commoner one is looked up row by row through the (memory, token) index instead, which costs
# about as much as walking WALK_FACTOR postings.
WALK_FACTOR = 20

# The statement, in three parts. {where} selects the scope from memory_memory m (see
# equality_scope() and queryset_scope()); every value is a named parameter.
_SCOPE = """
scope AS MATERIALIZED (
    SELECT {columns}, m.token_count{distance}
    FROM memory_memory m
    WHERE {where}
    LIMIT %(limit)s
)"""
_DISTANCE = ", (m.embedding <=> %(vector)s::vector) AS distance"

# BM25 of every row of the scope that holds a query term, with the scope's own statistics
# (keyword.py says why): N its size, avgdl its mean length, df its postings per term. The
# project's document counts only choose how the postings are read.
_KEYWORD = """
query_terms(token, weight) AS (
    SELECT * FROM unnest(%(tokens)s::bigint[], %(weights)s::float8[])
), corpus AS (
    SELECT count(*)::float8 AS documents, coalesce(avg(token_count), 0)::float8 AS average
    FROM scope
), walk AS (
    SELECT coalesce(sum(doc_delta), 0) <= %(walk_factor)s * (SELECT documents FROM corpus)
           AS cheap
    FROM memory_bm25stat WHERE project_id = %(project)s AND token = ANY(%(tokens)s::bigint[])
), postings AS (
    SELECT t.memory_id, t.token, t.term_frequency
    FROM memory_memorytoken t
    WHERE (SELECT cheap FROM walk) AND t.project_id = %(project)s
      AND t.token = ANY(%(tokens)s::bigint[]) AND t.memory_id IN (SELECT id FROM scope)
    UNION ALL
    SELECT t.memory_id, t.token, t.term_frequency
    FROM scope s CROSS JOIN LATERAL (
        SELECT * FROM memory_memorytoken t
        WHERE t.memory_id = s.id AND t.token = ANY(%(tokens)s::bigint[])
    ) t
    WHERE NOT (SELECT cheap FROM walk)
), frequencies AS (
    SELECT token, count(*)::float8 AS documents FROM postings GROUP BY token
), term_weights AS (
    SELECT q.token,
           q.weight * (%(k1)s + 1) * ln(1 + (c.documents - f.documents + 0.5)
                                        / (f.documents + 0.5)) AS weight
    FROM query_terms q CROSS JOIN corpus c JOIN frequencies f ON f.token = q.token
), keyword AS (
    SELECT p.memory_id, sum(w.weight * p.term_frequency / (p.term_frequency + %(k1)s * (
               1 - %(b)s + %(b)s * CASE WHEN c.average > 0 THEN s.token_count / c.average
                                        ELSE 1 END))) AS bm25
    FROM postings p JOIN term_weights w ON w.token = p.token
    JOIN scope s ON s.id = p.memory_id CROSS JOIN corpus c
    GROUP BY p.memory_id
)"""

# The keyword candidates found beforehand (see scope_keyword_candidates()).
_KNOWN_KEYWORD = """
keyword(memory_id, bm25) AS (
    SELECT * FROM unnest(%(keyword_ids)s::uuid[], %(keyword_scores)s::float8[])
)"""

# Every ranking, the candidates and their neighbouring turns.
_RANKING = """
scored AS MATERIALIZED (
    SELECT s.*, k.bm25,
           coalesce(s.created_at >= %(period_start)s AND s.created_at < %(period_end)s, false)
               AS in_period
    FROM scope s LEFT JOIN keyword k ON k.memory_id = s.id
), chosen AS (
    (SELECT id FROM scored ORDER BY distance, id LIMIT %(pool)s)
    UNION (SELECT id FROM scored WHERE bm25 > 0 ORDER BY bm25 DESC, id LIMIT %(pool)s)
    UNION (SELECT id FROM scored ORDER BY created_at DESC, id LIMIT %(recent)s)
    UNION (SELECT id FROM scored WHERE in_period ORDER BY distance, id LIMIT %(period_pool)s)
), turns AS (
    SELECT id, lead(id) OVER conversation AS next_id, lead(id, 2) OVER conversation
               AS after_next_id, lag(id) OVER conversation AS previous_id
    FROM (SELECT id, run_id, user_id, created_at FROM scope) AS narrow
    WINDOW conversation AS (PARTITION BY run_id, CASE WHEN run_id IS NULL THEN user_id END
                            ORDER BY created_at, id)
), wanted AS (
    SELECT id, true AS candidate FROM chosen
    UNION ALL
    SELECT neighbour, false FROM (
        SELECT t.next_id AS neighbour FROM chosen c JOIN turns t USING (id)
        JOIN scope s USING (id) WHERE %(all_neighbours)s OR (%(replies)s AND s.asks_question)
        UNION
        SELECT unnest(ARRAY[t.after_next_id, t.previous_id]) FROM chosen c JOIN turns t USING (id)
        WHERE %(all_neighbours)s
    ) AS neighbours
    WHERE neighbour IS NOT NULL AND neighbour NOT IN (SELECT id FROM chosen)
)
SELECT w.candidate, {output}, (SELECT count(*) FROM scope)
FROM wanted w JOIN scored s USING (id) JOIN turns t USING (id)
LEFT JOIN LATERAL (
    SELECT * FROM memory_memoryaccess WHERE memory_id = w.id LIMIT 1
) a ON true"""

# The keyword candidates alone (and the scope's size: a row even when nothing matches).
_KEYWORD_ONLY = """
SELECT (SELECT count(*) FROM scope), k.memory_id, k.bm25
FROM (SELECT 1) AS one LEFT JOIN (
    SELECT memory_id, bm25 FROM keyword WHERE bm25 > 0 ORDER BY bm25 DESC, memory_id
    LIMIT %(pool)s
) k ON true"""


@dataclass
class RankedScope:
    """What the statement found: each candidate list best first, the rows of the candidates
    and of their neighbours, and which rows neighbour each candidate."""

    size: int
    semantic: list[tuple[UUID, float]] = field(default_factory=list)  # cosine similarity
    keyword: list[tuple[UUID, float]] = field(default_factory=list)  # BM25
    recent: list[UUID] = field(default_factory=list)
    period: list[tuple[UUID, float]] = field(default_factory=list)
    # Every row returned (candidates and their neighbours), with its conversation.
    members: dict[UUID, Member] = field(default_factory=dict)
    # Each candidate's neighbours' ids, in NEIGHBOUR_COLUMNS order (None: none there).
    neighbour_ids: dict[UUID, Sequence[UUID | None]] = field(default_factory=dict)

    def neighbours_of(
        self, anchors: list[Member], all_neighbours: bool
    ) -> Mapping[UUID, Mapping[int, Member]]:
        """context.NeighbourFinder: the statement returned the rows of the neighbours it was
        asked for (see rank_scope()'s lend_to); the others are left out."""
        found: dict[UUID, dict[int, Member]] = {}
        for anchor, _, _ in anchors:
            ids = self.neighbour_ids.get(anchor.id) or [None] * len(NEIGHBOUR_COLUMNS)
            found[anchor.id] = {
                offset: self.members[neighbour]
                for offset, neighbour in zip(NEIGHBOUR_COLUMNS, ids, strict=True)
                if neighbour is not None and neighbour in self.members
            }
        return found


def equality_scope(
    *,
    project_id: UUID,
    equalities: dict[str, str],
    states: list[str],
    expiring_after: date | None,
) -> tuple[str, dict[str, Any]]:
    """The scope of a filter that only pins entity ids (`{"user_id": "alice"}`), written
    out: building and compiling the equivalent queryset costs more than running it."""
    where = ["m.project_id = %(project)s", "m.state = ANY(%(states)s)"]
    params: dict[str, Any] = {"project": project_id, "states": states}
    for name, value in sorted(equalities.items()):
        if name not in ENTITY_FIELDS:  # column names come from this fixed set only
            raise ValueError(f"not an entity field: {name}")
        where.append(f"m.{name} = %(eq_{name})s")
        params[f"eq_{name}"] = value
    if expiring_after is not None:
        where.append("(m.expiration_date IS NULL OR m.expiration_date >= %(expiring_after)s)")
        params["expiring_after"] = expiring_after
    return " AND ".join(where), params


def queryset_scope(project_id: UUID, scope: QuerySet[Memory]) -> tuple[str, dict[str, Any]]:
    """Any other scope, from the queryset that selects it (its SQL as a subquery of ids)."""
    sql, values = scope.order_by().values("pk").query.sql_with_params()
    # The compiled statement has positional placeholders; the statement's are named.
    names = [f"scope_{index}" for index in range(len(values))]
    named = sql.replace("%%", "\0") % tuple(f"%({name})s" for name in names)
    params = dict(zip(names, values, strict=True))
    params["project"] = project_id
    return f"m.project_id = %(project)s AND m.id IN ({named.replace(chr(0), '%%')})", params


def scope_keyword_candidates(
    *,
    scope: tuple[str, dict[str, Any]],
    project_id: UUID,
    query: dict[int, int],
    pool: int,
    limit: int,
    prepare: bool = False,
) -> list[tuple[UUID, float]] | None:
    """The scope's `pool` best BM25 matches, best first, or None when the scope holds more
    than `limit` memories. Needs no query vector: the engine runs it while the query is
    still being embedded, then passes it to rank_scope()."""
    where, params = scope
    params = {**params, **_keyword_params(project_id, query), "limit": limit + 1, "pool": pool}
    found = fetch_all(_statement(where, "keyword"), params, prepare=prepare)
    if found[0][0] > limit:
        return None
    return [(memory_id, float(bm25)) for _, memory_id, bm25 in found if memory_id is not None]


def rank_scope(
    *,
    scope: tuple[str, dict[str, Any]],
    project_id: UUID,
    vector: np.ndarray,
    query: dict[int, int],
    pool: int,
    recent: int,
    period: tuple[datetime, datetime] | None,
    lend_to: Literal["replies", "neighbours", "none"],
    limit: int,
    keyword: list[tuple[UUID, float]] | None = None,
    prepare: bool = False,
) -> RankedScope | None:
    """Rank the scope (see the module's docstring), or None when it holds more than `limit`
    memories. `query`: the query's keyword tokens and their counts (empty: no keyword list);
    `recent`: how many of the newest memories are candidates; `period`: the time window a
    query names; `lend_to`: which neighbours of the candidates to return; `keyword`: what
    scope_keyword_candidates() found, if it ran (the query is not scored again); `prepare`: the
    scope's SQL has a fixed shape per filter shape (equality_scope()), worth preparing."""
    where, params = scope
    params = {
        **params,
        **_keyword_params(project_id, query),
        "vector": vector_text(vector),
        "limit": limit + 1,
        "period_start": period[0] if period else None,
        "period_end": period[1] if period else None,
        "period_pool": pool if period else 0,
        "pool": pool,
        "recent": recent,
        "all_neighbours": lend_to == "neighbours",
        "replies": lend_to == "replies",
    }
    if keyword is None:
        sql = _statement(where, "whole")
    else:
        sql = _statement(where, "vector")
        params["keyword_ids"] = [memory_id for memory_id, _ in keyword]
        params["keyword_scores"] = [score for _, score in keyword]
    found = fetch_all(sql, params, prepare=prepare)
    return _read(found, pool=pool, recent=recent, limit=limit, lend=lend_to != "none")


def _keyword_params(project_id: UUID, query: dict[int, int]) -> dict[str, Any]:
    tokens = list(query)
    return {
        "project": project_id,
        "tokens": tokens,
        "weights": [float(query[token]) for token in tokens],
        "k1": K1,
        "b": B,
        "walk_factor": WALK_FACTOR,
    }


@lru_cache(maxsize=64)
def _statement(where: str, shape: Literal["whole", "keyword", "vector"]) -> str:
    """The statement for one shape of scope, compacted: psycopg caches the parsing of a
    statement's placeholders only when it is under 4 KB, and PostgreSQL parses less.
    "whole" ranks everything; "keyword" finds the keyword candidates only; "vector" ranks
    with keyword candidates found beforehand."""
    columns = "m.id" if shape == "keyword" else ", ".join(f"m.{name}" for name in _SCOPE_COLUMNS)
    scope = _SCOPE.format(
        columns=columns, where=where, distance="" if shape == "keyword" else _DISTANCE
    )
    output = ", ".join((*_OUTPUT_COLUMNS, *_RANKING_COLUMNS))
    ranking = _RANKING.format(output=output)
    parts = {
        "whole": f"WITH {scope}, {_KEYWORD}, {ranking}",
        "keyword": f"WITH {scope}, {_KEYWORD} {_KEYWORD_ONLY}",
        "vector": f"WITH {scope}, {_KNOWN_KEYWORD}, {ranking}",
    }
    return " ".join(re.sub(r"--[^\n]*", "", parts[shape]).split())


def vector_text(vector: np.ndarray) -> str:
    """pgvector's text form, from the array's own floats: pgvector.Vector.to_text() converts
    each element in Python (0.3 ms for 384 dimensions, ten times this)."""
    return "[" + ",".join(map(str, vector.tolist())) + "]"


def _read(
    found: list[tuple[Any, ...]], *, pool: int, recent: int, limit: int, lend: bool
) -> RankedScope | None:
    """The statement returns its candidates unordered: each list is ordered here as the
    statement chose it (ties by id; a UUID orders like its bytes in both)."""
    width = len(ScoringRow._fields)
    size = found[0][-1] if found else 0
    if size > limit:
        return None
    ranked = RankedScope(size=size)
    members = ranked.members
    candidates = []
    for candidate, *values in found:
        row = ScoringRow(*values[:width])
        members[row.id] = (row, values[width], values[width + 1])
        if candidate:
            distance, bm25, in_period = values[width + 2 : width + 5]
            candidates.append((row, float(distance), bm25, in_period))
            if lend:
                ranked.neighbour_ids[row.id] = values[width + 5 : width + 8]
    by_distance = sorted(candidates, key=lambda c: (c[1], c[0].id))
    ranked.semantic = [(row.id, 1.0 - distance) for row, distance, _, _ in by_distance[:pool]]
    ranked.period = [
        (row.id, 1.0 - distance) for row, distance, _, in_period in by_distance if in_period
    ][:pool]
    matched = [(row.id, float(bm25)) for row, _, bm25, _ in candidates if bm25 and bm25 > 0]
    ranked.keyword = sorted(matched, key=lambda hit: (-hit[1], hit[0]))[:pool]
    newest = sorted(candidates, key=lambda c: (-c[0].created_at.timestamp(), c[0].id))
    ranked.recent = [row.id for row, _, _, _ in newest[:recent]]
    return ranked
