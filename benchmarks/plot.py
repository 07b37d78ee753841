"""`python -m benchmarks.plot RESULTS.json OUT.png`: read latency against store size.

Needs matplotlib, from the `bench` extra (`pip install -e '.[bench]'`).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

METHODS = ("GetSession", "ListSessions", "ListItems")
COLORS = {"GetSession": "tab:blue", "ListSessions": "tab:orange", "ListItems": "tab:green"}


def sizes(report: dict[str, Any]) -> list[dict[str, Any]]:
    for row in report["rows"]:
        if "sizes" in row["details"]:
            found: list[dict[str, Any]] = row["details"]["sizes"]
            return found
    raise SystemExit("no store-size figures in the results: run with --full")


def plot(results: Path, out: Path) -> None:
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        raise SystemExit("the plot needs matplotlib: pip install -e '.[bench]'") from None
    report = json.loads(results.read_text())
    measured = sizes(report)
    sessions = [m["sessions"] for m in measured]
    figure, axes = plt.subplots(figsize=(7.5, 4.5), dpi=120)
    for method in METHODS:
        color = COLORS[method]
        p99 = [m[method]["p99_ms"] for m in measured]
        p50 = [m[method]["p50_ms"] for m in measured]
        axes.plot(sessions, p99, marker="o", color=color, label=f"{method} p99")
        axes.plot(sessions, p50, marker=".", color=color, linestyle="--", label=f"{method} p50")
    axes.set_xscale("log")
    axes.set_xlabel("sessions in the store (ten items each on average)")
    axes.set_ylabel("latency, ms (concurrency 1)")
    axes.set_ylim(bottom=0)
    axes.axhline(5, color="tab:blue", linewidth=0.8, linestyle=":")
    axes.axhline(10, color="grey", linewidth=0.8, linestyle=":")
    axes.set_title("agentsessions over SQLite: read latency against store size")
    axes.grid(True, which="both", alpha=0.3)
    axes.legend(fontsize=8, ncol=3, loc="upper left")
    machine = report["machine"]
    figure.text(
        0.01, 0.01, f"{machine['cpu']}, {machine['cores']} cores, {report['date'][:10]}", fontsize=7
    )
    figure.tight_layout(rect=(0, 0.03, 1, 1))
    out.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(out)


if __name__ == "__main__":
    plot(Path(sys.argv[1]), Path(sys.argv[2]))
