"""Figures: what a load run returns, percentiles and medians, and the table of results."""

from __future__ import annotations

import statistics
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import Any


@dataclass
class Load:
    """What one client process measured: completed operations over `seconds`."""

    count: int
    seconds: float
    latencies: list[float] = field(default_factory=list)  # seconds per operation
    # Time from sending to the first text delta, for streaming calls.
    first_delta: list[float] = field(default_factory=list)
    errors: int = 0
    acknowledged: list[tuple[str, int]] = field(default_factory=list)  # (parent, sequence)

    @property
    def rate(self) -> float:
        return self.count / self.seconds if self.seconds else 0.0


def merge(loads: Sequence[Load]) -> Load:
    """Several processes running at once: counts add up over the longest duration."""
    return Load(
        count=sum(x.count for x in loads),
        seconds=max(x.seconds for x in loads),
        latencies=[v for x in loads for v in x.latencies],
        first_delta=[v for x in loads for v in x.first_delta],
        errors=sum(x.errors for x in loads),
        acknowledged=[v for x in loads for v in x.acknowledged],
    )


def percentile(values: Sequence[float], fraction: float) -> float:
    """The nearest-rank percentile; 0.0 for no values."""
    if not values:
        return 0.0
    ordered = sorted(values)
    rank = max(0, min(len(ordered) - 1, round(fraction * len(ordered) + 0.5) - 1))
    return ordered[rank]


def median(values: Sequence[float]) -> float:
    return statistics.median(values) if values else 0.0


@dataclass
class Row:
    """One line of the table: a figure next to its baseline from the same run."""

    scenario: str
    metric: str
    value: float
    baseline: float | None = None
    # The ratio the target asks for and whether higher or lower is better.
    target: str = ""
    met: bool | None = None
    unit: str = ""
    details: dict[str, Any] = field(default_factory=dict)

    @property
    def ratio(self) -> float | None:
        if self.baseline is None or self.baseline == 0:
            return None
        return self.value / self.baseline

    def as_json(self) -> dict[str, Any]:
        return {**asdict(self), "ratio": self.ratio}


def format_number(value: float | None, unit: str = "") -> str:
    if value is None:
        return "-"
    if (float(value).is_integer() and unit not in {"ms", "s"}) or abs(value) >= 100:
        text = f"{value:,.0f}"
    elif abs(value) >= 10:
        text = f"{value:.1f}"
    else:
        text = f"{value:.2f}"
    return f"{text} {unit}".rstrip()


def table(rows: Sequence[Row]) -> str:
    """A plain-text table, one row per figure."""
    header = ("scenario", "metric", "value", "baseline", "ratio", "target", "met")
    lines = [
        (
            row.scenario,
            row.metric,
            format_number(row.value, row.unit),
            format_number(row.baseline, row.unit),
            "-" if row.ratio is None else f"{row.ratio:.2f}",
            row.target or "-",
            {True: "yes", False: "NO", None: "-"}[row.met],
        )
        for row in rows
    ]
    widths = [max(len(str(c)) for c in column) for column in zip(header, *lines, strict=False)]
    out = [
        "  ".join(str(c).ljust(w) for c, w in zip(line, widths, strict=True))
        for line in (header, *lines)
    ]
    out.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(out)
