"""The search engine (DESIGN.md §5): candidates → fusion → boosts → filters → threshold → top_k.

Runs inside the caller's tenant transaction (row-level security) and adds an explicit
project filter to every query as well. Memory text is decrypted only for the memories that
are returned (and for candidates a text/metadata `contains` filter must look at).
"""

import threading
import time
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import cached_property, partial
from typing import Any, Literal
from uuid import UUID

import numpy as np
from django.db import transaction
from django.db.models import Q, QuerySet
from django.utils import timezone

from memory.filters import ParsedFilters
from memory.models import Memory, MemoryState
from memory.records import (
    memory_record,
    memory_text,
    metadata_pair_hash,
    prefetch_memory_keys,
)
from memory.retrieval import fusion
from memory.retrieval.access import access_recorder
from memory.retrieval.blind_index import query_tokens
from memory.retrieval.context import (
    GROUP_COLUMNS,
    NeighbourFinder,
    context_scores,
    queried_neighbours,
)
from memory.retrieval.keyword import keyword_candidates
from memory.retrieval.options import SearchOptions
from memory.retrieval.query_cache import query_vector
from memory.retrieval.rerank import MAX_RERANK_CANDIDATES, llm_rerank
from memory.retrieval.returned_memories import NOT_RENDERED, memories_with_keys
from memory.retrieval.temporal import TimeWindow, query_time_window
from memory.retrieval.vector import bounded_count, exact_scan_limit, vector_candidates
from memory.retrieval.whole_scope import (
    RankedScope,
    equality_scope,
    queryset_scope,
    rank_scope,
    scope_keyword_candidates,
)

_EMBEDDING_POOL = ThreadPoolExecutor(max_workers=4, thread_name_prefix="query-embed")
# Candidates per signal for top_k 10: 30 lost no recall against 60 on LoCoMo or our set
# (bench/quality/README.md) and costs less to fuse.
MIN_POOL = 30
MAX_POOL = 1000
# A scope pinned to one entity with at most this many memories is ranked whole in
# PostgreSQL by one statement (retrieval/whole_scope.py) instead of one query per signal.
WHOLE_SCOPE_MAX = 2000


QueryEmbedding = Future[tuple[np.ndarray, bool]]


class _LargeScopeMemo:
    """Pinned scopes seen to hold more than WHOLE_SCOPE_MAX memories (a user with thousands
    of them), so that their searches go straight to the general path instead of reading
    WHOLE_SCOPE_MAX + 1 rows first. Per process, forgotten after a while (memories get
    deleted), bounded; a wrong guess only costs time, never results."""

    TTL_SECONDS = 600.0
    MAX_ENTRIES = 10_000

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._until: dict[str, float] = {}

    def seen_large(self, key: str) -> bool:
        with self._lock:
            until = self._until.get(key)
        return until is not None and until > time.monotonic()

    def note(self, key: str, *, large: bool) -> None:
        with self._lock:
            if not large:
                self._until.pop(key, None)
                return
            if len(self._until) >= self.MAX_ENTRIES:
                self._until.clear()
            self._until[key] = time.monotonic() + self.TTL_SECONDS


_large_scopes = _LargeScopeMemo()


def start_query_embedding(query: str, options: SearchOptions) -> QueryEmbedding | None:
    """Start embedding the query on a helper thread, if the search will use the vector.

    Embedding is the costliest CPU step of a search and needs nothing from the database, so
    it should start as early as possible and run while the request thread authenticates,
    parses and waits on PostgreSQL for the scope size and the keyword candidates."""
    wants_vector = options.weight("semantic") > 0 or options.weight("temporal") > 0
    text = query.strip()
    return _EMBEDDING_POOL.submit(query_vector, text) if wants_vector and text else None


@dataclass
class ScoredMemory:
    memory: Memory
    text: str
    score: float
    score_breakdown: dict[str, Any] = field(default_factory=dict)


@dataclass
class _Plan:
    """What one search found along the way (for the breakdown and the fusion)."""

    project_id: UUID
    query: str
    options: SearchOptions
    window: TimeWindow | None
    now: datetime
    top_k: int
    pinned: bool  # the filter names one user, agent, app or run
    scope_key: str  # names the scope (project and filters) for the large-scope memo
    filters: ParsedFilters
    scored: dict[str, list[tuple[UUID, float]]] = field(default_factory=dict)
    semantic: dict[UUID, float] = field(default_factory=dict)
    bm25: dict[UUID, float] = field(default_factory=dict)
    info: dict[str, Any] = field(default_factory=dict)
    # The entity ids the scope is pinned to, when that is all the filter says and no option
    # narrows it: the whole-scope statement is then hand-written (retrieval/whole_scope.py).
    equalities: dict[str, str] | None = None
    # The scope ranked in one statement, when it was small enough (see WHOLE_SCOPE_MAX).
    whole_scope: RankedScope | None = None

    @cached_property
    def scope(self) -> QuerySet[Memory]:
        """The scope as a queryset, built on first use: a search pinned by entity ids alone
        writes its own SQL and never needs it (building it costs about half a millisecond)."""
        return search_scope(
            project_id=self.project_id, filters=self.filters, options=self.options, today=self.now
        )


def search_memories(
    *,
    project_id: UUID,
    query: str,
    filters: ParsedFilters,
    top_k: int,
    threshold: float,
    options: SearchOptions,
    query_embedding: QueryEmbedding | None = None,
) -> list[ScoredMemory]:
    """The `top_k` memories in scope that best match `query`, best first, with scores in
    [0, 1] (see memory/retrieval/fusion.py), none below `threshold`. `query_embedding`:
    what start_query_embedding() returned for this query, if the caller started it early."""
    pending = query_embedding or start_query_embedding(query, options)
    now = timezone.now()
    reference = options.reference_date or now
    window = query_time_window(query, reference)
    pinned = bool(filters.entity_equalities)
    # Only pinned scopes are memoised (see _LargeScopeMemo).
    scope_key = (
        f"{project_id}|{filters.q!r}|{options.categories}|{options.metadata}" if pinned else ""
    )
    plan = _Plan(project_id, query.strip(), options, window, now, top_k, pinned, scope_key, filters)
    narrowed = filters.post is not None or options.categories or options.metadata
    if filters.equalities_only and not narrowed:
        plan.equalities = filters.entity_equalities
    pool = min(MAX_POOL, max(MIN_POOL, 3 * top_k))
    _gather_candidates(plan, pool, pending)
    fused = fusion.fuse(plan.scored, options, plan.semantic, plan.bm25)
    rows, groups = _scoring_rows(plan, list(fused))
    scores = _final_scores(plan, fused, rows)
    _lend_context(plan, rows, groups, scores, fused)
    results = _select(plan, rows, scores, fused, filters, top_k, threshold)
    if options.rerank and results:
        results = _rerank(plan.query, results)
    _schedule_access_recording(project_id, [result.memory.id for result in results])
    return results


def _states(options: SearchOptions) -> list[str]:
    if options.latest_only:
        return [MemoryState.ACTIVE]
    return [MemoryState.ACTIVE, MemoryState.SUPERSEDED]


def search_scope(
    *, project_id: UUID, filters: ParsedFilters, options: SearchOptions, today: datetime
) -> QuerySet[Memory]:
    scope = Memory.objects.filter(project_id=project_id, state__in=_states(options))
    scope = scope.filter(filters.q)
    if not options.show_expired:
        day = today.astimezone(UTC).date()
        scope = scope.filter(Q(expiration_date__isnull=True) | Q(expiration_date__gte=day))
    if options.categories:
        scope = scope.filter(categories__overlap=options.categories)
    for key, value in (options.metadata or {}).items():
        digest = metadata_pair_hash(project_id, str(key), value)
        scope = scope.filter(metadata_hashes__contains=[digest])
    return scope


def _gather_candidates(
    plan: _Plan,
    pool: int,
    pending: Future[tuple[np.ndarray, bool]] | None,
) -> None:
    pinned_semantic = plan.pinned and plan.options.weight("semantic") > 0
    if (
        pinned_semantic
        and pending is not None
        and not _large_scopes.seen_large(plan.scope_key)
        and _gather_from_whole_scope(plan, pool, pending)
    ):
        return
    scope = plan.scope
    limit = exact_scan_limit(pinned=plan.pinned)
    size = bounded_count(scope, limit + 1)
    if plan.pinned:
        _large_scopes.note(plan.scope_key, large=size > WHOLE_SCOPE_MAX)
    plan.info["scope"] = size if size <= limit else f">{limit}"
    if size > 0 and plan.options.weight("keyword") > 0:
        _keyword(plan, scope, pool, small_scope=size <= limit)
    vector: np.ndarray | None = None
    if pending is not None:
        vector, plan.info["query_cache"] = pending.result()
    if size == 0:
        return
    wants_semantic = plan.options.weight("semantic") > 0 and "semantic" not in plan.scored
    if vector is not None and wants_semantic:
        found = vector_candidates(
            scope, vector, pool, scope_size=size, needed=plan.top_k, exact_limit=limit
        )
        _record_semantic(plan, found.hits, found.path)
    if plan.window is not None and vector is not None and plan.options.weight("temporal") > 0:
        _in_period(plan, scope, vector, pool)
    if plan.options.weight("recency") > 0:
        _recent(plan, scope, pool)


def _gather_from_whole_scope(
    plan: _Plan,
    pool: int,
    pending: Future[tuple[np.ndarray, bool]],
) -> bool:
    """Every candidate list of a scope pinned to one entity, from one statement that ranks
    the whole scope (retrieval/whole_scope.py): no count, keyword, period or recency query.
    Returns False, for the general path, when the scope holds more than WHOLE_SCOPE_MAX."""
    options = plan.options
    tokens = _keyword_tokens(plan) if options.weight("keyword") > 0 else {}
    wants_period = plan.window is not None and options.weight("temporal") > 0
    scope = _scope_sql(plan)
    prepare = plan.equalities is not None
    keyword = None
    if tokens and not pending.done():
        # The query is still being embedded: find the keyword candidates meanwhile, so that
        # the ranking statement that needs the vector has less left to do.
        keyword = scope_keyword_candidates(
            scope=scope,
            project_id=plan.project_id,
            query=tokens,
            pool=pool,
            limit=WHOLE_SCOPE_MAX,
            prepare=prepare,
        )
        if keyword is None:
            _large_scopes.note(plan.scope_key, large=True)
            return False
    vector, plan.info["query_cache"] = pending.result()
    ranked = rank_scope(
        scope=scope,
        project_id=plan.project_id,
        vector=vector,
        query=tokens,
        pool=pool,
        recent=min(pool, 50) if options.weight("recency") > 0 else 0,
        period=(plan.window.start, plan.window.end) if plan.window and wants_period else None,
        lend_to=_lend_to(options),
        limit=WHOLE_SCOPE_MAX,
        keyword=keyword,
        prepare=prepare,
    )
    if ranked is None:
        _large_scopes.note(plan.scope_key, large=True)
        return False
    plan.info["scope"] = ranked.size
    plan.whole_scope = ranked
    if ranked.keyword:
        plan.bm25 = dict(ranked.keyword)
        plan.scored["keyword"] = ranked.keyword
    _record_semantic(plan, ranked.semantic, "exact")
    if wants_period:
        _record_period(plan, ranked.period)
    if options.weight("recency") > 0:
        plan.scored["recency"] = [(m, -float(rank)) for rank, m in enumerate(ranked.recent)]
    return True


def _lend_to(options: SearchOptions) -> Literal["replies", "neighbours", "none"]:
    """Which neighbouring turns the whole-scope statement returns (retrieval/context.py)."""
    if options.context_strength > 0:
        return "neighbours"
    return "replies" if options.reply_strength > 0 else "none"


def _scope_sql(plan: _Plan) -> tuple[str, dict[str, Any]]:
    if plan.equalities is None:
        return queryset_scope(plan.project_id, plan.scope)
    return equality_scope(
        project_id=plan.project_id,
        equalities=plan.equalities,
        states=_states(plan.options),
        expiring_after=None if plan.options.show_expired else plan.now.astimezone(UTC).date(),
    )


def _record_semantic(plan: _Plan, hits: list[tuple[UUID, float]], path: str) -> None:
    plan.semantic = dict(hits)
    plan.scored["semantic"] = hits
    plan.info["vector_path"] = path


def _keyword_tokens(plan: _Plan) -> dict[int, int]:
    text = plan.query
    if plan.window is not None:
        # "what did I do last week": the date words locate the period; as keywords they
        # would only favour memories that happen to contain "last" or "week".
        text = text.casefold().replace(plan.window.phrase, " ")
    return query_tokens(plan.project_id, text)


def _keyword(plan: _Plan, scope: QuerySet[Memory], pool: int, *, small_scope: bool) -> None:
    tokens = _keyword_tokens(plan)
    if not tokens:
        return
    hits, _ = keyword_candidates(
        scope, project_id=plan.project_id, query=tokens, limit=pool, small_scope=small_scope
    )
    plan.bm25 = dict(hits)
    plan.scored["keyword"] = hits


def _in_period(plan: _Plan, scope: QuerySet[Memory], vector: np.ndarray, pool: int) -> None:
    """The query names a period: the closest memories created then."""
    assert plan.window is not None
    in_window = scope.filter(created_at__gte=plan.window.start, created_at__lt=plan.window.end)
    limit = exact_scan_limit(pinned=plan.pinned)
    window_size = bounded_count(in_window, limit + 1)
    found = vector_candidates(in_window, vector, pool, scope_size=window_size, exact_limit=limit)
    _record_period(plan, found.hits)


def _record_period(plan: _Plan, hits: list[tuple[UUID, float]]) -> None:
    assert plan.window is not None
    plan.scored["temporal"] = hits
    plan.info["time_window"] = [
        plan.window.start.date().isoformat(),
        plan.window.end.date().isoformat(),
    ]
    for memory_id, similarity in hits:
        plan.semantic.setdefault(memory_id, similarity)


def _recent(plan: _Plan, scope: QuerySet[Memory], pool: int) -> None:
    recent = scope.order_by("-created_at").values_list("pk", flat=True)[: min(pool, 50)]
    plan.scored["recency"] = [(memory_id, -float(rank)) for rank, memory_id in enumerate(recent)]


def _scoring_rows(
    plan: _Plan, ids: list[UUID]
) -> tuple[dict[UUID, fusion.ScoringRow], dict[UUID, tuple[str | None, str | None]]]:
    """The few columns scoring needs, as tuples: building full model instances for every
    candidate would cost more than the queries themselves. Also each one's conversation."""
    if not ids:
        return {}, {}
    if plan.whole_scope is not None:
        known = [plan.whole_scope.members[m] for m in ids if m in plan.whole_scope.members]
        return {row.id: row for row, *_ in known}, {row.id: (run, user) for row, run, user in known}
    columns = (*fusion.SCORING_COLUMNS, *GROUP_COLUMNS)
    found = plan.scope.order_by().filter(pk__in=ids).values_list(*columns)
    rows = {values[0]: fusion.ScoringRow(*values[:-2]) for values in found}
    groups = {values[0]: (values[-2], values[-1]) for values in found}
    return rows, groups


def _lend_context(
    plan: _Plan,
    rows: dict[UUID, fusion.ScoringRow],
    groups: dict[UUID, tuple[str | None, str | None]],
    scores: dict[UUID, float],
    fused: dict[UUID, fusion.Fused],
) -> None:
    find_neighbours: NeighbourFinder = (
        partial(queried_neighbours, plan.scope)
        if plan.whole_scope is None
        else plan.whole_scope.neighbours_of
    )
    lent = context_scores(
        rows,
        groups,
        scores,
        reply_strength=plan.options.reply_strength,
        context_strength=plan.options.context_strength,
        find_neighbours=find_neighbours,
    )
    for memory_id, share in lent.items():
        entry = fused.setdefault(memory_id, fusion.Fused(memory_id, 0.0))
        entry.context = share
        if share > scores.get(memory_id, 0.0):
            scores[memory_id] = share


def _memories(plan: _Plan, ids: list[UUID]) -> dict[UUID, Memory]:
    if plan.equalities is not None:
        # The ids come from this scope, read in this transaction: the project suffices.
        return memories_with_keys(plan.project_id, ids)
    rows = {row.id: row for row in plan.scope.order_by().filter(pk__in=ids).defer(*NOT_RENDERED)}
    prefetch_memory_keys(rows.values())
    return rows


def _final_scores(
    plan: _Plan, fused: dict[UUID, fusion.Fused], rows: dict[UUID, fusion.ScoringRow]
) -> dict[UUID, float]:
    scores: dict[UUID, float] = {}
    for memory_id, memory in rows.items():
        parts = fusion.boost_parts(memory, plan.now, plan.options)
        factor = fusion.boost_factor(parts, plan.options)
        factor *= fusion.time_factor(memory, plan.window, plan.options)
        scores[memory_id] = fused[memory_id].fused * factor
    fusion.demote_superseded(scores, rows)
    return scores


def _select(
    plan: _Plan,
    rows: dict[UUID, fusion.ScoringRow],
    scores: dict[UUID, float],
    fused: dict[UUID, fusion.Fused],
    filters: ParsedFilters,
    top_k: int,
    threshold: float,
) -> list[ScoredMemory]:
    order = sorted(scores, key=lambda m: (-scores[m], str(m)))
    scores = fusion.with_relevance_floor(order, scores, _own_relevance(plan, rows, scores))
    ranked = [m for m in order if scores[m] >= threshold]
    results: list[ScoredMemory] = []
    # Whole rows (ciphertexts) only for what is returned; a `contains` filter on the
    # decrypted text may reject some, so fetch in growing batches.
    start, batch = 0, top_k if filters.post is None else 2 * top_k
    while start < len(ranked) and len(results) < top_k:
        chunk = ranked[start : start + batch]
        memories = _memories(plan, chunk)
        for memory_id in chunk:
            memory = memories.get(memory_id)
            if memory is None or len(results) >= top_k:
                continue
            text = memory_text(memory)
            if filters.post is not None and not filters.post(memory_record(memory, text=text)):
                continue
            score = round(min(1.0, max(0.0, scores[memory_id])), 6)
            breakdown = _breakdown(plan, rows[memory_id], fused[memory_id])
            results.append(ScoredMemory(memory, text, score, breakdown))
        start, batch = start + len(chunk), batch * 2
    return results


def _own_relevance(
    plan: _Plan, rows: dict[UUID, fusion.ScoringRow], scores: dict[UUID, float]
) -> dict[UUID, float]:
    # A superseded version keeps its demotion (fusion.demote_superseded): no floor for it.
    return {
        memory_id: fusion.relevance(
            plan.options, plan.semantic.get(memory_id), plan.bm25.get(memory_id)
        )
        for memory_id in scores
        if memory_id in rows and rows[memory_id].state != MemoryState.SUPERSEDED
    }


def _breakdown(plan: _Plan, memory: fusion.ScoringRow, fused: fusion.Fused) -> dict[str, Any]:
    parts = fusion.boost_parts(memory, plan.now, plan.options)
    semantic = plan.semantic.get(memory.id)
    bm25 = plan.bm25.get(memory.id)
    return {
        "semantic": round(max(0.0, semantic), 4) if semantic is not None else 0.0,
        "bm25": round(fusion.keyword_relevance(bm25 or 0.0), 4),
        "bm25_raw": round(bm25, 4) if bm25 else 0.0,
        "fused": round(fused.fused, 4),
        "context": round(fused.context, 4),
        "ranks": fused.ranks,
        **{name: round(value, 4) for name, value in parts.items()},
        "in_time_window": (
            None
            if plan.window is None
            else plan.window.start <= memory.created_at < plan.window.end
        ),
        **plan.info,
    }


def _rerank(query: str, results: list[ScoredMemory]) -> list[ScoredMemory]:
    head, tail = results[:MAX_RERANK_CANDIDATES], results[MAX_RERANK_CANDIDATES:]
    outcome = llm_rerank(query, [result.text for result in head])
    for result in results:
        result.score_breakdown["rerank"] = outcome.status
    if outcome.order is None:
        return results
    # The reranked list keeps the fused scores in descending order (scores stay comparable
    # with unreranked searches); only which memory holds which score changes.
    scores = [result.score for result in head]
    reordered = [head[index] for index in outcome.order]
    for result, score in zip(reordered, scores, strict=True):
        result.score = score
    return reordered + tail


def _schedule_access_recording(project_id: UUID, memory_ids: list[UUID]) -> None:
    # After commit (a rolled-back request used nothing), batched by the process's recorder.
    if memory_ids:
        transaction.on_commit(partial(access_recorder.record, project_id, memory_ids))
