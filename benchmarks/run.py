"""`python -m benchmarks.run [--full]`: runs the scenarios and prints figures next to baselines.

The quick run (`make bench`) takes about two and a half minutes; `--full` (`make bench-full`)
adds the large-store, filtered-scan, many-streams and two-worker scenarios, repeats more and
writes benchmarks/results/.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import sys
import tempfile
import time
from collections.abc import Callable
from concurrent.futures import Executor, ProcessPoolExecutor
from pathlib import Path

from . import (
    machine,
    scenario_follow,
    scenario_scale,
    scenario_scans,
    scenario_send,
    scenario_streams,
    scenario_unary,
    scenario_workers,
)
from .measure import Row, table

RESULTS = Path(__file__).parent / "results"
Scenario = Callable[[Path, Executor, int, float], list[Row]]
QUICK: dict[str, Scenario] = {
    "get": scenario_unary.get_session,
    "add": scenario_unary.add_items,
    "send": scenario_send.send_message,
    "follow": scenario_follow.follow,
}
FULL: dict[str, Scenario] = {
    **QUICK,
    "scale": scenario_scale.scale,
    "scans": scenario_scans.scans,
    "streams": scenario_streams.many_streams,
    "workers": scenario_workers.workers,
}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.run", description=__doc__)
    parser.add_argument("--full", action="store_true", help="every scenario, more repetitions")
    parser.add_argument("--only", nargs="*", help=f"scenarios to run: {', '.join(FULL)}")
    parser.add_argument("--reps", type=int, help="repetitions of each measurement")
    parser.add_argument("--seconds", type=float, help="length of each measurement")
    parser.add_argument("--json", type=Path, help="write the results here as JSON")
    parser.add_argument("--strict", action="store_true", help="exit 1 when a target is missed")
    args = parser.parse_args(argv)
    reps = args.reps or (5 if args.full else 3)
    seconds = args.seconds or (5.0 if args.full else 3.0)
    scenarios = FULL if args.full or args.only else QUICK
    chosen = {k: v for k, v in scenarios.items() if not args.only or k in args.only}
    rows: list[Row] = []
    started = time.time()
    # spawn: the client processes must not inherit this process's gRPC state.
    context = multiprocessing.get_context("spawn")
    with (
        tempfile.TemporaryDirectory(prefix="agentsessions-bench-") as tmp,
        ProcessPoolExecutor(max_workers=1, mp_context=context) as pool,
    ):
        for name, scenario in chosen.items():
            print(f"running {name} ...", file=sys.stderr, flush=True)
            work = Path(tmp) / name
            work.mkdir()
            rows += scenario(work, pool, reps, seconds)
    print(table(rows), flush=True)
    took = time.time() - started
    print(f"\n{reps} repetitions of {seconds:g} s each; medians; {took:.0f} s in all")
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        report = {
            "machine": machine.describe(),
            "date": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
            "repetitions": reps,
            "seconds_per_repetition": seconds,
            "rows": [row.as_json() for row in rows],
        }
        args.json.write_text(json.dumps(report, indent=2) + "\n")
    missed = [row for row in rows if row.met is False]
    return 1 if args.strict and missed else 0


if __name__ == "__main__":
    sys.exit(main())
