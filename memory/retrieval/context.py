"""Conversation context: when memories are raw dialogue turns, the answer to a question is
often the turn *after* the one that matches it:

    Melanie: Wow, Caroline! Books have such an awesome power! Which one has been your favorite?
    Caroline: I loved "Becoming Nicole" by Amy Ellis Nutt. ...

"What book did Caroline recommend?" matches the first turn; the evidence is the second, which
shares no word with the question. So a strong candidate that *asks* something lends most of
its score to the next turn of its conversation (its reply):

    reply score = max(own score, reply_strength · question turn's score)

On LoCoMo's conversations this took recall@10 from 0.64 to 0.75 (bench/quality/README.md).
Optionally (`context_strength`, off by default) every strong candidate also lends to its
neighbours, with a decay favouring the next turn, then the previous one.

Neighbours are the adjacent memories of the same conversation (same run_id, or the same user
when there is no run) said within WINDOW of each other, but not at the very same moment
(their order is then unknown), and must be in the search's scope (filters, expiry, state)
like every other result.
"""

from collections.abc import Callable, Mapping
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

Group = tuple[str | None, str | None]
Member = tuple[ScoringRow, str | None, str | None]
# (anchors, whether every neighbour or only the next turn is wanted) → neighbours by offset
NeighbourFinder = Callable[[list[Member], bool], Mapping[UUID, Mapping[int, Member]]]


def asks_question(text: str) -> bool:
    """Whether a memory's text asks something (stored as Memory.asks_question)."""
    return "?" in text


def _group_filter(run_id: str | None, user_id: str | None) -> Q | None:
    if run_id:
        return Q(run_id=run_id)
    if user_id:
        return Q(user_id=user_id, run_id__isnull=True)
    return None


def _in_conversation(group: Group) -> bool:
    return bool(group[0] or group[1])


def _queried_neighbourhoods(scope: QuerySet[Memory], anchors: list[Member]) -> list[Member]:
    condition = Q(pk__in=[])
    for row, run_id, user_id in anchors:
        group = _group_filter(run_id, user_id)
        if group is not None:
            window = Q(
                created_at__gte=row.created_at - WINDOW, created_at__lte=row.created_at + WINDOW
            )
            condition |= group & window
    found = scope.order_by().filter(condition).values_list(*SCORING_COLUMNS, *GROUP_COLUMNS)
    return [(ScoringRow(*values[:-2]), values[-2], values[-1]) for values in found]


def _queried_next_turns(scope: QuerySet[Memory], anchors: list[Member]) -> list[Member]:
    """The turns after each anchor in its conversation (two, so that a tie at the anchor's
    moment is seen), in one statement of small index range scans: fetching each anchor's
    whole window would read every turn of a conversation stored within minutes."""
    parts = []
    for row, run_id, user_id in anchors:
        group = _group_filter(run_id, user_id)
        if group is None:
            continue
        later = scope.filter(
            group, created_at__gte=row.created_at, created_at__lte=row.created_at + WINDOW
        )
        parts.append(
            later.exclude(pk=row.id)
            .order_by("created_at", "id")
            .values_list(*SCORING_COLUMNS, *GROUP_COLUMNS)[:2]
        )
    if not parts:
        return []
    found = parts[0].union(*parts[1:], all=True) if len(parts) > 1 else parts[0]
    return [(ScoringRow(*values[:-2]), values[-2], values[-1]) for values in found]


def context_scores(
    rows: dict[UUID, ScoringRow],
    groups: dict[UUID, Group],
    scores: Mapping[UUID, float],
    *,
    reply_strength: float,
    context_strength: float,
    find_neighbours: NeighbourFinder,
) -> dict[UUID, float]:
    """Scores lent to the neighbours of the best candidates (memory id → lent score); the
    neighbours that receive some are added to `rows` and `groups`. `find_neighbours`: each
    anchor's neighbours by offset (queried_neighbours(), or what the caller already has)."""
    best = sorted(scores, key=lambda m: -scores[m])[:ANCHORS]
    anchors = [
        (rows[m], *groups[m])
        for m in best
        if m in groups
        and _in_conversation(groups[m])
        and (context_strength > 0 or (reply_strength > 0 and rows[m].asks_question))
    ]
    if not anchors:
        return {}
    neighbours = find_neighbours(anchors, context_strength > 0)
    lent: dict[UUID, float] = {}
    for row, _, _ in anchors:
        for offset, (neighbour, run_id, user_id) in neighbours.get(row.id, {}).items():
            gap = abs(neighbour.created_at - row.created_at)
            # Turns stored with the very same time (separate adds given one `timestamp`) have
            # no known order: better no lending than lending to a random turn.
            if not timedelta(0) < gap <= WINDOW:
                continue
            share = context_strength * DECAY[offset]
            if offset == 1 and row.asks_question:
                share = max(share, reply_strength)
            if share > 0:
                lent[neighbour.id] = max(lent.get(neighbour.id, 0.0), share * scores[row.id])
                rows.setdefault(neighbour.id, neighbour)
                groups.setdefault(neighbour.id, (run_id, user_id))
    return lent


def queried_neighbours(
    scope: QuerySet[Memory], anchors: list[Member], all_neighbours: bool
) -> Mapping[UUID, Mapping[int, Member]]:
    """Each anchor's neighbours by offset, read from the database: its whole neighbourhood
    when every neighbour may receive a share, else only the turns after it."""
    if all_neighbours:
        candidates = _queried_neighbourhoods(scope, anchors)
    else:
        candidates = [*anchors, *_queried_next_turns(scope, anchors)]
    members: dict[Group, dict[UUID, Member]] = {}
    for member in candidates:
        members.setdefault((member[1], member[2]), {})[member[0].id] = member
    ordered = {
        group: sorted(found.values(), key=lambda member: (member[0].created_at, str(member[0].id)))
        for group, found in members.items()
    }
    return {
        row.id: _adjacent(ordered.get((run_id, user_id), []), row)
        for row, run_id, user_id in anchors
    }


def _adjacent(ordered: list[Member], anchor: ScoringRow) -> dict[int, Member]:
    index = next((i for i, member in enumerate(ordered) if member[0].id == anchor.id), None)
    if index is None:
        return {}
    return {
        offset: ordered[index + offset] for offset in DECAY if 0 <= index + offset < len(ordered)
    }
