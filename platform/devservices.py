#!/usr/bin/env python3
"""Private PostgreSQL (with pgvector) and Redis for development and tests, under .data/.

    python platform/devservices.py up [--started-file PATH]
    python platform/devservices.py down [postgres] [redis]
    python platform/devservices.py status
    python platform/devservices.py env

`up` is idempotent and fast when everything already runs. It leaves PostgreSQL alone when
DATABASE_URL is set and Redis when REDIS_URL is set, creates the master key (and a Django
secret key) once, and writes .data/runtime.env with the settings the environment does not
provide. Django settings read that file for variables that are unset.

Standard library only: it runs before the project's dependencies may be importable, and it
never imports the application. Run it by path; it is not importable as `platform.*` (the
standard library owns that name). Its siblings (devbase, devpostgres, devredis) are found
because Python puts a script's own directory first on sys.path.
"""

from __future__ import annotations

import argparse
import base64
import json
import os
import re
import secrets
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path

import devpostgres
import devredis
from devbase import (
    DATA,
    STATE_FILE,
    ServiceError,
    ServiceUp,
    exclusive_lock,
    load_json,
    write_private,
)

RUNTIME_ENV = DATA / "runtime.env"
MASTER_KEY_FILE = DATA / "master.key"
SECRET_KEY_FILE = DATA / "django-secret.key"
SERVICES = ("postgres", "redis")
THREAD_LIMITS = {
    "OMP_NUM_THREADS": "1",
    "OPENBLAS_NUM_THREADS": "1",
    "MKL_NUM_THREADS": "1",
    "TOKENIZERS_PARALLELISM": "false",
}


def read_runtime_env(path: Path = RUNTIME_ENV) -> dict[str, str]:
    """Parse runtime.env: `KEY=value` per line, no quoting, the value runs to the line end."""
    values: dict[str, str] = {}
    if not path.exists():
        return values
    for line in path.read_text().splitlines():
        key, sep, value = line.partition("=")
        if sep and key.strip() and not key.lstrip().startswith("#"):
            values[key.strip()] = value
    return values


def process_env() -> dict[str, str]:
    """The environment for platform processes: ours, then runtime.env, then thread limits.

    Two cores: numeric libraries must not each start a thread per core in every process.
    """
    env = dict(os.environ)
    for key, value in {**read_runtime_env(), **THREAD_LIMITS}.items():
        env.setdefault(key, value)
    return env


def ensure_key_file(path: Path) -> Path:
    """32 random bytes, urlsafe base64, made once and never replaced: data depends on it."""
    if not path.exists():
        write_private(path, base64.urlsafe_b64encode(secrets.token_bytes(32)).decode() + "\n")
    return path


def runtime_values(pg_port: int | None, redis_port: int | None) -> dict[str, str]:
    """What runtime.env should say: only settings the environment does not already give."""
    values: dict[str, str] = {}
    if pg_port is not None:
        values.update(devpostgres.connection_urls(pg_port))
    if redis_port is not None:
        values["REDIS_URL"] = devredis.url(redis_port)
    if not os.environ.get("ENGRAM_MASTER_KEY") and not os.environ.get("ENGRAM_MASTER_KEY_FILE"):
        values["ENGRAM_MASTER_KEY_FILE"] = str(ensure_key_file(MASTER_KEY_FILE))
    if not os.environ.get("DJANGO_SECRET_KEY") and not os.environ.get("DJANGO_SECRET_KEY_FILE"):
        values["DJANGO_SECRET_KEY_FILE"] = str(ensure_key_file(SECRET_KEY_FILE))
    return {key: value for key, value in values.items() if key not in os.environ}


def write_runtime_env(values: dict[str, str]) -> None:
    header = "# Written by platform/devservices.py up. Environment variables take precedence.\n"
    write_private(RUNTIME_ENV, header + "".join(f"{k}={v}\n" for k, v in values.items()))


def mask_secrets(line: str) -> str:
    return re.sub(r"(://[^:/@\s]*:)[^@\s]+@", r"\1***@", line)


def up() -> list[ServiceUp]:
    """Bring up whatever the environment does not provide, write runtime.env, print a summary.

    Callers that clean up after themselves stop only the services whose `started` is true.
    """
    results: list[ServiceUp] = []
    lines: list[str] = []
    wanted = (("postgres", "DATABASE_URL", devpostgres.ensure_up),
              ("redis", "REDIS_URL", devredis.ensure_up))  # fmt: skip
    with exclusive_lock():
        state = load_json(STATE_FILE)
        for name, url_var, ensure_up in wanted:
            if os.environ.get(url_var):
                lines.append(f"{name:<9} external ({url_var} is set)")
            else:
                results.append(ensure_up(state))
                lines.append(results[-1].summary())
        write_private(STATE_FILE, json.dumps(state, indent=2) + "\n")
        ports = {result.name: result.port for result in results}
        write_runtime_env(runtime_values(ports.get("postgres"), ports.get("redis")))
    print("engram dev services:")
    for line in [*lines, f"env       {RUNTIME_ENV}"]:
        print(f"  {line}")
    return results


def down(names: Sequence[str] = SERVICES) -> None:
    if not DATA.exists():
        print("nothing to stop: .data does not exist")
        return
    stoppers = {"postgres": devpostgres.stop, "redis": devredis.stop}
    with exclusive_lock():
        state = load_json(STATE_FILE)
        for name in names:
            print(f"{name:<9} {'stopped' if stoppers[name](state) else 'was not running'}")


def cmd_up(started_file: Path | None) -> int:
    results = up()
    if started_file:
        started = [result.name for result in results if result.started]
        started_file.write_text(json.dumps({"started": started}) + "\n")
    return 0


def cmd_down(names: Sequence[str]) -> int:
    down(names or SERVICES)
    return 0


def cmd_status() -> int:
    state = load_json(STATE_FILE)
    print(devpostgres.describe())
    print(devredis.describe(state))
    print(f"env       {RUNTIME_ENV}{'' if RUNTIME_ENV.exists() else '  (missing: run up)'}")
    everything_runs = devpostgres.running() and devredis.running(state)
    return 0 if everything_runs else 3  # 3 when something is down, like `pg_ctl status`


def cmd_env() -> int:
    print(f"# {RUNTIME_ENV}")
    if not RUNTIME_ENV.exists():
        print("# missing: run `python platform/devservices.py up`")
        return 1
    for line in RUNTIME_ENV.read_text().splitlines():
        print(mask_secrets(line))
    return 0


def parse_args(argv: Sequence[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="devservices.py", description="Private PostgreSQL + pgvector and Redis in .data/."
    )
    sub = parser.add_subparsers(dest="command", required=True)
    up = sub.add_parser("up", help="initialise, start and bootstrap what is not running")
    up.add_argument(
        "--started-file", type=Path, help='write {"started": [...]}: what this call started'
    )
    down = sub.add_parser("down", help="stop the private services")
    down.add_argument("services", nargs="*", help="postgres and/or redis (default: both)")
    sub.add_parser("status", help="show what runs; exit status 3 if something is stopped")
    sub.add_parser("env", help="show runtime.env with passwords masked")
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(sys.argv[1:] if argv is None else argv)
    unknown = sorted(set(getattr(args, "services", [])) - set(SERVICES))
    if unknown:
        print(f"devservices: unknown service: {', '.join(unknown)}", file=sys.stderr)
        return 2
    commands = {
        "up": lambda: cmd_up(args.started_file),
        "down": lambda: cmd_down(args.services),
        "status": cmd_status,
        "env": cmd_env,
    }
    try:
        return commands[args.command]()
    except (ServiceError, subprocess.SubprocessError, OSError) as exc:
        print(f"devservices: error: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
