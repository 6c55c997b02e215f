"""The virtualenv the CrewAI example runs in: .data/examples-venv-<hash of the pins>/.

crewai cannot share Engram's virtualenv (it needs openai<3, pydantic<2.13, mcp<2: see
requirements-examples.txt), so it gets its own, installed from those exact pins and reused
until they change. A cold build takes about a minute and 0.9 GB. Stdlib only, so that
platform/test.py can start it (`python tests/integrations/examples_venv.py`) while ruff and
mypy run; test_crewai_example.py then finds it built, or waits on the lock for it.
"""

import fcntl
import hashlib
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
PINS = REPO / "requirements-examples.txt"
VENVS = REPO / ".data"
WARM_UP = (
    "import os; os.environ['CREWAI_DISABLE_TELEMETRY'] = 'true'; "
    "import crewai, mem0, crewai.llms.providers.openai.completion"
)


class BuildError(Exception):
    pass


def private_home(home: Path) -> dict[str, str]:
    """Environment that keeps what CrewAI and mem0 write under ~ inside `home`."""
    return {
        "HOME": str(home),
        "XDG_DATA_HOME": str(home / ".local" / "share"),
        "XDG_CONFIG_HOME": str(home / ".config"),
    }


def examples_python() -> Path:
    """The venv's interpreter, built first if need be. Raises BuildError with pip's output."""
    venv = VENVS / f"examples-venv-{hashlib.sha256(PINS.read_bytes()).hexdigest()[:12]}"
    python = venv / "bin" / "python"
    stamp = venv / ".installed"
    VENVS.mkdir(exist_ok=True)
    with open(VENVS / "examples-venv.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # another process may be building the same venv
        if stamp.exists():
            return python
        for stale in VENVS.glob("examples-venv-*"):  # a half-built one, or older pins
            shutil.rmtree(stale)
        pip = [str(python), "-m", "pip", "--disable-pip-version-check"]
        steps = [
            [sys.executable, "-m", "venv", str(venv)],
            # --no-compile: byte-compiling all 150 packages costs more than the warm-up below
            [*pip, "install", "-q", "--no-deps", "--no-compile", "-r", str(PINS)],
            [*pip, "check"],  # every dependency is pinned: --no-deps left none out
            [str(python), "-c", WARM_UP],  # writes .pyc for what the example imports
        ]
        with tempfile.TemporaryDirectory() as scratch:  # crewai and mem0 write to ~ on import
            env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
            env.update(private_home(Path(scratch)))
            for argv in steps:
                done = subprocess.run(
                    argv,
                    cwd=scratch,
                    env=env,
                    capture_output=True,
                    text=True,
                    timeout=900,
                    check=False,
                )
                if done.returncode != 0:
                    output = done.stdout + done.stderr
                    raise BuildError(f"building {venv.name}: {argv[1:]} failed:\n{output}")
        stamp.touch()
    return python


if __name__ == "__main__":
    try:
        print(examples_python())
    except BuildError as exc:
        sys.exit(str(exc))
