"""Query vectors cached in Redis: agents repeat queries, and embedding is the costliest step
of a search. The key hashes the embedder's identity (model, and precision for the local one)
and the query text only (a vector depends on nothing else), so the entry is shared by every
project; it holds no project data. Redis trouble never fails a search: the vector is then
simply computed.
"""

import hashlib
import logging
import threading
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import redis
from django.conf import settings

from memory.providers.embedder import Embedder, get_embedder

logger = logging.getLogger(__name__)
CACHE_TTL_SECONDS = 600
# Storing a computed vector is not on the search's path: one writer thread per process.
_WRITER = ThreadPoolExecutor(max_workers=1, thread_name_prefix="query-cache-write")
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


def embedder_identity(embedder: Embedder) -> str:
    """What a vector depends on besides the text: int8 and fp32 vectors of the local model
    differ slightly, and must not be served for one another."""
    precision = getattr(embedder, "precision", None)
    return f"{embedder.model_name}/{precision}" if precision else embedder.model_name


def query_cache_key(identity: str, query: str) -> str:
    digest = hashlib.sha256(f"{identity}\x00{query}".encode()).hexdigest()
    return f"{settings.ENGRAM_REDIS_PREFIX}:qvec:{digest}"


def query_vector(query: str) -> tuple[np.ndarray, bool]:
    """The query's embedding, and whether it came from the cache."""
    embedder = get_embedder()
    key = query_cache_key(embedder_identity(embedder), query)
    try:
        cached = _redis().get(key)
    except redis.RedisError as exc:
        logger.warning("query vector cache unavailable: %s", exc)
        cached = None
    if isinstance(cached, bytes) and len(cached) == 4 * embedder.dimension:
        return np.frombuffer(cached, dtype=np.float32), True
    vector = np.asarray(embedder.embed_one(query), dtype=np.float32)
    _WRITER.submit(_remember, key, vector.tobytes())
    return vector, False


def _remember(key: str, value: bytes) -> None:
    try:
        _redis().set(key, value, ex=CACHE_TTL_SECONDS)
    except redis.RedisError as exc:
        logger.warning("query vector cache unavailable: %s", exc)
