"""Real Celery worker processes for tests: `celery -A config worker` on the tests' own queue
and Redis key prefix, connected to the test database as the application role.

    def test_x(celery_workers):     # or `with worker_pool(tmp_path) as celery_workers:`
        worker = celery_workers.start(env={"ENGRAM_JOB_HEARTBEAT_STALE_SECONDS": "2"})
        ...
        worker.kill_hard()          # SIGKILL to the whole process group (parent + children)
        celery_workers.start()      # a replacement

Every worker runs in its own session (process group), so `kill_hard` takes the pool's child
processes down with the parent, as a crashed machine or an OOM-killed container would.
Workers still running at the end of the test are stopped (SIGTERM, then SIGKILL), and one
whose test process dies gets SIGTERM from the kernel: no orphans left on the queue.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from django.conf import settings

from tests.conftest import Tenant, database_url

ROOT = Path(__file__).resolve().parents[2]
CELERY = ROOT / ".venv" / "bin" / "celery"
READY_TIMEOUT = 60.0
# Run before exec'ing celery: SIGTERM when the test process dies (Linux prctl), so a test run
# killed half-way never leaves workers behind, consuming the tests' queue.
DIE_WITH_PARENT = """
import ctypes, os, signal, sys
parent = int(os.environ["ENGRAM_TEST_PARENT_PID"])
try:
    ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
except OSError:
    pass
if os.getppid() != parent:
    sys.exit(0)
os.execv(sys.argv[1], sys.argv[1:])
"""


def worker_env(extra: dict[str, str] | None = None) -> dict[str, str]:
    """The worker's environment: ours, pointed at the test database, queue and prefix."""
    env = dict(os.environ)
    env.update(
        {
            "DATABASE_URL": database_url(),
            "DATABASE_OWNER_URL": database_url("owner"),
            "REDIS_URL": settings.REDIS_URL,
            "ENGRAM_CELERY_QUEUE": settings.CELERY_TASK_DEFAULT_QUEUE,
            "ENGRAM_REDIS_PREFIX": settings.ENGRAM_REDIS_PREFIX,
            "ENGRAM_TESTING": "1",
            "OMP_NUM_THREADS": "1",
            "OPENBLAS_NUM_THREADS": "1",
            "MKL_NUM_THREADS": "1",
            "TOKENIZERS_PARALLELISM": "false",
            "PYTHONUNBUFFERED": "1",
            "ENGRAM_TEST_PARENT_PID": str(os.getpid()),
        }
    )
    # A worker must choose its LLM from its own env, never inherit the test run's.
    for name in ("OPENAI_BASE_URL", "OPENAI_API_KEY"):
        env.pop(name, None)
    env.update(extra or {})
    return env


@dataclass
class WorkerProcess:
    name: str
    process: subprocess.Popen[bytes]
    log_path: Path

    @property
    def pid(self) -> int:
        return self.process.pid

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def alive(self) -> bool:
        return self.process.poll() is None

    def wait_ready(self, timeout: float = READY_TIMEOUT) -> WorkerProcess:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if " ready." in self.log():
                return self
            if not self.alive():
                raise RuntimeError(f"worker {self.name} exited early:\n{self.log()[-4000:]}")
            time.sleep(0.1)
        raise TimeoutError(f"worker {self.name} not ready after {timeout}s:\n{self.log()[-4000:]}")

    def kill_hard(self) -> None:
        """SIGKILL the worker and its pool children at once: no cleanup, no acks."""
        if self.alive():
            os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait(timeout=10)

    def stop(self, timeout: float = 15.0) -> None:
        if not self.alive():
            return
        os.killpg(self.process.pid, signal.SIGTERM)  # warm shutdown: finish the current task
        try:
            self.process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.kill_hard()


@dataclass
class WorkerPool:
    """Starts workers for one test (or module) and stops whatever is left at the end."""

    log_dir: Path
    base_env: dict[str, str] = field(default_factory=dict)
    workers: list[WorkerProcess] = field(default_factory=list)

    def start(self, env: dict[str, str] | None = None, *, wait: bool = True) -> WorkerProcess:
        name = f"w{len(self.workers) + 1}-{os.getpid()}"
        log_path = self.log_dir / f"{name}.log"
        command = [
            sys.executable, "-c", DIE_WITH_PARENT, str(CELERY), "-A", "config", "worker",
            "-Q", settings.CELERY_TASK_DEFAULT_QUEUE,
            "-n", f"{name}@%h",
            "--concurrency", "1", "--pool", "prefork", "-l", "info",
            "--without-gossip", "--without-mingle", "--without-heartbeat",
        ]  # fmt: skip
        with log_path.open("wb") as log:
            process = subprocess.Popen(
                command,
                cwd=ROOT,
                env=worker_env({**self.base_env, **(env or {})}),
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        worker = WorkerProcess(name, process, log_path)
        self.workers.append(worker)
        return worker.wait_ready() if wait else worker

    def stop_all(self) -> None:
        for worker in self.workers:
            worker.stop()

    def logs(self) -> str:
        return "\n".join(f"--- {w.name}\n{w.log()[-3000:]}" for w in self.workers)


def purge_test_queue() -> None:
    """Drop messages left on the tests' queue by an earlier run (they name jobs of a test
    database that no longer exists; harmless, but a worker would spend time on them)."""
    from config.celery import app

    app.control.purge()


def post_add(tenant: Tenant, content: str, **fields: Any) -> str:
    """`POST /v3/memories/add/` with inference (as the Mem0 client sends it): the event id."""
    body = {"messages": [{"role": "user", "content": content}], "user_id": "alice", **fields}
    response = tenant.client().post("/v3/memories/add/", body, format="json")
    assert response.status_code == 200, response.content
    payload = response.json()
    assert payload["status"] == "PENDING"
    return str(payload["event_id"])


def wait_event(tenant: Tenant, event_id: str, timeout: float = 30.0) -> dict[str, Any]:
    """Poll `GET /v1/event/{id}/` until the job SUCCEEDED or FAILED."""

    def finished() -> dict[str, Any] | None:
        event = tenant.client().get(f"/v1/event/{event_id}/").json()
        return event if event["status"] in ("SUCCEEDED", "FAILED") else None

    result: dict[str, Any] = wait_until(finished, timeout=timeout, interval=0.1)
    return result


def facts_reply(*facts: dict[str, Any]) -> str:
    """An extraction model's reply in the schema of memory/ingestion/llm_schema.py."""
    return json.dumps({"facts": list(facts)})


def fact(text: str, **fields: Any) -> dict[str, Any]:
    defaults = {"attributed_to": "user", "kind": "preference", "importance": 0.8, "confidence": 0.9}
    return {"text": text, **defaults, **fields}


def wait_until(condition: Callable[[], Any], *, timeout: float, interval: float = 0.1) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            raise TimeoutError(f"condition not met within {timeout}s")
        time.sleep(interval)


@contextmanager
def worker_pool(log_dir: Path, base_env: dict[str, str] | None = None) -> Iterator[WorkerPool]:
    """Workers started inside the block are stopped when it ends."""
    purge_test_queue()
    pool = WorkerPool(log_dir=log_dir, base_env=dict(base_env or {}))
    try:
        yield pool
    finally:
        pool.stop_all()


@pytest.fixture
def celery_workers(committed_db: None, tmp_path: Path) -> Iterator[WorkerPool]:
    """Real workers for this test; the test process shares their database (autocommit).
    Register with `pytest_plugins = ["tests.support.workers"]`, or wrap `worker_pool`."""
    with worker_pool(tmp_path) as pool:
        yield pool
