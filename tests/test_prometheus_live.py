"""The compose topology run natively: real Prometheus on loopback scraping `syncwatch demo`, with
the shipped rules loaded. The demo's live story (a late stock sync, the ERP writing Shopify stock)
must show up as lag and breach series, and the breach alerts must fire.

Both are real processes on real time, so this test waits on them (bounded polling); the demo runs
60× faster than the wall so its first faults happen within about 20 seconds.
"""

from __future__ import annotations

import json
import os
import queue
import re
import shutil
import socket
import subprocess
import sys
import threading
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, TypeVar

import httpx
import pytest
import yaml
from prometheus_client.parser import text_string_to_metric_families

REPO = Path(__file__).resolve().parent.parent
RULES = REPO / "rules/prometheus/syncwatch.rules.yml"
T = TypeVar("T")

pytestmark = pytest.mark.skipif(
    shutil.which("prometheus") is None,
    reason="Prometheus is not installed (CI installs Debian's `prometheus`; apt-get install prometheus)",
)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _eventually(check: Callable[[], T | None], timeout: float, what: str, pause: threading.Event) -> T:
    deadline = datetime.now(UTC) + timedelta(seconds=timeout)
    while datetime.now(UTC) < deadline:
        value = check()
        if value:
            return value
        pause.wait(0.5)  # waiting on other processes, not on our own clock
    raise AssertionError(f"{what}: not within {timeout:g} s")


def _read(stream: Any, out: queue.Queue[str]) -> None:
    for line in stream:
        out.put(line)


@pytest.fixture
def demo(tmp_path: Path) -> Iterator[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SYNCWATCH_")}
    proc = subprocess.Popen(
        [sys.executable, "-m", "monitor.cli", "demo", "--speed", "60", "--minutes", "0", "--port", "0",
         "--out", str(tmp_path / "demo")],
        env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )
    lines: queue.Queue[str] = queue.Queue()
    reader = threading.Thread(target=_read, args=(proc.stdout, lines), daemon=True)
    reader.start()
    seen: list[str] = []
    try:
        deadline = datetime.now(UTC) + timedelta(seconds=60)
        url = None
        while url is None:
            left = (deadline - datetime.now(UTC)).total_seconds()
            assert left > 0, "the demo did not say where it serves:\n" + "".join(seen)
            try:
                seen.append(lines.get(timeout=left))
            except queue.Empty:
                continue
            match = re.search(r"status page (http://127\.0\.0\.1:\d+)/", seen[-1])
            url = match.group(1) if match else None
        yield url
    finally:
        proc.terminate()
        assert proc.wait(timeout=60) == 0
        reader.join(timeout=10)
        assert proc.stdout is not None
        proc.stdout.close()


@pytest.fixture
def prometheus(demo: str, tmp_path: Path) -> Iterator[str]:
    port = _free_port()
    config = {
        "global": {"scrape_interval": "1s", "evaluation_interval": "1s"},
        "rule_files": [str(RULES)],
        "scrape_configs": [{"job_name": "syncwatch", "static_configs": [{"targets": [demo.removeprefix("http://")]}]}],
    }
    (tmp_path / "prometheus.yml").write_text(yaml.safe_dump(config))
    proc = subprocess.Popen(
        ["prometheus", f"--config.file={tmp_path / 'prometheus.yml'}", f"--storage.tsdb.path={tmp_path / 'tsdb'}",
         f"--web.listen-address=127.0.0.1:{port}", "--log.level=warn"],
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
    )
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=30)
        finally:
            assert proc.stderr is not None
            proc.stderr.close()


def _names_in_rules_and_dashboards() -> set[str]:
    exprs: list[str] = []
    for group in yaml.safe_load(RULES.read_text())["groups"]:
        exprs += [rule["expr"] for rule in group["rules"]]
    for board in (REPO / "dashboards").glob("*.json"):
        exprs += re.findall(r'"(?:expr|query)": "((?:[^"\\]|\\.)*)"', board.read_text())
    return {t for e in exprs for t in re.findall(r"(?<![A-Za-z0-9_:])syncwatch_[a-z0-9_]+", e)}


def test_prometheus_scrapes_the_demo_and_the_breach_alerts_fire(demo: str, prometheus: str) -> None:
    pause = threading.Event()
    with httpx.Client(timeout=10) as client:
        def query(promql: str) -> list[dict[str, Any]]:
            try:
                body = client.get(f"{prometheus}/api/v1/query", params={"query": promql}).json()
            except (httpx.HTTPError, json.JSONDecodeError):
                return []  # Prometheus still starting
            return list(body["data"]["result"]) if body.get("status") == "success" else []

        up = _eventually(lambda: query('up{job="syncwatch"} == 1'), 60, "Prometheus scraping the demo", pause)
        assert up[0]["metric"]["job"] == "syncwatch"

        # Every metric a rule or a dashboard names is in a real scrape of the demo.
        def scraped() -> set[str] | None:
            text = client.get(f"{demo}/metrics").text
            names = {s.name for f in text_string_to_metric_families(text) for s in f.samples}
            return names if "syncwatch_probe_start_delay_seconds_bucket" in names else None

        names = _eventually(scraped, 60, "the demo's first probe runs", pause)
        missing = sorted(_names_in_rules_and_dashboards() - names)
        assert missing == [], f"named in rules or dashboards but not produced by the demo: {missing}"

        lag = _eventually(lambda: query('syncwatch_sync_lag_seconds_count{contract="stock-wms-to-shopify"} > 0'),
                          60, "lag samples of the stock contract", pause)
        assert lag[0]["metric"]["target"] == "shopify"

        def firing() -> set[str] | None:
            alerts = {a["metric"]["alertname"] for a in query('ALERTS{alertstate="firing"}')}
            return alerts if {"SyncwatchOwnershipConflict", "SyncwatchBudgetBreach"} <= alerts else None

        alerts = _eventually(firing, 120, "the conflict and budget breach alerts firing", pause)
        assert "SyncwatchMetricsAbsent" not in alerts
        breach = query('syncwatch_breach{contract="stock-wms-to-shopify",kind="out_of_budget"}')
        assert breach and breach[0]["metric"]["target"] == "shopify"
