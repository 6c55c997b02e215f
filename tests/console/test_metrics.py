"""Request metrics in Redis and the server-side chart geometry behind the overview."""

import uuid
from datetime import UTC, datetime, timedelta

from config.metrics import bucket_index, percentile, read_daily, record_request
from memory.console.charts import HEIGHT, TOP, axis, bar_chart, line_chart
from tests.conftest import make_tenant


def test_daily_counts_and_search_percentiles_come_back_per_day() -> None:
    project = uuid.uuid4()
    now = datetime(2026, 3, 10, 12, tzinfo=UTC)
    for ms in [4] * 50 + [90] * 45 + [900] * 5:
        record_request(project, "POST /v3/memories/search/", ms, now=now)
    record_request(project, "POST /v3/memories/add/", 20, now=now - timedelta(days=1))
    days = read_daily(project, days=3, today=now.date())
    assert [day.requests for day in days] == [0, 1, 100]
    today = days[-1]
    assert today.search_requests == 100
    assert (today.search_p50_ms, today.search_p95_ms) == (5, 100)
    assert days[1].search_p50_ms is None and days[1].p50_ms == 20


def test_other_projects_metrics_are_separate() -> None:
    mine, theirs = uuid.uuid4(), uuid.uuid4()
    record_request(theirs, "GET /v1/memories/", 3)
    assert read_daily(mine, days=1)[0].requests == 0


def test_percentile_of_empty_and_overflowing_histograms() -> None:
    assert percentile({}, 0.5) is None
    assert percentile({bucket_index(99_999): 3}, 0.95) == 10_000


def test_axis_is_round_and_whole_for_counts() -> None:
    assert axis(0, whole=True) == (1.0, 1.0)
    assert axis(4, whole=True) == (4.0, 1.0)
    assert axis(99, whole=True) == (100.0, 25.0)
    assert axis(0.4, whole=False) == (0.4, 0.1)


def test_bars_scale_to_the_axis_and_empty_charts_say_so() -> None:
    chart = bar_chart("c", "Per day", [("a", 0), ("b", 2), ("c", 4)])
    assert chart.bars[2].y == TOP and chart.bars[0].height == 0
    assert [tick.label for tick in chart.ticks] == ["0", "1", "2", "3", "4"]
    assert bar_chart("e", "Empty", [("a", 0)]).empty


def test_line_chart_leaves_gaps_for_missing_days() -> None:
    chart = line_chart("l", "Latency", ["d1", "d2", "d3"], [("p50", "series-a", [10, None, 20])])
    assert len(chart.series[0].dots) == 2
    assert chart.table_rows[1] == ("d2", ["–"])  # noqa: RUF001
    assert all(TOP <= y <= HEIGHT for _, y in chart.series[0].dots)


def test_api_requests_are_counted_per_project_by_the_middleware(db: None) -> None:
    tenant = make_tenant(f"metrics-{uuid.uuid4().hex[:6]}")
    client = tenant.client()
    for _ in range(3):
        assert client.get("/v1/ping/").status_code == 200
    assert read_daily(tenant.project.id, days=1)[0].requests == 3
