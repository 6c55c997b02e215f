"""The end-to-end stack of the console tests: a real gunicorn (tests/support/live_server.py)
and a Celery worker on a queue of their own, plus headless Chromium driven by Playwright.

Chromium is Debian's package, launched by path (Playwright cannot download browsers here).
Set ENGRAM_CHROMIUM to use another binary. When Playwright or Chromium is missing the tests
fail with a message naming what to install; `platform/install_browser.sh` installs Chromium.
"""

import os
import shutil
import subprocess
import sys
import tempfile
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from django.db import connections

from tests.support.live_server import (
    LiveServer,
    server_environment,
    start_live_server,
    stop_live_server,
)

REPO = Path(__file__).resolve().parents[2]
ARTIFACTS = REPO / "test-artifacts" / "console"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-dev-shm-usage",
]
CANDIDATES = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")


def chromium_path() -> str | None:
    configured = os.environ.get("ENGRAM_CHROMIUM", "")
    if configured:
        return configured if Path(configured).exists() else None
    for name in CANDIDATES:
        found = shutil.which(name)
        if found:
            return found
    return None


def fail_without_browser(reason: str) -> None:
    """No Chromium means the console was not tested: a red run, never a silent skip."""
    banner = "!" * 78
    message = (
        f"\n{banner}\nCONSOLE END-TO-END TESTS CANNOT RUN: {reason}\n"
        "Install Chromium with `sudo platform/install_browser.sh` (Debian/Ubuntu) or set "
        f"ENGRAM_CHROMIUM=/path/to/chromium.\n{banner}\n"
    )
    sys.stderr.write(message)
    pytest.fail(message, pytrace=False)


@dataclass
class ConsoleStack:
    server: LiveServer
    worker: subprocess.Popen[bytes]
    worker_log: Path

    @property
    def url(self) -> str:
        return self.server.url


def _start_worker(queue: str) -> tuple[subprocess.Popen[bytes], Path]:
    env = server_environment(0, {"ENGRAM_CELERY_QUEUE": queue})
    handle, log_name = tempfile.mkstemp(prefix="engram-console-worker-", suffix=".log")
    command = [
        sys.executable, "-m", "celery", "-A", "config", "worker", "-l", "warning",
        "--pool", "solo", "-Q", queue, "-n", f"{queue}@%h", "--without-heartbeat",
        "--without-gossip", "--without-mingle",
    ]  # fmt: skip
    with os.fdopen(handle, "wb") as log:
        process = subprocess.Popen(command, cwd=REPO, env=env, stdout=log, stderr=subprocess.STDOUT)
    return process, Path(log_name)


def _stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)


@pytest.fixture(scope="session")
def console_stack(django_db_setup: None, django_db_blocker: Any) -> Iterator[ConsoleStack]:
    """gunicorn + a Celery worker sharing a private queue (so no other worker on the same
    Redis takes these tests' jobs and looks for them in the wrong database)."""
    queue = f"engram-console-e2e-{uuid.uuid4().hex[:8]}"
    server = start_live_server({"ENGRAM_CELERY_QUEUE": queue})
    worker, worker_log = _start_worker(queue)
    try:
        yield ConsoleStack(server, worker, worker_log)
    finally:
        _stop(worker)
        stop_live_server(server)
        keep = os.environ.get("ENGRAM_LIVE_LOG")
        if keep:
            Path(keep).write_bytes(server.log_path.read_bytes() + worker_log.read_bytes())
        server.log_path.unlink(missing_ok=True)
        worker_log.unlink(missing_ok=True)


@pytest.fixture(scope="module")
def chromium() -> Iterator[Any]:
    """Module-scoped on purpose: while Playwright runs, this thread has a running event loop,
    which other modules' tests (asyncio.run, Django's async-safety checks) must not meet."""
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        fail_without_browser(
            "the `playwright` Python package is not installed (requirements-dev.txt)"
        )
    executable = chromium_path()
    if executable is None:
        fail_without_browser("no Chromium binary found (looked for " + ", ".join(CANDIDATES) + ")")
    # Playwright's sync API keeps an event loop running in this thread; Django's ORM then
    # refuses to run (SynchronousOnlyOperation) although the tests' own DB calls are plain
    # synchronous code. The documented way out, for as long as the browser is open:
    previous = os.environ.get("DJANGO_ALLOW_ASYNC_UNSAFE")
    os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"
    try:
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=executable, args=CHROMIUM_ARGS)
            try:
                yield browser
            finally:
                browser.close()
    finally:
        if previous is None:
            os.environ.pop("DJANGO_ALLOW_ASYNC_UNSAFE", None)
        else:
            os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = previous


@pytest.fixture
def new_page(chromium: Any, console_stack: ConsoleStack) -> Iterator[Any]:
    """A fresh browser (no cookies) per call, like a person opening a private window."""
    contexts: list[Any] = []

    def open_page(*, phone: bool = False) -> Any:
        options: dict[str, Any] = {"base_url": console_stack.url, "accept_downloads": True}
        if phone:
            options.update(
                viewport={"width": 390, "height": 844},
                device_scale_factor=2,
                is_mobile=True,
                has_touch=True,
            )
        else:
            options.update(viewport={"width": 1366, "height": 900})
        context = chromium.new_context(**options)
        context.set_default_timeout(20_000)
        contexts.append(context)
        page = context.new_page()
        page.on(
            "console",
            lambda message: (
                refused.append(message.text)
                if message.type == "error" and "Refused to" in message.text
                else None
            ),
        )
        page.on("pageerror", lambda error: script_errors.append(str(error)))
        return page

    refused: list[str] = []
    script_errors: list[str] = []
    yield open_page
    for context in contexts:
        context.close()
    # While Playwright's loop runs, Django keeps this test's connection in a context-local
    # slot that the session teardown cannot see: close it here, or dropping the test
    # database fails on a lingering session.
    connections.close_all()
    assert not refused, f"the Content-Security-Policy blocked something: {refused}"
    assert not script_errors, f"JavaScript errors: {script_errors}"


def screenshot(page: Any, name: str) -> Path:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    path = ARTIFACTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    return path


def sign_in(page: Any, email: str, password: str) -> None:
    page.goto("/console/login/")
    page.get_by_label("Email or username").fill(email)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_load_state()
