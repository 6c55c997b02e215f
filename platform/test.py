#!/usr/bin/env python3
"""`make test`: lint, format check, type check and the test suite on real services.

Brings up the private PostgreSQL + pgvector and Redis (unless DATABASE_URL / REDIS_URL are
set), runs every check even after one fails, prints a summary and exits with the worst
status. Afterwards it stops only the services it started itself. Arguments are passed to
pytest: `make test PYTEST_ARGS="-k search -x"`.
"""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Sequence

import devservices
from devbase import ROOT, ServiceError


def checks(python: str, pytest_args: Sequence[str]) -> list[tuple[str, list[str]]]:
    return [
        ("ruff check", [python, "-m", "ruff", "check", "."]),
        ("ruff format", [python, "-m", "ruff", "format", "--check", "."]),
        ("mypy", [python, "-m", "mypy", "."]),
        ("pytest", [python, "-m", "pytest", *pytest_args]),
    ]


def run_check(name: str, argv: Sequence[str], env: dict[str, str]) -> int:
    print(f"\n=== {name}: {' '.join(argv[1:])}", flush=True)
    status = subprocess.run(list(argv), cwd=ROOT, env=env).returncode
    return 128 - status if status < 0 else status  # killed by signal N -> 128 + N


def start_examples_venv(python: str) -> subprocess.Popen[bytes]:
    """Build the CrewAI example's own venv (about a minute, once per pin set) while ruff and
    mypy run. A failed build is retried, and its output reported, by the test's fixture."""
    return subprocess.Popen(
        [python, "tests/integrations/examples_venv.py"],
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


def run_checks(pytest_args: Sequence[str]) -> dict[str, int]:
    env = devservices.process_env()
    examples_venv = start_examples_venv(sys.executable)
    results = {}
    for name, argv in checks(sys.executable, pytest_args):
        if name == "pytest":
            examples_venv.wait()  # not during the suite: its timings share the two cores
        results[name] = run_check(name, argv, env)
    return results


def main(argv: Sequence[str]) -> int:
    try:
        started = [result.name for result in devservices.up() if result.started]
    except ServiceError as exc:
        print(f"test: {exc}", file=sys.stderr)
        return 1
    try:
        results = run_checks(argv)
    finally:
        if started:  # leave alone whatever already ran before us
            devservices.down(started)
    print("\n=== summary")
    for name, status in results.items():
        print(f"  {name:<12} {'ok' if status == 0 else f'FAILED (exit status {status})'}")
    return max(results.values())


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
