"""Memory retrieval (DESIGN.md §5): the blind keyword index and the hybrid search engine.

Write side (called by memory services inside their tenant transaction):
    index_memories_tokens(project_id=, items=[(memory_id, text), ...]) -> {memory_id: length}
    remove_memory_tokens(project_id=, memory_ids=[...])
Read side:
    search_memories(project_id=, query=, filters=, top_k=, threshold=, options=) -> [ScoredMemory]
"""

from memory.retrieval.blind_index import (
    blind_index_tokens,
    bm25_stats_compact,
    bm25_stats_rebuild,
    index_memories_tokens,
    index_memory_tokens,
    remove_memory_tokens,
)
from memory.retrieval.engine import ScoredMemory, search_memories, search_scope
from memory.retrieval.options import SearchOptions, search_options_from_request

__all__ = [
    "ScoredMemory",
    "SearchOptions",
    "blind_index_tokens",
    "bm25_stats_compact",
    "bm25_stats_rebuild",
    "index_memories_tokens",
    "index_memory_tokens",
    "remove_memory_tokens",
    "search_memories",
    "search_options_from_request",
    "search_scope",
]
