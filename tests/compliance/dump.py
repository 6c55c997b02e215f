"""A raw dump of the test database with the real `pg_dump`, as the owner role.

The tenant tables FORCE row-level security even for their owner, so the dump runs with
`--enable-row-security` and the project's id as a session setting: exactly the rows a
database owner can read of that project (no superuser needed).
"""

import os
import shutil
import subprocess
from pathlib import Path
from uuid import UUID

from tests.conftest import owner_connection_kwargs


def pg_dump_binary() -> str:
    try:
        import pgserver

        bundled = Path(pgserver.__file__).parent / "pginstall" / "bin" / "pg_dump"
        if bundled.exists():
            return str(bundled)
    except ImportError:
        pass
    found = shutil.which("pg_dump")
    if not found:
        raise RuntimeError("no pg_dump binary: install PostgreSQL client tools")
    return found


def project_dump(project_id: UUID | str) -> str:
    conn = owner_connection_kwargs()
    env = {
        **os.environ,
        "PGPASSWORD": conn["password"] or "",
        "PGOPTIONS": f"-c app.project_id={project_id}",
    }
    argv = [
        pg_dump_binary(),
        "--data-only",
        "--enable-row-security",
        "--no-owner",
        "-h",
        str(conn["host"]),
        "-p",
        str(conn["port"]),
        "-U",
        conn["user"],
        conn["dbname"],
    ]
    result = subprocess.run(argv, env=env, capture_output=True, timeout=120, check=False)
    assert result.returncode == 0, result.stderr.decode(errors="replace")
    return result.stdout.decode(errors="replace")
