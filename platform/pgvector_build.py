"""Build a pinned pgvector from source into a PostgreSQL installation (the pgserver wheel's).

The wheel bundles pgvector 0.6.2; 0.8 adds iterative index scans (`hnsw.iterative_scan`),
which let a filtered HNSW query return its full LIMIT. `ensure_pgvector(prefix)` builds the
pinned release with that installation's own pg_config and installs it there, once. It never
fails its caller: without network, compiler or a matching checksum it prints one warning and
the bundled version stays (the application works on it, with exact fallbacks).

The source is Debian's copy of the upstream release tarball, checked against a pinned
SHA-256 (the same as in Debian's signed .dsc) and cached under .data/cache/. The build uses
no -march=native, so the library runs on any x86-64 machine, whatever built it.

Install only while no postmaster runs from that installation (devpostgres checks this):
a running server must not get its extension library swapped between two backends.

Standard library only, like everything devservices.py loads; imported as a sibling module.
"""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import subprocess
import sys
import tarfile
import tempfile
import time
import urllib.request
from collections.abc import Callable
from pathlib import Path

PGVECTOR_VERSION = "0.8.0"
PGVECTOR_URL = (
    f"https://deb.debian.org/debian/pool/main/p/pgvector/pgvector_{PGVECTOR_VERSION}.orig.tar.gz"
)
PGVECTOR_SHA256 = "867a2c328d4928a5a9d6f052cd3bc78c7d60228a9b914ad32aa3db88e9de27b0"
CACHE_DIR = Path(__file__).resolve().parent.parent / ".data" / "cache"
SKIP_ENV = "ENGRAM_PGVECTOR_BUILD"  # "0" / "off" / "no": keep the bundled pgvector
DOWNLOAD_TIMEOUT = 30.0
DOWNLOAD_LIMIT = 16 * 1024 * 1024  # the tarball is ~120 kB
BUILD_TIMEOUT = 900.0


class BuildError(Exception):
    """The pinned pgvector could not be built or installed; the message says why."""


def version_tuple(text: str) -> tuple[int, ...]:
    """'0.8.0' -> (0, 8, 0); anything unparsable sorts first."""
    if not re.fullmatch(r"\d+(\.\d+)*", text):
        return ()
    return tuple(int(part) for part in text.split("."))


def pg_config(prefix: Path, flag: str) -> str:
    """One answer of the installation's own pg_config (it is relocatable)."""
    argv = [str(prefix / "bin" / "pg_config"), flag]
    out = subprocess.run(argv, check=True, capture_output=True, text=True, timeout=60).stdout
    return out.strip()


def installed_version(prefix: Path) -> str:
    """default_version of vector.control in the installation, '' when there is none."""
    control = Path(pg_config(prefix, "--sharedir")) / "extension" / "vector.control"
    try:
        text = control.read_text()
    except FileNotFoundError:
        return ""
    match = re.search(r"^\s*default_version\s*=\s*'([^']*)'", text, re.MULTILINE)
    return match.group(1) if match else ""


def is_current(version: str, wanted: str = PGVECTOR_VERSION) -> bool:
    return version_tuple(version) >= version_tuple(wanted)


def skipped() -> bool:
    return os.environ.get(SKIP_ENV, "").strip().lower() in {"0", "off", "no", "false"}


def needs_build(install_prefix: Path, version: str = PGVECTOR_VERSION) -> bool:
    """Whether ensure_pgvector would try a build (an unreadable install counts: it warns)."""
    if skipped():
        return False
    try:
        return not is_current(installed_version(install_prefix), version)
    except (OSError, subprocess.SubprocessError):
        return True


def ensure_pgvector(
    install_prefix: Path,
    *,
    cache_dir: Path = CACHE_DIR,
    version: str = PGVECTOR_VERSION,
    url: str = PGVECTOR_URL,
    sha256: str = PGVECTOR_SHA256,
    log: Callable[[str], None] = print,
) -> str:
    """The pgvector version the installation offers after making sure it is >= `version`.

    Builds and installs the pinned release only when vector.control says something older.
    Never raises: any failure is one warning line, and the bundled version is returned.
    """
    bundled = ""
    try:
        bundled = installed_version(install_prefix)
        if is_current(bundled, version):
            return bundled
        if skipped():
            return bundled
        started = time.monotonic()
        tarball = fetch(cache_dir, version, url, sha256)
        build_and_install(install_prefix, tarball, version)
        now = installed_version(install_prefix)
        if now != version:
            raise BuildError(f"vector.control says {now or 'nothing'} after installing")
        log(
            f"pgvector: built {version} into {install_prefix} "
            f"in {time.monotonic() - started:.0f}s (was {bundled or 'absent'})"
        )
        return now
    except Exception as exc:  # noqa: BLE001 - the bundled version works: never fail `up`
        reason = " ".join(str(exc).split())[-300:] or type(exc).__name__
        log(
            f"pgvector: warning: could not build {version} ({reason}); "
            f"keeping the bundled {bundled or 'version'} (no iterative index scans)"
        )
        return bundled


# --- the source --------------------------------------------------------------------------


def fetch(cache_dir: Path, version: str, url: str, sha256: str) -> Path:
    """The verified tarball from the cache, downloading it first if absent or corrupt."""
    cached = cache_dir / f"pgvector-{version}.tar.gz"
    if cached.exists():
        if file_sha256(cached) == sha256:
            return cached
        cached.unlink()  # truncated or tampered with: fetch it again
    if not url.startswith("https://"):
        raise BuildError(f"refusing a non-https source URL: {url}")
    cache_dir.mkdir(parents=True, exist_ok=True)
    digest = hashlib.sha256()
    fd, tmp_name = tempfile.mkstemp(dir=cache_dir, prefix=f".{cached.name}.", suffix=".part")
    tmp = Path(tmp_name)
    try:
        with (
            os.fdopen(fd, "wb") as out,
            urllib.request.urlopen(url, timeout=DOWNLOAD_TIMEOUT) as response,  # noqa: S310 - https only, checked above
        ):
            size = 0
            while chunk := response.read(64 * 1024):
                size += len(chunk)
                if size > DOWNLOAD_LIMIT:
                    raise BuildError(f"{url} is larger than {DOWNLOAD_LIMIT} bytes")
                digest.update(chunk)
                out.write(chunk)
        if digest.hexdigest() != sha256:
            raise BuildError(f"checksum mismatch for {url}: got sha256 {digest.hexdigest()}")
        tmp.chmod(0o644)
        os.replace(tmp, cached)
    finally:
        tmp.unlink(missing_ok=True)
    return cached


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(64 * 1024), b""):
            digest.update(chunk)
    return digest.hexdigest()


def extract(tarball: Path, into: Path) -> Path:
    """Unpack safely (no absolute paths, links or devices) and return the source directory."""
    with tarfile.open(tarball, "r:gz") as archive:
        if hasattr(tarfile, "data_filter"):
            archive.extractall(into, filter="data")
        else:  # Python < 3.11.4: check the members ourselves
            top = into.resolve()
            for member in archive.getmembers():
                target = (into / member.name).resolve()
                if not (member.isfile() or member.isdir()) or not target.is_relative_to(top):
                    raise BuildError(f"unsafe member in {tarball.name}: {member.name}")
            archive.extractall(into)  # noqa: S202 - every member checked above
    sources = [path for path in into.iterdir() if (path / "Makefile").exists()]
    if len(sources) != 1:
        raise BuildError(f"{tarball.name} does not hold one source tree with a Makefile")
    return sources[0]


# --- build and install -------------------------------------------------------------------


def build_env() -> dict[str, str]:
    """Our environment minus PG* variables and make flags that could change the build."""
    drop = ("PG", "MAKEFLAGS", "MFLAGS", "CFLAGS", "CPPFLAGS", "LDFLAGS")
    return {key: value for key, value in os.environ.items() if not key.startswith(drop)}


def run_make(what: str, source: Path, args: list[str]) -> None:
    result = subprocess.run(
        ["make", "-C", str(source), *args], env=build_env(), capture_output=True,
        text=True, timeout=BUILD_TIMEOUT, check=False,
    )  # fmt: skip
    if result.returncode != 0:
        lines = [line for line in (result.stderr or result.stdout).splitlines() if line.strip()]
        tail = " | ".join(lines[-3:])
        raise BuildError(f"{what} failed: {tail}")


def build_and_install(prefix: Path, tarball: Path, version: str) -> None:
    """Compile in a temp dir, stage with DESTDIR, then move the files into `prefix`.

    Staging keeps a failed build from leaving half an installation. vector.control goes in
    last, so the installation offers the new version only once its library and scripts are
    in place. Each file is replaced by a rename: a process that has the old library open
    keeps it.
    """
    compiler = (pg_config(prefix, "--cc").split() or ["cc"])[0]
    for tool in ("make", compiler):
        if shutil.which(tool) is None:
            raise BuildError(f"`{tool}` is not installed (Debian: apt-get install gcc make)")
    pg_config_path = str(prefix / "bin" / "pg_config")
    root = prefix.resolve()
    with tempfile.TemporaryDirectory(prefix="engram-pgvector-") as tmp:
        source = extract(tarball, Path(tmp) / "src")
        stage = Path(tmp) / "stage"
        jobs = f"-j{max(1, min(os.cpu_count() or 1, 4))}"
        # OPTFLAGS="": pgvector defaults to -march=native, which would tie the library to
        # the CPU that built it; it picks AVX/F16C code paths at run time by itself.
        common = [f"PG_CONFIG={pg_config_path}", "OPTFLAGS="]
        run_make("compiling", source, [jobs, *common])
        run_make("make install", source, ["install", *common, f"DESTDIR={stage}"])
        staged = sorted(path for path in stage.rglob("*") if path.is_file())
        if not any(path.name == f"vector--{version}.sql" for path in staged):
            raise BuildError(f"the build did not produce vector--{version}.sql")
        staged.sort(key=lambda path: path.name == "vector.control")  # control file last
        for path in staged:
            target = Path("/") / path.relative_to(stage)
            if not target.resolve().is_relative_to(root):
                raise BuildError(f"make install wanted to write outside {prefix}: {target}")
            place(path, target)


def place(source: Path, target: Path) -> None:
    """Copy `source` over `target` atomically, readable (and runnable) by everyone."""
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_name(f".{target.name}.engram-tmp")
    shutil.copyfile(source, tmp)
    executable = source.stat().st_mode & 0o111
    tmp.chmod(0o755 if executable else 0o644)
    os.replace(tmp, target)


if __name__ == "__main__":
    # python platform/pgvector_build.py PREFIX: build into that installation by hand.
    if len(sys.argv) != 2:
        print("usage: pgvector_build.py INSTALL_PREFIX", file=sys.stderr)
        sys.exit(2)
    print(ensure_pgvector(Path(sys.argv[1])))
