"""Benchmark: record comparisons per second through the real comparators and classifier.

Records of 10 fields (number, money, text, enum, timestamp, set, exact), one
target, 2% of them divergent, pushed through ``monitor.classify.classify``: the
per-record path of a probe run. Also measures the memory held by 100,000
``Observation`` results. Prints ``comparisons_per_second=N`` and
``observation_bytes_per_100k=N``. Run: ``.venv/bin/python benchmarks/bench_engine.py``.
"""

from __future__ import annotations

import gc
import os
import platform
import random
import sys
import time
import tracemalloc
from datetime import UTC, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from monitor.classify import FieldComparer, TargetSpec, classify  # noqa: E402
from monitor.config.models import Contract  # noqa: E402
from monitor.results import Stream  # noqa: E402
from probes.base import Record  # noqa: E402
from probes.sql import SqlSystemConfig  # noqa: E402

N = 100_000
NOW = datetime(2026, 11, 27, 12, 0, tzinfo=UTC)

FIELDS = {
    "available": {"compare": "number", "risk": "oversell"},
    "on_hand": {"compare": "number", "tolerance": 1},
    "price": {"compare": "money", "source_unit": "pence", "target_unit": "pounds", "currency": "GBP"},
    "cost": {"compare": "money"},
    "title": {"compare": "text", "case": "fold", "whitespace": "collapse"},
    "status": {"compare": "enum", "map": {"DESPATCHED": "FULFILLED", "NEW": "UNFULFILLED"}},
    "barcode": {"compare": "exact"},
    "tags": {"compare": "set"},
    "shipped_at": {"compare": "timestamp", "tolerance": "1s"},
    "weight": {"compare": "number", "relative": "1%"},
}


def build() -> tuple[Contract, TargetSpec, FieldComparer, list[tuple[Record, Record]]]:
    contract = Contract.model_validate({
        "contract": "bench", "owner": "o",
        "source": {"system": "a", "entity": "e", "key": "k", "updated_at": "u"},
        "targets": [{"system": "b", "entity": "e", "key": "k", "updated_at": "u"}],
        "fields": FIELDS, "budget": {"latency": "5m", "drift": "1%"},
    })
    system = SqlSystemConfig.model_validate({"kind": "sql", "url": "sqlite://", "entities": {"e": {"table": "t"}}})
    spec = TargetSpec.build(contract.targets[0], contract, system)
    rng = random.Random(1)
    pairs = []
    for i in range(N):
        pence = rng.randint(100, 50_000)
        shipped = NOW - timedelta(hours=rng.randint(1, 500))
        src = {
            "available": rng.randint(0, 500), "on_hand": rng.randint(0, 900), "price": pence, "cost": f"{pence / 200:.2f}",
            "title": f"White hanging heart T-light holder {i}", "status": rng.choice(["DESPATCHED", "NEW"]),
            "barcode": f"50{i:011d}", "tags": "home,gift,christmas", "shipped_at": shipped.isoformat(), "weight": 0.5 + i % 7,
        }
        tgt = dict(src)
        tgt["price"] = f"{pence / 100:.2f}"
        tgt["status"] = {"DESPATCHED": "FULFILLED", "NEW": "UNFULFILLED"}[src["status"]]
        tgt["title"] = "  " + str(src["title"]).upper() + " "
        tgt["tags"] = ["christmas", "gift", "home"]
        tgt["shipped_at"] = shipped
        if i % 50 == 0:
            tgt["available"] = int(src["available"]) + 3  # 2% divergent
        us = NOW - timedelta(minutes=rng.randint(1, 600))
        pairs.append((Record(str(i), src, us), Record(str(i), tgt, us + timedelta(seconds=40))))
    return contract, spec, FieldComparer(contract), pairs


def main() -> None:
    contract, spec, comparer, pairs = build()
    latency = contract.budget.latency.total_seconds()
    recent = NOW - timedelta(minutes=10)
    best = float("inf")
    for _ in range(5):  # best of 5: the machine is shared, the minimum is the least disturbed
        gc.collect()
        start = time.perf_counter()
        for src, tgt in pairs:
            classify(src.key, src.key, Stream.UNIFORM, src, [tgt], spec, comparer, NOW, latency, recent, None)
        best = min(best, time.perf_counter() - start)
    gc.collect()
    tracemalloc.start()
    kept = [
        classify(s.key, s.key, Stream.UNIFORM, s, [t], spec, comparer, NOW, latency, recent, None) for s, t in pairs
    ]
    held, _peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    divergent = sum(1 for o in kept if o.divergent)
    print(f"machine={platform.machine()} cpus={os.cpu_count()} python={platform.python_version()}")
    print(f"records={N} fields_per_record={len(FIELDS)} targets=1 divergent={divergent}")
    print(f"comparisons_per_second={N / best:.0f}")
    print(f"seconds_per_100k={best:.3f}")
    print(f"observation_bytes_per_100k={held}")
    print(f"observation_mib_per_100k={held / 2**20:.1f}")


if __name__ == "__main__":
    main()
