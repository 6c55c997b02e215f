"""The blind keyword index: per-project keyed hashes of normalised terms, never the terms.

Memory text is encrypted at rest, so keyword search matches HMAC-SHA256(project index key,
"bm25|" + term), truncated to a signed 64-bit integer (the `MemoryToken.token` column). Without
the project's index key the postings reveal only equality and frequency of terms within one
project (the documented leakage of blind indexes, security.md §2).

BM25 needs corpus statistics: document frequency per term, the number of documents and their
total length. They live in `memory_bm25stat` as *delta rows*, appended in the writer's own
transaction: exact under rollback, no row locks (so no lock-order deadlocks with whatever
else the writer's transaction locks), and no hot row under concurrent ingestion. Readers sum
the deltas; `bm25_stats_compact` folds them back to one row per term now and then.
Term id 0 is reserved for the corpus row (documents, total length).
"""

import hashlib
import hmac
import random
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from uuid import UUID

from django.db import connection, transaction

from memory.retrieval.text import term_frequencies
from tenants.keyring import index_key

CORPUS_TOKEN = 0
HASH_DOMAIN = b"bm25|"
MAX_TERM_FREQUENCY = 32767  # smallint column
# Writers enqueue a compaction about once per this many batches (cheap, idempotent).
COMPACT_EVERY_BATCHES = 500


def term_hash(key: bytes, term: str) -> int:
    digest = hmac.new(key, HASH_DOMAIN + term.encode(), hashlib.sha256).digest()
    value = int.from_bytes(digest[:8], "big", signed=True)
    return value or 1  # 0 is the corpus row of the stats table


def blind_index_tokens(project_id: UUID, text: str) -> Counter[int]:
    """The text's keyed term hashes with their frequencies, as the index stores them."""
    return _keyed_counts(index_key(project_id), text)


def _keyed_counts(key: bytes, text: str) -> Counter[int]:
    counts: Counter[int] = Counter()
    for term, frequency in term_frequencies(text).items():
        counts[term_hash(key, term)] += frequency
    return counts


def query_tokens(project_id: UUID, query: str) -> dict[int, int]:
    """Keyed hashes of the query's terms → how often each appears in the query."""
    return dict(blind_index_tokens(project_id, query))


def index_memory_tokens(*, project_id: UUID, memory_id: UUID, text: str) -> int:
    return index_memories_tokens(project_id=project_id, items=[(memory_id, text)])[memory_id]


@dataclass(frozen=True)
class Postings:
    """The postings of new memory texts, computed before the memories are stored, so that
    each row is inserted with its `token_count` rather than updated right after: that update
    found its page full and wrote a second version of the row into every index, HNSW
    included."""

    lengths: dict[UUID, int]  # each memory's document length in index terms
    memory_ids: list[UUID]
    tokens: list[int]
    frequencies: list[int]
    document_frequency: Counter[int]


def memory_postings(*, project_id: UUID, items: Sequence[tuple[UUID, str]]) -> Postings:
    """What write_postings() will store for these (memory id, text) pairs."""
    key = index_key(project_id)
    postings = Postings({}, [], [], [], Counter())
    for memory_id, text in items:
        counts = _keyed_counts(key, text)
        postings.lengths[memory_id] = sum(counts.values())
        for token, frequency in counts.items():
            postings.memory_ids.append(memory_id)
            postings.tokens.append(token)
            postings.frequencies.append(min(frequency, MAX_TERM_FREQUENCY))
        postings.document_frequency.update(counts.keys())
    return postings


def write_postings(*, project_id: UUID, postings: Postings) -> None:
    """Store the postings (one statement) and their BM25 statistics, once their memories
    exist. Runs in the caller's tenant transaction."""
    if not postings.tokens:
        return
    _insert_postings(project_id, postings.memory_ids, postings.tokens, postings.frequencies)
    indexed = [length for length in postings.lengths.values() if length]
    _add_stat_deltas(project_id, postings.document_frequency, len(indexed), sum(indexed))
    _maybe_schedule_compaction(project_id)


def index_memories_tokens(
    *, project_id: UUID, items: Sequence[tuple[UUID, str]]
) -> dict[UUID, int]:
    """Write the postings of the texts of stored memories and their BM25 statistics.

    Returns each memory's document length in index terms (the caller stores it as
    `Memory.token_count`; BM25 normalises by it). Runs in the caller's tenant transaction.
    """
    postings = memory_postings(project_id=project_id, items=items)
    write_postings(project_id=project_id, postings=postings)
    return postings.lengths


def _insert_postings(
    project_id: UUID, memory_ids: list[UUID], tokens: list[int], frequencies: list[int]
) -> None:
    # COPY FROM is refused on row-level-security tables; one INSERT of unnested arrays is
    # the next fastest thing (a single round trip, a single plan).
    with connection.cursor() as cursor:
        cursor.execute(
            "INSERT INTO memory_memorytoken (project_id, memory_id, token, term_frequency) "
            "SELECT %s, unnest(%s::uuid[]), unnest(%s::bigint[]), unnest(%s::smallint[])",
            [project_id, memory_ids, tokens, frequencies],
        )


def _add_stat_deltas(
    project_id: UUID, document_frequency: Counter[int], documents: int, total_length: int
) -> None:
    tokens = [CORPUS_TOKEN, *document_frequency.keys()]
    docs = [documents, *document_frequency.values()]
    lengths = [total_length] + [0] * len(document_frequency)
    with connection.cursor() as cursor:
        cursor.execute(
            "INSERT INTO memory_bm25stat (project_id, token, doc_delta, length_delta) "
            "SELECT %s, unnest(%s::bigint[]), unnest(%s::integer[]), unnest(%s::bigint[])",
            [project_id, tokens, docs, lengths],
        )


_REMOVE_SQL = """
WITH gone AS (
    DELETE FROM memory_memorytoken
    WHERE project_id = %(project)s AND memory_id = ANY(%(ids)s::uuid[])
    RETURNING memory_id, token, term_frequency
), per_term AS (
    INSERT INTO memory_bm25stat (project_id, token, doc_delta, length_delta)
    SELECT %(project)s, token, -count(*), 0 FROM gone GROUP BY token
)
INSERT INTO memory_bm25stat (project_id, token, doc_delta, length_delta)
SELECT %(project)s, 0, -count(DISTINCT memory_id), -sum(term_frequency) FROM gone
HAVING count(*) > 0
"""


def remove_memory_tokens(*, project_id: UUID, memory_ids: Iterable[UUID]) -> None:
    """Drop the postings of these memories (deleted, or about to be re-indexed) and take
    them out of the BM25 statistics, in one statement."""
    ids = list(memory_ids)
    if not ids:
        return
    with connection.cursor() as cursor:
        cursor.execute(_REMOVE_SQL, {"project": project_id, "ids": ids})


_COMPACT_SQL = """
WITH gone AS (
    DELETE FROM memory_bm25stat WHERE project_id = %(project)s
    RETURNING token, doc_delta, length_delta
)
INSERT INTO memory_bm25stat (project_id, token, doc_delta, length_delta)
SELECT %(project)s, token, sum(doc_delta), sum(length_delta) FROM gone GROUP BY token
HAVING sum(doc_delta) <> 0 OR sum(length_delta) <> 0
"""


def bm25_stats_compact(*, project_id: UUID) -> None:
    """Fold the project's delta rows into one row per term. Safe to run concurrently with
    writers and with itself: every deleted delta is re-added exactly once, summed."""
    with connection.cursor() as cursor:
        cursor.execute(_COMPACT_SQL, {"project": project_id})


_REBUILD_SQL = """
WITH cleared AS (DELETE FROM memory_bm25stat WHERE project_id = %(project)s),
per_term AS (
    INSERT INTO memory_bm25stat (project_id, token, doc_delta, length_delta)
    SELECT %(project)s, token, count(*), 0 FROM memory_memorytoken
    WHERE project_id = %(project)s GROUP BY token
)
INSERT INTO memory_bm25stat (project_id, token, doc_delta, length_delta)
SELECT %(project)s, 0, count(DISTINCT memory_id), coalesce(sum(term_frequency), 0)
FROM memory_memorytoken WHERE project_id = %(project)s
"""


def bm25_stats_rebuild(*, project_id: UUID) -> None:
    """Recompute the statistics from the postings (after a bulk load, or a repair)."""
    with connection.cursor() as cursor:
        cursor.execute(_REBUILD_SQL, {"project": project_id})


def _maybe_schedule_compaction(project_id: UUID) -> None:
    if random.random() >= 1.0 / COMPACT_EVERY_BATCHES:  # noqa: S311 - load spreading only
        return

    def enqueue() -> None:
        from memory.retrieval.tasks import compact_bm25_stats

        compact_bm25_stats.delay(str(project_id))

    transaction.on_commit(enqueue)
