"""HNSW recall@10 against the exact ranking, project-wide, on a preloaded benchmark project:
how much the approximate path gives up, per ef_search, and what it costs.

    .venv/bin/python bench/hnsw_recall.py --memories 100000 --users 1000 [--queries 50]
"""

from __future__ import annotations

import os

for _name in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_name, "1")

import argparse  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.corpus import queries  # noqa: E402
from bench.environment import bench_env  # noqa: E402
from bench.preload import load_state  # noqa: E402
from bench.run import percentiles, setup_django  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--memories", type=int, default=100_000)
    parser.add_argument("--users", type=int, default=1000)
    parser.add_argument("--queries", type=int, default=50)
    parser.add_argument("--database", default=None, help="default: engram_bench_<memories>")
    args = parser.parse_args()
    setup_django(bench_env(args.database or f"engram_bench_{args.memories}"))
    from memory.models import Memory
    from memory.providers.embedder import get_embedder
    from memory.retrieval.vector import exact_candidates, hnsw_candidates
    from tenants.context import tenant_context

    state = load_state(args.memories, args.users)
    assert state, "preload this scale with bench/run.py first"
    texts = list(dict.fromkeys(queries(args.queries * 3, seed=11)))[: args.queries]
    vectors = get_embedder().embed(texts)
    recall: dict[int, list[float]] = {40: [], 100: [], 200: []}
    timing: dict[int, list[float]] = {ef: [] for ef in recall}
    with tenant_context(state["project_id"]):
        scope = Memory.objects.filter(project_id=state["project_id"], state="active")
        for vector in vectors:
            exact = {m for m, _ in exact_candidates(scope, vector, 10)}
            for ef in recall:
                started = time.perf_counter()
                found = hnsw_candidates(scope, vector, 10, ef_search=ef, iterative=False)
                timing[ef].append((time.perf_counter() - started) * 1000)
                recall[ef].append(len(exact & {m for m, _ in found}) / 10)
    for ef in recall:
        mean = sum(recall[ef]) / len(recall[ef])
        print(f"ef_search {ef}: recall@10 {mean:.3f}, SQL latency {percentiles(timing[ef])}")


if __name__ == "__main__":
    main()
