"""The demo end to end: a replay scored against its truth, and the live command as a user runs it."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

from monitor.demo.faults import FaultSpec
from monitor.demo.run import simulate

MONDAY_9 = datetime(2026, 11, 23, 9, 0, tzinfo=UTC)
SCORECARD_KEYS = {"faults", "detected", "recall", "median_time_to_breach_s", "false_breaches", "lag_p95_error",
                  "api_share_max"}


def test_a_replayed_morning_is_scored_against_the_truth(tmp_path: Path) -> None:
    timeline = [
        FaultSpec("slow-stock", "delay", timedelta(hours=1), timedelta(hours=1), "stock sync 20 minutes late",
                  {"flow": "stock", "extra_s": 1200}),
        FaultSpec("rogue", "rogue_writer", timedelta(hours=3), timedelta(minutes=30), "ERP writes stock",
                  {"count": 15}),
    ]
    card = simulate(tmp_path, timedelta(hours=4), seed=2, timeline=timeline, start=MONDAY_9)
    written = json.loads((tmp_path / "scorecard.json").read_text())
    assert SCORECARD_KEYS <= set(written)
    assert (card.faults, card.detected, card.recall, card.false_breaches) == (2, 2, 1.0, 0)
    stock_every, hold = 180, 2
    assert card.median_time_to_breach_s is not None and card.median_time_to_breach_s <= stock_every * (1 + hold)
    assert card.api_share_max <= 0.12  # 10% declared, plus one bucket's burst
    truth = json.loads((tmp_path / "truth.json").read_text())
    assert {f["name"] for f in truth["faults"]} == {"slow-stock", "rogue"}
    consent_keys = [c["key"] for c in truth["changes"] if c["contract"] == "consent-shopify-to-crm"]
    assert all("***@" in key for key in consent_keys)  # synthetic, but masked all the same
    assert (tmp_path / "syncwatch.db").exists()


def test_live_demo_tells_a_breach_and_a_recovery(tmp_path: Path) -> None:
    """`syncwatch demo`, the README's first command, at a high speed so the test is short."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("SYNCWATCH_")}
    proc = subprocess.run(
        [sys.executable, "-m", "monitor.cli", "demo", "--speed", "300", "--out", str(tmp_path / "demo")],
        env=env, capture_output=True, text=True, timeout=300,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    out = proc.stdout
    assert "BREACH stock-wms-to-shopify → shopify" in out
    assert "resolved stock-wms-to-shopify → shopify" in out
    assert "Priya Shah" in out and "Traceback" not in proc.stderr
