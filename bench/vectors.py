"""Embeddings of the benchmark corpus, computed once with the local MiniLM (at the precision
the server uses by default, int8) and cached on disk under .data/bench/ (1M sentences take
about 20 minutes on two cores; re-runs load them in seconds). Worker processes split the
work; each runs the model on one thread."""

from __future__ import annotations

import hashlib
import os
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Final

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
CACHE_DIR = ROOT / ".data" / "bench"
MODEL_CACHE_DIR = ROOT / ".data" / "models"
CHUNK = 2000
PRECISION: Final = "int8"


def _embed_chunk(texts: list[str]) -> np.ndarray:
    from memory.providers.embedder import LocalMiniLMEmbedder

    return LocalMiniLMEmbedder(precision=PRECISION, cache_dir=MODEL_CACHE_DIR).embed(texts)


def _cache_path(texts: list[str]) -> Path:
    digest = hashlib.sha256("\n".join(texts).encode()).hexdigest()[:16]
    return CACHE_DIR / f"minilm-{PRECISION}-{len(texts)}-{digest}.npy"


def embed_cached(texts: list[str], *, workers: int | None = None, label: str = "") -> np.ndarray:
    """float32 (len(texts), 384), unit rows; from the cache when this exact list was seen.
    Chunks are checkpointed, so an interrupted run resumes where it stopped."""
    path = _cache_path(texts)
    if path.exists():
        return np.load(path, mmap_mode="r")
    parts = path.with_suffix(".parts")
    parts.mkdir(parents=True, exist_ok=True)
    workers = workers or max(1, min(2, os.cpu_count() or 1))
    chunks = [texts[i : i + CHUNK] for i in range(0, len(texts), CHUNK)]
    todo = [i for i in range(len(chunks)) if not (parts / f"{i}.npy").exists()]
    started = time.monotonic()
    with ProcessPoolExecutor(max_workers=workers) as pool:
        for count, (index, vectors) in enumerate(
            zip(todo, pool.map(_embed_chunk, [chunks[i] for i in todo]), strict=True), start=1
        ):
            np.save(parts / f"{index}.npy", vectors)
            rate = count * CHUNK / max(time.monotonic() - started, 1e-9)
            print(f"  embedded {label} chunk {index + 1}/{len(chunks)} ({rate:.0f}/s)", flush=True)
    out = np.concatenate([np.load(parts / f"{i}.npy") for i in range(len(chunks))])
    partial = path.with_suffix(".partial.npy")
    np.save(partial, out)
    partial.rename(path)
    for index in range(len(chunks)):
        (parts / f"{index}.npy").unlink()
    parts.rmdir()
    return out
