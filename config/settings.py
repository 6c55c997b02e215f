"""Engram settings: everything comes from the environment (12-factor), with typed helpers.

`make run` and `make test` start private PostgreSQL and Redis under `.data/` when
DATABASE_URL / REDIS_URL are unset and write their addresses to `.data/runtime.env`;
that file is read here so that `manage.py` in another shell reaches the same services.
Variables already in the environment always win over the file.
"""

import os
import sys
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import dj_database_url
from django.core.exceptions import ImproperlyConfigured

BASE_DIR = Path(__file__).resolve().parent.parent
RUNTIME_ENV_FILE = BASE_DIR / ".data" / "runtime.env"


# A URL given in the environment brings its own partner: never pair an external database
# with the private cluster's owner role (migrations would run against the wrong server).
PAIRED_VARIABLES = {"DATABASE_OWNER_URL": "DATABASE_URL"}


def load_runtime_env(path: Path) -> None:
    if not path.exists():
        return
    given = set(os.environ)
    for line in path.read_text().splitlines():
        line = line.strip()
        if not line or line.startswith("#") or "=" not in line:
            continue
        key, value = (part.strip() for part in line.split("=", 1))
        partner = PAIRED_VARIABLES.get(key)
        if partner and partner in given and key not in given:
            continue
        os.environ.setdefault(key, value)


if os.environ.get("ENGRAM_IGNORE_RUNTIME_ENV", "") != "1":
    load_runtime_env(RUNTIME_ENV_FILE)


def env_str(name: str, default: str = "") -> str:
    return os.environ.get(name, default)


def env_bool(name: str, default: bool = False) -> bool:
    value = os.environ.get(name)
    if value is None or value == "":
        return default
    return value.strip().lower() in {"1", "true", "yes", "on"}


def env_int(name: str, default: int) -> int:
    value = os.environ.get(name, "")
    return int(value) if value.strip() else default


def env_float(name: str, default: float) -> float:
    value = os.environ.get(name, "")
    return float(value) if value.strip() else default


def env_list(name: str, default: str = "") -> list[str]:
    return [item.strip() for item in os.environ.get(name, default).split(",") if item.strip()]


def env_secret(name: str) -> str:
    """A secret from NAME, or from the file named by NAME_FILE (Docker/Kubernetes secrets)."""
    value = os.environ.get(name, "")
    if value:
        return value
    file_name = os.environ.get(f"{name}_FILE", "")
    if file_name:
        return Path(file_name).read_text().strip()
    return ""


DEBUG = env_bool("DJANGO_DEBUG", False)
# pytest imports these settings before any conftest runs, hence the sys.modules check.
TESTING = env_bool("ENGRAM_TESTING", "pytest" in sys.modules)

SECRET_KEY = env_secret("DJANGO_SECRET_KEY")
if not SECRET_KEY:
    if not (DEBUG or TESTING):
        raise ImproperlyConfigured(
            "DJANGO_SECRET_KEY (or DJANGO_SECRET_KEY_FILE) must be set when DJANGO_DEBUG is off."
        )
    SECRET_KEY = "insecure-development-key-never-use-in-production"
SECRET_KEY_FALLBACKS = env_list("DJANGO_SECRET_KEY_FALLBACKS")

ALLOWED_HOSTS = env_list("DJANGO_ALLOWED_HOSTS", "127.0.0.1,localhost,[::1]")
if TESTING:
    ALLOWED_HOSTS.append("testserver")
CSRF_TRUSTED_ORIGINS = env_list("DJANGO_CSRF_TRUSTED_ORIGINS")

INSTALLED_APPS = [
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django.contrib.postgres",
    "rest_framework",
    # OpenAPI schema and locally served Swagger UI / Redoc (config/openapi.py).
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "tenants",
    "audit",
    "memory",
    "integrations",
    # Console two-factor sign-in (TOTP devices); see tenants/console/auth.py.
    "django_otp",
    "django_otp.plugins.otp_totp",
]

MIDDLEWARE = [
    "integrations.metrics.PrometheusMiddleware",
    "memory.api.search.EarlyQueryEmbeddingMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "config.middleware.RequestIdMiddleware",
    "config.quotas.RequestLimitsMiddleware",
    "config.middleware.CollapseSlashesMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

ROOT_URLCONF = "config.urls"
WHITENOISE_USE_FINDERS = True
WSGI_APPLICATION = "config.wsgi.application"
# The Mem0 client never follows redirects: serve slash and no-slash paths directly.
APPEND_SLASH = False

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]

# --- Database -------------------------------------------------------------------------------
# The application connects as a role that owns nothing and cannot bypass row-level security;
# schema changes (manage.py migrate) run as the owner role (ENGRAM_DB_ROLE=owner).
DATABASE_URL = env_secret("DATABASE_URL")
DATABASE_OWNER_URL = env_secret("DATABASE_OWNER_URL") or DATABASE_URL
if not DATABASE_URL:
    raise ImproperlyConfigured(
        "DATABASE_URL is not set. Run `make run` (it starts a private PostgreSQL under .data/) "
        "or export DATABASE_URL=postgres://user:password@host:5432/dbname."
    )
ENGRAM_DB_ROLE = env_str("ENGRAM_DB_ROLE", "app")
_active_url = DATABASE_OWNER_URL if ENGRAM_DB_ROLE == "owner" else DATABASE_URL
DATABASES: dict[str, dict[str, Any]] = {
    "default": dict(
        dj_database_url.parse(
            _active_url,
            conn_max_age=env_int("DATABASE_CONN_MAX_AGE", 60),
            conn_health_checks=True,
        )
    )
}
# A PostgreSQL backend whose connection health check polls the socket instead of a round
# trip (config/postgres_backend/base.py).
DATABASES["default"]["ENGINE"] = "config.postgres_backend"
# Search prepares its one large statement per connection (memory/retrieval/whole_scope.py);
# nothing else is ever prepared: Django's cursors bind client-side, and the threshold is out
# of reach. Off for a pooler in transaction mode that cannot keep prepared statements
# (PgBouncer before 1.21).
DATABASE_PREPARED_STATEMENTS = env_bool("DATABASE_PREPARED_STATEMENTS", True)
DATABASES["default"]["OPTIONS"] = {
    "connect_timeout": 5,
    "prepare_threshold": 2**31 - 1 if DATABASE_PREPARED_STATEMENTS else None,
}
DATABASES["default"]["TEST"] = {"NAME": env_str("ENGRAM_TEST_DATABASE", "") or None}
# The role that the policy migrations grant privileges to.
ENGRAM_APP_DB_ROLE = urlsplit(DATABASE_URL).username or ""
ENGRAM_OWNER_DB_ROLE = urlsplit(DATABASE_OWNER_URL).username or ""
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# --- Redis, cache and Celery ----------------------------------------------------------------
REDIS_URL = env_secret("REDIS_URL")
if not REDIS_URL:
    raise ImproperlyConfigured(
        "REDIS_URL is not set. Run `make run` (it starts a private Redis under .data/) "
        "or export REDIS_URL=redis://host:6379/0."
    )
# Tests get a key prefix and a queue of their own, so a `make run` worker on the same Redis
# never takes a test's job (it would look for it in the wrong database).
ENGRAM_REDIS_PREFIX = env_str("ENGRAM_REDIS_PREFIX", "engram-test" if TESTING else "engram")
CACHES = {
    "default": {
        "BACKEND": "django.core.cache.backends.redis.RedisCache",
        "LOCATION": REDIS_URL,
        "KEY_PREFIX": ENGRAM_REDIS_PREFIX,
        "TIMEOUT": 300,
    }
}
CELERY_BROKER_URL = REDIS_URL
CELERY_TASK_IGNORE_RESULT = True
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_DEFAULT_QUEUE = env_str("ENGRAM_CELERY_QUEUE", "engram-test" if TESTING else "engram")
CELERY_BROKER_TRANSPORT_OPTIONS = {
    # A message whose worker died is redelivered after this; the job sweeper is faster.
    "visibility_timeout": env_int("ENGRAM_CELERY_VISIBILITY_TIMEOUT", 3600),
    "global_keyprefix": f"{ENGRAM_REDIS_PREFIX}:celery:",
}
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
CELERY_TASK_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_TIMEZONE = "UTC"
# --- Ingestion jobs and memory tiers (memory/ingestion, memory/tasks.py) ---------------------
# An identical add (same scope, messages and options) within this window is not ingested twice.
ENGRAM_IDEMPOTENCY_WINDOW = env_int("ENGRAM_IDEMPOTENCY_WINDOW", 300)
ENGRAM_JOB_MAX_ATTEMPTS = env_int("ENGRAM_JOB_MAX_ATTEMPTS", 5)
# Retry n waits base * 2**(n-1) seconds (+ up to 25% jitter), capped.
ENGRAM_JOB_RETRY_BASE_SECONDS = env_float("ENGRAM_JOB_RETRY_BASE_SECONDS", 2.0)
ENGRAM_JOB_RETRY_MAX_SECONDS = env_float("ENGRAM_JOB_RETRY_MAX_SECONDS", 300.0)
# A RUNNING job whose heartbeat is older than this belongs to a dead worker: re-claimable.
ENGRAM_JOB_HEARTBEAT_STALE_SECONDS = env_float("ENGRAM_JOB_HEARTBEAT_STALE_SECONDS", 60.0)
# A PENDING job not picked up for this long is enqueued again (its message may be lost).
ENGRAM_JOB_REDISPATCH_SECONDS = env_float("ENGRAM_JOB_REDISPATCH_SECONDS", 120.0)
ENGRAM_JOB_SWEEP_SECONDS = env_float("ENGRAM_JOB_SWEEP_SECONDS", 30.0)
ENGRAM_JOB_SOFT_TIME_LIMIT = env_int("ENGRAM_JOB_SOFT_TIME_LIMIT", 300)
ENGRAM_SHORT_TERM_MESSAGES = env_int("ENGRAM_SHORT_TERM_MESSAGES", 20)
ENGRAM_WORKING_STATE_MAX_BYTES = env_int("ENGRAM_WORKING_STATE_MAX_BYTES", 64 * 1024)
ENGRAM_WORKING_STATE_CACHE_SECONDS = env_int("ENGRAM_WORKING_STATE_CACHE_SECONDS", 3600)
CELERY_BEAT_SCHEDULE: dict[str, dict[str, Any]] = {
    "sweep-webhook-deliveries": {
        "task": "integrations.sweep_webhook_deliveries",
        "schedule": 60.0,
        "options": {"expires": 60.0},
    },
    "sweep-ingestion-jobs": {
        "task": "memory.sweep_ingestion_jobs",
        "schedule": ENGRAM_JOB_SWEEP_SECONDS,
        "options": {"expires": ENGRAM_JOB_SWEEP_SECONDS},
    },
    # Compliance (audit/tasks.py): retention sweep, signed audit checkpoints, and re-queueing
    # of data-subject requests whose message was lost or whose worker died.
    "audit-retention-sweep": {
        "task": "audit.retention_sweep",
        "schedule": env_int("ENGRAM_RETENTION_SWEEP_SECONDS", 3600),
        "options": {"expires": env_int("ENGRAM_RETENTION_SWEEP_SECONDS", 3600)},
    },
    "audit-checkpoint": {
        "task": "audit.checkpoint",
        "schedule": env_int("ENGRAM_AUDIT_CHECKPOINT_SECONDS", 3600),
        "options": {"expires": env_int("ENGRAM_AUDIT_CHECKPOINT_SECONDS", 3600)},
    },
    "audit-gdpr-requests-resume": {
        "task": "audit.gdpr_requests_resume",
        "schedule": 300,
        "options": {"expires": 300},
    },
}

# --- API ------------------------------------------------------------------------------------
REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": ["tenants.authentication.ApiKeyAuthentication"],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    # DRF's JSONParser plus nesting and Unicode checks (hostile input must be a 400).
    "DEFAULT_PARSER_CLASSES": ["config.quotas.SafeJSONParser"],
    "EXCEPTION_HANDLER": "config.errors.api_exception_handler",
    "DEFAULT_SCHEMA_CLASS": "config.openapi.EngramAutoSchema",
    "UNAUTHENTICATED_USER": None,
    "UNAUTHENTICATED_TOKEN": None,
}
SPECTACULAR_SETTINGS = {
    "TITLE": "Engram API",
    "DESCRIPTION": "Multi-tenant memory for AI agents; Mem0 platform compatible.",
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    # Swagger UI and Redoc from the drf-spectacular-sidecar package: no CDN, works offline.
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    "PREPROCESSING_HOOKS": ["config.openapi.preprocess_endpoints"],
    "POSTPROCESSING_HOOKS": [
        "drf_spectacular.hooks.postprocess_schema_enums",
        "config.openapi.postprocess_schema",
    ],
    "COMPONENT_SPLIT_REQUEST": True,
}
ATOMIC_REQUESTS = False  # API views open their own tenant transaction (tenants.api_base).
DATA_UPLOAD_MAX_MEMORY_SIZE = env_int("ENGRAM_MAX_REQUEST_BYTES", 2 * 1024 * 1024)

# --- Limits (config/quotas.py, docs/limits.md): defaults; Project.options["limits"] overrides.
# 0 means "no limit". Request counters are fixed windows in Redis, atomic (Lua).
ENGRAM_RATE_LIMIT_PER_KEY = env_int("ENGRAM_RATE_LIMIT_PER_KEY", 600)
ENGRAM_RATE_LIMIT_PER_PROJECT = env_int("ENGRAM_RATE_LIMIT_PER_PROJECT", 3000)
ENGRAM_RATE_LIMIT_WINDOW_SECONDS = env_int("ENGRAM_RATE_LIMIT_WINDOW_SECONDS", 60)
ENGRAM_MAX_MEMORIES_PER_PROJECT = env_int("ENGRAM_MAX_MEMORIES_PER_PROJECT", 2_000_000)
ENGRAM_MAX_JOBS_IN_FLIGHT = env_int("ENGRAM_MAX_JOBS_IN_FLIGHT", 1000)
ENGRAM_LLM_TOKENS_PER_DAY = env_int("ENGRAM_LLM_TOKENS_PER_DAY", 20_000_000)
ENGRAM_EMBEDDING_TOKENS_PER_DAY = env_int("ENGRAM_EMBEDDING_TOKENS_PER_DAY", 100_000_000)
# Seconds a quota counter may take before the limiter gives up and fails open.
ENGRAM_QUOTA_REDIS_TIMEOUT = env_float("ENGRAM_QUOTA_REDIS_TIMEOUT", 0.5)

# --- Engram ---------------------------------------------------------------------------------
ENGRAM_MASTER_KEY = env_secret("ENGRAM_MASTER_KEY")
ENGRAM_MASTER_KEY_PREVIOUS = env_list("ENGRAM_MASTER_KEY_PREVIOUS")
if not ENGRAM_MASTER_KEY and not DEBUG:
    raise ImproperlyConfigured(
        "ENGRAM_MASTER_KEY (or ENGRAM_MASTER_KEY_FILE) must be set: it wraps every project's "
        'data keys. Generate one with: python -c "import os,base64;'
        'print(base64.urlsafe_b64encode(os.urandom(32)).decode())"'
    )
ENGRAM_API_KEY_PEPPER = env_secret("ENGRAM_API_KEY_PEPPER") or ENGRAM_MASTER_KEY
ENGRAM_KEY_CACHE_SECONDS = env_int("ENGRAM_KEY_CACHE_SECONDS", 300)

ENGRAM_EMBEDDER = env_str("ENGRAM_EMBEDDER", "local")
ENGRAM_EMBEDDING_DIM = env_int("ENGRAM_EMBEDDING_DIM", 384)
ENGRAM_EMBEDDING_MODEL = env_str("ENGRAM_EMBEDDING_MODEL", "all-MiniLM-L6-v2")
# The local model: int8 (fast; cosine >= 0.98 to fp32) or fp32 (sentence-transformers' exact
# vectors). Built once from the bundled weights and cached in ENGRAM_MODEL_CACHE_DIR.
ENGRAM_EMBEDDER_PRECISION = env_str("ENGRAM_EMBEDDER_PRECISION", "int8")
ENGRAM_MODEL_CACHE_DIR = env_str("ENGRAM_MODEL_CACHE_DIR") or str(BASE_DIR / ".data" / "models")
ENGRAM_EMBEDDING_BASE_URL = env_str("ENGRAM_EMBEDDING_BASE_URL")
ENGRAM_EMBEDDING_API_KEY = env_secret("ENGRAM_EMBEDDING_API_KEY")
OPENAI_BASE_URL = env_str("OPENAI_BASE_URL")
OPENAI_API_KEY = env_secret("OPENAI_API_KEY")
ENGRAM_LLM_MODEL = env_str("ENGRAM_LLM_MODEL", "gpt-4o-mini")
ENGRAM_OUTBOUND_TIMEOUT = env_float("ENGRAM_OUTBOUND_TIMEOUT", 20.0)
ENGRAM_OUTBOUND_MAX_RETRIES = env_int("ENGRAM_OUTBOUND_MAX_RETRIES", 2)
# Ask OpenAI-style endpoints for vectors of ENGRAM_EMBEDDING_DIM (text-embedding-3-*).
ENGRAM_EMBEDDING_SEND_DIMENSIONS = env_bool("ENGRAM_EMBEDDING_SEND_DIMENSIONS", False)

ENGRAM_MAX_MEMORY_CHARS = env_int("ENGRAM_MAX_MEMORY_CHARS", 8000)
ENGRAM_MAX_MESSAGES_PER_ADD = env_int("ENGRAM_MAX_MESSAGES_PER_ADD", 200)

# --- Static files, auth, i18n -----------------------------------------------------------------
STATIC_URL = "static/"
STATIC_ROOT = BASE_DIR / ".data" / "static"
STATICFILES_DIRS = [BASE_DIR / "static"] if (BASE_DIR / "static").exists() else []
LOGIN_URL = "/console/login/"
LOGIN_REDIRECT_URL = "/console/"
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

# --- Security (production defaults; see `manage.py check --deploy`) -----------------------------
SECURE_PROXY_SSL_HEADER = (
    ("HTTP_X_FORWARDED_PROTO", "https") if env_bool("ENGRAM_BEHIND_TLS_PROXY") else None
)
SESSION_COOKIE_SECURE = env_bool("ENGRAM_SECURE_COOKIES", not DEBUG and not TESTING)
CSRF_COOKIE_SECURE = SESSION_COOKIE_SECURE
SESSION_COOKIE_HTTPONLY = True
SECURE_CONTENT_TYPE_NOSNIFF = True
X_FRAME_OPTIONS = "DENY"
SECURE_SSL_REDIRECT = env_bool("ENGRAM_SSL_REDIRECT", False)
SECURE_HSTS_SECONDS = env_int("ENGRAM_HSTS_SECONDS", 0)
# Deployment decisions (every subdomain on HTTPS; browser preload list): off unless asked.
SECURE_HSTS_INCLUDE_SUBDOMAINS = env_bool("ENGRAM_HSTS_INCLUDE_SUBDOMAINS", False)
SECURE_HSTS_PRELOAD = env_bool("ENGRAM_HSTS_PRELOAD", False)

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {
        "json": {"()": "config.logging.JsonFormatter"},
    },
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "json"}},
    "root": {"handlers": ["console"], "level": env_str("ENGRAM_LOG_LEVEL", "INFO")},
    "loggers": {
        "django.db.backends": {"level": "WARNING"},
    },
}
