"""`manage.py check --deploy` is clean with a production-like environment (DEBUG off, real
secret, secure cookies, HTTPS redirect, HSTS): the settings reach every item of Django's
deployment checklist through environment variables alone."""

import os
import secrets
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]

PRODUCTION_ENV = {
    "ENGRAM_TESTING": "0",
    "DJANGO_DEBUG": "0",
    "DJANGO_ALLOWED_HOSTS": "engram.example.com",
    "ENGRAM_SECURE_COOKIES": "1",
    "ENGRAM_SSL_REDIRECT": "1",
    "ENGRAM_HSTS_SECONDS": "31536000",
    "ENGRAM_HSTS_INCLUDE_SUBDOMAINS": "1",
    "ENGRAM_HSTS_PRELOAD": "1",
}


def run_check(extra: dict[str, str]) -> subprocess.CompletedProcess[str]:
    env = {key: value for key, value in os.environ.items() if not key.startswith("PYTEST")}
    env.pop("DJANGO_SECRET_KEY_FILE", None)
    env.update({"DJANGO_SECRET_KEY": secrets.token_urlsafe(64), **extra})
    return subprocess.run(
        [sys.executable, "manage.py", "check", "--deploy", "--fail-level", "WARNING"],
        cwd=REPO, env=env, capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip


def test_check_deploy_is_clean_with_production_settings():
    result = run_check(PRODUCTION_ENV)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "no issues" in result.stdout


def test_check_deploy_flags_a_debug_deployment():
    """The check is live: the same command fails when DEBUG is left on."""
    result = run_check({**PRODUCTION_ENV, "DJANGO_DEBUG": "1"})
    assert result.returncode != 0
    assert "security.W018" in result.stdout + result.stderr
