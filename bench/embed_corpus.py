"""Embed (and cache under .data/bench/) the corpus of a benchmark scale ahead of time.

nice -n 19 .venv/bin/python bench/embed_corpus.py --memories 1000000 [--workers 1]
"""

from __future__ import annotations

import os

for _name in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_name, "1")

import argparse  # noqa: E402
import sys  # noqa: E402
from pathlib import Path  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.corpus import memory_sentences  # noqa: E402
from bench.vectors import embed_cached  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--memories", type=int, default=1_000_000)
    parser.add_argument("--workers", type=int, default=None)
    args = parser.parse_args()
    texts = [text for text, _ in memory_sentences(args.memories, 0)]
    vectors = embed_cached(texts, workers=args.workers, label="corpus")
    print(f"{vectors.shape[0]} vectors cached")


if __name__ == "__main__":
    main()
