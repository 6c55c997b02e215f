"""The private PostgreSQL + pgvector cluster under .data/postgres (used by devservices.py).

Binaries: a Debian PostgreSQL only if pgvector is installed for it, else the PostgreSQL 16 +
pgvector bundled in the `pgserver` wheel. Into the latter, the pinned newer pgvector is built
from source (pgvector_build.py) before the server starts; bootstrap then updates the extension
in existing databases. initdb and postgres refuse to run as root, so as root the cluster
belongs to (and runs as) the unprivileged system user `engram-pg`.

Roles: `postgres` is the bootstrap superuser, reachable only over the unix socket in a 0700
directory and without a password. `engram_owner` owns the database and runs migrations;
`engram_app` is what the application connects as (no superuser, no BYPASSRLS), so row-level
security applies to it. Both log in with SCRAM passwords over 127.0.0.1.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import secrets
import stat
import subprocess
from collections.abc import Sequence
from dataclasses import dataclass
from importlib.util import find_spec
from pathlib import Path
from typing import Any

import pgvector_build
from devbase import (
    DATA,
    LOCALHOST,
    ROOT,
    ServiceError,
    ServiceUp,
    choose_port,
    is_our_process,
    load_json,
    log_tail,
    read_pidfile,
    wait_until,
    write_private,
)

PGDATA = DATA / "postgres"
PG_LOG = DATA / "postgres.log"
SOCKET_DIR = DATA / "run"
PASSWORDS_FILE = DATA / "pg-passwords.json"
DEFAULT_PORT = 54329
SYSTEM_USER = "engram-pg"
SUPERUSER = "postgres"
DATABASE = "engram"
OWNER_ROLE = "engram_owner"
APP_ROLE = "engram_app"

PG_HBA = f"""\
# Managed by platform/devservices.py (rewritten on every start).
# The bootstrap superuser is trusted on the unix socket only; its directory is mode 0700.
local   all   {SUPERUSER}                 trust
local   all   all                      scram-sha-256
host    all   all   127.0.0.1/32       scram-sha-256
"""


# --- the account that runs the cluster ----------------------------------------------------


@dataclass(frozen=True)
class SystemUser:
    name: str
    uid: int
    gid: int


def cluster_user() -> SystemUser | None:
    """None when we are not root (the cluster runs as ourselves), else `engram-pg`."""
    if os.geteuid() != 0:
        return None
    import pwd  # POSIX-only, and only needed here

    try:
        entry = pwd.getpwnam(SYSTEM_USER)
    except KeyError:
        shell = "/usr/sbin/nologin" if Path("/usr/sbin/nologin").exists() else "/bin/false"
        subprocess.run(
            ["useradd", "--system", "--user-group", "--no-create-home",
             "--home-dir", "/nonexistent", "--shell", shell, SYSTEM_USER],
            check=True, capture_output=True, text=True,
        )  # fmt: skip
        entry = pwd.getpwnam(SYSTEM_USER)
    return SystemUser(entry.pw_name, entry.pw_uid, entry.pw_gid)


def run_as(
    user: SystemUser | None, argv: Sequence[str], timeout: float = 120
) -> subprocess.CompletedProcess[str]:
    ids: dict[str, Any] = {"user": user.uid, "group": user.gid, "extra_groups": []} if user else {}
    return subprocess.run(
        list(argv), cwd="/", env=tool_env(), capture_output=True, text=True, timeout=timeout,
        **ids,
    )  # fmt: skip


def tool_env() -> dict[str, str]:
    """Our environment minus PG* variables, which would override the explicit flags we pass."""
    return {key: value for key, value in os.environ.items() if not key.startswith("PG")}


def chown_to(path: Path, user: SystemUser | None) -> None:
    if user:
        os.chown(path, user.uid, user.gid)


def grant_traverse(path: Path) -> None:
    """chmod o+x on `path` and its ancestors where missing, so the cluster user can reach it.

    The search bit only: listings stay private, as they should when the repo is under /root.
    """
    for directory in [path, *path.parents]:
        mode = directory.stat().st_mode
        if not mode & stat.S_IXOTH:
            directory.chmod(mode | stat.S_IXOTH)


def grant_read_tree(top: Path) -> None:
    """Make an installation tree readable, and its programs runnable, by other users."""
    for dirpath, _dirs, files in os.walk(top):
        directory = Path(dirpath)
        directory.chmod(directory.stat().st_mode | 0o055)
        for name in files:
            mode = (directory / name).lstat().st_mode
            if stat.S_ISREG(mode):
                extra = 0o044 | (0o011 if mode & stat.S_IXUSR else 0)
                (directory / name).chmod(mode | extra)


# --- which PostgreSQL --------------------------------------------------------------------


@dataclass(frozen=True)
class PgInstall:
    bindir: Path
    source: str  # "debian" or "pgserver"

    def tool(self, name: str) -> str:
        return str(self.bindir / name)

    def major_version(self) -> str:
        argv = [self.tool("postgres"), "--version"]
        out = subprocess.run(argv, check=True, capture_output=True, text=True).stdout
        match = re.search(r"\) (\d+)", out)
        if not match:
            raise ServiceError(f"cannot parse `postgres --version`: {out!r}")
        return match.group(1)


def debian_installs() -> list[PgInstall]:
    """Debian PostgreSQL versions that have pgvector installed, newest first."""
    found = []
    for bindir in Path("/usr/lib/postgresql").glob("*/bin"):
        pg_config = bindir / "pg_config"
        if not (bindir / "postgres").exists() or not pg_config.exists():
            continue
        argv = [str(pg_config), "--sharedir"]
        sharedir = subprocess.run(argv, capture_output=True, text=True).stdout.strip()
        if sharedir and (Path(sharedir) / "extension" / "vector.control").exists():
            found.append(PgInstall(bindir, "debian"))
    return sorted(found, key=lambda install: int(install.bindir.parent.name), reverse=True)


def pgserver_install() -> PgInstall | None:
    """The bundled PostgreSQL of the `pgserver` wheel, found without importing the package."""
    spec = find_spec("pgserver")
    roots = [Path(spec.origin).parent] if spec and spec.origin else []
    roots += sorted(ROOT.glob(".venv/lib/python3*/site-packages/pgserver"))
    for root in roots:
        if (root / "pginstall" / "bin" / "postgres").exists():
            return PgInstall(root / "pginstall" / "bin", "pgserver")
    return None


def has_cluster() -> bool:
    return (PGDATA / "PG_VERSION").exists()


def select_install(state: dict[str, Any]) -> PgInstall:
    """The binaries that made the cluster if still there, else the preferred candidate."""
    major = (PGDATA / "PG_VERSION").read_text().strip() if has_cluster() else None
    known = state.get("postgres", {})
    if major and known.get("bindir") and known.get("major") == major:
        install = PgInstall(Path(known["bindir"]), known.get("source", "?"))
        if (install.bindir / "postgres").exists():
            return install
    bundled = pgserver_install()
    for install in debian_installs() + ([bundled] if bundled else []):
        if major is None or install.major_version() == major:
            return install
    if major:
        raise ServiceError(f"{PGDATA} holds a PostgreSQL {major} cluster, but no PostgreSQL "
                           f"{major} with pgvector is installed")  # fmt: skip
    raise ServiceError("no PostgreSQL with pgvector: install postgresql-<N>-pgvector, "
                       "or the pgserver wheel (requirements.txt)")  # fmt: skip


def prepare_install(install: PgInstall) -> None:
    """Let the cluster user run bundled binaries that may live in a root-owned virtualenv."""
    if install.source != "pgserver":
        return  # Debian packages are world-readable already
    prefix = install.bindir.parent
    for tree in (prefix, prefix.parent.parent / "pgserver.libs"):  # bundled libpq is there
        if tree.exists():
            grant_traverse(tree)
            if not _others_can_use(tree):
                grant_read_tree(tree)


def upgrade_pgvector(install: PgInstall) -> None:
    """Build the pinned pgvector into the bundled PostgreSQL while no server runs from it.

    Debian installs are left to apt. A running postmaster must not have its extension
    library swapped between two backends, so then the build waits for the next start.
    Failures only warn (pgvector_build): the bundled version still works.
    """
    if install.source != "pgserver":
        return
    prefix = install.bindir.parent
    if not pgvector_build.needs_build(prefix):
        return
    if running() or install_in_use(install):
        print(f"postgres: pgvector {pgvector_build.PGVECTOR_VERSION} will be built into the "
              "bundled PostgreSQL on its next start (it is running now)")  # fmt: skip
        return
    pgvector_build.ensure_pgvector(prefix)


def install_in_use(install: PgInstall) -> bool:
    """True if any process we can see runs this installation's `postgres` (our cluster, or
    another one sharing the virtualenv). Others' processes are visible to root only."""
    binary = (install.bindir / "postgres").resolve()
    for proc in Path("/proc").glob("[0-9]*"):
        try:
            if Path(os.readlink(proc / "exe")) == binary:
                return True
        except OSError:
            continue
    return False


def _others_can_use(tree: Path) -> bool:
    probe = tree / "bin" / "postgres"
    if not probe.exists():
        probe = next((path for path in tree.iterdir() if path.is_file()), tree)
    mode = probe.stat().st_mode
    return bool(mode & stat.S_IROTH) and (not mode & stat.S_IXUSR or bool(mode & stat.S_IXOTH))


# --- the cluster -------------------------------------------------------------------------


@dataclass(frozen=True)
class PgRunning:
    pid: int
    port: int
    socket_dir: str


def running() -> PgRunning | None:
    """Our postmaster according to postmaster.pid, if alive (a stale file yields None)."""
    try:
        lines = (PGDATA / "postmaster.pid").read_text().splitlines()
        pid, port, socket_dir = int(lines[0]), int(lines[3]), lines[4]
    except (OSError, IndexError, ValueError):
        return None
    if not is_our_process(pid, str(PGDATA)):
        return None
    return PgRunning(pid, port, socket_dir)


def socket_dir_for(port: int) -> Path:
    """.data/run, unless the socket path would pass the ~107-byte AF_UNIX limit."""
    if len(str(SOCKET_DIR / f".s.PGSQL.{port}.lock")) < 100:
        return SOCKET_DIR
    digest = hashlib.sha256(str(PGDATA).encode()).hexdigest()[:12]
    return Path("/tmp") / f"engram-pg-{digest}"  # noqa: S108 - made 0700 and ours in start()


def initdb(install: PgInstall, user: SystemUser | None) -> None:
    if PGDATA.exists() and any(PGDATA.iterdir()):
        raise ServiceError(f"{PGDATA} is not empty but holds no cluster; move it away first")
    PGDATA.mkdir(mode=0o700, exist_ok=True)
    chown_to(PGDATA, user)
    result = run_as(user, [
        install.tool("initdb"), "-D", str(PGDATA), "-U", SUPERUSER, "--encoding=UTF8",
        "--no-locale", "--data-checksums", "--auth-local=trust", "--auth-host=scram-sha-256",
    ])  # fmt: skip
    if result.returncode != 0:
        raise ServiceError(f"initdb failed:\n{result.stdout}{result.stderr}")
    with open(PGDATA / "postgresql.conf", "a") as conf:
        conf.write("\n# Engram dev settings, rewritten by platform/devservices.py on start\n")
        conf.write("include_if_exists = 'engram.conf'\n")


def settings(port: int, socket_dir: Path) -> str:
    # Sized for a 2-core / 24 GB dev box that bulk-loads and HNSW-indexes ~1M vectors.
    # Docker's default 64 MB /dev/shm cannot hold parallel index builds: use mmap there.
    shm = os.statvfs("/dev/shm") if Path("/dev/shm").exists() else None  # noqa: S108
    dsm = "posix" if shm and shm.f_bavail * shm.f_frsize > 2 * 1024**3 else "mmap"
    values = {
        "listen_addresses": f"'{LOCALHOST}'",
        "port": str(port),
        "unix_socket_directories": f"'{socket_dir}'",
        "unix_socket_permissions": "0700",
        "max_connections": "200",
        "shared_buffers": "1GB",
        "effective_cache_size": "8GB",
        "maintenance_work_mem": "1GB",
        "work_mem": "16MB",
        "max_wal_size": "4GB",
        "checkpoint_timeout": "15min",
        "dynamic_shared_memory_type": dsm,
        "fsync": "on",
        "password_encryption": "'scram-sha-256'",
        "timezone": "'UTC'",
        "log_timezone": "'UTC'",
        "log_line_prefix": "'%m [%p] %q%u@%d '",
        # Statement text carries embeddings and ciphertext (as sensitive as the memories)
        # and runs to megabytes: log errors and durations, never the statements.
        "log_min_error_statement": "panic",
        "log_min_duration_statement": "-1",
        "log_checkpoints": "off",
        "logging_collector": "off",  # pg_ctl -l sends stderr to .data/postgres.log
    }
    return "".join(f"{key} = {value}\n" for key, value in values.items())


def write_config(port: int, socket_dir: Path, user: SystemUser | None) -> bool:
    """Write engram.conf and pg_hba.conf; True if either changed."""
    changed = False
    for name, text in (("engram.conf", settings(port, socket_dir)), ("pg_hba.conf", PG_HBA)):
        path = PGDATA / name
        if path.exists() and path.read_text() == text:
            continue
        write_private(path, text)
        chown_to(path, user)
        changed = True
    return changed


def sync_config(install: PgInstall, user: SystemUser | None, pg: PgRunning) -> None:
    """Bring a running cluster's config up to date without a restart, so that `up` never
    interrupts work in progress; settings that need one (shared_buffers, ...) wait for it."""
    if write_config(pg.port, Path(pg.socket_dir), user):
        run_as(user, [install.tool("pg_ctl"), "-D", str(PGDATA), "-s", "reload"])


def remove_stale_locks(socket_dir: Path) -> None:
    """Clear what a crashed postmaster left behind, before starting a new one.

    postmaster.pid and the socket lock name a PID that is dead, a zombie or reused by another
    program; postgres refuses to start on the last two. Orphaned backends of a killed
    postmaster hold its shared memory a moment longer; they have the data dir as cwd.
    """
    if running():
        return
    wait_until(lambda: not _orphans(), "orphaned postgres processes to exit", 30)
    (PGDATA / "postmaster.pid").unlink(missing_ok=True)
    for lock in socket_dir.glob(".s.PGSQL.*.lock"):
        pid = read_pidfile(lock)
        if pid is None or not is_our_process(pid, "postgres"):
            lock.unlink(missing_ok=True)


def _orphans() -> list[int]:
    found = []
    for proc in Path("/proc").glob("[0-9]*"):
        try:
            if Path(os.readlink(proc / "cwd")) == PGDATA:
                found.append(int(proc.name))
        except OSError:
            continue
    return found


def start(install: PgInstall, user: SystemUser | None, port: int) -> PgRunning:
    socket_dir = socket_dir_for(port)
    socket_dir.mkdir(mode=0o700, exist_ok=True)
    chown_to(socket_dir, user)
    socket_dir.chmod(0o700)  # whoever reaches the socket may log in as the superuser
    remove_stale_locks(socket_dir)
    PG_LOG.touch(mode=0o600)
    chown_to(PG_LOG, user)
    write_config(port, socket_dir, user)
    pg_ctl = [install.tool("pg_ctl"), "-D", str(PGDATA), "-l", str(PG_LOG), "-w", "-t", "60"]
    result = run_as(user, [*pg_ctl, "-s", "start"])
    now = running()
    if result.returncode != 0 or now is None:
        raise ServiceError(f"PostgreSQL did not start; {PG_LOG} ends with:\n{log_tail(PG_LOG)}")
    return now


def is_ready(install: PgInstall, pg: PgRunning) -> bool:
    argv = [install.tool("pg_isready"), "-q", "-h", pg.socket_dir, "-p", str(pg.port),
            "-U", SUPERUSER, "-d", "postgres"]  # fmt: skip
    return subprocess.run(argv, env=tool_env(), capture_output=True).returncode == 0


# --- roles, database, extension ----------------------------------------------------------


def passwords() -> dict[str, str]:
    """Role passwords, generated once. If the file is lost, new ones are made and applied."""
    known = load_json(PASSWORDS_FILE)
    if all(known.get(role) for role in (OWNER_ROLE, APP_ROLE)):
        return known
    for role in (OWNER_ROLE, APP_ROLE):
        known.setdefault(role, secrets.token_urlsafe(24))
    write_private(PASSWORDS_FILE, json.dumps(known, indent=2) + "\n")
    return known


def sql_literal(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


def bootstrap_sql(role_passwords: dict[str, str]) -> str:
    """Idempotent and convergent: role attributes and passwords are re-asserted every time.

    template1 gets the extension too, so test databases (pytest-django creates them as
    engram_owner) have pgvector without needing superuser rights. `ALTER EXTENSION ...
    UPDATE` brings databases made under an older pgvector to the installed default version
    (a no-op when current); only a superuser may update it, so migrations cannot.
    """
    owner_pw = sql_literal(role_passwords[OWNER_ROLE])
    app_pw = sql_literal(role_passwords[APP_ROLE])
    return f"""
SELECT 'CREATE ROLE {OWNER_ROLE}' WHERE NOT EXISTS
  (SELECT FROM pg_roles WHERE rolname = '{OWNER_ROLE}') \\gexec
SELECT 'CREATE ROLE {APP_ROLE}' WHERE NOT EXISTS
  (SELECT FROM pg_roles WHERE rolname = '{APP_ROLE}') \\gexec
ALTER ROLE {OWNER_ROLE} WITH LOGIN CREATEDB NOSUPERUSER NOCREATEROLE NOREPLICATION NOBYPASSRLS
  PASSWORD {owner_pw};
ALTER ROLE {APP_ROLE} WITH LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION NOBYPASSRLS
  PASSWORD {app_pw};
\\connect template1
CREATE EXTENSION IF NOT EXISTS vector;
ALTER EXTENSION vector UPDATE;
\\connect postgres
SELECT 'CREATE DATABASE {DATABASE} OWNER {OWNER_ROLE}' WHERE NOT EXISTS
  (SELECT FROM pg_database WHERE datname = '{DATABASE}') \\gexec
ALTER DATABASE {DATABASE} OWNER TO {OWNER_ROLE};
\\connect {DATABASE}
CREATE EXTENSION IF NOT EXISTS vector;
ALTER EXTENSION vector UPDATE;
"""  # noqa: S608 - identifiers are our constants; passwords go through sql_literal


def bootstrap(install: PgInstall, pg: PgRunning) -> None:
    # The script goes through stdin so that passwords never show up in a process listing.
    argv = [install.tool("psql"), "-X", "-q", "-v", "ON_ERROR_STOP=1", "-h", pg.socket_dir,
            "-p", str(pg.port), "-U", SUPERUSER, "-d", "postgres", "-f", "-"]  # fmt: skip
    script = bootstrap_sql(passwords())
    result = subprocess.run(argv, input=script, env=tool_env(), capture_output=True, text=True)
    if result.returncode != 0:
        raise ServiceError(f"bootstrapping roles and database failed:\n{result.stderr}")


def connection_urls(port: int) -> dict[str, str]:
    known = passwords()
    where = f"@{LOCALHOST}:{port}/{DATABASE}"
    return {
        "DATABASE_URL": f"postgres://{APP_ROLE}:{known[APP_ROLE]}{where}",
        "DATABASE_OWNER_URL": f"postgres://{OWNER_ROLE}:{known[OWNER_ROLE]}{where}",
    }


# --- entry points for devservices.py -----------------------------------------------------


def ensure_up(state: dict[str, Any]) -> ServiceUp:
    """Initialise, start and bootstrap the cluster as needed; records port/binaries in state."""
    install = select_install(state)
    upgrade_pgvector(install)  # before the postmaster starts: never under a running one
    user = cluster_user()
    if user:
        DATA.chmod(0o711)  # search only: the secrets beside the cluster stay private
        grant_traverse(DATA)
        prepare_install(install)
    if not has_cluster():
        initdb(install, user)
    pg, started = running(), False
    wanted = os.environ.get("ENGRAM_PG_PORT")
    if pg and wanted and int(wanted) != pg.port:
        print(f"postgres: running on {pg.port}; ENGRAM_PG_PORT={wanted} applies after `down`")
    if pg is None:
        remembered = state.get("postgres", {}).get("port")
        port = choose_port("postgres", "ENGRAM_PG_PORT", remembered, DEFAULT_PORT)
        pg, started = start(install, user, port), True
    else:
        sync_config(install, user, pg)
    ready = pg
    wait_until(lambda: is_ready(install, ready), "PostgreSQL to accept connections")
    bootstrap(install, pg)
    major = install.major_version()
    state["postgres"] = {"port": pg.port, "bindir": str(install.bindir),
                         "source": install.source, "major": major}  # fmt: skip
    detail = f"PostgreSQL {major} from {install.source}, pid {pg.pid}"
    return ServiceUp("postgres", pg.port, started, detail)


def stop(state: dict[str, Any]) -> bool:
    """Stop the cluster if it runs; True if it did."""
    pg = running()
    if pg is None:
        return False
    install, user = select_install(state), cluster_user()
    pg_ctl = [install.tool("pg_ctl"), "-D", str(PGDATA), "-w", "-t", "60", "-s", "stop"]
    if run_as(user, [*pg_ctl, "-m", "fast"]).returncode != 0:
        # A stuck session blocked the fast shutdown; immediate is crash-safe thanks to WAL.
        run_as(user, [*pg_ctl, "-m", "immediate"])
    if running() is not None:
        raise ServiceError(f"PostgreSQL (pid {pg.pid}) did not stop; see {PG_LOG}")
    return True


def describe() -> str:
    pg = running()
    if pg:
        return f"postgres  running  {LOCALHOST}:{pg.port}  pid {pg.pid}  data {PGDATA}"
    return f"postgres  {'stopped' if has_cluster() else 'not initialised'}  data {PGDATA}"
