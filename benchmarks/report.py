"""`python -m benchmarks.report RESULTS.json`: the results as Markdown tables, for the docs."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

from .measure import format_number


def rows_table(report: dict[str, Any]) -> str:
    lines = [
        "| scenario | figure | value | baseline | ratio | target | met |",
        "| --- | --- | ---: | ---: | ---: | --- | --- |",
    ]
    for row in report["rows"]:
        ratio = "-" if row["ratio"] is None else f"{row['ratio']:.2f}"
        met = {True: "yes", False: "**no**", None: ""}[row["met"]]
        lines.append(
            f"| {row['scenario']} | {row['metric']} | {format_number(row['value'], row['unit'])} "
            f"| {format_number(row['baseline'], row['unit'])} | {ratio} | {row['target']} | {met} |"
        )
    return "\n".join(lines)


def sizes_table(report: dict[str, Any]) -> str:
    measured = next(
        (r["details"]["sizes"] for r in report["rows"] if "sizes" in r["details"]), None
    )
    if measured is None:
        return ""
    lines = [
        "| sessions | items | file | load | GetSession p50 / p99 | ListSessions p50 / p99 "
        "| ListItems p50 / p99 | server memory |",
        "| ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for m in measured:
        cells = [
            f"{m[k]['p50_ms']:.2f} / {m[k]['p99_ms']:.2f} ms"
            for k in ("GetSession", "ListSessions", "ListItems")
        ]
        lines.append(
            f"| {m['sessions']:,} | {m['items']:,} | {m['file_gb']:.3g} GB "
            f"| {m['load_seconds']:.3g} s "
            f"| {' | '.join(cells)} | {m['rss_mb']:.0f} MB |"
        )
    return "\n".join(lines)


def main() -> None:
    report = json.loads(Path(sys.argv[1]).read_text())
    print(rows_table(report))
    print()
    print(sizes_table(report))


if __name__ == "__main__":
    main()
