"""Latency and status bookkeeping of the load test (one event loop: no locks needed)."""

from __future__ import annotations

from collections import Counter, defaultdict
from dataclasses import dataclass, field
from typing import Any


def percentile(sorted_values: list[float], fraction: float) -> float:
    if not sorted_values:
        return 0.0
    index = min(len(sorted_values) - 1, max(0, round(fraction * (len(sorted_values) - 1))))
    return sorted_values[index]


@dataclass
class Stats:
    latencies: dict[str, list[float]] = field(default_factory=lambda: defaultdict(list))
    statuses: dict[str, Counter[str]] = field(default_factory=lambda: defaultdict(Counter))
    # What the server accepted, per project id: event ids of adds (infer on and off).
    accepted_events: dict[str, set[str]] = field(default_factory=lambda: defaultdict(set))
    infer_events: dict[str, set[str]] = field(default_factory=lambda: defaultdict(set))
    server_error_samples: list[str] = field(default_factory=list)
    transport_error_samples: list[str] = field(default_factory=list)

    def record(self, endpoint: str, status: int | str, seconds: float, sample: str = "") -> None:
        self.latencies[endpoint].append(seconds * 1000)
        self.statuses[endpoint][str(status)] += 1
        if isinstance(status, int) and status >= 500 and len(self.server_error_samples) < 20:
            self.server_error_samples.append(f"{endpoint} {status}: {sample[:300]}")
        if status == "transport" and len(self.transport_error_samples) < 20:
            self.transport_error_samples.append(f"{endpoint}: {sample[:300]}")

    def summary(self) -> dict[str, Any]:
        endpoints = {}
        for name, values in sorted(self.latencies.items()):
            ordered = sorted(values)
            endpoints[name] = {
                "count": len(ordered),
                "p50_ms": round(percentile(ordered, 0.50), 1),
                "p90_ms": round(percentile(ordered, 0.90), 1),
                "p99_ms": round(percentile(ordered, 0.99), 1),
                "max_ms": round(ordered[-1], 1) if ordered else 0.0,
                "statuses": dict(self.statuses[name]),
            }
        server_errors = sum(
            count for counter in self.statuses.values()
            for status, count in counter.items() if status.isdigit() and int(status) >= 500
        )  # fmt: skip
        transport = sum(counter.get("transport", 0) for counter in self.statuses.values())
        return {
            "requests": sum(len(values) for values in self.latencies.values()),
            "server_errors": server_errors,
            "transport_errors": transport,
            "rate_limited": sum(counter.get("429", 0) for counter in self.statuses.values()),
            "endpoints": endpoints,
            "server_error_samples": self.server_error_samples,
            "transport_error_samples": self.transport_error_samples,
        }
