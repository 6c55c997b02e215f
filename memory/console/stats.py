"""Reads behind the console overview: counts, storage and per-day activity of one project.
Each runs inside the project's tenant context and returns plain values."""

from dataclasses import dataclass
from datetime import date, timedelta

from django.core.cache import cache
from django.db import connection
from django.db.models import Count
from django.db.models.functions import TruncDate
from django.utils import timezone

from memory.models import IngestionJob, Memory, MemoryState
from tenants.context import tenant_context
from tenants.models import Project

STORAGE_CACHE_SECONDS = 300
# The tables that hold a project's content, measured with pg_column_size (compressed size).
STORAGE_TABLES = ("memory_memory", "memory_memoryversion", "memory_episode", "memory_entity")


@dataclass(frozen=True)
class ProjectStats:
    memories: int
    users: int
    agents: int
    sessions: int
    jobs_by_status: dict[str, int]
    storage_bytes: int
    memories_per_day: list[tuple[date, int]]


def _distinct(column: str, project: Project) -> int:
    active = Memory.objects.filter(project=project, state=MemoryState.ACTIVE)
    return active.exclude(**{f"{column}__isnull": True}).values(column).distinct().count()


def _jobs_by_status(project: Project) -> dict[str, int]:
    counts = dict.fromkeys(IngestionJob.Status.values, 0)
    rows = IngestionJob.objects.filter(project=project).values("status").annotate(n=Count("id"))
    for row in rows:
        counts[row["status"]] = row["n"]
    return counts


def _storage_bytes(project: Project) -> int:
    key = f"console:storage:{project.id}"
    cached = cache.get(key)
    if cached is not None:
        return int(cached)
    total = 0
    with connection.cursor() as cursor:
        for table in STORAGE_TABLES:
            cursor.execute(
                f"SELECT coalesce(sum(pg_column_size(t.*)), 0) FROM {table} t "  # noqa: S608
                "WHERE project_id = %s",
                [project.id],
            )
            total += int(cursor.fetchone()[0])
    cache.set(key, total, STORAGE_CACHE_SECONDS)
    return total


def _per_day(project: Project, days: int) -> list[tuple[date, int]]:
    today = timezone.now().date()
    first = today - timedelta(days=days - 1)
    rows = (
        Memory.objects.filter(project=project, created_at__date__gte=first)
        .annotate(day=TruncDate("created_at"))
        .values("day")
        .annotate(n=Count("id"))
    )
    counts = {row["day"]: row["n"] for row in rows}
    return [
        (first + timedelta(days=i), counts.get(first + timedelta(days=i), 0)) for i in range(days)
    ]


def project_stats(*, project: Project, days: int = 14) -> ProjectStats:
    with tenant_context(project.id, project.organization_id):
        return ProjectStats(
            memories=Memory.objects.filter(project=project, state=MemoryState.ACTIVE).count(),
            users=_distinct("user_id", project),
            agents=_distinct("agent_id", project),
            sessions=_distinct("run_id", project),
            jobs_by_status=_jobs_by_status(project),
            storage_bytes=_storage_bytes(project),
            memories_per_day=_per_day(project, days),
        )
