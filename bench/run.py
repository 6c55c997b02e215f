"""Search and ingestion benchmark through HTTP, end to end (query embedding included).

    .venv/bin/python bench/run.py                       # 10k and 100k memories, then Mem0 OSS
    .venv/bin/python bench/run.py --memories 1000000 --queries 1000 --add-seconds 120

Phases: (1) a database of its own (`engram_bench_<memories>`), migrated; (2) a project preloaded
through the memory services with cached MiniLM embeddings of synthetic memory sentences (reused by
later runs of the same scale); (3) gunicorn from platform/gunicorn.conf.py; (4) latency of
user-scoped, project-wide and filtered search, one client, distinct queries (the query-vector
cache is emptied first, so every query is embedded); (5) sustained `POST /v3/memories/add/`
with infer=false from several clients; (6) RSS of the web workers. Results: JSON and
Markdown under .data/bench/results/, and a latency-vs-scale PNG over every run so far.
"""

from __future__ import annotations

import os

for _name in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_name, "1")

import argparse  # noqa: E402
import random  # noqa: E402
import sys  # noqa: E402
import threading  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402
from typing import Any  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench import report  # noqa: E402
from bench.corpus import CATEGORIES, memory_sentences, queries  # noqa: E402
from bench.environment import (  # noqa: E402
    REDIS_PREFIX,
    Server,
    bench_env,
    create_database,
    migrate,
    owner_sql,
)


def setup_django(env: dict[str, str]) -> None:
    os.environ.update({k: v for k, v in env.items() if k not in ("PORT",)})
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    import django

    django.setup()


def percentiles(samples: list[float]) -> dict[str, float]:
    ordered = sorted(samples)

    def at(fraction: float) -> float:
        return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))]

    return {
        "p50": round(at(0.50), 2),
        "p95": round(at(0.95), 2),
        "p99": round(at(0.99), 2),
        "mean": round(sum(ordered) / len(ordered), 2),
        "n": len(ordered),
    }


def distinct_queries(count: int) -> list[str]:
    """Question-like queries from the templates, then, when those run out, the openings of
    memory sentences the corpus did not use (a user searching by what they remember)."""
    texts = list(dict.fromkeys(queries(count * 5, seed=7)))
    for sentence, _ in memory_sentences(count, seed=4242):
        if len(texts) >= count:
            break
        texts.append(" ".join(sentence.split()[:7]))
    random.Random(5).shuffle(texts)
    return texts[:count]


def search_filters(kind: str, users: int, rng: random.Random) -> dict[str, Any]:
    if kind == "user":
        return {"user_id": f"user-{rng.randrange(users)}"}
    if kind == "project":
        return {"user_id": "*"}
    return {"AND": [{"user_id": "*"}, {"categories": {"in": [rng.choice(CATEGORIES)]}}]}


def measure_search(server: Server, key: str, kind: str, texts: list[str], users: int) -> dict:
    import httpx

    rng = random.Random(kind)
    latencies, counts = [], []
    headers = {"Authorization": f"Token {key}"}
    with httpx.Client(base_url=server.url, headers=headers, timeout=30) as client:
        for text in texts:
            body = {"query": text, "filters": search_filters(kind, users, rng), "top_k": 10}
            started = time.perf_counter()
            response = client.post("/v3/memories/search/", json=body)
            latencies.append((time.perf_counter() - started) * 1000)
            response.raise_for_status()
            counts.append(len(response.json()["results"]))
    return {**percentiles(latencies), "avg_results": round(sum(counts) / len(counts), 2)}


def warm_up(server: Server, key: str) -> None:
    import httpx

    headers = {"Authorization": f"Token {key}"}
    with httpx.Client(base_url=server.url, headers=headers, timeout=60) as client:
        for i in range(20):  # reach every worker process (and thread) at least once
            body = {"query": f"warm up {i}", "filters": {"user_id": "user-0"}}
            client.post("/v3/memories/search/", json=body).raise_for_status()


def measure_add(server: Server, key: str, seconds: float, clients: int, batch: int) -> dict:
    """Sustained infer=false ingestion: `clients` threads, `batch` messages per request."""
    import httpx

    sentences = [text for text, _ in memory_sentences(200_000, seed=99)]
    cursor = iter(range(0, len(sentences), batch))
    lock, stored, failures = threading.Lock(), [0], [0]
    deadline = time.monotonic() + seconds

    def worker(index: int) -> None:
        headers = {"Authorization": f"Token {key}"}
        with httpx.Client(base_url=server.url, headers=headers, timeout=60) as client:
            while time.monotonic() < deadline:
                with lock:
                    start = next(cursor, None)
                if start is None:
                    return
                messages = [
                    {"role": "user", "content": t} for t in sentences[start : start + batch]
                ]
                body = {"messages": messages, "user_id": f"adder-{index}", "infer": False}
                response = client.post("/v3/memories/add/", json=body)
                with lock:
                    if response.status_code == 200:
                        stored[0] += len(response.json().get("results", []))
                    else:
                        failures[0] += 1

    started = time.monotonic()
    threads = [threading.Thread(target=worker, args=(i,)) for i in range(clients)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    elapsed = time.monotonic() - started
    return {
        "memories": stored[0], "seconds": round(elapsed, 1), "failed_requests": failures[0],
        "per_second": round(stored[0] / elapsed, 1), "clients": clients, "batch": batch,
    }  # fmt: skip


def worker_rss_mb(server: Server) -> dict[str, float]:
    import psutil

    values = [psutil.Process(pid).memory_info().rss / 2**20 for pid in server.worker_pids()]
    return {"max": round(max(values), 1), "workers": [round(v, 1) for v in values]}


def clear_query_cache(env: dict[str, str]) -> None:
    import redis

    client = redis.Redis.from_url(env["REDIS_URL"])
    keys = list(client.scan_iter(f"{REDIS_PREFIX}:qvec:*", count=1000))
    for start in range(0, len(keys), 1000):
        client.delete(*keys[start : start + 1000])


VACUUMED_TABLES = ("memory_memory", "memory_memorytoken", "memory_bm25stat")


def compact_keyword_stats(state: dict[str, Any]) -> None:
    """Fold the BM25 delta rows that earlier runs' adds left, as the Celery worker of a
    deployment does in the background (the benchmark runs no worker)."""
    from memory.retrieval import bm25_stats_compact
    from tenants.context import tenant_context

    with tenant_context(state["project_id"]):
        bm25_stats_compact(project_id=state["project_id"])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument(
        "--memories", type=int, nargs="+", default=[10_000, 100_000],
        help="one or more scales (default: 10k and 100k; the 1M run is `make bench-1m`)",
    )  # fmt: skip
    parser.add_argument("--users", type=int, default=None, help="default: memories / 100")
    parser.add_argument("--queries", type=int, default=300)
    parser.add_argument("--add-seconds", type=float, default=30)
    parser.add_argument("--add-clients", type=int, default=4)
    parser.add_argument("--add-batch", type=int, default=20)
    # One database per scale: a preload drops and rebuilds the HNSW index of its whole table,
    # which must not cost a quick run the rebuild of a million-row index.
    parser.add_argument("--database", default=None, help="default: engram_bench_<memories>")
    parser.add_argument("--preload-workers", type=int, default=2)
    parser.add_argument(
        "--mem0", action=argparse.BooleanOptionalAction, default=None,
        help="also run Mem0 OSS side by side (bench/mem0_compare.py); default: with several scales",
    )  # fmt: skip
    args = parser.parse_args()
    if len(args.memories) > 1:
        run_scales(args)
        return
    args.memories = args.memories[0]
    args.users = args.users or max(1, args.memories // 100)
    args.database = args.database or f"engram_bench_{args.memories}"
    env = bench_env(args.database)
    create_database(env, args.database)
    migrate(env)
    setup_django(env)
    from bench.preload import preload

    state = preload(env, memories=args.memories, users=args.users, workers=args.preload_workers)
    results = run_measurements(env, state, args)
    report.write(results)
    if args.mem0:
        compare_with_mem0()


def run_scales(args: Any) -> None:
    """Each scale in a process of its own (each has its own database), then Mem0 side by
    side, then one summary: the figures of every scale and the Engram/Mem0 ratios."""
    import subprocess

    if args.database:
        raise SystemExit("--database names one scale's database; give one --memories value")
    shared = [
        "--queries", str(args.queries), "--add-seconds", str(args.add_seconds),
        "--add-clients", str(args.add_clients), "--add-batch", str(args.add_batch),
        "--preload-workers", str(args.preload_workers), "--no-mem0",
    ]  # fmt: skip
    for memories in args.memories:
        users = args.users or max(1, memories // 100)
        print(f"=== {memories:,} memories, {users:,} users", flush=True)
        command = [sys.executable, __file__, "--memories", str(memories), "--users", str(users)]
        subprocess.run([*command, *shared], check=True)
    if args.mem0 is not False:
        compare_with_mem0()
    print(report.summary(args.memories), flush=True)


def compare_with_mem0() -> None:
    import subprocess

    print("=== Mem0 OSS side by side (bench/mem0_compare.py)", flush=True)
    script = Path(__file__).resolve().parent / "mem0_compare.py"
    subprocess.run([sys.executable, str(script)], check=True)


def run_measurements(env: dict[str, str], state: dict[str, Any], args: Any) -> dict[str, Any]:
    texts = distinct_queries(3 * args.queries)
    results: dict[str, Any] = {
        "memories": args.memories, "users": args.users, "started": time.strftime("%FT%T"),
        "machine": {"cpus": os.cpu_count(), "load_average_before": os.getloadavg()},
        "search_ms": {},
    }  # fmt: skip
    clear_query_cache(env)
    compact_keyword_stats(state)
    # An earlier run's add phase leaves tens of thousands of rows that autovacuum has not
    # reached yet (index-only scans then visit the heap): measure the steady state.
    owner_sql(env, *(f"VACUUM ANALYZE {table}" for table in VACUUMED_TABLES))
    with Server(env) as server:
        warm_up(server, state["api_key"])
        for index, kind in enumerate(("user", "project", "filtered")):
            batch = texts[index * args.queries : (index + 1) * args.queries]
            results["search_ms"][kind] = measure_search(
                server, state["api_key"], kind, batch, args.users
            )
            print(f"search {kind}: {results['search_ms'][kind]}", flush=True)
        results["rss_mb_after_search"] = worker_rss_mb(server)
        results["add"] = measure_add(
            server, state["api_key"], args.add_seconds, args.add_clients, args.add_batch
        )
        print(f"add: {results['add']}", flush=True)
        results["rss_mb"] = worker_rss_mb(server)
    results["machine"]["load_average_after"] = os.getloadavg()
    return results


if __name__ == "__main__":
    main()
