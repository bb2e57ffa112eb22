"""Benchmark: false breaches and time to breach of the out-of-budget rule, by confidence.

Synthetic runs of 100 samples against a 3% drift budget, 480 runs a day (every 3 minutes),
hold 2, the true share fixed; each count drawn as Binomial(100, share). Prints, for each true
share and confidence, breaches raised a day and the median run of the first breach (over 10
simulated days). Shares under the budget measure false breaches; shares over it, detection.
Run:

    .venv/bin/python benchmarks/bench_breach_rule.py
"""

from __future__ import annotations

import random
import statistics
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from monitor.config.models import Contract  # noqa: E402
from monitor.health import build_verdict  # noqa: E402
from monitor.results import Health, Outcome  # noqa: E402
from tests.support import T0  # noqa: E402

RUNS_A_DAY = 480
DAYS = 10
SIZE = 100


def _contract(confidence: str) -> Contract:
    return Contract.model_validate({
        "contract": "stock",
        "owner": "priya",
        "source": {"system": "wms", "entity": "stock", "key": "sku"},
        "targets": [{"system": "shop", "entity": "inventory", "key": "sku"}],
        "fields": {"available": {"compare": "number"}},
        "budget": {"latency": "5m", "drift": "3%", "hold": "2 runs", "confidence": confidence},
    })


def _day(contract: Contract, counts: list[int]) -> tuple[int, int | None]:
    streaks: dict[str, int] = {}
    evidence = (0, 0)
    breaching: tuple[object, ...] = ()
    raised, first = 0, None
    for i, oob in enumerate(counts):
        health = Health("stock", "shop", T0, Outcome.DIVERGENT, sampled=SIZE, divergent=oob,
                        out_of_budget=oob, out_of_budget_ratio=oob / SIZE)
        verdict = build_verdict(contract, "shop", health, streaks, evidence)
        if verdict.breaching and not breaching:
            raised += 1
            first = i + 1 if first is None else first
        streaks, evidence, breaching = verdict.streaks, verdict.evidence, verdict.breaching
    return raised, first


def main() -> None:
    print(f"budget=3% size={SIZE} runs_a_day={RUNS_A_DAY} hold=2 days={DAYS}")
    for share in (0.02, 0.025, 0.035, 0.045, 0.06):
        for confidence in ("0%", "95%", "99%", "99.9%"):
            contract = _contract(confidence)
            raised, firsts = 0, []
            for day in range(DAYS):
                rng = random.Random(day)
                counts = [sum(rng.random() < share for _ in range(SIZE)) for _ in range(RUNS_A_DAY)]
                n, first = _day(contract, counts)
                raised += n
                firsts.append(first if first is not None else RUNS_A_DAY + 1)
            median = statistics.median(firsts)
            shown = "never" if median > RUNS_A_DAY else f"{median:g}"
            label = "false_breaches_a_day" if share <= 0.03 else "raised_a_day"
            print(f"true_share={share:.1%} confidence={confidence} {label}={raised / DAYS:.1f} "
                  f"median_first_breach_run={shown}")


if __name__ == "__main__":
    main()
