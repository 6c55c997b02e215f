"""Chart geometry for inline SVG, computed on the server (no chart library, no JavaScript).

A chart is a fixed viewBox scaled by CSS; templates/console/_bar_chart.html and
_line_chart.html draw it and repeat the numbers in a visually hidden table for screen
readers.
"""

import math
from dataclasses import dataclass, field

WIDTH, HEIGHT = 480.0, 220.0
LEFT, RIGHT, TOP, BOTTOM = 56.0, 26.0, 12.0, 30.0
PLOT_W, PLOT_H = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM
MAX_X_LABELS = 8


@dataclass(frozen=True)
class Tick:
    y: float
    label: str


@dataclass(frozen=True)
class XLabel:
    x: float
    label: str


@dataclass(frozen=True)
class Bar:
    x: float
    y: float
    width: float
    height: float
    label: str
    value_label: str


@dataclass(frozen=True)
class Series:
    name: str
    css_class: str
    points: str  # "x,y x,y" for <polyline>
    dots: list[tuple[float, float]]
    values: list[str]


@dataclass(frozen=True)
class Chart:
    id: str
    title: str
    unit: str
    ticks: list[Tick]
    x_labels: list[XLabel]
    labels: list[str]
    bars: list[Bar] = field(default_factory=list)
    series: list[Series] = field(default_factory=list)
    empty: bool = False
    table_rows: list[tuple[str, list[str]]] = field(default_factory=list)
    width: float = WIDTH
    height: float = HEIGHT
    left: float = LEFT
    tick_label_x: float = LEFT - 6
    x_label_y: float = HEIGHT - 8
    mid_x: float = LEFT + PLOT_W / 2
    mid_y: float = TOP + PLOT_H / 2
    right_edge: float = WIDTH - RIGHT


def nice_step(value: float) -> float:
    """The smallest 1, 2, 2.5 or 5 x 10^k at or above value."""
    if value <= 0:
        return 1.0
    magnitude = 10 ** math.floor(math.log10(value))
    for step in (1, 2, 2.5, 5, 10):
        if step * magnitude >= value:
            return float(step * magnitude)
    return float(10 * magnitude)


def axis(maximum: float, *, whole: bool) -> tuple[float, float]:
    """(top, step) of a y axis with at most 4 intervals; whole numbers for counts."""
    step = nice_step(maximum / 4) if maximum > 0 else 1.0
    if whole:
        step = float(max(1, math.ceil(step)))
    return max(step, step * math.ceil(maximum / step)), step


def format_number(value: float, unit: str = "") -> str:
    if value >= 1_000_000:
        text = f"{value / 1_000_000:.1f}M"
    elif value >= 10_000:
        text = f"{value / 1000:.0f}k"
    elif value >= 1000:
        text = f"{value / 1000:.1f}k"
    else:
        text = f"{value:g}" if value == int(value) else f"{value:.1f}"
    return f"{text}{unit}"


def _y(value: float, top: float) -> float:
    return round(TOP + PLOT_H - (value / top) * PLOT_H, 2)


def _ticks(top: float, step: float, unit: str) -> list[Tick]:
    count = round(top / step)
    return [Tick(_y(step * i, top), format_number(step * i, unit)) for i in range(count + 1)]


def _x_labels(labels: list[str], centre: list[float]) -> list[XLabel]:
    every = max(1, math.ceil(len(labels) / MAX_X_LABELS))
    return [
        XLabel(centre[i], labels[i])
        for i in range(len(labels))
        if (len(labels) - 1 - i) % every == 0
    ]


def bar_chart(chart_id: str, title: str, points: list[tuple[str, float]], unit: str = "") -> Chart:
    labels = [label for label, _ in points]
    top, step = axis(max((value for _, value in points), default=0), whole=not unit)
    slot = PLOT_W / max(1, len(points))
    bars = []
    for index, (label, value) in enumerate(points):
        height = round((value / top) * PLOT_H, 2)
        x = round(LEFT + index * slot + slot * 0.15, 2)
        bars.append(
            Bar(
                x,
                round(TOP + PLOT_H - height, 2),
                round(slot * 0.7, 2),
                height,
                label,
                format_number(value, unit),
            )
        )
    centres = [round(LEFT + (i + 0.5) * slot, 2) for i in range(len(points))]
    return Chart(
        id=chart_id,
        title=title,
        unit=unit,
        ticks=_ticks(top, step, unit),
        x_labels=_x_labels(labels, centres),
        labels=labels,
        bars=bars,
        empty=all(value == 0 for _, value in points),
    )


def line_chart(
    chart_id: str,
    title: str,
    labels: list[str],
    lines: list[tuple[str, str, list[float | None]]],
    unit: str = "",
) -> Chart:
    """`lines` are (name, css class, values); a None value leaves a gap in the dots."""
    values = [v for _, _, series in lines for v in series if v is not None]
    top, tick_step = axis(max(values, default=0), whole=False)
    step = PLOT_W / max(1, len(labels) - 1)
    xs = [round(LEFT + i * step, 2) for i in range(len(labels))]
    built = []
    for name, css_class, series in lines:
        dots = [(xs[i], _y(v, top)) for i, v in enumerate(series) if v is not None]
        built.append(
            Series(
                name,
                css_class,
                " ".join(f"{x},{y}" for x, y in dots),
                dots,
                ["–" if v is None else format_number(v, unit) for v in series],  # noqa: RUF001 (shown as a dash)
            )
        )
    rows = [(label, [line.values[i] for line in built]) for i, label in enumerate(labels)]
    return Chart(
        id=chart_id,
        title=title,
        unit=unit,
        ticks=_ticks(top, tick_step, unit),
        x_labels=_x_labels(labels, xs),
        labels=labels,
        series=built,
        empty=not values,
        table_rows=rows,
    )
