"""Query vectors cached in Redis: agents repeat queries, and embedding is the costliest step
of a search. The key hashes the model name and the query text only (a vector depends on
nothing else), so the entry is shared by every project; it holds no project data. Redis
trouble never fails a search: the vector is then simply computed.
"""

import hashlib
import logging
import threading

import numpy as np
import redis
from django.conf import settings

from memory.providers.embedder import get_embedder

logger = logging.getLogger(__name__)
CACHE_TTL_SECONDS = 600
_client: redis.Redis | None = None
_client_lock = threading.Lock()


def _redis() -> redis.Redis:
    global _client
    if _client is None:
        with _client_lock:
            if _client is None:
                _client = redis.Redis.from_url(
                    settings.REDIS_URL, socket_timeout=0.05, socket_connect_timeout=0.05
                )
    return _client


def query_cache_key(model_name: str, query: str) -> str:
    digest = hashlib.sha256(f"{model_name}\x00{query}".encode()).hexdigest()
    return f"{settings.ENGRAM_REDIS_PREFIX}:qvec:{digest}"


def query_vector(query: str) -> tuple[np.ndarray, bool]:
    """The query's embedding, and whether it came from the cache."""
    embedder = get_embedder()
    key = query_cache_key(embedder.model_name, query)
    try:
        cached = _redis().get(key)
    except redis.RedisError as exc:
        logger.warning("query vector cache unavailable: %s", exc)
        cached = None
    if isinstance(cached, bytes) and len(cached) == 4 * embedder.dimension:
        return np.frombuffer(cached, dtype=np.float32), True
    vector = np.asarray(embedder.embed_one(query), dtype=np.float32)
    try:
        _redis().set(key, vector.tobytes(), ex=CACHE_TTL_SECONDS)
    except redis.RedisError as exc:
        logger.warning("query vector cache unavailable: %s", exc)
    return vector, False
