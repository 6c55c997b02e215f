"""The project overview: headline numbers and charts of memories, jobs, requests and search
latency (requests and latency come from config/metrics.py)."""

from django.http import HttpRequest, HttpResponse
from django.template.defaultfilters import filesizeformat
from django.views.decorators.http import require_GET

from config.metrics import DailyMetrics, read_daily
from memory.console.charts import Chart, bar_chart, line_chart
from memory.console.stats import ProjectStats, project_stats
from tenants.console.access import console_access, console_view
from tenants.console.pages import render_page

DAYS = 14


def _day(value: object) -> str:
    return f"{value:%b %d}"


def overview_charts(stats: ProjectStats, daily: list[DailyMetrics]) -> list[Chart]:
    labels = [_day(day.day) for day in daily]
    jobs = [(status.title(), float(count)) for status, count in stats.jobs_by_status.items()]
    return [
        bar_chart(
            "chart-memories",
            "New memories per day",
            [(_day(day), float(n)) for day, n in stats.memories_per_day],
        ),
        bar_chart(
            "chart-requests",
            "API requests per day",
            [(_day(day.day), float(day.requests)) for day in daily],
        ),
        line_chart(
            "chart-latency",
            "Search latency (ms)",
            labels,
            [
                ("p50", "series-a", [day.search_p50_ms for day in daily]),
                ("p95", "series-b", [day.search_p95_ms for day in daily]),
            ],
            unit=" ms",
        ),
        bar_chart("chart-jobs", "Ingestion jobs by status", jobs),
    ]


@console_view
@require_GET
def overview_view(request: HttpRequest, project_id: str) -> HttpResponse:
    access = console_access(request, project_id)
    project = access.current_project
    stats = project_stats(project=project, days=DAYS)
    daily = read_daily(project.id, days=DAYS)
    context = {
        "stats": stats,
        "storage": filesizeformat(stats.storage_bytes),
        "requests_today": daily[-1].requests if daily else 0,
        "requests_total": sum(day.requests for day in daily),
        "charts": overview_charts(stats, daily),
        "pending": stats.jobs_by_status.get("PENDING", 0) + stats.jobs_by_status.get("RUNNING", 0),
        "failed": stats.jobs_by_status.get("FAILED", 0),
    }
    return render_page(request, "memory/overview.html", access, context, section="overview")
