"""The JavaScript client (npm `mem0ai`, pinned in tests/js/package-lock.json) against a live
Engram: add, search, list, get, delete and the webhook calls, run by Node."""

import os
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.conftest import Tenant
from tests.support.live_server import LiveServer

pytestmark = pytest.mark.live
JS_DIR = Path(__file__).resolve().parents[1] / "js"
NODE = shutil.which("node")
NPM = shutil.which("npm")


@pytest.fixture(scope="session")
def js_client_installed() -> Path:
    if NODE is None or NPM is None:
        pytest.fail(
            "Node.js is not installed, so the JavaScript mem0ai client cannot be tested. "
            "Install node + npm (apt-get install nodejs npm) to run tests/js/smoke.mjs.",
            pytrace=False,
        )
    if not (JS_DIR / "node_modules" / "mem0ai").exists():
        subprocess.run([NPM, "ci"], cwd=JS_DIR, check=True, capture_output=True, timeout=300)
    return JS_DIR


def test_js_memory_client_adds_searches_lists_and_deletes(
    js_client_installed: Path, gunicorn_server: LiveServer, live_tenant: Tenant
) -> None:
    env = {
        **os.environ,
        "ENGRAM_HOST": gunicorn_server.url,
        "ENGRAM_API_KEY": live_tenant.api_key,
        "MEM0_TELEMETRY": "false",
    }
    result = subprocess.run(
        [str(NODE), "smoke.mjs"],
        cwd=js_client_installed,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert '"step":"done"' in result.stdout
