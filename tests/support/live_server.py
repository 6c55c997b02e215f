"""A real gunicorn serving Engram on 127.0.0.1 for tests that drive it over HTTP (the real
`mem0ai` client, raw httpx). Session-scoped: started once, against the TEST database, and
stopped before that database is dropped (it depends on `django_db_setup`, so pytest tears
it down first).

The fixture is `gunicorn_server` (pytest-django already owns the name `live_server`).
Tests that use it must also use `committed_db` and create their own tenants with
`make_tenant(...)`: the server only sees committed rows.
"""

import os
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

REPO = Path(__file__).resolve().parents[2]
GUNICORN_CONF = REPO / "platform" / "gunicorn.conf.py"
STARTUP_TIMEOUT = 90.0


@dataclass
class LiveServer:
    url: str
    process: subprocess.Popen[bytes]
    log_path: Path

    def log_tail(self, lines: int = 60) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
    return port


def server_environment(port: int, extra: dict[str, str] | None = None) -> dict[str, str]:
    from tests.conftest import database_url

    env = dict(os.environ)
    env.update(
        {
            "DATABASE_URL": database_url(),
            "DATABASE_OWNER_URL": database_url("owner"),
            "ENGRAM_TESTING": "1",
            "HOST": "127.0.0.1",
            "PORT": str(port),
            "WEB_CONCURRENCY": "2",
            "GUNICORN_THREADS": "4",
            # The first request of a worker loads the embedding model.
            "GUNICORN_TIMEOUT": "120",
            "DATABASE_CONN_MAX_AGE": "0",
            "PYTHONUNBUFFERED": "1",
        }
    )
    env.update(extra or {})
    return env


def _command() -> list[str]:
    gunicorn = str(Path(sys.executable).parent / "gunicorn")
    if GUNICORN_CONF.exists():
        return [gunicorn, "-c", str(GUNICORN_CONF), "config.wsgi:application"]
    return [
        gunicorn,
        "--worker-class",
        "gthread",
        "--workers",
        "2",
        "--threads",
        "4",
        "--timeout",
        "120",
        "config.wsgi:application",
    ]


def _wait_healthy(server: LiveServer) -> None:
    deadline = time.monotonic() + STARTUP_TIMEOUT
    while time.monotonic() < deadline:
        if server.process.poll() is not None:
            raise RuntimeError(f"gunicorn exited early:\n{server.log_tail()}")
        try:
            with urllib.request.urlopen(f"{server.url}/healthz", timeout=2) as response:
                if response.status == 200:
                    return
        except (urllib.error.URLError, OSError):
            pass
        time.sleep(0.2)
    raise RuntimeError(f"gunicorn did not become healthy:\n{server.log_tail()}")


def start_live_server(extra_env: dict[str, str] | None = None) -> LiveServer:
    port = free_port()
    handle, log_name = tempfile.mkstemp(prefix="engram-gunicorn-", suffix=".log")
    with os.fdopen(handle, "wb") as log:
        process = subprocess.Popen(
            _command(),
            cwd=REPO,
            env=server_environment(port, extra_env),
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    server = LiveServer(f"http://127.0.0.1:{port}", process, Path(log_name))
    try:
        _wait_healthy(server)
    except Exception:
        stop_live_server(server)
        raise
    return server


def stop_live_server(server: LiveServer) -> None:
    """Terminate (gunicorn drains its workers), then kill if it lingers: its database
    connections must be gone before the test database is dropped."""
    if server.process.poll() is None:
        server.process.terminate()
        try:
            server.process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            server.process.kill()
            server.process.wait(timeout=10)


@pytest.fixture(scope="session")
def gunicorn_server(django_db_setup: None, django_db_blocker: Any) -> Iterator[LiveServer]:
    server = start_live_server()
    try:
        yield server
    finally:
        stop_live_server(server)
        # ENGRAM_LIVE_LOG=path keeps the server's log for a post-mortem.
        keep = os.environ.get("ENGRAM_LIVE_LOG")
        if keep:
            Path(keep).write_bytes(server.log_path.read_bytes())
        server.log_path.unlink(missing_ok=True)
