#!/usr/bin/env python3
"""`make chaos`: failure drills against a private Engram stack that this script starts.

    .venv/bin/python platform/chaos.py [--duration 90] [--drain-timeout 240] [--keep-logs]

It starts, on loopback only and all its own: a database (CREATE DATABASE on the dev
PostgreSQL, migrated, dropped at the end), a Redis, a fake OpenAI-compatible LLM
(tests/support/fake_openai.py), gunicorn, two Celery workers and beat. While a driver
sends `add` calls (mostly infer=true) for --duration seconds, it:
  - kill -9s a Celery worker (its whole process group) every --kill-interval seconds and
    starts it again;
  - kills Redis (the broker: queued messages are lost) and starts it again;
  - terminates every database connection of the stack (pg_terminate_backend, as the owner);
  - makes the LLM hang past the outbound timeout, then answer garbage, then recover.
Then it waits for every accepted job to finish and checks: every accepted add is SUCCEEDED
or FAILED (none lost), no event is listed twice, no memory was added by two events, no
user holds the same memory text twice. Exit status 1 when any check fails.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import devredis
import devservices
import httpx
import psycopg
from devbase import ROOT, wait_until

sys.path.insert(0, str(ROOT))
from tests.support.fake_openai import FakeOpenAIServer

PYTHON = sys.executable
TERMINAL = {"SUCCEEDED", "FAILED"}
PREFIX = f"engram-chaos-{os.getpid()}"


def free_port() -> int:
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def with_database(url: str, name: str) -> str:
    parts = urlsplit(url)
    return urlunsplit(parts._replace(path=f"/{name}"))


def owner_sql(owner_url: str, statement: str, params: tuple[Any, ...] = ()) -> list[Any]:
    with psycopg.connect(owner_url, autocommit=True, connect_timeout=5) as connection:
        cursor = connection.execute(statement, params)
        return cursor.fetchall() if cursor.description else []


# --- the stack --------------------------------------------------------------------------------


@dataclass
class Stack:
    env: dict[str, str]
    logs: Path
    database: str
    owner_url: str
    admin_url: str
    redis_port: int
    web_port: int
    llm: FakeOpenAIServer
    processes: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.web_port}"

    def spawn(self, name: str, argv: list[str]) -> None:
        log = (self.logs / f"{name}.log").open("ab")
        self.processes[name] = subprocess.Popen(
            argv, cwd=ROOT, env=self.env, stdout=log, stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL, start_new_session=True,
        )  # fmt: skip

    def kill(self, name: str, sig: signal.Signals = signal.SIGKILL) -> None:
        process = self.processes.get(name)
        if process is None or process.poll() is not None:
            return
        try:
            os.killpg(process.pid, sig)  # the whole group: a prefork worker's children too
        except ProcessLookupError:
            return
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout=10)

    def start_redis(self) -> None:
        binary = str(devredis.binary({}))
        self.spawn("redis", [binary, "--port", str(self.redis_port), "--bind", "127.0.0.1",
                             "--save", "", "--appendonly", "no"])  # fmt: skip
        wait_until(lambda: devredis.ping(self.redis_port), "chaos redis", timeout=20)

    def start_worker(self, number: int) -> None:
        self.spawn(f"worker-{number}", [
            PYTHON, "-m", "celery", "-A", "config", "worker", "-l", "info", "--concurrency",
            "1", "-Q", self.env["ENGRAM_CELERY_QUEUE"], "-n", f"chaos-{number}@%h",
            "--without-gossip", "--without-mingle",
        ])  # fmt: skip

    def start_platform(self) -> None:
        self.spawn("web", [PYTHON, "-m", "gunicorn", "-c", "platform/gunicorn.conf.py",
                           "config.wsgi:application"])  # fmt: skip
        for number in (1, 2):
            self.start_worker(number)
        schedule = self.logs / "celerybeat-schedule"
        self.spawn("beat", [PYTHON, "-m", "celery", "-A", "config", "beat", "-l", "info",
                            "--schedule", str(schedule)])  # fmt: skip
        wait_until(self._web_ready, "chaos web", timeout=90)

    def _web_ready(self) -> bool:
        try:
            return httpx.get(f"{self.base_url}/healthz", timeout=2).status_code == 200
        except httpx.HTTPError:
            return False

    def stop_all(self) -> None:
        for name in list(self.processes):
            self.kill(name, signal.SIGTERM)
        self.llm.stop()


def stack_environment(base: dict[str, str], urls: dict[str, str], ports: dict[str, int],
                      llm_url: str) -> dict[str, str]:  # fmt: skip
    env = dict(base)
    env.update({
        "DATABASE_URL": urls["app"], "DATABASE_OWNER_URL": urls["owner"],
        "REDIS_URL": f"redis://127.0.0.1:{ports['redis']}/0",
        "ENGRAM_REDIS_PREFIX": PREFIX, "ENGRAM_CELERY_QUEUE": PREFIX,
        "ENGRAM_CELERY_VISIBILITY_TIMEOUT": "30",
        "HOST": "127.0.0.1", "PORT": str(ports["web"]), "WEB_CONCURRENCY": "2",
        "GUNICORN_TIMEOUT": "120", "GUNICORN_CONTROL_SOCKET": "",
        "OPENAI_BASE_URL": llm_url, "OPENAI_API_KEY": "chaos-not-a-key",
        "ENGRAM_OUTBOUND_TIMEOUT": "3", "ENGRAM_OUTBOUND_MAX_RETRIES": "0",
        "ENGRAM_JOB_SWEEP_SECONDS": "3", "ENGRAM_JOB_HEARTBEAT_STALE_SECONDS": "10",
        "ENGRAM_JOB_REDISPATCH_SECONDS": "10", "ENGRAM_JOB_RETRY_BASE_SECONDS": "0.5",
        "ENGRAM_JOB_RETRY_MAX_SECONDS": "5", "ENGRAM_JOB_MAX_ATTEMPTS": "10",
        # The drill measures recovery, not the limiter.
        "ENGRAM_RATE_LIMIT_PER_KEY": "0", "ENGRAM_RATE_LIMIT_PER_PROJECT": "0",
        "PYTHONUNBUFFERED": "1",
    })  # fmt: skip
    env.pop("ENGRAM_TESTING", None)
    return env


def llm_reply(body: dict[str, Any]) -> str:
    """A valid extraction reply that states the last user message as a fact."""
    messages = body.get("messages") or []
    text = str(messages[-1].get("content", "")) if messages else ""
    note = text.rsplit("(note ", 1)[-1].split(")", 1)[0] if "(note " in text else "x"
    fact = {"text": f"User mentioned chaos note {note}", "attributed_to": "user"}
    return json.dumps({"facts": [fact]})


def build_stack(logs: Path) -> Stack:
    base = devservices.process_env()
    owner_url, app_url = base["DATABASE_OWNER_URL"], base["DATABASE_URL"]
    database = f"engram_chaos_{os.getpid()}"
    owner_sql(owner_url, f'CREATE DATABASE "{database}"')
    llm = FakeOpenAIServer().start()
    llm.default_chat = llm_reply
    ports = {"redis": free_port(), "web": free_port()}
    urls = {"app": with_database(app_url, database), "owner": with_database(owner_url, database)}
    env = stack_environment(base, urls, ports, llm.base_url)
    return Stack(env, logs, database, urls["owner"], owner_url, ports["redis"], ports["web"], llm)


def prepare(stack: Stack, projects: int) -> list[dict[str, str]]:
    stack.start_redis()
    subprocess.run([PYTHON, "manage.py", "migrate", "--noinput"], cwd=ROOT, env=stack.env,
                   check=True, capture_output=True, timeout=600)  # fmt: skip
    tenants = []
    for index in range(projects):
        out = subprocess.run(
            [PYTHON, "manage.py", "engram_tenant", "create", "--json", "--org",
             f"chaos {index}", "--project", f"chaos {index}"],
            cwd=ROOT, env=stack.env, check=True, capture_output=True, text=True, timeout=300,
        ).stdout  # fmt: skip
        tenants.append(json.loads(next(ln for ln in out.splitlines() if ln.startswith("{"))))
    stack.start_platform()
    return tenants


def drop_database(stack: Stack) -> None:
    try:
        owner_sql(stack.admin_url, f'DROP DATABASE IF EXISTS "{stack.database}" WITH (FORCE)')
    except psycopg.Error as exc:
        print(f"could not drop {stack.database}: {exc}", flush=True)


# --- load and faults --------------------------------------------------------------------------


@dataclass
class Ledger:
    """What the server accepted, per project key."""

    accepted: dict[str, set[str]] = field(default_factory=dict)
    infer: dict[str, set[str]] = field(default_factory=dict)
    statuses: Counter[str] = field(default_factory=Counter)
    unknown_outcome: int = 0
    faults: list[str] = field(default_factory=list)


def drive(stack: Stack, tenants: list[dict[str, str]], ledger: Ledger, stop: threading.Event,
          rate: float) -> None:  # fmt: skip
    sequence = 0
    with httpx.Client(base_url=stack.base_url, timeout=30) as http:
        while not stop.is_set():
            sequence += 1
            tenant = tenants[sequence % len(tenants)]
            infer = sequence % 5 != 0
            body = {"messages": [{"role": "user", "content": f"I like drills (note {sequence})"}],
                    "user_id": f"chaos-user-{sequence % 7}", "infer": infer}  # fmt: skip
            headers = {"Authorization": f"Token {tenant['api_key']}"}
            try:
                response = http.post("/v3/memories/add/", json=body, headers=headers)
            except httpx.HTTPError:
                ledger.unknown_outcome += 1
                ledger.statuses["transport"] += 1
                continue
            ledger.statuses[str(response.status_code)] += 1
            if response.status_code == 200:
                event_id = response.json()["event_id"]
                ledger.accepted.setdefault(tenant["api_key"], set()).add(event_id)
                if infer:
                    ledger.infer.setdefault(tenant["api_key"], set()).add(event_id)
            stop.wait(1.0 / rate)


def kill_a_worker(stack: Stack, ledger: Ledger) -> None:
    number = random.choice((1, 2))  # noqa: S311
    stack.kill(f"worker-{number}")
    ledger.faults.append(f"{time.strftime('%X')} kill -9 worker-{number}")
    time.sleep(1.0)
    stack.start_worker(number)


def restart_redis(stack: Stack, ledger: Ledger) -> None:
    stack.kill("redis")
    ledger.faults.append(f"{time.strftime('%X')} redis killed (queued messages lost)")
    time.sleep(2.0)
    stack.start_redis()


def drop_connections(stack: Stack, ledger: Ledger) -> None:
    """Terminate the stack's database sessions. Connected as the application role: a role
    may signal its own sessions, while the owner role lacks pg_signal_backend."""
    try:
        rows = owner_sql(
            stack.env["DATABASE_URL"],
            "SELECT count(*) FILTER (WHERE pg_terminate_backend(pid)), count(*)"
            " FROM pg_stat_activity WHERE datname = current_database()"
            " AND pid <> pg_backend_pid() AND usename = current_user",
        )
        outcome = f"{rows[0][0]}/{rows[0][1]} sessions terminated"
    except psycopg.Error as exc:
        outcome = f"failed: {exc}".splitlines()[0]
    ledger.faults.append(f"{time.strftime('%X')} pg_terminate_backend: {outcome}")


def hanging_reply(body: dict[str, Any]) -> str:
    time.sleep(6)  # past ENGRAM_OUTBOUND_TIMEOUT=3 of the stack
    return llm_reply(body)


def set_llm(stack: Stack, ledger: Ledger, mode: str) -> None:
    modes = {"normal": llm_reply, "hang": hanging_reply,
             "garbage": lambda body: "{not json at all"}  # fmt: skip
    stack.llm.default_chat = modes[mode]
    ledger.faults.append(f"{time.strftime('%X')} llm {mode}")


def run_faults(stack: Stack, ledger: Ledger, duration: float, kill_interval: float) -> None:
    """The schedule, as fractions of the load's duration."""
    once = [(0.25, restart_redis), (0.45, drop_connections), (0.55, drop_connections),
            (0.60, lambda s, lg: set_llm(s, lg, "hang")),
            (0.70, lambda s, lg: set_llm(s, lg, "garbage")),
            (0.80, lambda s, lg: set_llm(s, lg, "normal"))]  # fmt: skip
    started = time.monotonic()
    next_kill = started + kill_interval
    while (now := time.monotonic()) < started + duration:
        while once and now >= started + once[0][0] * duration:
            once.pop(0)[1](stack, ledger)
        if now >= next_kill:
            kill_a_worker(stack, ledger)
            next_kill = time.monotonic() + kill_interval
        time.sleep(0.2)
    for _, action in once:
        action(stack, ledger)


# --- verification -----------------------------------------------------------------------------


def pages(http: httpx.Client, key: str, method: str, path: str, body: Any = None) -> list[Any]:
    items: list[Any] = []
    for page in range(1, 1000):
        separator = "&" if "?" in path else "?"
        response = http.request(method, f"{path}{separator}page={page}&page_size=200", json=body,
                                headers={"Authorization": f"Token {key}"})  # fmt: skip
        response.raise_for_status()
        answer = response.json()
        items.extend(answer["results"] if isinstance(answer, dict) else answer)
        if not isinstance(answer, dict) or not answer.get("next"):
            break
    return items


def wait_for_drain(stack: Stack, ledger: Ledger, timeout: float) -> dict[str, list[Any]]:
    deadline = time.monotonic() + timeout
    with httpx.Client(base_url=stack.base_url, timeout=60) as http:
        while True:
            events = {key: pages(http, key, "GET", "/v1/events/") for key in ledger.accepted}
            open_jobs = sum(
                1 for key, listed in events.items() for event in listed
                if event["id"] in ledger.infer.get(key, set()) and event["status"] not in TERMINAL
            )  # fmt: skip
            if open_jobs == 0 or time.monotonic() > deadline:
                print(f"drain: {open_jobs} jobs still open", flush=True)
                return events
            print(f"  {open_jobs} jobs still open ...", flush=True)
            time.sleep(5)


def verify(stack: Stack, ledger: Ledger, events: dict[str, list[Any]]) -> dict[str, Any]:
    totals: Counter[str] = Counter()
    with httpx.Client(base_url=stack.base_url, timeout=60) as http:
        for key, listed in events.items():
            seen = Counter(event["id"] for event in listed)
            accepted = ledger.accepted.get(key, set())
            status = {event["id"]: event["status"] for event in listed}
            totals["accepted"] += len(accepted)
            totals["lost"] += sum(1 for e in accepted if status.get(e) not in TERMINAL)
            totals["listed_twice"] += sum(1 for count in seen.values() if count > 1)
            totals["unacknowledged"] += len(set(seen) - accepted)
            added = Counter(r.get("id") for event in listed for r in event.get("results") or []
                            if r.get("event") == "ADD")  # fmt: skip
            totals["memory_added_by_two_events"] += sum(1 for n in added.values() if n > 1)
            for event_id in ledger.infer.get(key, set()):
                totals[f"infer_{str(status.get(event_id, 'missing')).lower()}"] += 1
            totals["duplicate_texts"] += duplicate_texts(http, key)
    totals["duplicated"] = (
        totals["listed_twice"] + totals["memory_added_by_two_events"] + totals["duplicate_texts"]
        + max(0, totals["unacknowledged"] - ledger.unknown_outcome)
    )  # fmt: skip
    return dict(totals)


def duplicate_texts(http: httpx.Client, key: str) -> int:
    duplicates = 0
    for user in range(7):
        body = {"filters": {"user_id": f"chaos-user-{user}"}}
        memories = pages(http, key, "POST", "/v3/memories/", body)
        texts = Counter(memory.get("memory") for memory in memories)
        duplicates += sum(1 for count in texts.values() if count > 1)
    return duplicates


# --- main -------------------------------------------------------------------------------------


def arguments() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--duration", type=float, default=90.0, help="seconds of load")
    parser.add_argument("--drain-timeout", type=float, default=240.0)
    parser.add_argument("--kill-interval", type=float, default=8.0)
    parser.add_argument("--rate", type=float, default=3.0, help="adds per second")
    parser.add_argument("--projects", type=int, default=3)
    parser.add_argument("--keep-logs", action="store_true")
    return parser.parse_args()


def drill(stack: Stack, args: argparse.Namespace) -> dict[str, Any]:
    tenants = prepare(stack, args.projects)
    ledger, stop = Ledger(), threading.Event()
    driver = threading.Thread(target=drive, args=(stack, tenants, ledger, stop, args.rate))
    driver.start()
    try:
        run_faults(stack, ledger, args.duration, args.kill_interval)
    finally:
        stop.set()
        driver.join(timeout=60)
    for number in (1, 2):  # every worker back before the drain
        if stack.processes[f"worker-{number}"].poll() is not None:
            stack.start_worker(number)
    events = wait_for_drain(stack, ledger, args.drain_timeout)
    result = verify(stack, ledger, events)
    return {"checks": result, "requests": dict(ledger.statuses), "faults": ledger.faults,
            "llm_requests": len(stack.llm.requests)}  # fmt: skip


def main() -> int:
    args = arguments()
    logs = Path(tempfile.mkdtemp(prefix="engram-chaos-"))
    stack = build_stack(logs)
    started = time.monotonic()
    try:
        report = drill(stack, args)
    finally:
        stack.stop_all()
        drop_database(stack)
    report["wall_seconds"] = round(time.monotonic() - started, 1)
    checks = report["checks"]
    report["passed"] = checks.get("lost", 1) == 0 and checks.get("duplicated", 1) == 0
    (logs / "report.json").write_text(json.dumps(report, indent=2))
    print(json.dumps(report, indent=2))
    print(f"logs and report: {logs}" if args.keep_logs or not report["passed"] else "")
    return 0 if report["passed"] else 1


if __name__ == "__main__":
    sys.exit(main())
