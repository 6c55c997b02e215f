"""Recall@k and MRR of vector-only, keyword-only and fused search on the quality dataset.

    .venv/bin/python -m bench.quality.evaluate [--split train|heldout|all] [--http]
        [--locomo path/to/locomo10.json [--speaker-prefix]] [--engine-only]

Loads the dataset once into its own project of the benchmark database (one memory per
dialogue turn, user_id = conversation, run_id = session, created_at = when it was said),
then asks every question scoped to its conversation's user. Conversations 0-5 are the
training split (used to tune the fusion), 6-11 are held out. With --http the questions go
through `POST /v3/memories/search/` on a gunicorn started for the purpose. Each variant's
latency percentiles are printed too; the engine is asked first, so its questions are new to
the query-vector cache on a first run (the cache keeps them for ten minutes).
"""

from __future__ import annotations

import os

for _name in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_name, "1")

import argparse  # noqa: E402
import hashlib  # noqa: E402
import json  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
from collections import defaultdict  # noqa: E402
from datetime import datetime  # noqa: E402
from pathlib import Path  # noqa: E402
from typing import Any  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent.parent.parent))

from bench.environment import DATA, bench_env, create_database, database_name, migrate  # noqa: E402
from bench.quality.dataset import Conversation, build_dataset  # noqa: E402
from bench.vectors import embed_cached  # noqa: E402

TRAIN = range(0, 6)
HELDOUT = range(6, 12)
# The single signals are plain: no score lent to replies (retrieval/context.py). The engine
# goes first, so that its latency includes embedding each new question, as a client's would.
VARIANTS: dict[str, dict[str, Any]] = {
    "fused": {},
    "vector": {"signals": ["semantic"], "reply_strength": 0},
    "keyword": {"signals": ["keyword"], "reply_strength": 0},
}


def _state_file(dataset: list[Conversation]) -> Path:
    """One project per dataset and database, named by a hash of both."""
    database = database_name()
    texts = "\n".join(turn.id + turn.at + turn.text for conv in dataset for turn in conv.turns)
    digest = hashlib.sha256(f"{database}\n{texts}".encode()).hexdigest()[:12]
    return DATA / f"quality-state-{digest}.json"


def load(dataset: list[Conversation]) -> dict[str, Any]:
    """Load once; returns {"project_id", "api_key", "turn_to_memory"}."""
    state_file = _state_file(dataset)
    if state_file.exists():
        return json.loads(state_file.read_text())
    from audit.services import CLI_ACTOR
    from memory.services.memories import MemoryScope, NewMemory, memories_create
    from tenants.context import tenant_context
    from tenants.services import tenant_bootstrap

    _, project, issued = tenant_bootstrap(
        org_name="quality", project_name="quality", actor=CLI_ACTOR
    )
    turns = [turn for conv in dataset for turn in conv.turns]
    vectors = embed_cached([turn.text for turn in turns], label="dialogue turns")
    mapping: dict[str, str] = {}
    index = 0
    for conv in dataset:
        for session in sorted({t.session for t in conv.turns}):
            batch = [t for t in conv.turns if t.session == session]
            items = [
                NewMemory(text=t.text, embedding=vectors[index + i],
                          created_at=datetime.fromisoformat(t.at))
                for i, t in enumerate(batch)
            ]  # fmt: skip
            index += len(batch)
            scope = MemoryScope(user_id=conv.id, run_id=f"{conv.id}-s{session}")
            with tenant_context(project.id):
                changes = memories_create(
                    project=project, scope=scope, items=items, actor=CLI_ACTOR
                )
            by_text = {change.text: str(change.memory.id) for change in changes}
            mapping.update({t.id: by_text[t.text] for t in batch if t.text in by_text})
    state = {"project_id": str(project.id), "api_key": issued.plaintext, "turn_to_memory": mapping}
    state_file.write_text(json.dumps(state))
    return state


def ask_in_process(state: dict[str, Any], conv_id: str, question: str, body: dict) -> list[str]:
    from memory.filters import parse_filters
    from memory.retrieval import search_memories, search_options_from_request
    from tenants.context import tenant_context

    project_id = state["project_id"]
    with tenant_context(project_id):
        hits = search_memories(
            project_id=project_id, query=question,
            filters=parse_filters(project_id, {"user_id": conv_id}),
            top_k=body.get("top_k", 10), threshold=body.get("threshold", 0.1),
            options=search_options_from_request(body),
        )  # fmt: skip
    return [str(hit.memory.id) for hit in hits]


def score(found: list[str], evidence: set[str], k: int) -> tuple[float, float]:
    top = found[:k]
    recall = len(evidence & set(top)) / len(evidence)
    rank = next((i for i, memory_id in enumerate(top, start=1) if memory_id in evidence), None)
    return recall, (1.0 / rank if rank else 0.0)


def evaluate(
    dataset: list[Conversation],
    state: dict[str, Any],
    split: range,
    variants: dict,
    ask: Any,
    k: int = 10,
) -> dict[str, dict[str, dict[str, float]]]:
    table: dict[str, dict[str, list[tuple[float, float]]]] = defaultdict(lambda: defaultdict(list))
    latencies: dict[str, list[float]] = defaultdict(list)
    mapping = state["turn_to_memory"]
    for conv in (dataset[i] for i in split):
        for question in conv.questions:
            evidence = {mapping[t] for t in question.evidence if t in mapping}
            if not evidence:
                continue
            for name, body in variants.items():
                started = time.perf_counter()
                found = ask(state, conv.id, question.text, {**body, "top_k": k})
                latencies[name].append((time.perf_counter() - started) * 1000)
                result = score(found, evidence, k)
                table[name][question.kind].append(result)
                table[name]["all"].append(result)
    return {
        name: {
            **{kind: {"recall": round(sum(r for r, _ in rows) / len(rows), 4),
                      "mrr": round(sum(m for _, m in rows) / len(rows), 4), "n": len(rows)}
               for kind, rows in kinds.items()},
            "latency_ms": percentiles(latencies[name]),
        }
        for name, kinds in table.items()
    }  # fmt: skip


def percentiles(samples: list[float]) -> dict[str, float]:
    """p50/p95/p99 of one variant's question times (each question's text is new to the
    query-vector cache on the first run, so its embedding is included)."""
    ordered = sorted(samples)

    def at(q: float) -> float:
        return round(ordered[min(len(ordered) - 1, int(q * len(ordered)))], 1)

    return {"p50": at(0.50), "p95": at(0.95), "p99": at(0.99)}


def render(results: dict[str, dict[str, dict[str, float]]], title: str) -> str:
    order = ["single", "temporal", "multi", "open", "adversarial"]
    present = {kind for row in results.values() for kind in row}
    kinds = [kind for kind in order if kind in present] + ["all"]
    lines = [
        f"#### {title}",
        "",
        "| variant | "
        + " | ".join(f"{kind} R@10 / MRR" for kind in kinds)
        + " | latency p50 / p95 / p99 ms |",
        "|---" * (len(kinds) + 2) + "|",
    ]
    for name, row in results.items():
        cells = [
            f"{row[k]['recall']:.3f} / {row[k]['mrr']:.3f}" if k in row else "-" for k in kinds
        ]
        latency = row["latency_ms"]
        cells.append(f"{latency['p50']} / {latency['p95']} / {latency['p99']}")
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    n = results[next(iter(results))]["all"]["n"]
    return "\n".join(lines) + f"\n\n({n} questions)\n"


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--split", choices=["train", "heldout", "all"], default="all")
    parser.add_argument(
        "--variant",
        action="append",
        default=[],
        help='extra variant as name=JSON body, e.g. k10={"rrf_k": 10}',
    )
    parser.add_argument("--http", action="store_true")
    parser.add_argument(
        "--engine-only",
        action="store_true",
        help="ask only the engine's default (no single-signal variants)",
    )
    parser.add_argument("--database", default="engram_bench")
    parser.add_argument(
        "--locomo", type=Path, help="a dataset in LoCoMo's JSON format instead of ours"
    )
    parser.add_argument(
        "--speaker-prefix", action="store_true", help='with --locomo: store "Speaker: text"'
    )
    args = parser.parse_args()
    env = bench_env(args.database)
    create_database(env, args.database)
    migrate(env)
    os.environ.update(env)
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    import django

    django.setup()
    if args.locomo:
        from bench.quality.locomo import load_locomo

        dataset = load_locomo(args.locomo, speaker_prefix=args.speaker_prefix)
    else:
        dataset = build_dataset()
    state = load(dataset)
    variants = {"fused": VARIANTS["fused"]} if args.engine_only else dict(VARIANTS)
    for spec in args.variant:
        name, body = spec.split("=", 1)
        variants[name] = json.loads(body)
    splits = {"train": TRAIN, "heldout": HELDOUT, "all": range(len(dataset))}
    names = ["train", "heldout"] if args.split == "all" else [args.split]
    if args.locomo:
        names = ["all"]  # a published set: nothing of it was used for tuning
    ask = ask_in_process
    if args.http:
        from bench.quality.http import http_asker

        ask = http_asker(env, state)
    for name in names:
        print(render(evaluate(dataset, state, splits[name], variants, ask), f"split: {name}"))


if __name__ == "__main__":
    main()
