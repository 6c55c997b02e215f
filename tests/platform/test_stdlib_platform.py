"""The repo has a `platform/` folder; Python's standard library owns `import platform`, and
uuid (so Django, Celery, pytest and gunicorn) imports it at start-up. Prove that every entry
point still gets the standard library module."""

import os
import subprocess
import sys
import sysconfig
import textwrap
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
STDLIB = Path(sysconfig.get_paths()["stdlib"]).resolve()
BIN = Path(sys.executable).parent
PROBE = "import platform; print('PLATFORM', platform.__file__, platform.system())"


def _assert_stdlib(output: str) -> None:
    line = next(item for item in output.splitlines() if item.startswith("PLATFORM "))
    _, path, system = line.split(" ", 2)
    assert Path(path).resolve().parent == STDLIB
    assert system == os.uname().sysname


def _run(argv: list[str]) -> str:
    result = subprocess.run(
        argv, cwd=REPO, capture_output=True, text=True, timeout=120, check=False
    )
    assert result.returncode == 0, result.stderr[-2000:]
    return result.stdout + result.stderr


def test_pytest_process_sees_the_stdlib_platform() -> None:
    import platform

    assert Path(platform.__file__).resolve().parent == STDLIB
    assert platform.system() == os.uname().sysname


def test_python_run_from_the_repo_root() -> None:
    _assert_stdlib(_run([sys.executable, "-c", PROBE]))


def test_manage_py() -> None:
    _assert_stdlib(_run([sys.executable, "manage.py", "shell", "-c", PROBE]))


def test_celery_worker_entry_point() -> None:
    # `celery report` boots the app exactly as `celery worker` does, then prints the
    # platform line that celery itself reads from the platform module.
    output = _run([str(BIN / "celery"), "-A", "config", "report"])
    assert f"platform -> system:{os.uname().sysname}" in output


def test_gunicorn_loads_the_app_with_the_stdlib_platform(tmp_path: Path) -> None:
    conf = tmp_path / "probe.conf.py"
    conf.write_text(
        textwrap.dedent(
            f"""
            exec(open({str(REPO / "platform" / "gunicorn.conf.py")!r}).read())
            {PROBE}
            """
        )
    )
    output = _run(
        [str(BIN / "gunicorn"), "--check-config", "-c", str(conf), "config.wsgi:application"]
    )
    _assert_stdlib(output)
