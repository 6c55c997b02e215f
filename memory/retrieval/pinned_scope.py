"""The statements of a search pinned to entity ids only (`{"user_id": "alice"}`, the common
case), written as SQL once instead of built by the ORM on every search: the whole scope,
nearest first, and the returned memories with their data keys.

Building, compiling and converting the equivalent queryset costs about 2 ms of Python per
search, more than PostgreSQL takes to run it (under 1 ms for a user's few hundred rows).
The statement returns the same columns, in the same order, as the ORM path in engine.py
(`distance`, the scoring columns, the conversation columns, token_count, then postings and
the BM25 statistics when the query has keywords), so both feed the same code.
"""

from collections.abc import Sequence
from datetime import date
from typing import Any
from uuid import UUID

import numpy as np
from django.db import connection
from pgvector import Vector

from memory.filters import ENTITY_FIELDS
from memory.models import Memory
from memory.retrieval.context import GROUP_COLUMNS
from memory.retrieval.fusion import SCORING_COLUMNS
from memory.retrieval.keyword import corpus_stats_column_sql, postings_column_sql
from tenants.keyring import keys_remember
from tenants.models import DataKey

TABLE = "memory_memory"  # unaliased: the postings column refers to memory_memory.id
_COLUMNS = ", ".join(f"{TABLE}.{name}" for name in (*SCORING_COLUMNS, *GROUP_COLUMNS))


def whole_scope_rows(
    *,
    project_id: UUID,
    equalities: dict[str, str],
    states: Sequence[str],
    expiring_after: date | None,
    vector: np.ndarray,
    tokens: list[int],
    limit: int,
) -> list[tuple[Any, ...]]:
    """The scope's rows nearest first (at most `limit`). `expiring_after`: hide memories
    that expired before this day (None shows them)."""
    columns = [f"({TABLE}.embedding <=> %s::vector) + 0.0 AS distance", _COLUMNS,
               f"{TABLE}.token_count"]  # fmt: skip
    params: list[Any] = [Vector(vector).to_text()]
    if tokens:
        for sql, values in (
            postings_column_sql(tokens),
            corpus_stats_column_sql(project_id, tokens),
        ):
            columns.append(sql)
            params += values
    where = [f"{TABLE}.project_id = %s", f"{TABLE}.state = ANY(%s)"]
    params += [project_id, list(states)]
    for name, value in sorted(equalities.items()):
        if name not in ENTITY_FIELDS:  # column names come from this fixed set only
            raise ValueError(f"not an entity field: {name}")
        where.append(f"{TABLE}.{name} = %s")
        params.append(value)
    if expiring_after is not None:
        where.append(f"({TABLE}.expiration_date IS NULL OR {TABLE}.expiration_date >= %s)")
        params.append(expiring_after)
    # Composed from constants and the fixed column names above; every value is a parameter.
    sql = (
        f"SELECT {', '.join(columns)} FROM {TABLE} WHERE {' AND '.join(where)}"  # noqa: S608
        " ORDER BY distance LIMIT %s"
    )
    params.append(limit)
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return cursor.fetchall()


# What a search result shows (records.memory_record): not the vector or the hashes.
NOT_RENDERED = ("embedding", "metadata_hashes", "content_hash", "feedback")
_MEMORY_FIELDS = [f.attname for f in Memory._meta.concrete_fields if f.attname not in NOT_RENDERED]
_KEY_FIELDS = [f.attname for f in DataKey._meta.concrete_fields]
# The key id is the second part of a ciphertext ("v1:<key id>:<payload>", tenants/keyring).
# LATERAL + LIMIT 1: one primary-key probe per row; a plain join lets the planner hash the
# project's whole key ring (10,000 users' keys: 2.5 ms, against 0.05 ms).
# Composed from constants and the models' own column names; the values are parameters.
_RESULTS_SQL = (
    "SELECT "  # noqa: S608
    + ", ".join(f"m.{name}" for name in _MEMORY_FIELDS)
    + ", "
    + ", ".join(f"k.{name}" for name in _KEY_FIELDS)
    + " FROM memory_memory m LEFT JOIN LATERAL (SELECT * FROM tenants_datakey"
    " WHERE tenants_datakey.project_id = m.project_id"
    " AND tenants_datakey.id = CASE WHEN m.text_ciphertext ~ '^[^:]+:[0-9]+:'"
    " THEN split_part(m.text_ciphertext, ':', 2)::bigint END LIMIT 1) k ON true"
    " WHERE m.project_id = %s AND m.id = ANY(%s)"
)


def memories_with_keys(project_id: UUID, ids: list[UUID]) -> dict[UUID, Memory]:
    """The memories to return (as records.memory_record renders them), in one statement with
    the data keys of their text, which are cached for decryption: a user's first search in a
    while would otherwise spend a round trip on the user's key."""
    with connection.cursor() as cursor:
        cursor.execute(_RESULTS_SQL, [project_id, ids])
        rows = cursor.fetchall()
    width = len(_MEMORY_FIELDS)
    memories: dict[UUID, Memory] = {}
    keys = []
    for row in rows:
        memory = Memory.from_db(connection.alias, _MEMORY_FIELDS, row[:width])
        memories[memory.id] = memory
        if row[width] is not None:
            keys.append(DataKey.from_db(connection.alias, _KEY_FIELDS, row[width:]))
    keys_remember(keys)
    return memories
