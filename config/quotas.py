"""Resource limits that protect the platform (OWASP API4), enforced with atomic Redis counters.

Per API key and per project: requests per window (fixed window, 60 s by default), bytes per
request, memories stored, ingestion jobs in flight, LLM and embedding tokens per UTC day.
Defaults come from settings (ENGRAM_RATE_LIMIT_* and friends, env-driven); a project can
override any of them in `Project.options["limits"]` (see LIMIT_NAMES; 0 means "no limit").

Why Lua scripts and not DRF throttling: DRF's throttles read, compare and write in three
round trips, so concurrent requests all pass; a script runs atomically inside Redis.

Redis down: request-rate and spend limits fail OPEN (the request is served, a warning is
logged, and Redis is left alone for a few seconds so every request does not pay a timeout).
Losing Redis should cost us the limiter, not the API. The stored-memories and jobs-in-flight
limits fall back to counting in PostgreSQL, which is there whenever a write can succeed.
See docs/limits.md.
"""

import logging
import math
import time
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import redis
from django.conf import settings
from django.http import HttpRequest, HttpResponse
from rest_framework.exceptions import ParseError
from rest_framework.parsers import JSONParser

from config.errors import EngramError, InvalidInput, PayloadTooLarge, RateLimited, error_body

logger = logging.getLogger(__name__)

# name in Project.options["limits"] -> the setting that holds its default
LIMIT_NAMES: dict[str, str] = {
    "key_requests_per_minute": "ENGRAM_RATE_LIMIT_PER_KEY",
    "project_requests_per_minute": "ENGRAM_RATE_LIMIT_PER_PROJECT",
    "request_bytes": "DATA_UPLOAD_MAX_MEMORY_SIZE",
    "memories": "ENGRAM_MAX_MEMORIES_PER_PROJECT",
    "jobs_in_flight": "ENGRAM_MAX_JOBS_IN_FLIGHT",
    "llm_tokens_per_day": "ENGRAM_LLM_TOKENS_PER_DAY",
    "embedding_tokens_per_day": "ENGRAM_EMBEDDING_TOKENS_PER_DAY",
}
SPEND_KINDS = ("llm", "embedding")
# After a Redis error, skip Redis for this long: a dead Redis must not add a timeout to
# every request (fail open fast).
REDIS_BACKOFF_SECONDS = 5.0
# Cached counts (memories, jobs) are re-read from PostgreSQL this often; in between they are
# only incremented, so they can overcount (never undercount) what was accepted meanwhile.
MEMORY_COUNT_TTL_MS = 60_000
JOB_COUNT_TTL_MS = 5_000


class MemoryQuotaExceeded(EngramError):
    """413: what the Mem0 client raises as MemoryQuotaExceededError."""

    status_code = 413
    code = "memory_quota_exceeded"


@dataclass(frozen=True)
class Limits:
    key_requests_per_minute: int
    project_requests_per_minute: int
    request_bytes: int
    memories: int
    jobs_in_flight: int
    llm_tokens_per_day: int
    embedding_tokens_per_day: int


@dataclass(frozen=True)
class RateState:
    """What the X-RateLimit-* headers say: the counter closest to its limit."""

    limit: int
    remaining: int
    reset_seconds: int


# --- limits -----------------------------------------------------------------------------------


def default_limits() -> Limits:
    return Limits(**{name: int(getattr(settings, source)) for name, source in LIMIT_NAMES.items()})


def limits_validate(raw: Any) -> dict[str, int]:
    """Per-project overrides as the console or an admin API should store them."""
    if not isinstance(raw, dict):
        raise InvalidInput("limits: expected an object.")
    clean: dict[str, int] = {}
    for name, value in raw.items():
        if name not in LIMIT_NAMES:
            raise InvalidInput(f"limits.{name}: unknown limit; known: {', '.join(LIMIT_NAMES)}.")
        if isinstance(value, bool) or not isinstance(value, int) or value < 0:
            raise InvalidInput(f"limits.{name}: expected a whole number >= 0 (0 = no limit).")
        clean[name] = value
    return clean


def project_limits(project: Any) -> Limits:
    """Settings defaults, overridden by the project's `options["limits"]`. A malformed override
    is ignored (and logged): a bad console edit must not take a project's API down."""
    limits = asdict(default_limits())
    options = getattr(project, "options", None)
    overrides = options.get("limits") if isinstance(options, dict) else None
    if overrides:
        try:
            limits.update(limits_validate(overrides))
        except InvalidInput as exc:
            logger.warning("ignoring invalid limits of project %s: %s", project.id, exc.message)
    # Django refuses bodies above DATA_UPLOAD_MAX_MEMORY_SIZE anyway: a project can go lower.
    ceiling = settings.DATA_UPLOAD_MAX_MEMORY_SIZE
    limits["request_bytes"] = min(limits["request_bytes"] or ceiling, ceiling)
    return Limits(**limits)


# --- Redis ------------------------------------------------------------------------------------

_client: redis.Redis | None = None
_redis_skip_until = 0.0


def redis_client() -> redis.Redis:
    """One pool per process (redis-py re-creates it after a fork), short timeouts."""
    global _client
    if _client is None:
        timeout = settings.ENGRAM_QUOTA_REDIS_TIMEOUT
        _client = redis.Redis.from_url(
            settings.REDIS_URL, socket_timeout=timeout, socket_connect_timeout=timeout,
            retry_on_timeout=False, health_check_interval=30,
        )  # fmt: skip
    return _client


def _redis_available() -> bool:
    return time.monotonic() >= _redis_skip_until


def _redis_failed(what: str, exc: Exception) -> None:
    global _redis_skip_until
    _redis_skip_until = time.monotonic() + REDIS_BACKOFF_SECONDS
    logger.warning("quota counters unavailable (%s), failing open: %s", what, exc)


def _key(*parts: object) -> str:
    return ":".join([settings.ENGRAM_REDIS_PREFIX, "quota", *(str(part) for part in parts)])


# KEYS: counters; ARGV[1]: window in ms, ARGV[1 + i]: the limit of KEYS[i] (0 = none).
# Nothing is counted unless every counter has room, so a refused request costs no quota.
# Returns {refused index or 0, count_1, pttl_1, count_2, pttl_2, ...}.
_RATE_SCRIPT = """
local window = tonumber(ARGV[1])
local state = {0}
for i, key in ipairs(KEYS) do
  local count = tonumber(redis.call('GET', key) or '0')
  local ttl = redis.call('PTTL', key)
  local limit = tonumber(ARGV[i + 1])
  if limit > 0 and count >= limit then
    state[1] = i
  end
  state[#state + 1] = count
  state[#state + 1] = ttl
end
if state[1] > 0 then return state end
for i, key in ipairs(KEYS) do
  local count = redis.call('INCR', key)
  if count == 1 or redis.call('PTTL', key) < 0 then redis.call('PEXPIRE', key, window) end
  state[2 * i] = count
  state[2 * i + 1] = redis.call('PTTL', key)
end
return state
"""

# KEYS[1]: a cached count; ARGV: adding, limit, seed (-1 = none), ttl ms.
# Returns {1, new count} (counted), {0, count} (refused) or {-1} (no count cached: seed it).
_GATE_SCRIPT = """
local current = redis.call('GET', KEYS[1])
if not current then
  if tonumber(ARGV[3]) < 0 then return {-1} end
  current = ARGV[3]
  redis.call('SET', KEYS[1], current, 'PX', ARGV[4])
end
current = tonumber(current)
local adding = tonumber(ARGV[1])
if current + adding > tonumber(ARGV[2]) then return {0, current} end
if adding > 0 then redis.call('INCRBY', KEYS[1], adding) end
return {1, current + adding}
"""


def _run_script(source: str, keys: list[str], args: list[int]) -> list[int]:
    script = redis_client().register_script(source)  # EVALSHA, falling back to EVAL
    return [int(value) for value in script(keys=keys, args=args)]


# --- requests: rate and size -------------------------------------------------------------------

RATE_STATE_ATTRIBUTE = "_engram_rate_state"


def enforce_request_quota(*, project: Any, api_key: Any, request: Any) -> None:
    """Called by ProjectApiView.initial once the key is known, before the body is parsed:
    413 for a body over the project's byte limit, 429 once a per-key or per-project request
    counter is full. Leaves the state for the X-RateLimit-* headers on the request."""
    limits = project_limits(project)
    _check_body_size(request, limits.request_bytes)
    counters = [
        ("key_requests_per_minute", _key("rpm", "key", api_key.id), limits.key_requests_per_minute),
        (
            "project_requests_per_minute",
            _key("rpm", "project", project.id),
            limits.project_requests_per_minute,
        ),
    ]
    counters = [counter for counter in counters if counter[2] > 0]
    if not counters or not _redis_available():
        return
    window_ms = int(settings.ENGRAM_RATE_LIMIT_WINDOW_SECONDS * 1000)
    try:
        state = _run_script(
            _RATE_SCRIPT, [key for _, key, _ in counters], [window_ms, *(c[2] for c in counters)]
        )
    except redis.RedisError as exc:
        _redis_failed("rate limit", exc)
        return
    _apply_rate_state(request, counters, state)


def _apply_rate_state(request: Any, counters: list[tuple[str, str, int]], state: list[int]) -> None:
    window = int(settings.ENGRAM_RATE_LIMIT_WINDOW_SECONDS)
    readings = []
    for index, (name, _key_name, limit) in enumerate(counters):
        count, pttl = state[1 + 2 * index], state[2 + 2 * index]
        reset = math.ceil(pttl / 1000) if pttl > 0 else window
        readings.append((name, limit, max(limit - count, 0), max(reset, 1)))
    # The headers describe the counter closest to refusing (the one a client must pace to).
    name, limit, remaining, reset = min(readings, key=lambda reading: reading[2])
    setattr(request, RATE_STATE_ATTRIBUTE, RateState(limit, remaining, reset))
    if state[0] > 0:
        name, limit, _remaining, reset = readings[state[0] - 1]
        raise RateLimited(
            f"Rate limit exceeded: {limit} requests per {window} s "
            f"{'per API key' if name.startswith('key') else 'per project'} ({name}). "
            f"Retry after {reset} s.",
            retry_after=reset,
            details={"limit": name, "limit_value": limit, "window_seconds": window,
                     "retry_after": reset},
        )  # fmt: skip


def _check_body_size(request: Any, limit: int) -> None:
    length = _content_length(request.META)
    if limit and length > limit:
        raise PayloadTooLarge(
            f"Request body is {length} bytes; this project accepts at most {limit} "
            "(limit request_bytes).",
            details={"limit": "request_bytes", "limit_value": limit, "content_length": length},
        )


def _content_length(meta: dict[str, Any]) -> int:
    raw = str(meta.get("CONTENT_LENGTH") or "0").strip()
    return int(raw) if raw.isdigit() else 0


def rate_limit_headers(request: Any, response: HttpResponse) -> None:
    """X-RateLimit-Limit / -Remaining / -Reset (seconds until the window resets; the Mem0
    client copies them into RateLimitError.debug_info on a 429)."""
    state = getattr(request, RATE_STATE_ATTRIBUTE, None)
    if isinstance(state, RateState):
        response["X-RateLimit-Limit"] = str(state.limit)
        response["X-RateLimit-Remaining"] = str(state.remaining)
        response["X-RateLimit-Reset"] = str(state.reset_seconds)


class RequestLimitsMiddleware:
    """Refuses an oversize body (by its Content-Length, before anything reads it) and a query
    string with more parameters than Django parses, as JSON errors on every path. Without it
    Django's RequestDataTooBig / TooManyFieldsSent surface as a bare 400 or, inside a DRF
    view, as a 500."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        limit = settings.DATA_UPLOAD_MAX_MEMORY_SIZE
        length = _content_length(request.META)
        if limit is not None and length > limit:
            message = f"Request body is {length} bytes; the server accepts at most {limit}."
            return _json_error(413, "payload_too_large", message)
        fields = settings.DATA_UPLOAD_MAX_NUMBER_FIELDS
        if fields is not None and request.META.get("QUERY_STRING", "").count("&") >= fields:
            message = f"Query string has more than {fields} parameters."
            return _json_error(400, "invalid_input", message)
        return self.get_response(request)


def _json_error(status: int, code: str, message: str) -> HttpResponse:
    from django.http import JsonResponse

    return JsonResponse(error_body(code, message), status=status)


# JSON nesting deeper than this is refused while parsing (views may set a lower bound).
MAX_JSON_NESTING = 64


class SafeJSONParser(JSONParser):
    """DRF's JSON parser, plus the limits every view needs before it sees the data: nesting
    depth (json raises RecursionError, not ValueError, on very deep input: a 500 otherwise)
    and text PostgreSQL can store (JSON escapes can spell lone UTF-16 surrogates, which no
    UTF-8 encoder accepts). Both become 400s naming the problem."""

    def parse(self, stream: Any, media_type: str | None = None, parser_context: Any = None) -> Any:
        try:
            data = super().parse(stream, media_type, parser_context)
        except RecursionError as exc:
            raise ParseError(f"JSON nested more than {MAX_JSON_NESTING} levels deep.") from exc
        _check_json_shape(data)
        return data


def _check_json_shape(data: Any) -> None:
    pending: list[tuple[Any, int]] = [(data, 0)]  # iterative: no recursion on hostile input
    while pending:
        value, depth = pending.pop()
        if depth > MAX_JSON_NESTING:
            raise ParseError(f"JSON nested more than {MAX_JSON_NESTING} levels deep.")
        if isinstance(value, str):
            _check_text(value)
        elif isinstance(value, dict):
            for key, item in value.items():
                _check_text(key)
                pending.append((item, depth + 1))
        elif isinstance(value, list):
            pending.extend((item, depth + 1) for item in value)


def _check_text(text: str) -> None:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise ParseError("JSON strings must be valid Unicode (no lone surrogates).") from exc


# --- stored memories and ingestion jobs in flight ----------------------------------------------


def quota_check_memories(project: Any, adding: int) -> None:
    """Before storing `adding` new memories (infer=false adds, or an accepted ingestion job:
    pass the number of messages). 413 (Mem0: MemoryQuotaExceededError) when over the limit."""
    limit = project_limits(project).memories
    if limit <= 0:
        return
    allowed, current = _gate(
        _key("memories", project.id), adding, limit, MEMORY_COUNT_TTL_MS,
        lambda: _count_memories(project),
    )  # fmt: skip
    if not allowed:
        raise MemoryQuotaExceeded(
            f"Memory quota exceeded: the project holds {current} of at most {limit} memories "
            "(limit memories). Delete memories or raise the project's limit.",
            details={"limit": "memories", "limit_value": limit, "current": current},
        )


def quota_check_jobs_in_flight(project: Any) -> None:
    """For ingestion_accept, before creating a job: 429 when the project already has its
    limit of PENDING/RUNNING jobs (back-pressure on a flood of infer=true adds)."""
    limit = project_limits(project).jobs_in_flight
    if limit <= 0:
        return
    allowed, current = _gate(
        _key("jobs", project.id), 1, limit, JOB_COUNT_TTL_MS, lambda: _count_jobs(project)
    )
    if not allowed:
        retry_after = max(1, JOB_COUNT_TTL_MS // 1000)
        raise RateLimited(
            f"Too many ingestion jobs in flight: {current} of at most {limit} "
            f"(limit jobs_in_flight). Retry after {retry_after} s.",
            retry_after=retry_after,
            details={"limit": "jobs_in_flight", "limit_value": limit, "current": current},
        )


def _gate(
    key: str, adding: int, limit: int, ttl_ms: int, count: Callable[[], int]
) -> tuple[bool, int]:
    """Atomically: cached count + adding <= limit, then count it. The cache is seeded from
    PostgreSQL when missing; with Redis down PostgreSQL answers alone."""
    if _redis_available():
        try:
            result = _run_script(_GATE_SCRIPT, [key], [adding, limit, -1, ttl_ms])
            if result[0] == -1:
                result = _run_script(_GATE_SCRIPT, [key], [adding, limit, count(), ttl_ms])
            return result[0] == 1, result[1]
        except redis.RedisError as exc:
            _redis_failed("count gate", exc)
    current = count()
    return current + adding <= limit, current


def _count_memories(project: Any) -> int:
    # Read through the app registry: config/ must not import app models at module load.
    from django.apps import apps

    from tenants.context import tenant_context

    memory = apps.get_model("memory", "Memory")
    with tenant_context(project.id, project.organization_id):
        return int(memory.objects.filter(project_id=project.id).exclude(state="deleted").count())


def _count_jobs(project: Any) -> int:
    from django.apps import apps

    from tenants.context import tenant_context

    job = apps.get_model("memory", "IngestionJob")
    in_flight = ["PENDING", "RUNNING"]
    with tenant_context(project.id, project.organization_id):
        return int(job.objects.filter(project_id=project.id, status__in=in_flight).count())


# --- LLM and embedding spend per UTC day ---------------------------------------------------------


def _spend_key(project: Any, kind: str, day: datetime) -> str:
    if kind not in SPEND_KINDS:
        raise ValueError(f"unknown spend kind {kind!r}; expected one of {SPEND_KINDS}")
    return _key("spend", kind, project.id, day.strftime("%Y%m%d"))


def _spend_limit(project: Any, kind: str) -> int:
    limits = project_limits(project)
    return limits.llm_tokens_per_day if kind == "llm" else limits.embedding_tokens_per_day


def _seconds_to_midnight(now: datetime) -> int:
    midnight = (now + timedelta(days=1)).replace(hour=0, minute=0, second=0, microsecond=0)
    return max(1, math.ceil((midnight - now).total_seconds()))


def quota_charge_tokens(project: Any, kind: str, n: int) -> int:
    """Add `n` tokens used by an LLM ("llm") or embedding ("embedding") call to today's
    counter of the project; returns today's total (-1 when Redis is unavailable)."""
    key = _spend_key(project, kind, datetime.now(UTC))
    if n <= 0:
        return quota_spent_today(project, kind)
    if not _redis_available():
        return -1
    try:
        with redis_client().pipeline(transaction=True) as pipe:
            pipe.incrby(key, n)
            pipe.expire(key, 2 * 24 * 3600)
            total, _ = pipe.execute()
    except redis.RedisError as exc:
        _redis_failed("spend", exc)
        return -1
    return int(total)


def quota_spent_today(project: Any, kind: str) -> int:
    """Today's tokens of this kind (0 when unknown)."""
    if not _redis_available():
        return 0
    try:
        value = redis_client().get(_spend_key(project, kind, datetime.now(UTC)))
    except redis.RedisError as exc:
        _redis_failed("spend", exc)
        return 0
    return int(value or 0)


def quota_check_spend(project: Any, kind: str) -> None:
    """Before an LLM/embedding call: 429 with Retry-After until UTC midnight once today's
    tokens reached the project's daily limit."""
    limit = _spend_limit(project, kind)
    if limit <= 0:
        return
    spent = quota_spent_today(project, kind)
    if spent >= limit:
        name = f"{kind}_tokens_per_day"
        retry_after = _seconds_to_midnight(datetime.now(UTC))
        raise RateLimited(
            f"Daily {kind} budget used: {spent} of {limit} tokens ({name}); "
            "it resets at 00:00 UTC.",
            retry_after=retry_after,
            details={"limit": name, "limit_value": limit, "current": spent},
        )


# --- for the console ----------------------------------------------------------------------------


def quota_spend_texts(project: Any, kind: str, texts: Iterable[str]) -> None:
    """Before a paid LLM or embedding call over `texts`: check today's budget, then charge
    an estimate of the tokens (about 4 characters per token, the usual rule for English;
    exact provider counts vary, and the estimate is charged before the call so that
    concurrent calls cannot all slip under the limit)."""
    quota_check_spend(project, kind)
    quota_charge_tokens(project, kind, sum(len(text) for text in texts) // 4 + 1)


def quota_usage(project: Any) -> dict[str, Any]:
    """Limits and current usage of a project, for the console's overview."""
    limits = project_limits(project)
    overrides = (project.options or {}).get("limits") or {}
    return {
        "limits": asdict(limits),
        "overridden": sorted(name for name in overrides if name in LIMIT_NAMES),
        "usage": {
            "project_requests_this_window": _read_int(_key("rpm", "project", project.id)),
            "memories": _count_memories(project),
            "jobs_in_flight": _count_jobs(project),
            "llm_tokens_today": quota_spent_today(project, "llm"),
            "embedding_tokens_today": quota_spent_today(project, "embedding"),
        },
    }


def _read_int(key: str) -> int:
    if not _redis_available():
        return 0
    try:
        return int(redis_client().get(key) or 0)
    except redis.RedisError as exc:
        _redis_failed("usage", exc)
        return 0
