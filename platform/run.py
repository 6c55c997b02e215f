#!/usr/bin/env python3
"""`make run`: the whole platform in the foreground, on private services unless given others.

1. devservices: PostgreSQL + pgvector and Redis under .data/ (skipped for whichever of
   DATABASE_URL / REDIS_URL is set); .data/runtime.env is loaded, the environment winning.
2. `manage.py migrate --noinput` (manage.py switches to the owner role itself), then
   `manage.py engram_demo` (creates the demo organisation, project and API key once).
3. web (gunicorn), worker (celery) and beat (celery) as children, output prefixed by name.

Ctrl-C, SIGTERM or any child exiting stops all children (SIGTERM, SIGKILL after a grace
period; a second Ctrl-C skips the wait), then the services this invocation started.

Environment: HOST (127.0.0.1), PORT (8000), WEB_CONCURRENCY (2) for gunicorn;
ENGRAM_CELERY_CONCURRENCY (2); ENGRAM_CELERY_QUEUES (the default queue, ENGRAM_CELERY_QUEUE
or "engram", plus ingest, embed, maintenance and celery).
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from types import FrameType
from typing import IO

import devservices
from devbase import DATA, ROOT, ServiceError

# gunicorn's graceful_timeout is 30 s and a warm Celery shutdown finishes the running task.
SHUTDOWN_GRACE = 45.0

Command = tuple[str, list[str]]


def child_env() -> dict[str, str]:
    env = devservices.process_env()
    env.setdefault("PYTHONUNBUFFERED", "1")  # prefixed output should appear as it happens
    env.setdefault("GUNICORN_CONTROL_SOCKET", str(DATA / "gunicorn.ctl"))
    return env


def setup_steps(python: str) -> list[Command]:
    return [
        ("migrate", [python, "manage.py", "migrate", "--noinput"]),
        ("demo", [python, "manage.py", "engram_demo"]),
    ]


def platform_processes(python: str, env: dict[str, str]) -> list[Command]:
    default_queue = env.get("ENGRAM_CELERY_QUEUE") or "engram"
    queues = env.get("ENGRAM_CELERY_QUEUES") or f"{default_queue},ingest,embed,maintenance,celery"
    concurrency = env.get("ENGRAM_CELERY_CONCURRENCY") or "2"
    celery = [python, "-m", "celery", "-A", "config"]
    return [
        ("web", [python, "-m", "gunicorn", "-c", "platform/gunicorn.conf.py",
                 "config.wsgi:application"]),
        ("worker", [*celery, "worker", "-l", "info", "--concurrency", concurrency,
                    "-Q", queues, "-n", "engram-worker@%h"]),
        ("beat", [*celery, "beat", "-l", "info",
                  "--schedule", str(DATA / "celerybeat-schedule")]),
    ]  # fmt: skip


@dataclass
class Child:
    name: str
    proc: subprocess.Popen[bytes]
    pump: threading.Thread


class Supervisor:
    """Runs children in their own sessions, so a terminal's Ctrl-C reaches only us and every
    child gets exactly one orderly SIGTERM (a second signal means "cold shutdown" to Celery)."""

    def __init__(self, env: dict[str, str], grace: float = SHUTDOWN_GRACE) -> None:
        self.env = env
        self.grace = grace
        self.children: list[Child] = []
        self.stop_requested = threading.Event()
        self.hurry = threading.Event()
        self._print_lock = threading.RLock()  # a signal handler may print mid-print

    def install_signal_handlers(self) -> None:
        for signum in (signal.SIGINT, signal.SIGTERM):
            signal.signal(signum, self._on_signal)

    def _on_signal(self, signum: int, _frame: FrameType | None) -> None:
        if self.stop_requested.is_set():
            self.hurry.set()
        self.stop_requested.set()
        self.say("run", f"{signal.Signals(signum).name}: stopping (again to stop at once)")

    def say(self, name: str, text: str) -> None:
        with self._print_lock:
            sys.stdout.write(f"{name:<7} | {text}\n")
            sys.stdout.flush()

    def spawn(self, name: str, argv: Sequence[str]) -> Child:
        proc = subprocess.Popen(
            list(argv), cwd=ROOT, env=self.env, stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, start_new_session=True,
        )  # fmt: skip
        assert proc.stdout is not None  # guaranteed by stdout=PIPE; narrows the type
        pump = threading.Thread(target=self._pump, args=(name, proc.stdout), daemon=True)
        pump.start()
        child = Child(name, proc, pump)
        self.children.append(child)
        return child

    def _pump(self, name: str, stream: IO[bytes]) -> None:
        for raw in iter(stream.readline, b""):
            self.say(name, raw.decode(errors="replace").rstrip("\r\n"))

    def run_step(self, name: str, argv: Sequence[str]) -> int:
        """Run one setup command to completion (or until we are asked to stop)."""
        child = self.spawn(name, argv)
        while child.proc.poll() is None and not self.stop_requested.is_set():
            time.sleep(0.1)
        if child.proc.poll() is None:
            self.stop_all()
            return 130
        child.pump.join()
        self.children.remove(child)
        return child.proc.returncode

    def supervise(self, commands: Sequence[Command]) -> int:
        """Start the long-running processes; stop them all when asked or when one exits."""
        for name, argv in commands:
            self.spawn(name, argv)
        exited: Child | None = None
        while exited is None and not self.stop_requested.is_set():
            time.sleep(0.2)
            exited = next((c for c in self.children if c.proc.poll() is not None), None)
        if exited is not None:
            self.say("run", f"{exited.name} exited with status {exited.proc.returncode}")
        self.stop_all()
        return 0 if exited is None else (exited.proc.returncode or 1)

    def stop_all(self) -> None:
        alive = [c for c in self.children if c.proc.poll() is None]
        for child in alive:
            self._signal(child, signal.SIGTERM, group=False)  # the leader shuts its own down
        deadline = time.monotonic() + self.grace
        while any(c.proc.poll() is None for c in alive) and not self.hurry.is_set():
            if time.monotonic() > deadline:
                break
            time.sleep(0.1)
        for child in self.children:
            if child.proc.poll() is None:
                self.say("run", f"{child.name} did not stop in time: killing it")
            # Kill the whole group: stragglers (e.g. pool processes of a dead master) too.
            self._signal(child, signal.SIGKILL, group=True)
            child.proc.wait()
            child.pump.join(timeout=5)
        self.children.clear()

    @staticmethod
    def _signal(child: Child, signum: int, *, group: bool) -> None:
        try:
            if group:
                os.killpg(child.proc.pid, signum)  # pgid == pid: start_new_session
            else:
                child.proc.send_signal(signum)
        except (ProcessLookupError, PermissionError):
            pass


def run_platform(supervisor: Supervisor, python: str) -> int:
    for name, argv in setup_steps(python):
        status = supervisor.run_step(name, argv)
        if status != 0:
            supervisor.say("run", f"{name} failed with status {status}; not starting the rest")
            return status
    return supervisor.supervise(platform_processes(python, supervisor.env))


def main() -> int:
    try:
        started = [result.name for result in devservices.up() if result.started]
    except ServiceError as exc:
        print(f"run: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130
    supervisor = Supervisor(child_env())
    supervisor.install_signal_handlers()
    try:
        return run_platform(supervisor, sys.executable)
    finally:
        supervisor.stop_all()
        if started:  # leave alone whatever already ran before us
            stop_services(started)


def stop_services(names: Sequence[str]) -> None:
    try:
        devservices.down(names)
    except ServiceError as exc:
        print(f"run: {exc}", file=sys.stderr)


if __name__ == "__main__":
    sys.exit(main())
