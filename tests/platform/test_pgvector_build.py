"""platform/pgvector_build.py and its hook in devpostgres, on a throwaway COPY of the pgserver
PostgreSQL tree: the real installation is only read (copied), never written, and no server
runs. No Django and no database needed, so it also runs on its own:

    .venv/bin/python -m pytest tests/platform/test_pgvector_build.py -p no:django --noconftest

ENGRAM_PGVECTOR_TEST_PGINSTALL: the pginstall tree to copy (default: the pgserver wheel's).
ENGRAM_PGVECTOR_TEST_CACHE: a directory to keep the downloaded tarball in between runs.
"""

from __future__ import annotations

import importlib.util
import os
import re
import shutil
import sys
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType

import pytest

PLATFORM = Path(__file__).resolve().parents[2] / "platform"
UNREACHABLE = "https://127.0.0.1:9/pgvector.tar.gz"  # connection refused at once


def _load(name: str) -> ModuleType:
    """A sibling module of platform/ by path (`platform` is the standard library's name)."""
    if name in sys.modules:
        return sys.modules[name]
    spec = importlib.util.spec_from_file_location(name, PLATFORM / f"{name}.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


build = _load("pgvector_build")
_load("devbase")
devpostgres = _load("devpostgres")
PINNED = build.PGVECTOR_VERSION


def _source_install() -> Path | None:
    configured = os.environ.get("ENGRAM_PGVECTOR_TEST_PGINSTALL")
    if configured:
        return Path(configured)
    spec = importlib.util.find_spec("pgserver")
    if spec and spec.origin:
        return Path(spec.origin).parent / "pginstall"
    return None


def _tree_digest(prefix: Path) -> dict[str, str]:
    """Hashes of everything pgvector puts into an installation."""
    files = [prefix / "lib" / "postgresql" / "vector.so"]
    files += sorted((prefix / "share" / "postgresql" / "extension").glob("vector*"))
    return {str(path.relative_to(prefix)): build.file_sha256(path) for path in files}


@pytest.fixture(scope="session")
def source_install() -> Iterator[Path]:
    source = _source_install()
    if source is None or not (source / "bin" / "pg_config").exists():
        pytest.fail("no pgserver PostgreSQL (pginstall with pg_config) to copy")
    before = _tree_digest(source)
    yield source
    assert _tree_digest(source) == before, "the original installation was modified"


@pytest.fixture
def install_copy(source_install: Path, tmp_path: Path) -> Path:
    """A private copy of the tree, its vector.control set back to the bundled 0.6.2 (the
    original may already have been upgraded by `devservices up`)."""
    prefix = tmp_path / "site-packages" / "pgserver" / "pginstall"
    shutil.copytree(source_install, prefix, symlinks=True)
    control = prefix / "share" / "postgresql" / "extension" / "vector.control"
    text = re.sub(r"default_version = '[^']*'", "default_version = '0.6.2'", control.read_text())
    control.write_text(text)
    assert build.installed_version(prefix) == "0.6.2"
    return prefix


@pytest.fixture(scope="session")
def shared_cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    configured = os.environ.get("ENGRAM_PGVECTOR_TEST_CACHE")
    if configured:
        return Path(configured)
    return tmp_path_factory.mktemp("pgvector-cache")


@pytest.fixture(scope="session")
def tarball(shared_cache: Path) -> Path:
    """The pinned source, verified (downloaded once per session unless cached). A copy that
    devservices already cached under .data/cache/ is reused (read only, checksum verified)."""
    name = f"pgvector-{PINNED}.tar.gz"
    seed = build.CACHE_DIR / name
    if seed.exists() and not (shared_cache / name).exists():
        shared_cache.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(seed, shared_cache / name)
    try:
        return build.fetch(shared_cache, PINNED, build.PGVECTOR_URL, build.PGVECTOR_SHA256)
    except OSError as exc:
        pytest.fail(f"pgvector source unreachable (deb.debian.org, or .data/cache/): {exc}")


@pytest.fixture
def cache_with_tarball(tarball: Path, tmp_path: Path) -> Path:
    cache = tmp_path / "cache"
    cache.mkdir()
    shutil.copy2(tarball, cache / tarball.name)
    return cache


def _needs_toolchain() -> None:
    for tool in ("make", "gcc"):
        if shutil.which(tool) is None:
            pytest.fail(f"{tool} is not installed: pgvector cannot be built here")


def _warnings(lines: list[str]) -> list[str]:
    return [line for line in lines if line.startswith("pgvector: warning:")]


def test_versions_compare_numerically() -> None:
    assert build.version_tuple("0.10.0") > build.version_tuple("0.8.0")
    assert build.is_current("0.8.0") and build.is_current("0.8.1")
    assert not build.is_current("0.6.2") and not build.is_current("")
    assert not build.is_current("garbage")


def test_builds_and_installs_the_pinned_release(
    install_copy: Path, cache_with_tarball: Path, tmp_path: Path
) -> None:
    _needs_toolchain()
    old_so = build.file_sha256(install_copy / "lib" / "postgresql" / "vector.so")
    log: list[str] = []

    result = build.ensure_pgvector(install_copy, cache_dir=cache_with_tarball, log=log.append)

    assert result == PINNED

    assert len(log) == 1 and log[0].startswith(f"pgvector: built {PINNED} into {install_copy}")
    assert build.installed_version(install_copy) == PINNED
    pkglib = Path(build.pg_config(install_copy, "--pkglibdir"))
    extension = Path(build.pg_config(install_copy, "--sharedir")) / "extension"
    library = pkglib / "vector.so"
    assert build.file_sha256(library) != old_so
    assert library.stat().st_mode & 0o755 == 0o755  # the cluster user may load it
    for script in (f"vector--{PINNED}.sql", f"vector--0.7.4--{PINNED}.sql", "vector--0.6.2.sql"):
        assert (extension / script).exists(), script  # 0.6.2 databases can still update
    assert (extension / "vector--0.6.2--0.7.0.sql").exists()
    assert not list(install_copy.rglob("*.engram-tmp"))

    # Current now: a second call neither downloads nor builds nor says anything.
    log.clear()
    assert build.needs_build(install_copy) is False
    again = build.ensure_pgvector(
        install_copy, cache_dir=tmp_path / "unused", url=UNREACHABLE, log=log.append
    )
    assert again == PINNED
    assert log == []


def test_no_network_keeps_the_bundled_version(install_copy: Path, tmp_path: Path) -> None:
    before = _tree_digest(install_copy)
    log: list[str] = []
    result = build.ensure_pgvector(
        install_copy, cache_dir=tmp_path / "empty", url=UNREACHABLE, log=log.append
    )
    assert result == "0.6.2"
    assert len(log) == 1 and _warnings(log) == log
    assert "keeping the bundled 0.6.2" in log[0]
    assert _tree_digest(install_copy) == before


def test_checksum_mismatch_keeps_the_bundled_version(
    install_copy: Path, cache_with_tarball: Path
) -> None:
    """A cached file with the wrong digest is dropped and fetched again; a download with the
    wrong digest is refused and never cached."""
    before = _tree_digest(install_copy)
    log: list[str] = []
    wrong = "0" * 64
    result = build.ensure_pgvector(
        install_copy, cache_dir=cache_with_tarball, sha256=wrong, log=log.append
    )
    assert result == "0.6.2"
    assert len(log) == 1 and "checksum mismatch" in log[0]
    assert _tree_digest(install_copy) == before
    assert list(cache_with_tarball.iterdir()) == []  # neither the old file nor a partial one


def test_a_corrupt_cache_is_fetched_again(tarball: Path, tmp_path: Path) -> None:
    cached = tmp_path / tarball.name
    cached.write_bytes(b"truncated")
    fetched = build.fetch(tmp_path, PINNED, build.PGVECTOR_URL, build.PGVECTOR_SHA256)
    assert fetched == cached and build.file_sha256(cached) == build.PGVECTOR_SHA256


def test_compile_error_keeps_the_bundled_version(
    install_copy: Path, cache_with_tarball: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    tools = tmp_path / "bin"
    tools.mkdir()
    for name, script in (("make", "echo 'src/vector.c:1: error: boom' >&2; exit 2"), ("gcc", "")):
        (tools / name).write_text(f"#!/bin/sh\n{script}\n")
        (tools / name).chmod(0o755)
    monkeypatch.setenv("PATH", str(tools))
    before = _tree_digest(install_copy)
    log: list[str] = []

    result = build.ensure_pgvector(install_copy, cache_dir=cache_with_tarball, log=log.append)

    assert result == "0.6.2"
    assert len(log) == 1 and "compiling failed" in log[0] and "error: boom" in log[0]
    assert _tree_digest(install_copy) == before


def test_no_compiler_keeps_the_bundled_version(
    install_copy: Path, cache_with_tarball: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PATH", str(tmp_path / "nothing-here"))
    log: list[str] = []
    result = build.ensure_pgvector(install_copy, cache_dir=cache_with_tarball, log=log.append)
    assert result == "0.6.2"
    assert len(log) == 1 and "`make` is not installed" in log[0]


def test_opting_out_keeps_the_bundled_version(
    install_copy: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(build.SKIP_ENV, "0")
    log: list[str] = []
    assert build.needs_build(install_copy) is False
    assert build.ensure_pgvector(install_copy, url=UNREACHABLE, log=log.append) == "0.6.2"
    assert log == []


def test_a_missing_installation_warns_and_returns_nothing(tmp_path: Path) -> None:
    log: list[str] = []
    assert build.ensure_pgvector(tmp_path / "nowhere", log=log.append) == ""
    assert len(log) == 1 and _warnings(log) == log


# --- the hook in devpostgres: only the bundled install, only while no server runs ---------


@pytest.fixture
def builds(monkeypatch: pytest.MonkeyPatch) -> list[Path]:
    calls: list[Path] = []
    monkeypatch.setattr(build, "ensure_pgvector", lambda prefix, **_: calls.append(prefix))
    monkeypatch.setattr(devpostgres, "running", lambda: None)
    monkeypatch.setattr(devpostgres, "install_in_use", lambda install: False)
    return calls


def test_hook_builds_into_a_stopped_bundled_install(install_copy: Path, builds: list[Path]):
    devpostgres.upgrade_pgvector(devpostgres.PgInstall(install_copy / "bin", "pgserver"))
    assert builds == [install_copy]


def test_hook_leaves_debian_installs_alone(install_copy: Path, builds: list[Path]) -> None:
    devpostgres.upgrade_pgvector(devpostgres.PgInstall(install_copy / "bin", "debian"))
    assert builds == []


def test_hook_waits_while_a_server_runs(
    install_copy: Path,
    builds: list[Path],
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    install = devpostgres.PgInstall(install_copy / "bin", "pgserver")
    monkeypatch.setattr(devpostgres, "install_in_use", lambda install: True)
    devpostgres.upgrade_pgvector(install)
    assert builds == []
    assert "on its next start (it is running now)" in capsys.readouterr().out


def test_nothing_runs_from_a_fresh_copy(install_copy: Path) -> None:
    assert not devpostgres.install_in_use(devpostgres.PgInstall(install_copy / "bin", "pgserver"))


def test_bootstrap_updates_the_extension_as_superuser() -> None:
    sql = devpostgres.bootstrap_sql({devpostgres.OWNER_ROLE: "a", devpostgres.APP_ROLE: "b"})
    assert sql.count("ALTER EXTENSION vector UPDATE;") == 2  # template1 and the database
    for database in ("template1", devpostgres.DATABASE):
        section = sql.split(f"\\connect {database}\n", 1)[1]
        assert section.index("CREATE EXTENSION") < section.index("ALTER EXTENSION vector UPDATE")
