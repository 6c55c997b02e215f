"""A real Celery worker on the test database and the tests' own queue, for end-to-end
flows (the task is sent through Redis and run by another process)."""

import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from django.conf import settings

REPO = Path(__file__).resolve().parents[2]


def worker_environment() -> dict[str, str]:
    from tests.conftest import database_url

    env = dict(os.environ)
    env.update(
        {
            "DATABASE_URL": database_url(),
            "DATABASE_OWNER_URL": database_url("owner"),
            "ENGRAM_TESTING": "1",
            "ENGRAM_REDIS_PREFIX": settings.ENGRAM_REDIS_PREFIX,
            "ENGRAM_CELERY_QUEUE": settings.CELERY_TASK_DEFAULT_QUEUE,
            "DATABASE_CONN_MAX_AGE": "0",
            "PYTHONUNBUFFERED": "1",
        }
    )
    return env


@pytest.fixture
def celery_worker_process(committed_db: None) -> Iterator[subprocess.Popen[bytes]]:
    """One solo worker consuming only the tests' queue; stopped (by its pid) afterwards.
    Messages left in the queue by earlier tests are dropped first: they name rows of
    tenants that those tests own, and would only slow this worker down."""
    from config.celery import app

    app.control.purge()
    log = tempfile.NamedTemporaryFile(  # noqa: SIM115 - open while the worker runs
        prefix="engram-worker-", suffix=".log", delete=False
    )
    argv = [
        sys.executable,
        "-m",
        "celery",
        "-A",
        "config",
        "worker",
        "--pool=solo",
        "--concurrency=1",
        "-Q",
        settings.CELERY_TASK_DEFAULT_QUEUE,
        "--loglevel=INFO",
        "--without-gossip",
        "--without-mingle",
        "--without-heartbeat",
    ]
    process = subprocess.Popen(
        argv, cwd=REPO, env=worker_environment(), stdout=log, stderr=subprocess.STDOUT
    )
    try:
        yield process
    finally:
        process.terminate()
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)
        log.close()
        Path(log.name).unlink(missing_ok=True)


def wait_for(predicate: object, *, timeout: float = 90.0, every: float = 0.3) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if callable(predicate) and predicate():
            return
        time.sleep(every)
    raise AssertionError(f"condition not met within {timeout}s")
