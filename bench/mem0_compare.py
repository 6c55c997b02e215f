"""Side by side with Mem0's open-source `Memory` (mem0ai 2.2.1): same corpus, same questions,
same embedder (our local MiniLM, patched into Mem0 in place of its OpenAI embedder), Mem0's
pgvector store on the same PostgreSQL, infer=False. Measures add throughput, search latency
(both in-process, no HTTP on either side) and recall@10 / MRR on the quality dataset.

    .venv/bin/python bench/mem0_compare.py [--conversations 4]
    .venv/bin/python bench/mem0_compare.py --locomo path/to/locomo10.json [--speaker-prefix]

Needs psycopg-pool (requirements-dev.txt). Mem0's BM25 lemmatiser and entity extractor use
spaCy, which is not installed (and its models cannot be downloaded offline): Mem0 then runs
without those signals, and this script says so when it notices.
"""

from __future__ import annotations

import os

for _name in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_name, "1")
os.environ.setdefault("MEM0_TELEMETRY", "false")

import argparse  # noqa: E402
import sys  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402
from typing import Any  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench import report  # noqa: E402
from bench.environment import bench_env, create_database, migrate  # noqa: E402
from bench.quality.dataset import build_dataset  # noqa: E402
from bench.quality.evaluate import load, score  # noqa: E402
from bench.run import clear_query_cache, percentiles  # noqa: E402


class MiniLMForMem0:
    """Mem0's embedder interface over Engram's local MiniLM."""

    def __init__(self) -> None:
        from memory.providers.embedder import get_embedder

        self.embedder = get_embedder()

    def embed(self, text: str, memory_action: str | None = None) -> list[float]:
        return [float(x) for x in self.embedder.embed_one(text)]


def mem0_memory(owner_url: str) -> Any:
    os.environ.setdefault("MEM0_DIR", tempfile.mkdtemp(prefix="mem0-bench-"))
    from mem0 import Memory

    config = {
        "vector_store": {
            "provider": "pgvector",
            "config": {"connection_string": owner_url, "collection_name": "mem0_bench",
                       "embedding_model_dims": 384, "hnsw": True},
        },
        "embedder": {"provider": "openai", "config": {"api_key": "offline", "embedding_dims": 384}},
        "llm": {"provider": "openai", "config": {"api_key": "offline"}},
    }  # fmt: skip
    memory = Memory.from_config(config)
    memory.embedding_model = MiniLMForMem0()  # never calls OpenAI: infer=False and our embedder
    memory.reset()  # a fresh collection per run
    memory.embedding_model = MiniLMForMem0()  # reset() rebuilds the embedder from the config
    return memory


def load_mem0(memory: Any, conversations: list) -> tuple[dict[str, str], float]:
    """Add every turn (one add per turn, infer=False); returns turn id -> mem0 id, rate."""
    mapping: dict[str, str] = {}
    started, count = time.perf_counter(), 0
    for conv in conversations:
        for turn in conv.turns:
            result = memory.add(
                [{"role": "user", "content": turn.text}], user_id=conv.id,
                run_id=f"{conv.id}-s{turn.session}", infer=False,
            )  # fmt: skip
            for item in result.get("results", []):
                mapping[turn.id] = item["id"]
            count += 1
    return mapping, count / (time.perf_counter() - started)


def engram_add_rate(conversations: list) -> float:
    """Engram's own service path on the same turns, into a scratch project."""
    from audit.services import CLI_ACTOR
    from memory.services.memories import MemoryScope, NewMemory, memories_create
    from tenants.context import tenant_context
    from tenants.services import tenant_bootstrap

    _, project, _ = tenant_bootstrap(org_name="cmp", project_name="cmp", actor=CLI_ACTOR)
    started, count = time.perf_counter(), 0
    for conv in conversations:
        for turn in conv.turns:
            with tenant_context(project.id):
                memories_create(project=project, scope=MemoryScope(user_id=conv.id),
                                items=[NewMemory(text=turn.text)], actor=CLI_ACTOR)  # fmt: skip
            count += 1
    return count / (time.perf_counter() - started)


def ask_both(memory: Any, state: dict, mem0_ids: dict, conversations: list) -> dict:
    from bench.quality.evaluate import ask_in_process

    out: dict[str, dict[str, list]] = {"engram": {}, "mem0": {}}
    for conv in conversations:
        for question in conv.questions:
            for system in out:
                started = time.perf_counter()
                if system == "engram":
                    found = ask_in_process(state, conv.id, question.text, {"top_k": 10})
                    evidence = {state["turn_to_memory"].get(t) for t in question.evidence}
                else:
                    hits = memory.search(question.text, filters={"user_id": conv.id}, top_k=10,
                                         threshold=0.0)  # fmt: skip
                    found = [hit["id"] for hit in hits.get("results", [])]
                    evidence = {mem0_ids.get(t) for t in question.evidence}
                elapsed = (time.perf_counter() - started) * 1000
                evidence.discard(None)
                if evidence:
                    row = out[system].setdefault(question.kind, [])
                    row.append((*score(found, evidence, 10), elapsed))
    return out


def summary(rows: dict[str, list]) -> dict[str, Any]:
    everything = [r for kind in rows.values() for r in kind]
    result = {kind: round(sum(r[0] for r in v) / len(v), 3) for kind, v in rows.items()}
    result["all"] = round(sum(r[0] for r in everything) / len(everything), 3)
    result["mrr"] = round(sum(r[1] for r in everything) / len(everything), 3)
    result["latency_ms"] = percentiles([r[2] for r in everything])
    return result


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--conversations", type=int, default=4)
    parser.add_argument(
        "--locomo", type=Path, help="every conversation of a LoCoMo-format file instead of ours"
    )
    parser.add_argument("--speaker-prefix", action="store_true", help="with --locomo")
    args = parser.parse_args()
    env = bench_env("engram_bench")
    create_database(env, "engram_bench")
    migrate(env)
    os.environ.update(env)
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    import django

    django.setup()
    if args.locomo:
        from bench.quality.locomo import load_locomo

        dataset = load_locomo(args.locomo, speaker_prefix=args.speaker_prefix)
        conversations = dataset
    else:
        dataset = build_dataset()
        conversations = dataset[6 : 6 + args.conversations]  # held-out conversations
    state = load(dataset)
    memory = mem0_memory(env["DATABASE_OWNER_URL"])
    mem0_ids, mem0_rate = load_mem0(memory, conversations)
    engram_rate = engram_add_rate(conversations)
    clear_query_cache(env)  # both sides embed every question
    results = {
        name: summary(rows)
        for name, rows in ask_both(memory, state, mem0_ids, conversations).items()
    }
    print(
        f"add (in-process, one memory per call): engram {engram_rate:.0f}/s, mem0 {mem0_rate:.0f}/s"
        f" -> ratio {engram_rate / mem0_rate:.2f}x"
    )
    for name, row in results.items():
        print(name, row)
    e, m = results["engram"], results["mem0"]
    ratios = (
        f"recall@10 Engram {e['all']} vs Mem0 {m['all']} "
        f"({e['all'] / max(m['all'], 1e-9):.2f}x); search p50 Engram "
        f"{e['latency_ms']['p50']} ms vs Mem0 {m['latency_ms']['p50']} ms "
        f"(Mem0/Engram {m['latency_ms']['p50'] / e['latency_ms']['p50']:.2f}x); add Engram "
        f"{engram_rate:.0f}/s vs Mem0 {mem0_rate:.0f}/s ({engram_rate / mem0_rate:.2f}x)"
    )
    print(ratios)
    report.write_mem0(
        {"engram": e, "mem0": m, "add_per_second": {"engram": engram_rate, "mem0": mem0_rate},
         "conversations": len(conversations), "ratios_text": ratios,
         "dataset": str(args.locomo.name) if args.locomo else "synthetic held-out"}
    )  # fmt: skip


if __name__ == "__main__":
    main()
