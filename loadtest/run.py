#!/usr/bin/env python3
"""`make loadtest`: many concurrent Mem0 clients against a running Engram (`make run`).

    .venv/bin/python loadtest/run.py [--quick] [--duration 5m] [--clients 200] [--projects 50]

1. Creates --projects projects up front with `manage.py engram_tenant create --json`.
2. Runs --clients asyncio clients (httpx) for --duration, each on one project, mixing
   add (infer on and off), search, list, get and delete.
3. Waits until every accepted infer=true add has finished (its event SUCCEEDED or FAILED),
   then checks per project that the server's events are exactly the accepted adds: none
   lost, none duplicated, and that every SUCCEEDED add produced memories.
4. Writes loadtest/results/<timestamp>.json and .md; exits non-zero on a 5xx, a lost or a
   duplicated job.

Traffic goes to loopback only: the base URL must resolve to 127.0.0.0/8 or ::1.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # `python loadtest/run.py` as well as `python -m loadtest.run`

from loadtest.report import write_reports  # noqa: E402
from loadtest.stats import Stats  # noqa: E402
from loadtest.traffic import (  # noqa: E402
    Project,
    check_ingestion,
    create_projects,
    ensure_loopback,
    run_clients,
)

RESULTS = ROOT / "loadtest" / "results"


def parse_duration(text: str) -> float:
    units = {"s": 1, "m": 60, "h": 3600}
    text = text.strip().lower()
    if text and text[-1] in units:
        return float(text[:-1]) * units[text[-1]]
    return float(text)


def arguments(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--base-url", default="http://127.0.0.1:8000")
    parser.add_argument("--duration", type=parse_duration, default=300.0, help="e.g. 30s, 5m")
    parser.add_argument("--quick", action="store_true", help="30 s of load (same as 30s)")
    parser.add_argument("--clients", type=int, default=200)
    parser.add_argument("--projects", type=int, default=50)
    parser.add_argument(
        "--drain-timeout",
        type=parse_duration,
        default=900.0,
        help="how long to wait for accepted ingestion jobs to finish",
    )
    parser.add_argument("--results-dir", type=Path, default=RESULTS)
    parser.add_argument("--setup-parallelism", type=int, default=4)
    args = parser.parse_args(argv)
    if args.quick:
        args.duration = 30.0
    return args


async def main_async(args: argparse.Namespace) -> int:
    ensure_loopback(args.base_url)
    started = time.time()
    print(f"creating {args.projects} projects ...", flush=True)
    projects: list[Project] = await create_projects(args.projects, args.setup_parallelism)
    print(f"load: {args.clients} clients for {args.duration:.0f} s on {args.base_url}", flush=True)
    stats = Stats()
    await run_clients(args.base_url, projects, args.clients, args.duration, stats)
    print("waiting for accepted ingestion jobs to finish ...", flush=True)
    ingestion = await check_ingestion(args.base_url, projects, stats, args.drain_timeout)
    summary = stats.summary()
    summary.update({
        "base_url": args.base_url, "clients": args.clients, "projects": args.projects,
        "duration_seconds": args.duration, "started_at": started,
        "wall_seconds": round(time.time() - started, 1), "ingestion": ingestion,
    })  # fmt: skip
    passed = summary["server_errors"] == 0 and ingestion["lost"] == 0
    passed = passed and ingestion["duplicated"] == 0
    summary["passed"] = passed
    paths = write_reports(summary, args.results_dir)
    print(json.dumps({k: summary[k] for k in ("requests", "server_errors", "passed")}))
    print(f"reports: {', '.join(str(p) for p in paths)}")
    return 0 if passed else 1


def main() -> int:
    return asyncio.run(main_async(arguments()))


if __name__ == "__main__":
    sys.exit(main())
