"""Benchmark: detection accuracy of the monitor against the demo world's ground truth.

Replays a simulated week (the week timeline: one fault of each kind) for each seed
and prints the scorecard figures, the wall time of each replay, and the faults the
monitor missed with why. Run:

    .venv/bin/python benchmarks/bench_detection.py [--seeds 1 2 3] [--days 7] [--out DIR]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import tempfile
import time
from datetime import timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from monitor.demo.run import simulate  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[1, 2, 3])
    parser.add_argument("--days", type=float, default=7.0)
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args()
    base = args.out or Path(tempfile.mkdtemp(prefix="syncwatch-bench-"))
    print(f"machine={platform.machine()} cpus={os.cpu_count()} python={platform.python_version()} days={args.days:g}")
    cards = []
    for seed in args.seeds:
        started = time.perf_counter()
        card = simulate(base / f"seed-{seed}", timedelta(days=args.days), seed)
        wall = time.perf_counter() - started
        cards.append(card)
        d = card.details
        print(
            f"seed={seed} wall_seconds={wall:.1f} probe_runs={d['probe_runs']} probe_errors={d['probe_errors']} "
            f"faults={card.faults} detected={card.detected} recall={card.recall} "
            f"median_time_to_breach_s={card.median_time_to_breach_s} false_breaches={card.false_breaches} "
            f"lag_p95_error={card.lag_p95_error} lag_p95_goal_met={d['lag_p95_goal_met']} "
            f"api_share_max={card.api_share_max}"
        )
        for row in d["fault_detail"]:
            if row["data_fault"] and row["broke_budget_at"] and not row["breach_at"]:
                print(f"  missed: {row['name']} ({row['kind']} on {row['contract']}, broke budget {row['broke_budget_at']})")
            if not row["broke_budget_at"]:
                print(f"  did not break a budget (not counted): {row['name']} ({row['kind']})")
        for row in d["false_breach_detail"]:
            print(f"  false breach: {json.dumps(row)}")
        outside = [r for r in d["lag_p95_by_contract_day"] if not r["within_goal"]]
        for row in outside:
            print(f"  lag p95 outside goal: {json.dumps(row)}")
        print(f"  protocol: {json.dumps(d['protocol'])}")
    recalls = [c.recall for c in cards if c.recall is not None]
    ttb = [c.median_time_to_breach_s for c in cards if c.median_time_to_breach_s is not None]
    errors = [c.lag_p95_error for c in cards if c.lag_p95_error is not None]
    print(
        f"overall seeds={len(cards)} recall_min={min(recalls) if recalls else None} "
        f"median_time_to_breach_s_median={statistics.median(ttb) if ttb else None} "
        f"false_breaches_total={sum(c.false_breaches for c in cards)} "
        f"lag_p95_error_worst={max(errors) if errors else None} "
        f"api_share_max={max(c.api_share_max for c in cards)}"
    )
    print(f"written under {base}")


if __name__ == "__main__":
    main()
