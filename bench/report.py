"""Benchmark results: one JSON and one Markdown file per run under .data/bench/results/,
and a latency-vs-scale chart over all runs kept there."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

from bench.environment import DATA

RESULTS = DATA / "results"
MEM0_RESULTS = RESULTS / "mem0"
TARGETS = {
    "user": {"p50": 15.0, "p95": 30.0},
    "project": {"p95": 100.0},
}


def markdown(results: dict[str, Any]) -> str:
    lines = [
        f"### Engram search benchmark: {results['memories']:,} memories, "
        f"{results['users']:,} users ({results['started']})",
        "",
        "| search | p50 ms | p95 ms | p99 ms | mean ms | results/query | target |",
        "|---|---|---|---|---|---|---|",
    ]
    for kind, row in results["search_ms"].items():
        target = ", ".join(f"{k} ≤ {v:g}" for k, v in TARGETS.get(kind, {}).items()) or "-"
        lines.append(
            f"| {kind} | {row['p50']} | {row['p95']} | {row['p99']} | {row['mean']} "
            f"| {row['avg_results']} | {target} |"
        )
    add = results.get("add", {})
    lines += [
        "",
        f"- add (infer=false, HTTP, {add.get('clients')} clients x {add.get('batch')} messages):"
        f" **{add.get('per_second')} memories/s** over {add.get('seconds')} s"
        f" ({add.get('memories')} stored, {add.get('failed_requests')} failed requests);"
        " target ≥ 200/s",
        f"- web worker RSS: max {results.get('rss_mb', {}).get('max')} MB "
        f"(per worker {results.get('rss_mb', {}).get('workers')}); target < 500 MB",
        f"- machine: {results['machine'].get('cpus')} CPUs, load average before "
        f"{results['machine'].get('load_average_before')}, after "
        f"{results['machine'].get('load_average_after')} (other work on the machine inflates "
        "every figure)",
    ]
    return "\n".join(lines) + "\n"


def write(results: dict[str, Any]) -> Path:
    RESULTS.mkdir(parents=True, exist_ok=True)
    stamp = time.strftime("%Y%m%d-%H%M%S")
    base = RESULTS / f"{stamp}-{results['memories']}"
    base.with_suffix(".json").write_text(json.dumps(results, indent=2))
    text = markdown(results)
    base.with_suffix(".md").write_text(text)
    print(text)
    chart = plot_latency_vs_scale()
    if chart:
        print(f"chart: {chart}")
    print(f"results: {base}.json")
    return base


def latest_runs() -> dict[int, dict[str, Any]]:
    """The newest result of each scale."""
    latest: dict[int, dict[str, Any]] = {}
    for path in sorted(RESULTS.glob("*.json")):
        run = json.loads(path.read_text())
        latest[run["memories"]] = run
    return latest


def write_mem0(comparison: dict[str, Any]) -> Path:
    MEM0_RESULTS.mkdir(parents=True, exist_ok=True)
    path = MEM0_RESULTS / f"{time.strftime('%Y%m%d-%H%M%S')}.json"
    path.write_text(json.dumps(comparison, indent=2))
    return path


def summary(scales: list[int]) -> str:
    """Every scale's newest figures, and the newest Engram/Mem0 comparison, as Markdown."""
    latest = latest_runs()
    lines = [
        "### Summary",
        "",
        "| memories | user p50 / p95 ms | project p50 / p95 ms | filtered p50 / p95 ms "
        "| add /s | RSS MB |",
        "|---|---|---|---|---|---|",
    ]
    for memories in scales:
        run = latest.get(memories)
        if run is None:
            continue
        cells = [
            f"{run['search_ms'][kind]['p50']} / {run['search_ms'][kind]['p95']}"
            for kind in ("user", "project", "filtered")
        ]
        lines.append(
            f"| {memories:,} | {' | '.join(cells)} | {run['add']['per_second']} "
            f"| {run['rss_mb']['max']} |"
        )
    comparisons = sorted(MEM0_RESULTS.glob("*.json")) if MEM0_RESULTS.is_dir() else []
    if comparisons:
        mem0 = json.loads(comparisons[-1].read_text())
        lines += ["", f"Mem0 OSS side by side (`bench/mem0_compare.py`): {mem0['ratios_text']}"]
    return "\n".join(lines)


def plot_latency_vs_scale() -> Path | None:
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        print("matplotlib is not installed: no chart (pip install -r requirements-dev.txt)")
        return None
    latest = latest_runs()
    scales = sorted(latest)
    figure, axis = plt.subplots(figsize=(7, 4.5))
    for kind in ("user", "project", "filtered"):
        for stat, style in (("p50", "-o"), ("p95", "--s")):
            values = [latest[s]["search_ms"].get(kind, {}).get(stat) for s in scales]
            axis.plot(scales, values, style, label=f"{kind} {stat}")
    axis.set_xscale("log")
    axis.set_xlabel("memories in the project")
    axis.set_ylabel("latency through HTTP (ms)")
    axis.set_title("Engram search latency vs scale")
    axis.grid(True, alpha=0.3)
    axis.legend(fontsize=8)
    out = RESULTS / "latency-vs-scale.png"
    figure.tight_layout()
    figure.savefig(out, dpi=120)
    return out
