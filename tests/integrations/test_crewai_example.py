"""examples/crewai_crew.py runs: a real CrewAI crew against a live Engram (gunicorn) and the
local fake OpenAI-compatible model server, remembering across two runs, offline.

crewai runs in a virtualenv of its own (examples_venv.py): built under .data/ by the first
run, or by `make test` while ruff and mypy run, and reused until the pins change."""

from pathlib import Path

import pytest

from tests.conftest import Tenant
from tests.integrations.examples_venv import BuildError, examples_python, private_home
from tests.support.examples import example_env, run_example
from tests.support.fake_openai import FakeOpenAIServer
from tests.support.live_server import LiveServer

pytestmark = pytest.mark.live
LOOPBACK = {"127.0.0.1", "localhost", "::1"}

# Runs the example as `python examples/crewai_crew.py ARGS` does, with an audit hook that
# logs every host the process resolves or connects to (telemetry would show up here).
LAUNCHER = """
import runpy, sys
log = open(sys.argv[1], "a", buffering=1)
def hook(event, args):
    if event == "socket.getaddrinfo":
        log.write(f"{args[0]!s}\\n")
    elif event == "socket.connect" and isinstance(args[1], tuple):
        log.write(f"{args[1][0]!s}\\n")
sys.addaudithook(hook)
sys.argv = sys.argv[2:]
runpy.run_path(sys.argv[0], run_name="__main__")
"""


@pytest.fixture(scope="session")
def crewai_python() -> Path:
    try:
        return examples_python()
    except BuildError as exc:
        pytest.fail(str(exc))


def run_crew(python: Path, args: list[str], env: dict[str, str], workdir: Path) -> str:
    """The example's stdout; fails if the process reached for anything beyond this machine."""
    hosts_log = workdir / "hosts.log"
    hosts_log.unlink(missing_ok=True)
    stdout = run_example(
        "crewai_crew.py",
        args,
        env,
        python=python,
        launcher=["-c", LAUNCHER, str(hosts_log)],
        cwd=workdir,  # CrewAI keeps a task-output database named after the working directory
    )
    hosts = set(hosts_log.read_text().split()) if hosts_log.exists() else set()
    assert hosts <= LOOPBACK, f"the example reached beyond this machine: {hosts - LOOPBACK}"
    return stdout


def prompt_text(model: FakeOpenAIServer) -> str:
    """Every message of the last chat request, as one text."""
    chats = [r.body for r in model.requests if r.path.endswith("/chat/completions")]
    return "\n".join(str(message["content"]) for message in chats[-1]["messages"])


@pytest.mark.timeout(900)  # the first run builds the virtualenv
def test_crewai_crew_remembers_across_runs(
    crewai_python: Path, gunicorn_server: LiveServer, live_tenant: Tenant, tmp_path: Path
) -> None:
    home = tmp_path / "home"
    home.mkdir()
    with FakeOpenAIServer() as model:
        env = {
            **example_env(gunicorn_server, live_tenant.api_key, model),
            "CHAT_MODEL": "llama3.1",  # not an OpenAI model name: CrewAI must still go native
            **private_home(home),
        }
        model.script_chat(["Noted: nothing with peanuts for you."])
        told = ["--user", "ada", "--no-infer", "I'm allergic to peanuts."]
        first = run_crew(crewai_python, told, env, tmp_path)
        assert first.strip() == "Noted: nothing with peanuts for you."
        assert "(nothing yet)" in prompt_text(model)  # a new user: nothing remembered

        model.script_chat(["Try the pretzels."])
        asked = ["--user", "ada", "Which snack is safe with my allergy?"]
        second = run_crew(crewai_python, asked, env, tmp_path)
        assert second.strip() == "Try the pretzels."
        prompt = prompt_text(model)
        assert "Which snack is safe with my allergy?" in prompt
        assert "I'm allergic to peanuts." in prompt  # remembered by the 2nd run, via Engram
        assert "(nothing yet)" not in prompt

        chats = [r for r in model.requests if r.path.endswith("/chat/completions")]
        assert len(chats) == 2  # one model call per run: CrewAI's own memory stays off
        assert {chat.body["model"] for chat in chats} == {"llama3.1"}
