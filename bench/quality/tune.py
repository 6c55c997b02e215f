"""Offline fusion tuning: fetch each question's semantic and keyword candidate lists once
(through the engine's own candidate functions), then score fusion formulas in memory.

    .venv/bin/python -m bench.quality.tune [--split train]

Only the training split should drive choices; the held-out split is for the final check.
"""

from __future__ import annotations

import os

for _name in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_name, "1")

import argparse  # noqa: E402
import json  # noqa: E402
import math  # noqa: E402
import pickle  # noqa: E402
import re  # noqa: E402
import sys  # noqa: E402
from pathlib import Path  # noqa: E402
from typing import Any  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent.parent.parent))

from bench.environment import DATA, bench_env  # noqa: E402
from bench.quality.dataset import build_dataset  # noqa: E402
from bench.quality.evaluate import HELDOUT, TRAIN, load  # noqa: E402

POOL = 100


def fetch_lists(dataset: list, state: dict[str, Any]) -> list[dict[str, Any]]:
    cache = DATA / "quality-lists.pkl"
    if cache.exists():
        return pickle.loads(cache.read_bytes())  # noqa: S301 - our own file
    from django.utils import timezone

    from memory.filters import parse_filters
    from memory.providers.embedder import get_embedder
    from memory.retrieval.blind_index import query_tokens
    from memory.retrieval.engine import search_scope
    from memory.retrieval.keyword import keyword_candidates
    from memory.retrieval.options import SearchOptions
    from memory.retrieval.vector import exact_candidates
    from tenants.context import tenant_context

    project_id, mapping, out = state["project_id"], state["turn_to_memory"], []
    for index, conv in enumerate(dataset):
        for question in conv.questions:
            with tenant_context(project_id):
                filters = parse_filters(project_id, {"user_id": conv.id})
                scope = search_scope(
                    project_id=project_id,
                    filters=filters,
                    options=SearchOptions(),
                    today=timezone.now(),
                )
                vector = get_embedder().embed_one(question.text)
                semantic = exact_candidates(scope, vector, POOL)
                rewritten = exact_candidates(
                    scope, get_embedder().embed_one(declarative(question.text)), POOL
                )
                keyword, _ = keyword_candidates(
                    scope,
                    project_id=project_id,
                    query=query_tokens(project_id, question.text),
                    limit=POOL,
                    small_scope=True,
                )
            out.append({
                "conv": index, "kind": question.kind,
                "evidence": {mapping[t] for t in question.evidence if t in mapping},
                "semantic": [(str(m), s) for m, s in semantic],
                "rewritten": [(str(m), s) for m, s in rewritten],
                "keyword": [(str(m), s) for m, s in keyword],
            })  # fmt: skip
    cache.write_bytes(pickle.dumps(out))
    return out


QUESTION_START = re.compile(
    r"^(what|when|where|who|whom|which|why|how)( (kind|sort|type) of)?"
    r"( (did|does|do|is|was|were|are|has|have|had|will|would|can|could))?\s+",
    re.IGNORECASE,
)


def declarative(question: str) -> str:
    """'When did Caroline go to the support group?' -> 'Caroline go to the support group'."""
    return QUESTION_START.sub("", question.strip()).rstrip("?").strip() or question


def neighbours(state: dict[str, Any]) -> dict[str, list[str]]:
    """memory id -> [next turn, previous turn] in its session, from the database."""
    from memory.models import Memory
    from tenants.context import tenant_context

    with tenant_context(state["project_id"]):
        rows = list(
            Memory.objects.filter(project_id=state["project_id"])
            .order_by("run_id", "created_at")
            .values_list("id", "run_id")
        )
    out: dict[str, list[str]] = {}
    for index, (memory_id, run_id) in enumerate(rows):
        following = rows[index + 1] if index + 1 < len(rows) else None
        previous = rows[index - 1] if index > 0 else None
        out[str(memory_id)] = [
            str(following[0]) if following and following[1] == run_id else "",
            str(previous[0]) if previous and previous[1] == run_id else "",
        ]
    return out


def with_context(
    scores: dict[str, float], near: dict[str, list[str]], strength: float, anchors: int = 5
) -> dict[str, float]:
    out = dict(scores)
    for memory_id in sorted(scores, key=lambda m: -scores[m])[:anchors]:
        following, previous = near.get(memory_id, ["", ""])
        for neighbour, decay in ((following, 1.0), (previous, 0.7)):
            if neighbour:
                out[neighbour] = max(out.get(neighbour, 0.0), strength * decay * scores[memory_id])
    return out


def rrf(lists: dict[str, list], weights: dict[str, float], k: int) -> dict[str, float]:
    scores: dict[str, float] = {}
    for name, items in lists.items():
        for rank, (memory_id, _) in enumerate(items, start=1):
            scores[memory_id] = scores.get(memory_id, 0.0) + weights[name] / (k + rank)
    return scores


def zsum(lists: dict[str, list], weights: dict[str, float], depth: int = 50) -> dict[str, float]:
    """CombSUM of per-list z-scores (computed over each list's top `depth`)."""
    scores: dict[str, float] = {}
    for name, items in lists.items():
        values = [s for _, s in items[:depth]]
        if len(values) < 2:
            continue
        mean = sum(values) / len(values)
        std = math.sqrt(sum((v - mean) ** 2 for v in values) / len(values)) or 1.0
        floor = (values[-1] - mean) / std
        for memory_id, value in items[:depth]:
            scores[memory_id] = scores.get(memory_id, 0.0) + weights[name] * (
                (value - mean) / std - floor
            )
    return scores


def pick(lists: dict[str, list], semantic: str = "semantic") -> dict[str, list]:
    return {"semantic": lists[semantic], "keyword": lists["keyword"]}


def zsum3(lists: dict[str, list]) -> dict[str, float]:
    both = {
        "semantic": lists["semantic"],
        "rewritten": lists["rewritten"],
        "keyword": lists["keyword"],
    }
    return zsum(both, {"semantic": 0.5, "rewritten": 0.5, "keyword": 1.0})


def blend(lists: dict[str, list], weights: dict[str, float], alpha: float, sat: float) -> dict:
    z = zsum(lists, weights)
    top = max(z.values(), default=1.0) or 1.0
    absolute: dict[str, float] = {}
    for memory_id, sim in lists["semantic"]:
        absolute[memory_id] = max(0.0, sim)
    for memory_id, bm25 in lists["keyword"]:
        absolute[memory_id] = absolute.get(memory_id, 0.0) + bm25 / (bm25 + sat)
    total = sum(weights.values())
    return {
        m: (1 - alpha) * z.get(m, 0.0) / top + alpha * absolute.get(m, 0.0) / total
        for m in set(z) | set(absolute)
    }


def mix(lists: dict[str, list], weights: dict[str, float]) -> dict[str, float]:
    a, b = rrf(lists, weights, 20), zsum(lists, weights)
    top_a, top_b = max(a.values(), default=1) or 1, max(b.values(), default=1) or 1
    return {m: a.get(m, 0) / top_a + b.get(m, 0) / top_b for m in set(a) | set(b)}


def evaluate(rows: list[dict], fuse: Any, k: int = 10) -> dict[str, float]:
    by_kind: dict[str, list[float]] = {}
    for row in rows:
        scores = fuse(row)
        top = sorted(scores, key=lambda m: -scores[m])[:k]
        recall = len(row["evidence"] & set(top)) / len(row["evidence"])
        by_kind.setdefault(row["kind"], []).append(recall)
        by_kind.setdefault("all", []).append(recall)
    return {kind: round(sum(v) / len(v), 3) for kind, v in sorted(by_kind.items())}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--split", choices=["train", "heldout"], default="train")
    args = parser.parse_args()
    env = bench_env("engram_bench")
    os.environ.update(env)
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    import django

    django.setup()
    dataset = build_dataset()
    rows = fetch_lists(dataset, load(dataset))
    split = set(TRAIN if args.split == "train" else HELDOUT)
    rows = [row for row in rows if row["conv"] in split]
    both = {"semantic": 1.0, "keyword": 1.0}
    runs = {
        "vector": lambda ls: rrf({"semantic": ls["semantic"]}, {"semantic": 1}, 60),
        "vector-rewritten": lambda ls: rrf({"semantic": ls["rewritten"]}, {"semantic": 1}, 60),
        "keyword": lambda ls: rrf({"keyword": ls["keyword"]}, {"keyword": 1}, 60),
        "rrf60": lambda ls: rrf(pick(ls), both, 60),
        "rrf10": lambda ls: rrf(pick(ls), both, 10),
        "zsum": lambda ls: zsum(pick(ls), both),
        "zsum-rewritten": lambda ls: zsum(pick(ls, "rewritten"), both),
        "zsum3": lambda ls: zsum3(ls),
        "mix": lambda ls: mix(pick(ls), both),
    }
    for name, fuse in list(runs.items()):
        print(f"{name:22}", evaluate(rows, fuse))
    for alpha in (0.0, 0.2, 0.3, 0.4, 0.5):
        for sat in (3.0, 5.0, 10.0):
            print(
                f"blend a={alpha} sat={sat}",
                evaluate(rows, lambda ls, a=alpha, k=sat: blend(pick(ls), both, a, k)),
            )
    print(json.dumps({"questions": len(rows)}))


if __name__ == "__main__":
    main()
