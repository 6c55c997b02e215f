"""Where the benchmark runs: its own database (`engram_bench` next to the dev database, so
`make run` data is never touched), the dev Redis under its own key prefix, and a gunicorn
started from platform/gunicorn.conf.py exactly as production starts it."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

ROOT = Path(__file__).resolve().parent.parent
DATA = ROOT / ".data" / "bench"
PYTHON = str(ROOT / ".venv" / "bin" / "python")
GUNICORN = str(ROOT / ".venv" / "bin" / "gunicorn")
REDIS_PREFIX = "engram-bench"


def runtime_env() -> dict[str, str]:
    """The dev services' addresses (.data/runtime.env), overridden by the environment."""
    values: dict[str, str] = {}
    path = ROOT / ".data" / "runtime.env"
    if path.exists():
        for line in path.read_text().splitlines():
            if "=" in line and not line.lstrip().startswith("#"):
                key, value = line.split("=", 1)
                values[key.strip()] = value.strip()
    values.update({k: v for k, v in os.environ.items() if k in values or k.endswith("_URL")})
    return values


def with_database(url: str, name: str) -> str:
    parts = urlsplit(url)
    return urlunsplit(parts._replace(path=f"/{name}"))


def database_name() -> str:
    """The database this (Django-configured) benchmark process uses: state files that name a
    project are kept per database, so that `--database` makes a load of its own."""
    from django.conf import settings

    return str(settings.DATABASES["default"]["NAME"])


def bench_env(database: str) -> dict[str, str]:
    base = runtime_env()
    env = dict(os.environ)
    env.update(base)
    env["DATABASE_URL"] = with_database(base["DATABASE_URL"], database)
    env["DATABASE_OWNER_URL"] = with_database(base["DATABASE_OWNER_URL"], database)
    env["ENGRAM_REDIS_PREFIX"] = REDIS_PREFIX
    env["ENGRAM_CELERY_QUEUE"] = REDIS_PREFIX
    env["ENGRAM_IGNORE_RUNTIME_ENV"] = "1"
    env["ENGRAM_LOG_LEVEL"] = "WARNING"
    # A benchmark is one key hammering one project: quotas would only measure themselves.
    for limit in (
        "ENGRAM_RATE_LIMIT_PER_KEY",
        "ENGRAM_RATE_LIMIT_PER_PROJECT",
        "ENGRAM_MAX_MEMORIES_PER_PROJECT",
        "ENGRAM_EMBEDDING_TOKENS_PER_DAY",
    ):
        env[limit] = "0"
    for name in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
        env.setdefault(name, "1")
    return env


def create_database(env: dict[str, str], database: str) -> None:
    import psycopg

    owner = with_database(env["DATABASE_OWNER_URL"], "postgres")
    with psycopg.connect(owner, autocommit=True) as conn:
        exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [database]).fetchone()
        if not exists:
            conn.execute(f'CREATE DATABASE "{database}"')
            print(f"created database {database}")


def migrate(env: dict[str, str]) -> None:
    owner_env = {**env, "ENGRAM_DB_ROLE": "owner"}
    subprocess.run(
        [PYTHON, "manage.py", "migrate", "--no-input", "-v", "0"],
        cwd=ROOT, env=owner_env, check=True,
    )  # fmt: skip


def owner_sql(env: dict[str, str], *statements: str) -> None:
    import psycopg

    with psycopg.connect(env["DATABASE_OWNER_URL"], autocommit=True) as conn:
        for statement in statements:
            conn.execute(statement)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class Server:
    """gunicorn with the production config; stopped by pid (its own process group)."""

    def __init__(self, env: dict[str, str], *, workers: int = 2, threads: int = 4) -> None:
        self.port = free_port()
        self.env = {
            **env,
            "PORT": str(self.port),
            "WEB_CONCURRENCY": str(workers),
            "GUNICORN_THREADS": str(threads),
            "GUNICORN_LOG_LEVEL": "warning",
            "DJANGO_SETTINGS_MODULE": "config.settings",
        }
        self.process: subprocess.Popen[bytes] | None = None
        self.log = DATA / "gunicorn.log"

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def __enter__(self) -> Server:
        DATA.mkdir(parents=True, exist_ok=True)
        log = self.log.open("wb")
        self.process = subprocess.Popen(
            [GUNICORN, "-c", "platform/gunicorn.conf.py", "--access-logfile", "/dev/null",
             "config.wsgi:application"],
            cwd=ROOT, env=self.env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
        )  # fmt: skip
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                with urllib.request.urlopen(f"{self.url}/healthz", timeout=2) as response:  # noqa: S310
                    if response.status == 200:
                        return self
            except OSError:
                time.sleep(0.3)
        self.__exit__()
        sys.exit(f"gunicorn did not start; see {self.log}")

    def worker_pids(self) -> list[int]:
        import psutil

        assert self.process is not None
        return [child.pid for child in psutil.Process(self.process.pid).children()]

    def __exit__(self, *exc: object) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.process.kill()
