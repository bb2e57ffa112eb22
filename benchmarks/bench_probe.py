"""Benchmark: requests and wall time for the ``http`` connector to read 1,000 keys.

A ``LoopbackServer`` serves 1,000 Mintsoft-like stock records (``SKU``,
``Level``, ``LastUpdated``) from a batch lookup endpoint
``GET /api/Product/StockLevels?SKU=a,b,c``. An ``HttpConnector`` without a rate
limit reads all 1,000 keys with batch size 100, then with batch size 1 for
contrast, and prints one line each::

    keys=1000 batch_size=100 requests=N wall_seconds=X

The goal is at most 11 requests for 1,000 keys at batch size 100 (the exit code
is 1 if it is missed). Run: ``.venv/bin/python benchmarks/bench_probe.py``.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from monitor.loopback import LoopbackRequest, LoopbackResponse, LoopbackServer  # noqa: E402
from probes.base import ConnectorContext, EntityQuery  # noqa: E402
from probes.http import HttpConnector, HttpSystemConfig  # noqa: E402

KEYS = 1000
GOAL_REQUESTS = 11
ROWS = {
    f"SKU-{i:05d}": {"SKU": f"SKU-{i:05d}", "Level": i % 250, "LastUpdated": f"2026-11-27T{i % 24:02d}:00:00Z"}
    for i in range(KEYS)
}
QUERY = EntityQuery("stock", "sku", ("available",), "last_updated")


def handler(request: LoopbackRequest) -> LoopbackResponse:
    skus = (request.param("SKU") or "").split(",")
    return LoopbackResponse(body=[ROWS[sku] for sku in skus if sku in ROWS])


def config(base_url: str, batch_size: int) -> HttpSystemConfig:
    raw: dict[str, Any] = {
        "kind": "http",
        "base_url": base_url,
        "batch_size": batch_size,
        "auth": {"type": "header", "name": "ms-apikey", "value": "bench"},
        "entities": {
            "stock": {
                "records": "",
                "fields": {"sku": "SKU", "available": "Level", "last_updated": "LastUpdated"},
                "lookup": {"path": "/api/Product/StockLevels", "params": {"SKU": "{keys}"}},
            }
        },
    }
    return HttpSystemConfig.model_validate(raw)


def run(server: LoopbackServer, batch_size: int) -> int:
    ctx = ConnectorContext(sleep=time.sleep, monotonic=time.monotonic)
    before = server.request_count
    with HttpConnector.open("wms", config(server.url, batch_size), ctx) as connector:
        started = time.perf_counter()
        records = connector.read(QUERY, list(ROWS))
        wall = time.perf_counter() - started
        requests = connector.usage().requests
    if len(records) != KEYS or server.request_count - before != requests:
        raise SystemExit(f"read {len(records)} records with {requests} requests: benchmark broken")
    print(f"keys={KEYS} batch_size={batch_size} requests={requests} wall_seconds={wall:.3f}")
    return requests


def main() -> int:
    with LoopbackServer(handler) as server:
        batched = run(server, 100)
        run(server, 1)
    return 0 if batched <= GOAL_REQUESTS else 1


if __name__ == "__main__":
    raise SystemExit(main())
