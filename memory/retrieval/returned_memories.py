"""The memories a search returns, read with the data keys of their text in one statement
(they are decrypted next): a user's first search in a while would otherwise spend a round
trip on the user's key. Hand-written: the equivalent queryset costs more to build and
compile than PostgreSQL takes to run it."""

from uuid import UUID

from django.db import connection

from memory.models import Memory
from memory.retrieval.prepared import fetch_all
from tenants.keyring import keys_remember
from tenants.models import DataKey

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
    rows = fetch_all(_RESULTS_SQL, [project_id, ids])
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
