"""Conversation context: when memories are raw dialogue turns, the answer to a question is
often the turn *after* the one that matches it ("What's its name?" → "Her name is Luna.").
The strongest candidates therefore lend part of their score to their neighbours in the same
session (same run_id, or the same user when there is no run), adjacent in time.

neighbour score = max(own score, strength · decay(position) · anchor score), with the decay
favouring the next turn, then the previous one. Neighbours must be in the search's scope
(filters, expiry, state) like every other result.
"""

from collections.abc import Iterable
from datetime import timedelta
from uuid import UUID

from django.db.models import Q, QuerySet

from memory.models import Memory
from memory.retrieval.fusion import SCORING_COLUMNS, ScoringRow

ANCHORS = 20
WINDOW = timedelta(minutes=30)
# Relative position of a neighbour → share of its anchor's score it receives.
DECAY = {1: 1.0, 2: 0.6, -1: 0.7}
GROUP_COLUMNS = ("run_id", "user_id")


def _group(run_id: str | None, user_id: str | None) -> Q | None:
    if run_id:
        return Q(run_id=run_id)
    if user_id:
        return Q(user_id=user_id, run_id__isnull=True)
    return None


def _neighbourhoods(
    scope: QuerySet[Memory], anchors: list[tuple[ScoringRow, str | None, str | None]]
) -> list[tuple[ScoringRow, str | None, str | None]]:
    condition = Q(pk__in=[])
    for row, run_id, user_id in anchors:
        group = _group(run_id, user_id)
        if group is not None:
            window = Q(
                created_at__gte=row.created_at - WINDOW, created_at__lte=row.created_at + WINDOW
            )
            condition |= group & window
    found = scope.order_by().filter(condition).values_list(*SCORING_COLUMNS, *GROUP_COLUMNS)
    return [(ScoringRow(*values[:-2]), values[-2], values[-1]) for values in found]


def context_scores(
    scope: QuerySet[Memory],
    rows: dict[UUID, ScoringRow],
    groups: dict[UUID, tuple[str | None, str | None]],
    scores: dict[UUID, float],
    strength: float,
) -> dict[UUID, float]:
    """Scores lent to neighbours of the best candidates (memory id → lent score); new
    neighbours are added to `rows` and `groups`."""
    if strength <= 0 or not scores:
        return {}
    best = sorted(scores, key=lambda m: -scores[m])[:ANCHORS]
    anchors = [(rows[m], *groups[m]) for m in best if m in groups]
    if not anchors:
        return {}
    members: dict[tuple[str | None, str | None], list[ScoringRow]] = {}
    for row, run_id, user_id in _neighbourhoods(scope, anchors):
        rows.setdefault(row.id, row)
        groups.setdefault(row.id, (run_id, user_id))
        members.setdefault((run_id, user_id), []).append(row)
    lent: dict[UUID, float] = {}
    for row, run_id, user_id in anchors:
        ordered = sorted(
            members.get((run_id, user_id), []), key=lambda r: (r.created_at, str(r.id))
        )
        for neighbour_id, offset in _adjacent(ordered, row.id):
            share = strength * DECAY[offset] * scores[row.id]
            lent[neighbour_id] = max(lent.get(neighbour_id, 0.0), share)
    return lent


def _adjacent(ordered: list[ScoringRow], anchor: UUID) -> Iterable[tuple[UUID, int]]:
    positions = {row.id: index for index, row in enumerate(ordered)}
    index = positions.get(anchor)
    if index is None:
        return
    for offset in DECAY:
        neighbour = index + offset
        if 0 <= neighbour < len(ordered):
            yield ordered[neighbour].id, offset
