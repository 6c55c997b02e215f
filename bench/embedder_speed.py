"""Speed of the local all-MiniLM-L6-v2 embedder: single-query latency and bulk throughput.

    .venv/bin/python bench/embedder_speed.py [--precision int8|fp32] [--queries 300] [--bulk 2000]

The model runs on one onnxruntime thread, as in the web and worker processes.
"""

from __future__ import annotations

import os

for _name in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_name, "1")  # before numpy is imported, or it has no effect

import argparse  # noqa: E402
import random  # noqa: E402
import statistics  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.vectors import MODEL_CACHE_DIR  # noqa: E402
from memory.providers.embedder import LocalMiniLMEmbedder  # noqa: E402
from memory.providers.minilm import PRECISIONS  # noqa: E402

SUBJECTS = ["User", "Alice", "The customer", "My manager", "Our team", "Bob"]
VERBS = ["prefers", "likes", "is allergic to", "works with", "is learning", "avoids"]
OBJECTS = [
    "Python over JavaScript",
    "spicy food on weekends",
    "peanuts and shellfish",
    "the Berlin office since March",
    "Rust for embedded projects",
    "meetings before ten in the morning",
    "dark mode in every editor",
    "long walks with the dog after dinner",
]
TAILS = ["", " and wants reminders about it", " according to last Tuesday's chat", " again"]
QUESTIONS = [
    "What food does the user like?",
    "Which programming language do I prefer?",
    "Where does Alice work?",
    "Any allergies?",
    "What did I eat for breakfast last Tuesday?",
    "When is the next team meeting?",
    "Does Bob use dark mode?",
    "What is the user learning right now?",
]


def short_sentences(count: int, seed: int = 0) -> list[str]:
    """Memory-like facts of 5-15 words, the typical size of an extracted memory or query."""
    rng = random.Random(seed)
    return [
        f"{rng.choice(SUBJECTS)} {rng.choice(VERBS)} {rng.choice(OBJECTS)}{rng.choice(TAILS)}."
        for _ in range(count)
    ]


def percentile(samples: list[float], fraction: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))]


def bench_single(embedder: LocalMiniLMEmbedder, queries: list[str]) -> list[float]:
    for query in queries[:20]:
        embedder.embed_one(query)  # warm caches and allocator
    timings = []
    for query in queries:
        start = time.perf_counter()
        embedder.embed_one(query)
        timings.append((time.perf_counter() - start) * 1000)
    return timings


def bench_bulk(embedder: LocalMiniLMEmbedder, texts: list[str]) -> float:
    embedder.embed(texts[:64])
    start = time.perf_counter()
    embedder.embed(texts)
    return len(texts) / (time.perf_counter() - start)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--queries", type=int, default=300)
    parser.add_argument("--bulk", type=int, default=2000)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--precision", choices=PRECISIONS, default="int8")
    args = parser.parse_args()

    embedder = LocalMiniLMEmbedder(
        precision=args.precision, cache_dir=MODEL_CACHE_DIR, batch_size=args.batch_size
    )
    start = time.perf_counter()
    embedder.warm_up()
    load_ms = (time.perf_counter() - start) * 1000
    facts = short_sentences(args.queries, seed=1)
    questions = [QUESTIONS[i % len(QUESTIONS)] for i in range(args.queries)]
    workloads = {"questions": questions, "facts": facts}
    single = {name: bench_single(embedder, texts) for name, texts in workloads.items()}
    rate = bench_bulk(embedder, short_sentences(args.bulk, seed=2))
    long_rate = bench_bulk(embedder, [" ".join(short_sentences(8, seed=i)) for i in range(200)])

    print(f"precision: {args.precision}; one onnxruntime thread")
    print(f"model load:              {load_ms:8.1f} ms")
    tokenizer = embedder.tokenizer()
    for name, texts in workloads.items():
        timings = single[name]
        tokens = statistics.mean(len(tokenizer.encode(t).ids) for t in texts)
        print(
            f"single query, {name:9} ({tokens:4.1f} tokens avg): "
            f"p50 {statistics.median(timings):5.2f} ms   p95 {percentile(timings, 0.95):5.2f} ms"
        )
    print(f"bulk short sentences:    {rate:8.0f} sentences/s  (n={args.bulk})")
    print(f"bulk ~100-token texts:   {long_rate:8.0f} texts/s      (n=200)")


if __name__ == "__main__":
    main()
