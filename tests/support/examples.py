"""Running the examples/ scripts as a user would from a shell, for the example smoke tests."""

import os
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path

from tests.support.fake_openai import FakeOpenAIServer
from tests.support.live_server import LiveServer

REPO = Path(__file__).resolve().parents[2]


def example_env(server: LiveServer, api_key: str, model: FakeOpenAIServer) -> dict[str, str]:
    """What a user exports before running an example: Engram and the model server."""
    return {
        "ENGRAM_HOST": server.url,
        "ENGRAM_API_KEY": api_key,
        "OPENAI_BASE_URL": model.base_url,
        "OPENAI_API_KEY": "test",
    }


def run_example(
    script: str,
    args: Sequence[str],
    env: dict[str, str],
    *,
    python: str | Path = sys.executable,
    launcher: Sequence[str] = (),
    cwd: Path | None = None,
) -> str:
    """The script's stdout; the test fails with its stderr if it exits non-zero.
    `launcher`: arguments between the interpreter and the script (e.g. `-c CODE ...`)."""
    result = subprocess.run(
        [str(python), *launcher, str(REPO / "examples" / script), *args],
        cwd=cwd,
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    return result.stdout
