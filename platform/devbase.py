"""Shared ground for the dev-service scripts: .data paths, private files, processes, ports.

Standard library only, like everything devservices.py loads. Imported as a sibling module
(`import devbase`): Python puts a script's own directory first on sys.path.
"""

from __future__ import annotations

import fcntl
import json
import os
import socket
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
DATA = ROOT / ".data"
STATE_FILE = DATA / "services.json"  # ports and binaries chosen earlier, reused next time
LOCK_FILE = DATA / ".lock"
LOCALHOST = "127.0.0.1"
READY_TIMEOUT = 60.0


class ServiceError(Exception):
    """A service could not be brought to the requested state; the message says why."""


@dataclass(frozen=True)
class ServiceUp:
    """What `up` did for one service, for the summary and for callers that clean up after."""

    name: str
    port: int
    started: bool
    detail: str

    def summary(self) -> str:
        how = "started" if self.started else "already running"
        return f"{self.name:<9} {LOCALHOST}:{self.port}  {how}  ({self.detail})"


def write_private(path: Path, text: str) -> None:
    """Atomically replace `path` with `text`, readable by the owner only (it may hold secrets)."""
    tmp = path.with_name(f".{path.name}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as fh:
        fh.write(text)
    os.replace(tmp, path)


def load_json(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text())
    except (FileNotFoundError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def read_pidfile(path: Path) -> int | None:
    try:
        return int(path.read_text().split()[0])
    except (OSError, IndexError, ValueError):
        return None


def pid_alive(pid: int) -> bool:
    """True for a live process. A zombie (killed, not yet reaped: common in containers whose
    init never reaps) counts as dead, though kill(pid, 0) still succeeds on it."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()[0]
    except (OSError, IndexError):
        return True  # no /proc: trust kill(0)
    return state != "Z"


def process_cmdline(pid: int) -> str | None:
    """The command line of `pid`; None where /proc cannot tell (then liveness must do)."""
    try:
        raw = Path(f"/proc/{pid}/cmdline").read_bytes()
    except FileNotFoundError:
        return "" if Path("/proc/self").exists() else None
    except PermissionError:
        return None
    return raw.replace(b"\0", b" ").decode(errors="replace")


def is_our_process(pid: int, marker: str) -> bool:
    """True if `pid` is alive and its command line mentions `marker`.

    A pidfile outlives its process, and after a reboot or container restart the PID may
    belong to an unrelated program that we must neither trust nor signal.
    """
    if pid <= 0 or not pid_alive(pid):
        return False
    cmdline = process_cmdline(pid)
    return cmdline is None or marker in cmdline


def port_is_free(port: int) -> bool:
    # SO_REUSEADDR mirrors postgres and redis, so TIME_WAIT leftovers of our own earlier run
    # do not count as taken; a live listener (or a connection bound to the port) still does.
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((LOCALHOST, port))
        except OSError:
            return False
    return True


def choose_port(name: str, env_var: str, remembered: int | None, default: int) -> int:
    """The requested, else remembered, else default port; the next free one if it is taken."""
    wanted = int(os.environ[env_var]) if os.environ.get(env_var) else remembered or default
    if port_is_free(wanted):
        return wanted
    for candidate in range(wanted + 1, wanted + 200):
        if port_is_free(candidate):
            print(f"{name}: port {wanted} is taken by another program, using {candidate}")
            return candidate
    raise ServiceError(f"{name}: no free port in {wanted}..{wanted + 199}")


def wait_until(check: Callable[[], bool], what: str, timeout: float = READY_TIMEOUT) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise ServiceError(f"timed out after {timeout:.0f}s waiting for {what}")
        time.sleep(0.1)


def log_tail(path: Path, lines: int = 25) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except FileNotFoundError:
        return "(no log)"


@contextmanager
def exclusive_lock() -> Iterator[None]:
    """Serialise concurrent `up`/`down` calls (two terminals, parallel make targets)."""
    DATA.mkdir(mode=0o700, exist_ok=True)
    with open(LOCK_FILE, "a") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        yield
