"""The load test's JSON and Markdown summaries (under loadtest/results/, git-ignored)."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any


def write_reports(summary: dict[str, Any], directory: Path) -> list[Path]:
    directory.mkdir(parents=True, exist_ok=True)
    (directory / ".gitignore").write_text("*\n")
    stamp = time.strftime("%Y%m%d-%H%M%S")
    json_path = directory / f"loadtest-{stamp}.json"
    markdown_path = directory / f"loadtest-{stamp}.md"
    json_path.write_text(json.dumps(summary, indent=2, sort_keys=True))
    markdown_path.write_text(markdown(summary))
    return [json_path, markdown_path]


def markdown(summary: dict[str, Any]) -> str:
    ingestion = summary["ingestion"]
    lines = [
        f"# Load test: {'PASSED' if summary['passed'] else 'FAILED'}",
        "",
        f"{summary['clients']} clients on {summary['projects']} projects for "
        f"{summary['duration_seconds']:.0f} s against {summary['base_url']}.",
        "",
        f"- requests: {summary['requests']} "
        f"({summary['requests'] / max(summary['duration_seconds'], 1):.1f}/s)",
        f"- 5xx: {summary['server_errors']}; transport errors: {summary['transport_errors']}; "
        f"429: {summary['rate_limited']}",
        "",
        "| endpoint | count | p50 ms | p90 ms | p99 ms | max ms | statuses |",
        "|---|---:|---:|---:|---:|---:|---|",
    ]
    for name, row in summary["endpoints"].items():
        statuses = ", ".join(f"{k}: {v}" for k, v in sorted(row["statuses"].items()))
        lines.append(
            f"| {name} | {row['count']} | {row['p50_ms']} | {row['p90_ms']} | "
            f"{row['p99_ms']} | {row['max_ms']} | {statuses} |"
        )
    lines += ["", "## Ingestion", ""]
    lines += [f"- {key}: {value}" for key, value in sorted(ingestion.items())]
    if summary["server_error_samples"]:
        lines += ["", "## 5xx samples", ""]
        lines += [f"- `{sample}`" for sample in summary["server_error_samples"]]
    if summary.get("transport_error_samples"):
        lines += ["", "## Transport error samples", ""]
        lines += [f"- `{sample}`" for sample in summary["transport_error_samples"]]
    return "\n".join(lines) + "\n"
